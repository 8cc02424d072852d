"""SCI delivery the guest set up badly ends in an error verdict that says why, never a traceback.

Each guest programs the PICs, sets TMR_EN and waits with IF set, in HLT or
spinning, 256 ticks before the 24-bit timer's top bit toggles; what it broke
first is what the delivery must name.
"""

import pytest
from pmtimer_harness.core.result import Verdict

from tests.guests import program_pics, run_source

SCI_SETUP = """
        cli
""" + program_pics(0x20, 0x28, 0xFB, 0xFD) + """
        mov dx, 0x402           ; PM1_EN: TMR_EN
        mov ax, 1
        out dx, ax
"""

ENTER_PROTECTED_MODE = """
        o32 lidt [idtr]
        o32 lgdt [gdtr]
        mov eax, cr0
        or eax, 1
        mov cr0, eax            ; CS keeps its real-mode descriptor until reloaded
"""

IDT_WITH_GATE_29 = """
        align 8
idt:    times 0x29 dq 0
        dw 0x7C00, 0x0008, 0x8E00, 0    ; vector 0x29: 32-bit interrupt gate, selector 8
idtr:   dw 0x29 * 8 + 7
        dd idt
"""

BROKEN = {
    "stack outside RAM": (
        "        mov ax, 0xFFFF\n        mov ss, ax\n        xor sp, sp\n", "",
        "the stack at 0xffff:0xfffe (linear 0x10ffee) lies outside guest RAM",
    ),
    "vector table outside RAM": (
        "        o32 lidt [ivtr]\n", "ivtr: dw 0x3FF\n        dd 0x80000000\n",
        "the interrupt vector table entry (linear 0x800000a4) lies outside guest RAM",
    ),
    "handler outside RAM": (
        "        mov word [0x29 * 4], 0xFFF0\n        mov word [0x29 * 4 + 2], 0xFFFF\n", "",
        "the handler 0xffff:0xfff0 (linear 0x10ffe0) lies outside guest RAM",
    ),
    "IDT outside RAM": (
        ENTER_PROTECTED_MODE, "idtr: dw 0x7FF\n        dd 0x80000000\ngdtr: dw 0\n        dd 0\n",
        "the IDT gate for vector 0x29 (linear 0x80000148) lies outside guest RAM",
    ),
    "gate selector with no GDT": (
        ENTER_PROTECTED_MODE, IDT_WITH_GATE_29 + "gdtr: dw 0\n        dd 0\n",
        "the IDT gate for vector 0x29 selects 0x0008, beyond the GDT limit 0x0",
    ),
    "GDT outside RAM": (
        ENTER_PROTECTED_MODE, IDT_WITH_GATE_29 + "gdtr: dw 0xFF\n        dd 0x80000000\n",
        "the GDT descriptor (linear 0x80000008) lies outside guest RAM",
    ),
}
WAITS = {"hlt": "idle:   hlt\n        jmp idle\n", "spin": "idle:   jmp idle\n"}


@pytest.mark.parametrize("clock", ["virtual", "host"])
@pytest.mark.parametrize("wait", sorted(WAITS))
@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_badly_set_up_interrupt_is_an_error_verdict_with_a_report(tmp_path, broken, wait, clock):
    setup, data, why = BROKEN[broken]
    body = SCI_SETUP + setup + "        sti\n" + WAITS[wait] + data
    run = run_source(
        tmp_path, body, "--timer-width", "24", "--timer-start", "0x7FFF00", "--clock", clock, "--timeout", "10"
    )
    result = run.result
    assert result.verdict == Verdict.ERROR, result.report and result.report.format()
    assert result.report.reason == f"error: IRQ 9 (SCI) through vector 0x29 could not be delivered: {why}"
    assert result.report.address is not None and result.report.registers  # where the CPU stood
    assert "Traceback" not in result.report.format()
