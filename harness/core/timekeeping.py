"""The run's time, with one owner: the counts it is made of, the schedule, and its saved state.

The formula is ``VirtualClock.now_ns`` (``clock.py``); this module keeps what
the formula is applied to and when the run loop must look up from the CPU:

- the counts (``Counts``): instructions retired, port accesses, port writes,
  idle time skipped while halted, and the next check point;
- the schedule: check points for timer events, the instruction budget and
  ``--save-at``, wall-clock slices and the ``--timeout`` deadline, Ctrl-C;
- while the CPU is halted, the wait for the next event: skipped under the
  virtual clock, slept through under the host clock;
- the saved state (``TimeState``), which ``snapshot.py`` writes and reads.

The dispatches (``dispatch.py``, ``reference_dispatch.py``) are the hooks'
plumbing: they read and advance the counts, and take the check points this
module asks for.  The machine (``machine.py``) asks this module, not them,
where time stands.

``VirtualTime`` and ``HostTime`` have one interface; what differs between the
clocks is what each does with it:

- under the virtual clock, a check point is the first block boundary at or past
  ``next_check`` instructions (the dispatch's block hook takes it), and a slice
  of wall-clock time ends at one too (``SliceTimer``);
- under the host clock, check points come between runs of the CPU: a slice
  ends no later than the next timer event (``SliceTimer`` stops the CPU), and
  a check point asked for at once stops the CPU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter, sleep

from pmtimer_harness.core.clock import HostClock, VirtualClock
from pmtimer_harness.record import Record

NEVER = 1 << 127  # a time, or a count, no run reaches
HOST_RECHECK_NS = 1_000_000  # under the host clock, how often to look again while IF is clear
NAP_S = 0.1  # a halted CPU under the host clock sleeps at most this long between looks at the budget and Ctrl-C


class Counts:
    """What virtual time is made of, where the hooks read and advance it.

    Plain attributes in ``__slots__``: the hot path (``dispatch.py``) touches
    them on every block and port access, and a compiled type with the same
    member names may stand in for this class.
    """

    __slots__ = ("idle_ns", "insn_ns", "io_ns", "next_check", "port_accesses", "port_writes", "retired")

    def __init__(self, insn_ns: int = 0, io_ns: int = 0, next_check: int = NEVER) -> None:
        self.retired = 0  # instructions retired (at the last block boundary counted, on the fast path)
        self.port_accesses = 0
        self.port_writes = 0
        self.idle_ns = 0  # virtual time skipped while the CPU was halted
        self.insn_ns = insn_ns  # the virtual clock's rates, for the hot path's copy of its formula
        self.io_ns = io_ns
        self.next_check = next_check  # a check point at the first block boundary at or past this count


class TimeState(Record):
    """Where the run stands: the counts virtual time is made of, and the time they make."""

    __slots__ = ("clock", "instructions", "port_accesses", "port_writes", "idle_ns", "now_ns")
    __hash__ = None  # type: ignore[assignment]  # filled in as the run goes

    def __init__(
        self, clock: str, instructions: int, port_accesses: int, port_writes: int, idle_ns: int, now_ns: int
    ) -> None:
        self.clock = clock
        self.instructions = instructions
        self.port_accesses = port_accesses
        self.port_writes = port_writes
        self.idle_ns = idle_ns
        self.now_ns = now_ns


def _ignore(_watching: bool) -> None:
    """Until a dispatch with a fast path asks to hear of events due."""


class RunTime:
    """What both clocks' time keeps alike: the counts, the wall-clock deadline, Ctrl-C, the saved state."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.interrupted = False  # Ctrl-C: the run stops at the next chance
        self.wall_deadline = float("inf")  # time.perf_counter() when the run's --timeout is spent
        self.slice_due = False  # set from the slice timer's thread: the slice's time ran out
        self.slice_timer: SliceTimer | None = None

    def set_deadline(self, wall_deadline: float) -> None:
        """The run begins: it may last until ``time.perf_counter()`` reads ``wall_deadline``."""
        self.wall_deadline = wall_deadline

    def out_of_wall_time(self) -> bool:
        return perf_counter() >= self.wall_deadline

    def gives_up(self) -> bool:
        """Ctrl-C came, or the run's --timeout is spent."""
        return self.interrupted or self.out_of_wall_time()

    def end_slice(self) -> bool:
        """``emu_start`` returned: True if the slice's time ran out."""
        if self.slice_timer is not None:
            self.slice_timer.cancel()
            self.slice_timer = None
        ended, self.slice_due = self.slice_due, False
        return ended

    def restore(self, state: TimeState) -> None:
        """Take up counting where a snapshot left off; look at interrupts before the first block."""
        counts = self.counts
        counts.retired = state.instructions
        counts.port_accesses = state.port_accesses
        counts.port_writes = state.port_writes
        counts.idle_ns = state.idle_ns
        counts.next_check = 0


