"""STI's one-instruction interrupt shadow, and a HLT that waits through as many device events as it takes."""

from pmtimer_harness import PortWindow
from pmtimer_harness.core.result import Verdict

from tests.guests import program_pics, run_source

# The PIC at the BIOS's bases, IRQ 4 (vector 0x0C) and IRQ 5 (vector 0x0D) unmasked, one handler for both.
SETUP = """
        %include "report.inc"
guest_main:
        cli
""" + program_pics(0x08, 0x70, 0xCF, 0xFF) + """
        mov     word [0x0C * 4], woken
        mov     word [0x0C * 4 + 2], 0
        mov     word [0x0D * 4], woken
        mov     word [0x0D * 4 + 2], 0
"""
HANDLER = """
woken:  mov     byte [seen], 1
        mov     dx, 0x3F9               ; COM1's IER 0: its interrupt is done with
        xor     al, al
        out     dx, al
        mov     al, 0x20
        out     0x20, al
        iret
seen:   db      0
"""

# COM1's THR-empty interrupt is pending while IF is clear; then STI and HLT.
# A CPU takes the interrupt after the HLT, which it wakes from: the handler has run by the CHECK.
STI_HLT = SETUP + """
        mov     dx, 0x3FC               ; MCR: OUT2, the PC's gate for IRQ 4
        mov     al, 0x08
        out     dx, al
        mov     dx, 0x3F9               ; IER: ETBEI with the THR empty: IRQ 4 pending now
        mov     al, 0x02
        out     dx, al
        sti
        hlt
        cmp     byte [seen], 1
        CHECK   e, "sti; hlt with an interrupt pending wakes"
        FINISH
""" + HANDLER


def test_sti_then_hlt_with_an_interrupt_pending_halts_first_and_the_interrupt_wakes_it(tmp_path):
    run = run_source(tmp_path, STI_HLT, "--max-instructions", "100000")
    assert run.result.verdict is Verdict.PASS, run.result.report


def test_the_interrupt_after_sti_lands_after_the_next_instruction_not_before(tmp_path):
    # sti; inc byte [before]: the handler sees the INC done, as the shadow promises.
    body = STI_HLT.replace("        sti\n        hlt\n", "        sti\n        inc byte [before]\n"
                           "        mov al, [at_handler]\n        cmp al, 1\n"
                           "        CHECK e, \"the instruction after STI ran first\"\n        FINISH\n")
    body = body.replace("woken:  mov     byte [seen], 1\n",
                        "woken:  mov     al, [before]\n        mov     [at_handler], al\n")
    body += "before: db 0\nat_handler: db 0\n"
    run = run_source(tmp_path, body, "--max-instructions", "100000")
    assert run.result.verdict is Verdict.PASS, run.result.report


class LateBell:
    """Keeps time every microsecond and rings IRQ 5 only at its ``rings_at``-th event: many wake-ups for nothing."""

    name = "late-bell"
    state_version = 1
    irq = 5

    def __init__(self, rings_at: int) -> None:
        self.windows = (PortWindow(0x540, 1),)
        self.rings_at = rings_at
        self.events = 0
        self.next_ns = 1_000
        self.line = None

    def connect_irq(self, line) -> None:
        self.line = line

    def read(self, port: int, width: int, now_ns: int) -> int:
        return self.events & 0xFF

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        pass

    def advance_to(self, now_ns: int) -> int | None:
        while self.next_ns is not None and self.next_ns <= now_ns:
            self.events += 1
            self.next_ns += 1_000
            if self.events == self.rings_at:
                self.line.pulse()
                self.next_ns = None
        return self.next_ns

    def state(self, now_ns: int) -> dict[str, object]:
        return {}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        pass


HLT_UNTIL_RUNG = SETUP + """
        sti
        hlt
        cmp     byte [seen], 1
        CHECK   e, "the bell woke the CPU"
        FINISH
""" + HANDLER


def test_a_hlt_waits_through_many_events_that_wake_nothing_until_the_one_that_does(tmp_path):
    bell = LateBell(rings_at=50)
    run = run_source(tmp_path, HLT_UNTIL_RUNG, "--max-instructions", "100000", devices=[bell])
    assert run.result.verdict is Verdict.PASS, run.result.report
    assert bell.events == 50
    assert run.result.virtual_ns >= 50_000  # the fiftieth microsecond


def test_a_hlt_with_events_for_ever_and_no_interrupt_is_halted_after_the_machine_s_patience(tmp_path):
    from pmtimer_harness.core.machine import HLT_PATIENCE_EVENTS

    bell = LateBell(rings_at=0)  # never rings, always keeps time
    run = run_source(tmp_path, HLT_UNTIL_RUNG, "--max-instructions", "100000", devices=[bell])
    assert run.result.verdict is Verdict.HALTED, run.result.report
    assert f"{HLT_PATIENCE_EVENTS:,} device events" in run.result.report.reason
    assert bell.events >= HLT_PATIENCE_EVENTS and run.result.virtual_ns >= HLT_PATIENCE_EVENTS * 1_000


def test_a_device_whose_next_event_does_not_move_time_on_ends_the_wait(tmp_path):
    class StuckBell(LateBell):
        def advance_to(self, now_ns: int) -> int | None:
            self.events += 1
            return 1_000  # in the past once time passes it: a wait on it would go round for ever

    stuck = StuckBell(rings_at=0)
    run = run_source(tmp_path, HLT_UNTIL_RUNG, "--max-instructions", "100000", "--timeout", "5", devices=[stuck])
    assert run.result.verdict is Verdict.HALTED, run.result.report  # not a wait going round to the timeout
    assert "device events" in run.result.report.reason  # the board moves a past event on by 1 ns at a time
