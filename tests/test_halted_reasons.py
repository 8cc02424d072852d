"""A guest halted for ever is told why no interrupt comes: IF clear, a request masked, or one waiting for an EOI."""

from pmtimer_harness.core.result import Verdict

from tests.guests import program_pics, run_source
from tests.user_irq_devices import IrqButton


class SlaveButton(IrqButton):
    irq = 10


def halted_with(tmp_path, body: str, device=None) -> str:
    run = run_source(tmp_path, body, devices=[device or IrqButton()])
    assert run.result.verdict == Verdict.HALTED
    return run.result.report.reason


# IRQ 5 (vector 0x0D) and IRQ 10 (0x72) go to `handler`, which returns without an EOI unless the guest adds one.
SETUP = """
        cli
""" + program_pics(0x08, 0x70, 0xDB, 0xFB) + """
        mov word [0x0D * 4], handler
        mov word [0x0D * 4 + 2], 0
        mov word [0x72 * 4], handler
        mov word [0x72 * 4 + 2], 0
        sti
"""


def press_twice(port: int = 0x520, after_each: str = "") -> str:
    return SETUP + f"""
        mov dx, {port:#x}
        mov al, 2
        out dx, al
        mov cx, 50
settle: loop settle
        mov dx, {port:#x}
        mov al, 2
        out dx, al
        hlt
        jmp $
handler:
{after_each}
        iret
"""


def test_a_request_behind_its_own_line_still_in_service_names_the_missing_eoi(tmp_path):
    reason = halted_with(tmp_path, press_twice())
    assert reason.endswith("IRQ 5 is requested, but IRQ 5 is still in service: no EOI ended it")


def test_a_slave_request_behind_the_cascade_still_in_service_at_the_master_names_it(tmp_path):
    only_the_slave = "        mov al, 0x20\n        out 0xA0, al"
    reason = halted_with(tmp_path, press_twice(after_each=only_the_slave), SlaveButton())
    assert reason.endswith("IRQ 10 is requested, but IRQ 2 (the slave's input at the master) is still in service: "
                           "no EOI ended it")


def test_a_masked_request_is_named(tmp_path):
    masked = SETUP + """
        mov al, 0xFF
        out 0x21, al
        mov dx, 0x520
        mov al, 2
        out dx, al
        hlt
        jmp $
handler:
        iret
"""
    assert halted_with(tmp_path, masked).endswith("IRQ 5 is requested, but masked at the PIC")


def test_a_hlt_with_interrupts_disabled_says_so(tmp_path):
    assert halted_with(tmp_path, "cli\n hlt\n").endswith("interrupts are disabled (IF=0: no sti)")


def test_an_edge_line_left_high_after_its_interrupt_says_it_must_fall_first(tmp_path):
    held = SETUP + """
        mov dx, 0x520
        mov al, 1
        out dx, al
        mov cx, 50
settle: loop settle
        hlt
        jmp $
handler:
        mov al, 0x20
        out 0x20, al
        iret
"""
    assert "IRQ 5's line stays high: an edge-triggered input asks again only when its line falls and rises" in (
        halted_with(tmp_path, held))
