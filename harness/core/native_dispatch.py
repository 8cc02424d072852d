"""The compiled fast path (``--dispatch native``): ``VirtualDispatch`` with its hot state in C.

``native.c`` registers the block, port and TSC hooks through Unicorn's C API
and does the common cases itself: it counts a block it was told of while the
count is short of the check point, and it answers a read that a device
declares a pure function of time (the PM timer's).  Every other case calls
the very methods ``VirtualDispatch`` gives the Python path, which read and
write the same state through the C object's attributes:

- the counts: the run's time keeps them in the C object (``time.counts`` is
  that object from this dispatch's construction on);
- the current block, its ``hooked_index`` and the access ordinal (the
  properties below);
- the decoded blocks, which C keeps a copy of (``_keep_block``, ``_drop_block``,
  ``_forget_all_blocks``);
- the time readers: while the fast routing tables are in use, each board
  device whose read is routed unwrapped and which declares ``time_function``
  for that port and width (devices/pm_timer.py).  Going careful (an event
  due, a trace, a latched stop) takes them away, so C answers no read that
  Python would answer differently.

So the two paths give the same counts, values and verdicts; the tests run
both (tests/test_native.py, and the exact-count, fuzzing and snapshot tests).
"""

from __future__ import annotations

from collections.abc import Callable

import unicorn
from pmtimer_harness.core.blocks import COMPILED, Block
from pmtimer_harness.core.bus import PortBus, route_key
from pmtimer_harness.core.code_watch import CodeWatch
from pmtimer_harness.core.dispatch import FailureHandler, VirtualDispatch
from pmtimer_harness.core.native_hooks import MAX_TIME_READERS, NativeHooks, native_counts
from pmtimer_harness.core.timekeeping import VirtualTime

TimeDevice = tuple[int, int, int, object]  # (route key, port, width, device)


def _kept_in_counts(name: str) -> property:
    """An attribute of the dispatch that lives in the C object, where the hooks read it."""

    def get(dispatch: NativeDispatch) -> object:
        return getattr(dispatch.counts, name)

    def put(dispatch: NativeDispatch, value: object) -> None:
        setattr(dispatch.counts, name, value)

    return property(get, put)


class NativeDispatch(VirtualDispatch):
    """The virtual clock's dispatch with the compiled hooks; Python decides every uncommon case."""

    __slots__ = ("time_devices",)
    decoder = COMPILED  # no capstone on the run path (blocks.py)

    block = _kept_in_counts("block")
    hooked_index = _kept_in_counts("hooked_index")
    ordinal = _kept_in_counts("ordinal")

    def __init__(
        self,
        uc: unicorn.Uc,
        bus: PortBus,
        start_bits: int,
        on_failure: FailureHandler,
        time: VirtualTime,
        on_check: Callable[[int], bool],
    ) -> None:
        counts = native_counts(uc, like=time.counts)
        if counts is None:
            raise RuntimeError("the compiled dispatch is not built, or does not match this Unicorn")
        time.counts = counts
        self.time_devices = time_devices(bus)
        super().__init__(uc, bus, start_bits, on_failure, time, on_check)
        self._answer_time_reads()

    def install(self, hooks: NativeHooks) -> None:
        hooks.on_compiled(self.counts, self.on_rdtsc, self.on_rdtscp, self.on_block, self.on_in, self.on_out)
        self.code_watch = CodeWatch(hooks, self.on_code_write)

    def settle(self, pc: int, faulted: bool, last_traced: int | None) -> None:
        super().settle(pc, faulted, last_traced)
        error = self.counts.error
        if error is not None:  # a callback broke its contract: the C hook kept it and stopped the CPU
            self.counts.error = None
            self.on_internal_error("in a hook", error)

    # --- what C is told --------------------------------------------------------------

    def _go_careful(self) -> None:
        super()._go_careful()
        self.counts.time_readers = ()

    def _go_fast_if_allowed(self) -> None:
        super()._go_fast_if_allowed()
        self._answer_time_reads()

    def devices_changed(self) -> None:
        self._answer_time_reads()

    def _answer_time_reads(self) -> None:
        """Tell C the time functions of the reads it may answer: none unless the fast tables are in use."""
        functions = []
        if self.readers:
            for key, port, width, device in self.time_devices:
                function = device.time_function(port, width)  # type: ignore[attr-defined]
                if function is not None:
                    functions.append((key, *function))
        try:
            self.counts.time_readers = tuple(functions[:MAX_TIME_READERS])
        except (OverflowError, ValueError):  # a function C cannot hold: Python answers every read
            self.counts.time_readers = ()

    def _keep_block(self, block: Block) -> None:
        super()._keep_block(block)
        self.counts.remember(block)

    def _drop_block(self, address: int) -> None:
        super()._drop_block(address)
        self.counts.forget(address)

    def _forget_all_blocks(self) -> None:
        super()._forget_all_blocks()
        self.counts.forget_all()


def time_devices(bus: PortBus) -> tuple[TimeDevice, ...]:
    """The routes whose reader is a device's own ``read`` (not wrapped by a check or an observer),
    of a device that may declare its reads pure functions of time."""
    found = []
    for device in bus.devices:
        if not callable(getattr(device, "time_function", None)):
            continue
        for window in device.windows:
            for port in window.ports:
                for width in window.read_widths:
                    key = route_key(port, width)
                    if bus.readers.get(key) == device.read:
                        found.append((key, port, width, device))
    return tuple(found)