class VirtualTime(RunTime):
    """Time from the counts: check points at instruction counts, taken by the dispatch's block hook.

    The machine sets the next check point at the instruction budget, or
    earlier when a timer event may interrupt the guest (``arm``).  While an
    event is due, a dispatch with a fast path sends port accesses the careful
    way (``watch_accesses``), so that time spent in I/O brings the check point
    forward (``access_seen``).
    """

    kind = "virtual"

    def __init__(self, clock: VirtualClock, instruction_budget: int) -> None:
        super().__init__(Counts(clock.insn_ns, clock.io_ns, next_check=instruction_budget))
        self.clock = clock
        self.instruction_budget = instruction_budget
        self.budget = instruction_budget  # no check point later than this: the budget, or --save-at before it
        self.save_point: int | None = None
        self.due_ns = NEVER
        self.watch_accesses: Callable[[bool], None] = _ignore

    # --- time ---------------------------------------------------------------------

    def time_at(self, instructions: int | None) -> int:
        """Virtual time with ``instructions`` retired, and the accesses and idle time so far."""
        counts = self.counts
        return self.clock.now_ns(instructions, counts.port_accesses, counts.idle_ns)

    def now_ns(self) -> int:
        """Virtual time at the last block boundary counted: where a check point stands."""
        return self.time_at(self.counts.retired)

    def start_clock(self) -> None:
        """Virtual time goes on from the counts."""

    def wait_until(self, now_ns: int, due_ns: int) -> int:
        """Halted from ``now_ns`` until ``due_ns``: skip the idle time."""
        self.counts.idle_ns += max(0, due_ns - now_ns)
        return due_ns

    def state(self, instructions: int | None) -> TimeState:
        """The saved form, with ``instructions`` retired (the dispatch's exact count where the CPU stands)."""
        counts = self.counts
        return TimeState(self.kind, instructions or 0, counts.port_accesses, counts.port_writes, counts.idle_ns,
                         self.time_at(instructions))

    # --- check points ----------------------------------------------------------------

    def arm(self, due_ns: int) -> None:
        """Check again when virtual time reaches ``due_ns``, or when the budget is spent."""
        self.due_ns = due_ns
        counts = self.counts
        if counts.insn_ns:
            instructions_until_due = -(-(due_ns - self.now_ns()) // counts.insn_ns)
            counts.next_check = min(self.budget, counts.retired + max(0, instructions_until_due))
        else:
            counts.next_check = self.budget
        if self.slice_due or self.interrupted:
            counts.next_check = 0
        self.watch_accesses(True)

    def disarm(self) -> None:
        self.due_ns = NEVER
        self.counts.next_check = 0 if self.slice_due or self.interrupted else self.budget
        self.watch_accesses(False)

    def check_soon(self) -> None:
        """Check at the next block boundary."""
        self.counts.next_check = 0

    def recheck_later(self) -> None:
        """An interrupt waits for IF: look again at the next block boundary, after an STI perhaps."""
        self.counts.next_check = 0

    def access_seen(self, now_ns: int) -> None:
        """A port access on the careful path, at ``now_ns``: an event due by then wants a check point."""
        if now_ns >= self.due_ns:
            self.counts.next_check = 0

    def interrupt(self) -> None:
        """Ctrl-C: the next check point stops the CPU."""
        self.interrupted = True
        self.check_soon()

    def take_wakeup(self) -> bool:
        return False  # check points run inside the block hook

    def budget_spent(self) -> bool:
        return self.counts.retired >= self.instruction_budget

    def save_at(self, instructions: int) -> None:
        """Make a check point at the first block boundary after ``instructions``, for a snapshot."""
        self.save_point = instructions
        self.budget = min(self.instruction_budget, instructions)
        self.counts.next_check = min(self.counts.next_check, instructions)

    def take_save_point(self) -> bool:
        """At a check point: True once, when the count has reached ``save_at``'s."""
        if self.save_point is None or self.counts.retired < self.save_point:
            return False
        self.save_point = None
        self.budget = self.instruction_budget
        return True

    @property
    def save_pending(self) -> bool:
        return self.save_point is not None

    # --- slices of wall-clock time ---------------------------------------------------

    def begin_slice(self, seconds: float) -> None:
        """The CPU is about to run for at most ``seconds``: the slice timer ends it, at a check point.

        A stop from another thread lands at a moment the block accounting
        cannot see (during a block hook, the block is then skipped; elsewhere,
        it runs whole).  A check point can: the slice timer asks for one, and
        the check point stops the CPU.
        """
        self.slice_timer = SliceTimer(self._slice_ran_out, seconds, SliceTimer.RETRY_S)

    def _slice_ran_out(self) -> None:
        self.slice_due = True
        self.counts.next_check = 0

    def take_slice_end(self) -> bool:
        """At a check point: True if the slice timer asked for a stop."""
        return self.slice_due

    def until_check_ns(self) -> int | None:
        """How long the CPU may run before the run loop must look at interrupts; None: no limit."""
        return None


class SliceTimer:
    """Asks for the end of a slice once ``seconds`` have passed, and again every ``retry_s`` until cancelled.

    An ask can be lost.  Under the virtual clock the run loop may overwrite
    ``next_check`` just after this thread set it.  Under the host clock a stop
    that comes before the CPU loop has started is forgotten: ``uc_emu_start``
    clears the CPU's exit request as it starts the CPU (Unicorn 2.1,
    ``resume_all_vcpus`` in qemu/softmmu/cpus.c), so a slice shorter than the
    caller's way into it, or one whose caller was kept off the CPU that long,
    would run on until something else stopped it: for seconds, in a guest that
    only polls.  Unicorn's own ``timeout`` loses its stop the same way, so it is
    not used.
    """

    RETRY_S = 0.02

    def __init__(self, ask: Callable[[], None], seconds: float, retry_s: float) -> None:
        self._ask = ask
        self._seconds = seconds
        self._retry_s = retry_s
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._cancelled.wait(self._seconds):
            return
        while not self._cancelled.is_set():
            self._ask()
            self._cancelled.wait(self._retry_s)

    def cancel(self) -> None:
        self._cancelled.set()
        self._thread.join()


class HostTime(RunTime):
    """Host time; check points between runs of the CPU, and no instruction budget.

    The machine runs the CPU in slices that end no later than the next timer
    event (``until_check_ns``): the slice timer stops the CPU, and stops it
    again every ``HOST_RECHECK_NS`` until it has stopped (``SliceTimer`` says
    why once is not enough).  A device that asks for a check point from inside
    a hook stops the CPU at once.
    """

    kind = "host"

    def __init__(self, clock: HostClock, stop_cpu: Callable[[], None], stop_slice: Callable[[], None]) -> None:
        super().__init__(Counts())
        self.clock = clock
        self.due_ns = NEVER
        self.wakeup_requested = False
        self._stop_cpu = stop_cpu
        # From the slice timer's thread, as Unicorn's own timeout would: not through the dispatch, whose
        # record of a stop (for an MMIO access under way) holds only for one the CPU has heard.
        self._stop_slice = stop_slice

    # --- time ---------------------------------------------------------------------

    def time_at(self, _instructions: int | None) -> int:
        return self.clock.now_ns()

    def now_ns(self) -> int:
        return self.clock.now_ns()

    def start_clock(self) -> None:
        """Time 0 is the guest's first instruction."""
        self.clock.restart()

    def wait_until(self, now_ns: int, due_ns: int) -> int:
        """Halted until ``due_ns``: sleep, in short naps so that the run's budget and Ctrl-C are heard."""
        while not self.interrupted:
            delay_s = min((due_ns - self.clock.now_ns()) / 1e9, self.wall_deadline - perf_counter())
            if delay_s <= 0:
                break
            sleep(min(delay_s, NAP_S))
        return self.clock.now_ns()

    def state(self, instructions: int | None) -> TimeState:
        """The saved form: the counts, and the host time now (a restored run starts again from 0)."""
        counts = self.counts
        return TimeState(self.kind, instructions or 0, counts.port_accesses, counts.port_writes, counts.idle_ns,
                         self.now_ns())

    # --- check points ----------------------------------------------------------------

    def arm(self, due_ns: int) -> None:
        self.due_ns = due_ns

    def disarm(self) -> None:
        self.due_ns = NEVER

    def check_soon(self) -> None:
        self.wakeup_requested = True
        self._stop_cpu()

    def recheck_later(self) -> None:
        self.arm(self.clock.now_ns() + HOST_RECHECK_NS)

    def access_seen(self, now_ns: int) -> None:
        """Host time passes by itself: the slice ends at the event."""

    def interrupt(self) -> None:
        """Ctrl-C: stop the CPU now."""
        self.interrupted = True
        self.check_soon()

    def take_wakeup(self) -> bool:
        """True once if the CPU stopped for a check point the run loop must service."""
        requested = self.wakeup_requested or self.clock.now_ns() >= self.due_ns
        self.wakeup_requested = False
        return requested

    def budget_spent(self) -> bool:
        return False  # the host clock counts no instructions to spend

    def take_save_point(self) -> bool:
        return False  # --save-at counts instructions: the machine refuses it under the host clock

    @property
    def save_pending(self) -> bool:
        return False

    # --- slices of wall-clock time ---------------------------------------------------

    def begin_slice(self, seconds: float) -> None:
        """The CPU is about to run for at most ``seconds``: the slice timer stops it."""
        self.slice_timer = SliceTimer(self._slice_ran_out, seconds, HOST_RECHECK_NS / 1e9)

    def _slice_ran_out(self) -> None:
        self.slice_due = True
        self._stop_slice()

    def take_slice_end(self) -> bool:
        return False  # a slice ends by the slice timer's stop, not at a check point

    def until_check_ns(self) -> int | None:
        if self.wakeup_requested:
            return 0
        return None if self.due_ns == NEVER else max(0, self.due_ns - self.clock.now_ns())


class HostTimeAtBlocks(HostTime):
    """Host time for a dispatch with a block hook (the reference path): check points there, as virtually.

    The block hook takes a check point once ``next_check`` is reached or the
    host time passes ``due_ns``; slices end by the slice timer's stop, with no
    timer event to wait for between them.
    """

    def arm(self, due_ns: int) -> None:
        self.due_ns = due_ns
        self.counts.next_check = NEVER

    def disarm(self) -> None:
        self.due_ns = NEVER
        self.counts.next_check = NEVER

    def check_soon(self) -> None:
        self.counts.next_check = 0

    def recheck_later(self) -> None:
        self.counts.next_check = 0  # an interrupt waits for IF: look again at the next block

    def take_wakeup(self) -> bool:
        return False  # check points run inside the block hook

    def until_check_ns(self) -> int | None:
        return None


Time = VirtualTime | HostTime


def make_time(
    clock: VirtualClock | HostClock, instruction_budget: int, stop_cpu: Callable[[], None],
    stop_slice: Callable[[], None], block_hook: bool,
) -> Time:
    """The run's time under ``clock``.

    ``stop_cpu`` asks the CPU to stop, for the host clock's check points
    between runs of the CPU; ``stop_slice`` stops it from the slice timer's
    thread (Unicorn's ``emu_stop``); ``block_hook``: the dispatch takes check
    points in a block hook instead (always so under the virtual clock).
    """
    if isinstance(clock, VirtualClock):
        return VirtualTime(clock, instruction_budget)
    host_time = HostTimeAtBlocks if block_hook else HostTime
    return host_time(clock, stop_cpu, stop_slice)
