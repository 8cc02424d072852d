"""ACPI power-management timer (PM_TMR), with each platform's access rules and time base as data.

Sources:
- ACPI specification, section 4.8.3.3 "Power Management Timer": a free-running
  counter at 3.579545 MHz, 24 bits wide, or 32 bits when the FADT flag
  TMR_VAL_EXT is set; read-only, "accessed as 32 bits".
- freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c: port 0x408 (``IO_PMTMR``),
  full 32-bit value, and only a 4-byte IN is handled; any other access fails the
  vCPU run and bhyve exits.
- qemu/qemu: hw/acpi/core.c (``acpi_pm_tmr_ops``: ``impl.min_access_size = 4``,
  ``valid.min_access_size = 1``; ``acpi_pm_tmr_read`` ignores the offset): a
  read the bus lets through returns the low-order bytes of the counter; writes
  are ignored.  Which reads get through is QEMU's memory core's doing
  (softmmu/memory.c ``memory_region_access_valid``, physmem.c
  ``flatview_read_continue`` and ``memory_access_size``): under TCG an
  unaligned read is invalid and reads 0; under KVM it is split into aligned
  pieces, and a piece past the timer's four ports reads 0xFF (``unassigned_io_ops``).
- The other platforms' rules (narrow reads that return byte lanes, all ones or
  a stale buffer; time bases in 100 ns or microsecond steps; bhyve's rate) are
  chosen by ``harness/platform/profiles.py``, which cites a source for each.

The count is a pure function of the time the harness passes with each access
(``now_ns``); nothing polls and the device keeps no clock of its own.  The
default time base is exact: integer nanoseconds times 3,579,545, divided by 10^9.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import ClassVar

from pmtimer_harness.devices.ports import PortWindow, is_whole
from pmtimer_harness.record import Record

PM_TMR_FREQUENCY_HZ = 3_579_545
NS_PER_SECOND = 1_000_000_000
BHYVE_PM_TMR_PORT = 0x408  # IO_PMTMR in bhyve's vpmtmr.h
TIMER_WIDTHS = (24, 32)


class IoSemantics(str, Enum):
    """Which hypervisor's access rules the timer port follows (``--io-semantics``)."""

    BHYVE = "bhyve"
    QEMU = "qemu"


class NarrowRead(str, Enum):
    """What a read in the timer's four ports returns, other than a 4-byte IN at the timer's own port (the count).

    A 4-byte IN at port + 1..3 returns the count too, except where a rule says otherwise
    (``UNALIGNED_ZERO``, ``SPLIT``, ``ALL_ONES``).
    """

    REFUSE = "refuse"  # the platform stops the guest (bhyve)
    LOW_BYTES = "low-bytes"  # the low-order bytes of the counter, at any of the four ports
    UNALIGNED_ZERO = "unaligned-zero"  # low bytes when aligned; an unaligned read is invalid and reads 0 (QEMU, TCG)
    SPLIT = "split"  # an unaligned read is taken apart into aligned pieces of low bytes (QEMU, KVM)
    LANES = "lanes"  # the bytes of the counter from the port's offset on, 0 past its top (Hyper-V)
    ALL_ONES = "all-ones"  # 0xFF / 0xFFFF, and 0xFFFFFFFF at port + 1..3 (Xen, VirtualBox, Bochs)
    ZERO = "zero"  # the VMM leaves the data KVM zeroed: 0; a 4-byte read at port + 1..3 the count (cloud-hypervisor)
    STALE = "stale"  # the I/O buffer left untouched: the last port access's data, any port (a model)


class TimerWrite(str, Enum):
    REFUSE = "refuse"  # the platform stops the guest (bhyve)
    IGNORE = "ignore"  # dropped


