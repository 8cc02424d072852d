"""A user's device raising IRQ 5 through the PIC to the guest's own handler; ``int n`` through the guest's vector."""

import re

import pytest
from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.devices import pic8259

from tests.guests import program_pics, run_source
from tests.user_irq_devices import IrqButton, LevelButton, PeriodicTicker

# The PIC at the BIOS's bases (IRQ 5 is vector 0x0D), IRQ 5 alone unmasked, the handler in the IVT.
SETUP = """
        cli
""" + program_pics(0x08, 0x70, 0xDF, 0xFF) + """
        mov word [0x0D * 4], irq5
        mov word [0x0D * 4 + 2], 0
"""
# The handler counts; at the third interrupt it lowers the line; then EOI.
HANDLER = """
irq5:   inc byte [count]
        cmp byte [count], 3
        jne .eoi
        mov dx, 0x520
        mov al, 0
        out dx, al
.eoi:   mov al, 0x20
        out 0x20, al
        iret
count:  db 0
"""
# Move the line (AL on entry is what the button gets), give the PIC time, exit with the count.
PRESS = """
        sti
        mov dx, 0x520
        out dx, al
        mov cx, 200
settle: loop settle
        mov al, [count]
        out 0xF4, al
        jmp $
"""


def pressed(tmp_path, value: int, device, *options, **kwargs):
    body = SETUP + f"        mov al, {value}\n" + PRESS + HANDLER
    return run_source(tmp_path, body, *options, devices=[device], **kwargs)


def test_an_edge_line_held_high_interrupts_once(tmp_path):
    assert pressed(tmp_path, 1, IrqButton()).result.exit_code == 1


def test_a_level_line_held_high_interrupts_again_after_each_eoi_until_it_falls(tmp_path):
    assert pressed(tmp_path, 1, LevelButton()).result.exit_code == 3


def test_a_pulse_on_an_edge_line_is_latched_though_the_line_fell_before_the_cpu_looked(tmp_path):
    assert pressed(tmp_path, 2, IrqButton()).result.exit_code == 1


def test_a_pic_that_drops_the_edge_loses_the_pulse(tmp_path, monkeypatch):
    def follows_the_line_only(chip, line, level):  # the request follows the line: no latch
        bit = 1 << line
        chip.lines = chip.lines | bit if level else chip.lines & ~bit
        chip.irr = chip.irr | bit if level else chip.irr & ~bit

    monkeypatch.setattr(pic8259.Pic8259, "set_line", follows_the_line_only)
    assert pressed(tmp_path, 2, IrqButton()).result.exit_code == 0


def test_the_trace_shows_the_line_and_the_delivery_with_the_device(tmp_path):
    lines: list[str] = []
    pressed(tmp_path, 1, IrqButton(), trace=lines.append)
    events = [line.split("] ", 1)[1] for line in lines if "IRQ 5" in line]
    assert [event.split(", handler")[0] for event in events] == [
        "IRQ 5 (irq-button) up", "IRQ 5 (irq-button) -> vector 0x0d", "IRQ 5 (irq-button) EOI",
    ]
    assert any("PIC1 command" in line for line in lines)  # the EOI is also the port write it is


def test_a_trace_of_another_device_leaves_the_line_out(tmp_path):
    from pmtimer_harness.core.trace import Tracer

    lines: list[str] = []
    pressed(tmp_path, 1, IrqButton(), trace=Tracer(lines.append, devices=["pic8259"]))
    assert lines and not any("IRQ 5" in line for line in lines)


@pytest.mark.parametrize(("irq", "why"), [
    (2, "IRQ 2 is the cascade from the slave PIC line"),
    (16, "irq 16 is not an IRQ of the PIC pair (0 to 15)"),
])
def test_a_line_the_board_cannot_give_is_refused_in_one_line(tmp_path, irq, why):
    device = IrqButton()
    device.irq = irq
    with pytest.raises(ConfigError, match=re.escape(why)):
        pressed(tmp_path, 1, device)


def test_a_device_that_cannot_take_its_line_is_refused_in_one_line(tmp_path):
    class Unplugged(IrqButton):
        def connect_irq(self, line):
            raise OSError("socket gone")

    with pytest.raises(ConfigError, match="connect_irq raised OSError: socket gone"):
        pressed(tmp_path, 1, Unplugged())


def test_two_devices_on_one_line_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="IRQ 5 is irq-button's already"):
        run_source(tmp_path, "        jmp $\n", devices=[IrqButton(), IrqButton(port=0x521)])


# HLT until the ticker's first tick, then exit with the ticker's count: the clock skipped to the tick.
TICK = """
        mov dx, 0x530
        out dx, al
        sti
        hlt
        in al, dx
        out 0xF4, al
        jmp $
""" + HANDLER.replace("mov dx, 0x520", "mov dx, 0x530")


def test_a_periodic_device_wakes_the_cpu_from_hlt_at_its_tick(tmp_path):
    ticker = PeriodicTicker(period_ns=5_000_000)  # 5 ms: far beyond the few instructions run
    run = run_source(tmp_path, SETUP + TICK, "--insn-ns", "10", devices=[ticker])
    assert run.result.exit_code == 1 and ticker.ticks == 1
    assert 5_000_000 <= run.result.virtual_ns < 5_100_000


INT_30 = """
        mov word [0x30 * 4], handler
        mov word [0x30 * 4 + 2], 0
        int 0x30
        int 0x30
        mov al, [count]
        out 0xF4, al
        jmp $
handler: inc byte [count]
        iret
count:  db 0
"""


