"""Under the host clock a slice of CPU time ends even when Unicorn forgets the stop that should end it.

Unicorn 2.1 clears the CPU's exit request as ``uc_emu_start`` starts the CPU,
so a stop asked for from another thread before then is lost: its own
``timeout`` loses its stop that way when the slice is short or the caller is
kept off the CPU (a loaded host).  A guest that only polls (``overflow_irq.asm``
under the host clock) then ran on for seconds with the SCI pending and no
check point to deliver it.  These tests lose stops on purpose, the same way
on every run.
"""

from __future__ import annotations

import threading

import pytest
import unicorn
from pmtimer_harness.core.clock import HostClock
from pmtimer_harness.core.timekeeping import HostTime

from tests.guests import program_pics, run_source
from tests.user_irq_devices import PeriodicTicker

WAIT_S = 5.0  # far beyond any ask's lateness: reached only if the asks stopped


def test_the_slice_timer_asks_again_after_a_stop_the_cpu_forgot():
    asks = []
    second_ask = threading.Event()

    def stop_slice() -> None:
        asks.append(threading.current_thread())
        if len(asks) == 2:
            second_ask.set()

    time = HostTime(HostClock(), lambda: None, stop_slice)
    time.begin_slice(0.0)  # the first ask comes before the CPU runs: forgotten
    assert second_ask.wait(WAIT_S)
    assert time.end_slice()
    assert threading.current_thread() not in asks


# IRQ 5 at vector 0x0D; the ticker pulses it every 100 us once started.  The guest polls with IF set and
# nothing that stops the CPU, until its handler has run or the PM timer says a second has passed.
POLL = """
        cli
""" + program_pics(0x08, 0x70, 0xDF, 0xFF) + """
        mov word [0x0D * 4], irq5
        mov word [0x0D * 4 + 2], 0
        mov dx, 0x530
        out dx, al
        mov al, 0xDF                    ; the mask again: a check point, which learns of the first tick
        out 0x21, al
        mov dx, TIMER_PORT
        in eax, dx
        mov ebx, eax
        sti
poll:   cmp byte [count], 0
        jne done
        in eax, dx
        sub eax, ebx
        and eax, 0xFFFFFF
        cmp eax, 3_579_545
        jb poll
done:   mov al, [count]
        out 0xF4, al
        jmp $
irq5:   push ax
        inc byte [count]
        mov al, 0x20
        out 0x20, al
        pop ax
        iret
count:  db 0
"""


@pytest.fixture
def forgetful_unicorn(monkeypatch):
    """Unicorn as it behaves when every stop from another thread comes before its CPU loop: the first is lost.

    ``emu_start``'s own timeout is lost too; stops from the hooks (the guest's
    port writes) are made while the CPU runs, and are kept.
    """
    start, stop = unicorn.Uc.emu_start, unicorn.Uc.emu_stop
    state = {"lost": False}  # this slice's first stop from another thread is lost already

    def emu_start(uc, begin, until, timeout=0, count=0):
        state["lost"] = False
        return start(uc, begin, until, 0, count)

    def emu_stop(uc):
        if threading.current_thread() is not threading.main_thread() and not state["lost"]:
            state["lost"] = True
            return None
        return stop(uc)

    monkeypatch.setattr(unicorn.Uc, "emu_start", emu_start)
    monkeypatch.setattr(unicorn.Uc, "emu_stop", emu_stop)


@pytest.mark.usefixtures("forgetful_unicorn")
def test_a_polling_guest_takes_its_interrupt_though_the_first_stop_of_each_slice_is_lost(tmp_path):
    ticker = PeriodicTicker(period_ns=100_000)
    run = run_source(tmp_path, POLL, "--clock", "host", devices=[ticker])
    assert run.result.exit_code >= 1, "no interrupt came while the guest polled"