class TimeBase(Record):
    """How nanoseconds become ticks: ``(ns - ns % quantum_ns) * numerator // denominator``.

    The quantum is the platform's own clock step (Hyper-V counts 100 ns units,
    Bochs simulated microseconds); numerator / denominator is its rate in ticks
    per nanosecond, exact or as the platform's arithmetic truncates it.
    """

    __slots__ = ("numerator", "denominator", "quantum_ns")

    def __init__(
        self, numerator: int = PM_TMR_FREQUENCY_HZ, denominator: int = NS_PER_SECOND, quantum_ns: int = 1
    ) -> None:
        self.numerator = numerator
        self.denominator = denominator
        self.quantum_ns = quantum_ns

    def ticks(self, now_ns: int) -> int:
        return (now_ns - now_ns % self.quantum_ns) * self.numerator // self.denominator

    def first_ns_at(self, tick: int) -> int:
        """The first nanosecond at which ``ticks`` reaches ``tick`` (tick > 0)."""
        ns = -(-tick * self.denominator // self.numerator)
        return -(-ns // self.quantum_ns) * self.quantum_ns

    @property
    def hz(self) -> float:
        return self.numerator * NS_PER_SECOND / self.denominator


EXACT = TimeBase()

BHYVE_REFUSAL = (
    "bhyve's vpmtmr_handler accepts only a 4-byte IN at the timer port "
    "(`if (!in || bytes != 4) return (-1);`): bhyve would fail the vCPU run and exit"
)


class TimerAccess(Record):
    """The timer port's access rules: narrow reads, writes, and what a refusal means."""

    __slots__ = ("narrow_reads", "writes", "refusal")

    def __init__(
        self,
        narrow_reads: NarrowRead = NarrowRead.REFUSE,
        writes: TimerWrite = TimerWrite.REFUSE,
        refusal: str = BHYVE_REFUSAL,
    ) -> None:
        self.narrow_reads = narrow_reads
        self.writes = writes
        self.refusal = refusal

    @staticmethod
    def of(semantics: IoSemantics) -> TimerAccess:
        if IoSemantics(semantics) is IoSemantics.BHYVE:
            return TimerAccess()
        return TimerAccess(NarrowRead.LOW_BYTES, TimerWrite.IGNORE, "")


def _read_count_added(payload: bytes) -> bytes:
    """State version 2 adds an unlatched timer's read count; version 1 had none, and restores as it did, from 0."""
    return payload


class PmTimer:
    """PM_TMR: ``(start + ticks elapsed at now_ns) mod 2**width``, computed when read."""

    name = "pm-timer"
    state_version = 2
    state_upgrades: ClassVar[dict[int, Callable[[bytes], bytes]]] = {1: _read_count_added}
    # Slots: read() runs on every guest timer read, and slot attributes are the quickest to reach.
    __slots__ = (
        "access",
        "denominator",
        "last",
        "mask",
        "numerator",
        "port",
        "quantum_ns",
        "restarts_on_restore",
        "semantics",
        "start",
        "time_base",
        "width",
        "windows",
    )

    def __init__(
        self,
        port: int = BHYVE_PM_TMR_PORT,
        width: int = 32,
        start: int = 0,
        semantics: IoSemantics = IoSemantics.BHYVE,
        *,
        access: TimerAccess | None = None,
        time_base: TimeBase = EXACT,
        restarts_on_restore: bool = False,
    ) -> None:
        if width not in TIMER_WIDTHS:
            raise ValueError(f"timer width must be 24 or 32 bits, not {width}")
        if not 0 <= start < 1 << width:
            raise ValueError(f"timer start {start:#x} does not fit in {width} bits")
        self.port = port
        self.width = width
        self.start = start
        self.semantics = IoSemantics(semantics)
        self.access = access or TimerAccess.of(self.semantics)
        self.time_base = time_base
        self.numerator, self.denominator = time_base.numerator, time_base.denominator
        self.quantum_ns = time_base.quantum_ns
        self.restarts_on_restore = restarts_on_restore
        self.mask = (1 << width) - 1
        self.last = start  # the I/O data buffer StalePmTimer keeps: what a stale narrow read gives
        self.windows = (self._window(),)

    def _window(self) -> PortWindow:
        access = self.access
        writes = frozenset({1, 2, 4}) if access.writes is TimerWrite.IGNORE else frozenset()
        if access.narrow_reads is NarrowRead.REFUSE:
            # Only the timer port itself: 0x409-0x40B have no handler in bhyve.
            return PortWindow(self.port, 1, read_widths=frozenset({4}), write_widths=writes, refusal=access.refusal)
        return PortWindow(self.port, 4, read_widths=frozenset({1, 2, 4}), write_widths=writes, refusal=access.refusal)

    def register_name(self, port: int) -> str:
        return "PM_TMR"

    def ticks(self, now_ns: int) -> int:
        return self.time_base.ticks(now_ns)

    def counter(self, now_ns: int) -> int:
        """TMR_VAL at ``now_ns``: the value a 4-byte read returns."""
        return (self.start + self.time_base.ticks(now_ns)) & self.mask

    def read(self, port: int, width: int, now_ns: int) -> int:
        # TimeBase.ticks without the quantum, inlined: this is the hot path of
        # every timer read.  A platform with a coarser clock is a SteppedPmTimer.
        value = (self.start + now_ns * self.numerator // self.denominator) & self.mask
        if width == 4 and port == self.port:
            return value
        return self.narrow(port, width, value)

    def time_function(self, port: int, width: int) -> tuple[int, int, int, int] | None:
        """``(start, numerator, denominator, mask)`` if a read at ``port``/``width`` returns
        ``(start + now_ns * numerator // denominator) & mask`` and does nothing else; None otherwise.

        A compiled dispatch answers such a read without calling ``read`` (harness/core/native.c).
        A subclass whose ``read`` does more (steps, counts reads) declares none.
        """
        if type(self).read is not PmTimer.read or port != self.port or width != 4:
            return None
        return (self.start, self.numerator, self.denominator, self.mask)

    def narrow(self, port: int, width: int, value: int) -> int:
        """Any read in the timer's ports but a 4-byte one at the timer's own, by the platform's rule."""
        rule = self.access.narrow_reads
        offset = port - self.port
        lane_mask = (1 << (8 * width)) - 1
        if rule is NarrowRead.ALL_ONES:
            return lane_mask
        if rule is NarrowRead.UNALIGNED_ZERO:
            return 0 if offset % width else value & lane_mask
        if rule is NarrowRead.SPLIT:
            return split_read(offset, width, value)
        if rule is NarrowRead.LANES:
            return (value >> (8 * offset)) & lane_mask  # bytes past the register read 0
        if width == 4:
            return value
        if rule is NarrowRead.ZERO:
            return 0
        if rule is NarrowRead.STALE:
            return self.last & lane_mask
        # LOW_BYTES: one 32-bit register whose narrower reads keep its low-order
        # bytes, whichever of its four ports they hit.
        return value & lane_mask

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        """The register is read-only; where a write is allowed at all, it is ignored."""

    # --- saved state ----------------------------------------------------------

    def state(self, now_ns: int) -> dict[str, object]:
        return {"counter": self.counter(now_ns), "last": self.last}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        """Continue from the saved count at ``now_ns`` (or from 0, where the platform loses it)."""
        counter = state["counter"]
        if not is_whole(counter) or not 0 <= counter <= self.mask:
            raise ValueError(f"count {counter!r} does not fit the timer's {self.width} bits")
        if self.restarts_on_restore:
            counter = 0  # bhyve's vpmtmr_snapshot saves baseval, always 0; the time base is not restored
        self.start = (counter - self.time_base.ticks(now_ns)) & self.mask
        last = state.get("last", counter)
        self.last = last if is_whole(last) else counter


def split_read(offset: int, width: int, count: int) -> int:
    """A read at timer port + ``offset`` taken apart as QEMU does for KVM's port exits.

    qemu/qemu: softmmu/physmem.c (``flatview_read_continue``, ``memory_access_size``):
    each piece is as long as is left, cut at the region's end, at the largest
    power of two the piece's offset is aligned to, and to a power of two; a piece
    in the timer's region is a read of the count (its low bytes), a piece past it
    falls in the unclaimed ports behind, which read 0xFF a byte.
    """
    result, done = 0, 0
    while done < width:
        at = offset + done
        if at >= 4:
            return result | ((1 << (8 * (width - done))) - 1) << (8 * done)
        piece = min(width - done, 4 - at)
        if at:
            piece = min(piece, at & -at)
        piece = 1 << (piece.bit_length() - 1)
        result |= (count & ((1 << (8 * piece)) - 1)) << (8 * done)
        done += piece
    return result


class SteppedPmTimer(PmTimer):
    """A timer whose clock moves in steps of ``time_base.quantum_ns`` (Hyper-V 100 ns, Bochs 1 us)."""

    __slots__ = ()

    def read(self, port: int, width: int, now_ns: int) -> int:
        return super().read(port, width, now_ns - now_ns % self.quantum_ns)


class StalePmTimer(SteppedPmTimer):
    """A narrow read leaves a shared I/O data buffer as the last port access left it (a model).

    cloud-hypervisor: devices/src/acpi.rs (``AcpiPmTimerDevice::read``) warns and
    does not touch the data of a read that is not 4 bytes.  Under KVM that data
    is zeroed before every IN exit (torvalds/linux: arch/x86/kvm/x86.c,
    ``emulator_pio_in_out``), so cloud-hypervisor reads 0 (``NarrowRead.ZERO``);
    a VMM whose buffer is not cleared would hand the guest the bytes of the last
    port access it served, to whatever port.  That is this model, the
    ``narrow-reads-stale`` quirk: ``saw_io`` is told of every access (the board
    asks the bus for it); ``last`` is the buffer: each access writes its own
    bytes and leaves the rest.
    """

    __slots__ = ()

    def saw_io(self, width: int, value: int) -> None:
        lane = (1 << (8 * width)) - 1
        self.last = (self.last & ~lane & 0xFFFF_FFFF) | (value & lane)


class UnlatchedPmTimer(SteppedPmTimer):
    """A timer whose reads are not latched (Intel PIIX4 before revision 3).

    torvalds/linux: drivers/clocksource/acpi_pm.c: "a 3 ns window every 69.8 ns
    where the timer value is indeterminate (a 4.2% chance that the data will be
    incorrect when read)".  The harness chooses the bad reads deterministically,
    by the read's position: read n is bad when ``(n * 2654435761) mod 2^32``
    falls in the lowest 4.2% of the range, so the same guest sees the same bad
    reads on every run.  A bad read catches the counter mid-carry: the low byte
    is current, the upper bytes are those from before the carry reached them,
    256 ticks back; it comes back out of order with its neighbours, the
    middle-value inversion ``acpi_pm_read_verified`` retries on.
    """

    __slots__ = ("reads",)
    BAD_PER_2_32 = 42 * (1 << 32) // 1000  # 4.2%

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reads = 0

    def read(self, port: int, width: int, now_ns: int) -> int:
        self.reads += 1
        value = super().read(port, width, now_ns)
        if (self.reads * 2654435761) & 0xFFFF_FFFF < self.BAD_PER_2_32:
            mask = self.mask if width == 4 else (1 << (8 * width)) - 1
            return (value - 0x100) & mask
        return value

    # --- saved state: the timer's, and the reads so far (they decide which reads are bad) ---------

    def state(self, now_ns: int) -> dict[str, object]:
        return {**super().state(now_ns), "reads": self.reads}

    def restore(self, state: dict[str, object], now_ns: int) -> None:
        """A count saved without reads (a latched timer's, or state version 1) starts them from 0."""
        super().restore(state, now_ns)
        reads = state.get("reads", 0)
        if not is_whole(reads) or not 0 <= reads < 1 << 64:
            raise ValueError(f"read count {reads!r} is not a whole number of reads")
        self.reads = reads


def timer_class(time_base: TimeBase, narrow_reads: NarrowRead, unlatched: bool) -> type[PmTimer]:
    """The model a platform needs: the plain timer unless it steps, goes stale or is not latched."""
    if unlatched:
        return UnlatchedPmTimer  # steps too; its narrow reads are never stale
    if narrow_reads is NarrowRead.STALE:
        return StalePmTimer
    return PmTimer if time_base.quantum_ns == 1 else SteppedPmTimer