def test_int_n_goes_through_the_guests_own_vector_and_returns_after_the_instruction(tmp_path):
    run = run_source(tmp_path, INT_30)
    assert run.result.exit_code == 2, run.result.report and run.result.report.format()
    assert run.result.instructions == 10  # 2 movs, twice (int, inc, iret), mov, out: each int is one


def test_int_n_through_a_vector_the_guest_never_installed_stays_an_error(tmp_path):
    run = run_source(tmp_path, "        int 0x31\n        jmp $\n")
    assert run.result.verdict == Verdict.ERROR
    assert "INT 0x31" in run.result.report.reason and "installed none" in run.result.report.reason


@pytest.mark.parametrize("dispatch", ["python", "reference"])
def test_interrupts_keep_the_exact_instruction_count_of_the_reference(tmp_path, dispatch):
    fast = run_source(tmp_path, INT_30).result.instructions
    assert run_source(tmp_path, INT_30, "--dispatch", dispatch).result.instructions == fast
    device_run = pressed(tmp_path, 1, LevelButton(), "--dispatch", dispatch).result
    assert device_run.instructions == pressed(tmp_path, 1, LevelButton()).result.instructions


def test_a_trace_of_the_device_keeps_its_line_and_leaves_the_rest_out(tmp_path):
    from pmtimer_harness.core.trace import Tracer

    lines: list[str] = []
    pressed(tmp_path, 1, IrqButton(), trace=Tracer(lines.append, devices=["irq-button"]))
    assert any("IRQ 5 (irq-button) up" in line for line in lines)
    assert any("IRQ 5 (irq-button) -> vector 0x0d" in line for line in lines)
    assert not any("PIC1" in line for line in lines)


# The same in 32-bit protected mode: a flat GDT, an IDT with interrupt gates for IRQ 5 (0x0D) and 0x30.
PROTECTED = SETUP + """
        o32 lgdt [gdtr]
        o32 lidt [idtr]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm32
        bits 32
pm32:   mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7000
        sti
        mov dx, 0x520
        mov al, 1
        out dx, al
        mov ecx, 200
settle: loop settle
        int 0x30
        mov al, [count]
        out 0xF4, al
        jmp $
soft:   add byte [count], 0x10
        iret
""" + HANDLER + """
        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF           ; 0x08: flat 32-bit code
        dq 0x00CF92000000FFFF           ; 0x10: flat data
gdtr:   dw 3 * 8 - 1
        dd gdt
idt:    times 0x0D dq 0
        dw irq5, 0x0008, 0x8E00, 0      ; IRQ 5: 32-bit interrupt gate
        times 0x30 - 0x0E dq 0
        dw soft, 0x0008, 0x8E00, 0      ; INT 0x30
idtr:   dw 0x31 * 8 - 1
        dd idt
"""


@pytest.mark.parametrize(("device", "count"), [(IrqButton, 1), (LevelButton, 3)])
def test_in_protected_mode_the_line_and_int_n_go_through_the_guests_idt(tmp_path, device, count):
    run = run_source(tmp_path, PROTECTED, devices=[device()])
    assert run.result.exit_code == 0x10 + count, run.result.report and run.result.report.format()


TICKS = SETUP + """
        mov dx, 0x530
        out dx, al
        sti
again:  hlt
        cmp byte [count], 3
        jb again
        in al, dx
        add al, [count]
        out 0xF4, al
        jmp $
irq5:   inc byte [count]
        mov al, 0x20
        out 0x20, al
        iret
count:  db 0
"""
TICKER = "tests.user_irq_devices:PeriodicTicker,period_ns=1000000"


def test_a_snapshot_between_ticks_resumes_to_the_same_end_bit_for_bit(tmp_path):
    from pmtimer_harness import build_machine, restore_snapshot, take_snapshot

    from tests.guests import write_guest

    machine = build_machine(write_guest(tmp_path, TICKS), ["--insn-ns", "10"], devices=[TICKER])
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
    machine.save_at(30)  # between the first tick and the second: the ticker and the PIC carry on
    whole = machine.run()
    (snapshot,) = saved
    end = restore_snapshot(snapshot, devices=[TICKER]).run()
    assert whole.exit_code == 6 and 3_000_000 <= whole.virtual_ns < 3_100_000  # 3 ticks, 3 interrupts
    keep = ("verdict", "exit_code", "instructions", "virtual_ns", "console")
    assert [getattr(end, name) for name in keep] == [getattr(whole, name) for name in keep]


class BrokenClock(PeriodicTicker):
    def __init__(self, answer) -> None:
        super().__init__()
        self.answer = answer

    def advance_to(self, now_ns: int):
        if self.answer == "raise":
            raise RuntimeError("no crystal")
        return self.answer


@pytest.mark.parametrize(("answer", "why"), [
    ("raise", "error: ticker raised RuntimeError in advance_to("),
    ("soon", "error: ticker's advance_to("),
])
def test_a_device_clock_that_fails_is_the_runs_error_naming_the_device(tmp_path, answer, why):
    run = run_source(tmp_path, SETUP + TICK, devices=[BrokenClock(answer)])
    assert run.result.verdict == Verdict.ERROR
    assert run.result.report.reason.startswith(why), run.result.report.reason
    assert "internal harness error" not in run.result.report.format()
