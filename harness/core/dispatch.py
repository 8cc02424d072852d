"""The hot path: what runs each time the guest enters a translation block or touches a port.

Unicorn calls these through C function pointers (``native_hooks.py``), once per
port access and, under the virtual clock, once per translation block.  Their
cost is most of what a timer read costs (``make bench``), so they are written
for speed:

- ``__slots__`` classes: a slot attribute is quicker to reach than one in an
  instance dictionary, and these methods touch a dozen per access;
- no register reads (one costs microseconds from inside a hook);
- one fast path per direction, for the common case of a routed access with no
  stop latched and no trace; everything else (a refused or unclaimed port, a
  latched stop, tracing) takes ``careful_in``/``careful_out``, which go through
  ``PortBus.read``/``write`` and hand errors to the machine.  Going careful
  empties the fast path's routing tables, so it costs the fast path no test.

``VirtualDispatch`` counts retired instructions a block at a time: each block
is decoded once (``blocks.py``), and an access adds how many instructions of
its block precede it, so the virtual clock sees the exact count.  The counts
themselves, and the schedule of check points, belong to the run's time
(``timekeeping.py``): the dispatches read and advance them.  RDTSC and
RDTSCP are placed the same way and read the virtual time (``tsc.py``).
``HostDispatch`` has no block hook: host time needs no instruction count, and
without the per-block call a read costs about what a bare hook does.  The
price: no instruction count and no instruction budget under the host clock.

Once the machine latches a stop reason it calls ``stop()``: from then on no
device sees an access (INs read all ones), whatever the CPU retires before it
honours the stop at the next block boundary.

Whatever a device raises, ``BaseException`` included (a user's device may
raise ``SystemExit``, or ``KeyboardInterrupt`` for Ctrl-C), goes to the
machine: an exception that left a hook would be printed and dropped by ctypes,
and Unicorn would go on with garbage in the register the IN loads.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter_ns

import unicorn
from pmtimer_harness.core.blocks import CAPSTONE, EMPTY_BLOCK, Block, BlockDecoder, Instruction
from pmtimer_harness.core.bus import IN, OUT, PortAccess, PortBus
from pmtimer_harness.core.code_watch import CodeWatch
from pmtimer_harness.core.cpu import code_bits, disassemble_at, linear_pc, program_counter_register
from pmtimer_harness.core.mmio_bus import READ, WRITE, MmioAccess, MmioAccessError, MmioBus
from pmtimer_harness.core.native_hooks import NativeHooks
from pmtimer_harness.core.timekeeping import HostTime, Time, VirtualTime
from pmtimer_harness.core.tsc import VirtualTsc
from unicorn import x86_const as x86

FLOATING_BUS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF}
# Decoded instructions kept (about 130 bytes each); past it the table of blocks starts afresh.  Counted in
# instructions, not blocks: a guest running through zeroed RAM makes blocks of 512 instructions each.
MAX_DECODED_INSTRUCTIONS = 65_536
PAGE_SHIFT = 12
OTHER_BITS = {16: (32,), 32: (16,), 64: (32, 16)}  # decodings to try when the first disagrees with Unicorn
HLT_OPCODE = 0xF4

Access = PortAccess | MmioAccess
FailureHandler = Callable[[Access, BaseException], None]
InternalErrorHandler = Callable[[str, Exception], None]  # (where, error): the machine ends the run with an error


def _no_handler(_where: str, _error: Exception) -> None:
    """Until the machine installs its own."""


class CountLost(Exception):
    """A port access the block accounting cannot place: the instruction count would be wrong."""
TraceHandler = Callable[[Access, int], None]


class Dispatch:
    """What both clocks share: routing, the careful path, the hand-off to the machine.

    Each dispatch gives ``access_time()``: the time of the access being
    dispatched, which the careful path hands to the bus.
    """

    __slots__ = (
        "bus", "counts", "mmio", "mmio_access", "mmio_before", "mmio_busy", "mmio_failing", "mmio_instruction",
        "mmio_value", "on_failure", "on_internal_error", "on_trace", "readers", "start_bits", "stop_requested",
        "stop_waiting", "stopped", "time", "uc", "writers",
    )

    def __init__(self, uc: unicorn.Uc, bus: PortBus, start_bits: int, on_failure: FailureHandler, time: Time) -> None:
        self.uc = uc
        self.bus = bus
        self.readers = bus.readers
        self.writers = bus.writers
        self.start_bits = start_bits
        self.on_failure = on_failure
        self.on_internal_error: InternalErrorHandler = _no_handler
        self.on_trace: TraceHandler | None = None
        self.stopped = False
        self.stop_requested = False  # the CPU was asked to stop since emu_start began
        self.stop_waiting = False  # a stop asked for during an MMIO access, for the next one to make
        self.time = time
        self.counts = time.counts
        self.mmio = MmioBus()  # the board's, once the machine hands it over
        self.mmio_access: MmioAccess | None = None  # the guest's access the pieces below belong to
        self.mmio_value = 0  # what it read, handed to Unicorn piece by piece
        self.mmio_instruction: Instruction | None = None  # the accessing instruction, while the device has it
        self.mmio_before: int | None = None  # instructions retired before it
        self.mmio_busy = False  # a device has the MMIO access
        self.mmio_failing = False  # reporting an access no instruction made

    def install(self, hooks: NativeHooks) -> None:
        hooks.on_in(self.on_in)
        hooks.on_out(self.on_out)

    def trace_with(self, on_trace: TraceHandler) -> None:
        self.on_trace = on_trace
        self._go_careful()

    def stop(self) -> None:
        self.stopped = True
        self._go_careful()

    def _go_careful(self) -> None:
        # No route found: every access falls through to the careful path.
        self.readers = {}
        self.writers = {}

    def _go_fast_if_allowed(self) -> None:
        if not self.stopped and self.on_trace is None:
            self.readers = self.bus.readers
            self.writers = self.bus.writers

    # --- the careful path ---------------------------------------------------

    def careful_in(self, port: int, width: int) -> int:
        if self.stopped:
            return FLOATING_BUS[width]
        try:
            now_ns = self.access_time()
            value = self.bus.read(port, width, now_ns)
        except BaseException as error:  # see the module docstring
            self.on_failure(PortAccess(IN, port, width), error)
            return FLOATING_BUS[width]
        if self.on_trace is not None:
            self.on_trace(PortAccess(IN, port, width, value), now_ns)
        self.counts.port_accesses += 1
        self.time.access_seen(now_ns)
        return value

    def careful_out(self, port: int, width: int, value: int) -> None:
        if self.stopped:
            return
        try:
            now_ns = self.access_time()
            self.bus.write(port, width, value, now_ns)
        except BaseException as error:  # see the module docstring
            self.on_failure(PortAccess(OUT, port, width, value), error)
            return
        if self.on_trace is not None:
            self.on_trace(PortAccess(OUT, port, width, value), now_ns)
        counts = self.counts
        counts.port_accesses += 1
        counts.port_writes += 1
        self.time.access_seen(now_ns)

    def read_pc(self) -> int:
        return self.uc.reg_read(program_counter_register(self.start_bits))

    def on_out(self, _engine: int, port: int, width: int, value: int, _user: int) -> None:
        # OUTs are rarer than INs (a console write, a PIC command): one path serves both clocks.
        try:
            writer = self.writers[port << 3 | width]
        except KeyError:
            return self.careful_out(port, width, value)
        try:
            writer(port, width, value, self.access_time())
        except BaseException as error:  # see the module docstring
            self.on_failure(PortAccess(OUT, port, width, value), error)
            return None
        counts = self.counts
        counts.port_accesses += 1
        counts.port_writes += 1
        return None

    # --- where the CPU stopped ---------------------------------------------------

    def settle(self, pc: int, faulted: bool, last_traced: int | None) -> None:
        """``emu_start`` returned with the CPU at ``pc``: count what retired.

        ``faulted``: it stopped at a faulting instruction; ``last_traced``: the
        last address the instruction trace's code hook saw, if one is installed.
        """

    def stop_cpu(self) -> None:
        """Ask the CPU to stop: it does at the next block boundary (at once under a code hook)."""
        if self.mmio_busy and not self.stopped:
            self.stop_waiting = True  # stopping now would leave the access undone (below)
            return
        self.stop_requested = True
        self.uc.emu_stop()

    # --- memory-mapped registers ------------------------------------------------
    #
    # Unicorn calls a device's MMIO callbacks with pieces of at most 4 aligned
    # bytes (an 8-byte or unaligned access comes in two), and with a stale PC.
    # A memory hook over the same pages runs first, once per access as the
    # instruction made it, with the PC exact: it does the access (``on_mmio``),
    # and the MMIO callbacks only hand its value over.
    #
    # A stop requested during an MMIO access, or pending when one starts (a
    # port hook earlier in the block asked for it), makes Unicorn leave that
    # instruction undone, the CPU standing at it, after the callbacks ran.  So
    # an access under a pending stop never reaches the device: the instruction
    # runs again after the stop.  And a stop the device's access asks for (a
    # line it moved, under the host clock) waits for the next MMIO access, or
    # the next block boundary under the virtual clock, so that the device sees
    # each access once.  Only a stop that ends the run is made at once.

    def claim_mmio(self, address: int, size: int) -> None:
        """The guest's accesses to the pages at ``address`` go to ``on_mmio``."""
        self.uc.mmio_map(address, size, self.mmio_piece_read, address, self.mmio_piece_write, address)
        self.uc.hook_add(unicorn.UC_HOOK_MEM_READ | unicorn.UC_HOOK_MEM_WRITE, self.on_mmio, None, address,
                         address + size - 1)

    def on_mmio(self, _uc: unicorn.Uc, kind: int, address: int, width: int, value: int, _user: object) -> None:
        write = kind == unicorn.UC_MEM_WRITE
        access = MmioAccess(WRITE, address, width, value & ((1 << 8 * width) - 1)) if write else \
            MmioAccess(READ, address, width)
        self.mmio_access, self.mmio_value = access, (1 << 8 * width) - 1
        if self.stop_waiting and not self.stopped:
            self.stop_waiting = False
            self.stop_cpu()
        if self.stopped or self.stop_requested:
            return  # the run has ended, or the CPU leaves this instruction undone
        self.mmio_busy = True
        try:
            self.mmio_before = self.place_mmio(self.read_pc())
            now_ns = self.time.time_at(self.mmio_before)
            if write:
                self.mmio.write(address, width, access.value or 0, now_ns)
            else:
                self.mmio_value = self.mmio.read(address, width, now_ns)
            if self.on_trace is not None:
                self.on_trace(access if write else MmioAccess(READ, address, width, self.mmio_value), now_ns)
            if write:
                self.time.check_soon()  # the write may have started a device's timed event
        except BaseException as error:  # whatever a device raises goes to the machine (module docstring)
            self.mmio_busy = False  # a stop now ends the run: made at once
            self.on_failure(access, error)
        finally:
            self.mmio_busy = False
            self.mmio_instruction = self.mmio_before = None

    def place_mmio(self, pc: int) -> int | None:
        """Instructions retired before the one at ``pc``, which is making an MMIO access; None: not counted."""
        return None

    def mmio_piece_read(self, _uc: unicorn.Uc, offset: int, size: int, base: int) -> int:
        """The bytes of the access's value that fall in this piece of it."""
        access = self.mmio_access
        piece = base + offset
        if access is None or not (access.address < piece + size and piece < access.address + access.width):
            self._unhooked_mmio(MmioAccess(READ, piece, size))
            return (1 << 8 * size) - 1
        shift = 8 * (piece - access.address)
        value = self.mmio_value >> shift if shift >= 0 else self.mmio_value << -shift
        return value & ((1 << 8 * size) - 1)

    def mmio_piece_write(self, _uc: unicorn.Uc, offset: int, size: int, value: int, base: int) -> None:
        """Written already, whole, by ``on_mmio``."""
        access = self.mmio_access
        piece = base + offset
        if access is None or not (access.address < piece + size and piece < access.address + access.width):
            self._unhooked_mmio(MmioAccess(WRITE, piece, size, value & ((1 << 8 * size) - 1)))

    def _unhooked_mmio(self, access: MmioAccess) -> None:
        # A claimed page read or written with no instruction's access: a
        # page-table walk or a descriptor table there, read by the CPU or by
        # the harness (the GDT, for the mode a block runs in).  The report
        # reads the same tables again: those reads stay here.
        if self.stopped or self.mmio_failing:
            return
        self.mmio_failing = True
        reason = "no instruction made this access (a page table or descriptor table there?): not modelled"
        try:
            self.on_failure(access, MmioAccessError(access, reason))  # type: ignore[arg-type]
        finally:
            self.mmio_failing = False

    def forget_code(self, address: int, size: int) -> None:
        """Guest memory at ``address`` changed behind the CPU's back (an interrupt frame)."""

    def devices_changed(self) -> None:
        """The devices' state was replaced (a snapshot restored): what the hooks keep of it is stale."""


class VirtualDispatch(Dispatch):
    """Counts instructions for virtual time, a block at a time; takes the check points it asks for.

    A check point is the first block boundary at or past ``counts.next_check``
    instructions (``timekeeping.py`` sets it); ``on_check`` then runs before
    the block and returns True when it sent the CPU elsewhere (an interrupt).
    While an event is due, virtual time asks for port accesses to take the
    careful path (``watch_accesses``), so that time spent in I/O brings the
    check point forward.  ``counts.retired`` is the instructions of every
    block before the current one.
    """

    __slots__ = (
        "block", "blocks", "checking", "code_pages", "code_watch", "decoded_instructions", "hooked_index",
        "on_check", "ordinal", "replay_at", "skipped", "stop_deferred", "stop_index", "stopped_in", "tsc",
    )
    decoder: BlockDecoder = CAPSTONE  # the reference; the compiled dispatch decodes in C

    def __init__(
        self,
        uc: unicorn.Uc,
        bus: PortBus,
        start_bits: int,
        on_failure: FailureHandler,
        time: VirtualTime,
        on_check: Callable[[int], bool],
    ) -> None:
        super().__init__(uc, bus, start_bits, on_failure, time)
        time.watch_accesses = self._watch_accesses
        self.block: Block = EMPTY_BLOCK
        self.hooked_index: tuple[int, ...] = ()  # the current block's, for the fast path
        self.ordinal = 0  # port accesses so far in the current block
        self.blocks: dict[int, Block] = {}
        self.decoded_instructions = 0  # in ``blocks``, bounded by MAX_DECODED_INSTRUCTIONS
        self.code_pages: dict[int, set[int]] = {}  # page number -> addresses of decoded blocks touching it
        self.code_watch: CodeWatch | None = None
        self.replay_at = -1  # a store hit its own block: Unicorn runs the store again alone, from here
        self.stopped_in: Block = EMPTY_BLOCK  # the block the CPU was in when emu_start returned
        self.checking = False  # inside on_check, called from the block hook
        self.skipped = False  # the CPU was stopped from the block hook: that block never ran
        self.stop_index: int | None = None  # where in its block a port hook asked the CPU to stop
        self.stop_deferred = False  # a port hook's stop waits for the block's end: a TSC read comes first
        self.tsc = VirtualTsc(uc, start_bits)
        self.on_check = on_check
        self.decoder.load(start_bits)  # the decoder loads now, not in the guest's first block: out of its time

    def install(self, hooks: NativeHooks) -> None:
        hooks.on_tsc_read(self.on_rdtsc, self.on_rdtscp)  # first: Unicorn searches the hooks in order
        hooks.on_block(self.on_block)
        self.code_watch = CodeWatch(hooks, self.on_code_write)
        super().install(hooks)

    def on_block(self, _engine: int, address: int, size: int, _user: int) -> None:
        block = self.block
        again = block.address == address and block.size == size  # a loop, the common case when polling
        if not again and block.address <= address < block.address + block.size:
            self._unheard_store_replayed(block, address, size)  # back inside the block that ran
        counts = self.counts
        retired = counts.retired = counts.retired + block.icount
        if retired >= counts.next_check:
            self.block = EMPTY_BLOCK  # the last block is counted: the check point stands between blocks
            self.checking = True
            if self.stop_deferred:  # asked for in the last block, after which it read the TSC
                self.stop_deferred = False
                self.stop_cpu()
                redirected = False
            else:
                redirected = self.on_check(address)
            self.checking = False
            if redirected:
                # The CPU went to an interrupt handler: this block does not run.
                self.hooked_index = ()
                self.ordinal = 0
                return
            self.block = block
        self.ordinal = 0
        if again:
            return
        block = self.blocks.get(address)
        if block is None or block.size != size:
            block = self._decode(address, size)
        self.block = block
        self.hooked_index = block.hooked_index

    def _watch_accesses(self, watching: bool) -> None:
        if watching:
            self._go_careful()
        else:
            self._go_fast_if_allowed()

    def resync(self, pc: int) -> None:
        """The CPU stopped at ``pc``, perhaps inside a block: count exactly what retired, start afresh."""
        self.counts.retired = self.instructions_at(pc)
        self.block = EMPTY_BLOCK
        self.hooked_index = ()
        self.ordinal = 0

    def stop_cpu(self) -> None:
        # Stopped from the block hook, the CPU leaves before the block runs
        # (Unicorn checks for a stop request right after the block hook).
        # Stopped from a port hook, it runs on to the end of the block, or to
        # the block's next instruction that reads or writes memory, whichever
        # comes first (Unicorn's memory helpers check for a stop request too).
        # But with a stop request pending, Unicorn's RDTSC helper gives up its
        # search for a hook at the first one it meets, whatever its kind, and
        # reads the host's TSC (unicorn: helper_rdtsc, the stop_request check
        # in its loop): when a TSC read follows in the block, the stop waits
        # for the next block boundary, a check point.
        if self.mmio_busy and not self.stopped:
            self.stop_deferred = True  # stopping now would leave the access undone: at the block boundary
            self.counts.next_check = 0
            return
        if self.checking:
            self.skipped = True
        else:
            ordinal = self.ordinal - 1
            hooked_index = self.block.hooked_index
            self.stop_index = hooked_index[ordinal] if 0 <= ordinal < len(hooked_index) else None
            if self.stop_index is not None and self.block.reads_tsc_after(self.stop_index):
                self.stop_index = None
                self.stop_deferred = True
                self.counts.next_check = 0
                return
        self.stop_requested = True
        self.uc.emu_stop()

    def settle(self, pc: int, faulted: bool, last_traced: int | None) -> None:
        # Unicorn honours a stop request (or a HLT) at the next block boundary,
        # before that block's hook: the block that ran is whole, wherever the
        # next one starts (perhaps at its own first instruction, in a loop).  A
        # fault stops the CPU at the faulting instruction, inside the block; so
        # does a stop under a code hook, before the next traced instruction.
        block = self.stopped_in = self.block
        stop_index, self.stop_index = self.stop_index, None
        self.stop_deferred = False  # the CPU stopped before that block boundary (a HLT, a fault): it is taken
        if self.skipped:  # stopped from the block hook: ``retired`` already counts every block that ran
            self.skipped = False
            block = EMPTY_BLOCK
        inside = faulted or (
            last_traced is not None
            and block.index_of(last_traced) is not None
            and (last_traced == pc or last_traced != block.instructions[-1].address)
        ) or (
            # A port hook's stop is taken at the block's first memory access after
            # it, if there is one; the pc alone cannot tell, when the block jumps
            # back into itself.
            stop_index is not None and pc == block.first_memory_access_after(stop_index)
        )
        self.counts.retired += block.retired_before(pc) if inside else block.icount
        self.block = EMPTY_BLOCK
        self.hooked_index = ()
        self.ordinal = 0

    def on_in(self, _engine: int, port: int, width: int, _user: int) -> int:
        try:
            reader = self.readers[port << 3 | width]
        except KeyError:
            return self.careful_in(port, width)
        ordinal = self.ordinal
        self.ordinal = ordinal + 1
        try:
            before = self.hooked_index[ordinal]
        except IndexError:
            return self._unplaced(PortAccess(IN, port, width))
        counts = self.counts
        try:
            # VirtualClock.now_ns, written out: a call costs as much as the arithmetic.
            now_ns = (counts.retired + before) * counts.insn_ns + counts.port_accesses * counts.io_ns + counts.idle_ns
            value = reader(port, width, now_ns)
        except BaseException as error:  # see the module docstring
            self.on_failure(PortAccess(IN, port, width), error)
            return FLOATING_BUS[width]
        counts.port_accesses += 1
        return value

    def on_rdtsc(self, _engine: int, _user: int) -> int:
        return self._read_tsc(False)

    def on_rdtscp(self, _engine: int, _user: int) -> int:
        return self._read_tsc(True)

    def _read_tsc(self, aux: bool) -> int:
        ordinal = self.ordinal
        self.ordinal = ordinal + 1
        try:
            before = self.hooked_index[ordinal]
        except IndexError:
            before = 0
            self.on_internal_error("at a TSC read", CountLost(self._unplaced_reason()))
        # VirtualClock.now_ns, written out, as in on_in.
        counts = self.counts
        now_ns = (counts.retired + before) * counts.insn_ns + counts.port_accesses * counts.io_ns + counts.idle_ns
        return self.tsc.read(now_ns, aux)

    def access_time(self) -> int:
        ordinal = self.ordinal
        self.ordinal = ordinal + 1
        try:
            before = self.hooked_index[ordinal]
        except IndexError:
            raise CountLost(self._unplaced_reason()) from None
        return self.time.time_at(self.counts.retired + before)

    def _unplaced(self, access: PortAccess) -> int:
        self.on_failure(access, CountLost(self._unplaced_reason()))
        return FLOATING_BUS[access.width]

    def _unplaced_reason(self) -> str:
        return (
            f"the instruction could not be placed in its block at {self.block.address:#x} "
            f"({len(self.block.hooked_index)} port instructions and TSC reads decoded there): "
            "the instruction count would be wrong"
        )

    # --- decoding blocks, and hearing of stores over them ---------------------

    def _decode(self, address: int, size: int) -> Block:
        block = self._decode_as_unicorn_did(address, size)
        self.decoded_instructions += len(block.instructions)
        if self.decoded_instructions > MAX_DECODED_INSTRUCTIONS:
            self._forget_all_blocks()
            self.decoded_instructions = len(block.instructions)
        self._keep_block(block)
        for page in range(address >> PAGE_SHIFT, ((address + max(size, 1) - 1) >> PAGE_SHIFT) + 1):
            self.code_pages.setdefault(page, set()).add(address)
        if self.code_watch is not None:
            self.code_watch.watch(address, address + size)
        return block

    def _decode_as_unicorn_did(self, address: int, size: int) -> Block:
        """Decode the block in the mode whose instruction count agrees with Unicorn's own translation.

        The mode comes from CR0 and the GDT, but CS keeps the descriptor it was
        loaded with (a guest may set CR0.PE, or change its GDT, without reloading
        CS), so the guess is checked against the instruction count of Unicorn's
        translation block; where no decoding agrees, Unicorn's count is used.
        """
        try:
            code = bytes(self.uc.mem_read(address, size))
        except unicorn.UcError:
            code = b""
        # A store that rewrote its own block runs again alone, in a block Unicorn
        # translated for one instruction: asking for it would translate another (below).
        translated = None if address == self.replay_at else self._translated_icount(address, size)
        guess = code_bits(self.uc, self.start_bits)
        first = None
        for bits in (guess, *OTHER_BITS[guess]):
            block = self.decoder.decode(code, address, bits)
            first = first or block
            if block.exact and (translated is None or block.icount == translated):
                return block
        if translated is None:
            return first
        return self.decoder.decode(code, address, guess, icount=translated)

    def _translated_icount(self, address: int, size: int) -> int | None:
        """Instructions in Unicorn's translation block at ``address``, if it is the one running.

        Asked from the block hook, this must find the block running now in
        Unicorn's cache: when it does not, Unicorn translates one from inside
        the hook (unicorn: qemu/accel/tcg/translate-all.c, ``uc_gen_tb``), and
        a translation that finds the translation cache full flushes it and
        long-jumps back into the CPU loop (``tb_gen_code``, ``cpu_loop_exit``),
        across the Python frames of this hook: the interpreter's state is then
        corrupt.  The lookup misses for a block translated to run once (a
        store's replay after self-modifying code, which the caller skips) and
        for code outside RAM, which cannot run here: 64-bit addresses go
        through the virtual TLB, so a non-canonical one faults (``cpu.py``).
        """
        try:
            pc, icount, tb_size = self.uc.ctl_request_cache(address)
        except unicorn.UcError:
            return None
        return icount if (pc, tb_size) == (address, size) else None

    def on_code_write(self, _engine: int, _kind: int, address: int, size: int, _value: int, _user: int) -> None:
        """A guest store into decoded code (a native write hook): forget the blocks it changes."""
        end = address + size
        self.forget_code(address, size)
        block = self.block
        if block.address < end and address < block.end and block.icount:
            if block.address == self.replay_at and block.icount == 1:
                return  # the store running again on its own: Unicorn lets it finish
            self._abandon_block()

    def _unheard_store_replayed(self, block: Block, address: int, size: int) -> None:
        """The CPU re-entered ``block`` at ``address`` as another block: a jump into it, or a store's replay.

        Unicorn 2.1.4 runs an unaligned store to a code page as byte stores with
        its memory hooks off (``uc->size_recur_mem``, qemu/accel/tcg/cputlb.c
        ``store_helper``); when the first byte rewrites the running block,
        precise SMC leaves the block by longjmp before the hooks come back on,
        so ``on_code_write`` never hears of it.  The replay shows all the same:
        a block of exactly that one instruction, a store that does not end a
        block, within the block that ran.  A jump into a block never makes
        such a block: a translation stops after one instruction only at an
        instruction that ends a block.
        """
        index = block.index_of(address)
        if index is None:
            return
        instruction = block.instructions[index]
        if instruction.size != size or instruction.ends_block or not instruction.may_store:
            return
        self.counts.retired -= block.icount - index  # the rest of the block never ran: on_block adds only what did
        self.forget_code(block.address, block.size)  # the store rewrote it, unheard
        self.replay_at = address  # and asking Unicorn for this block would translate another (_translated_icount)

    def _abandon_block(self) -> None:
        # Unicorn (QEMU's precise SMC) leaves the running block at the store,
        # runs the store as a block of its own, then translates what follows.
        store = None
        for address in self._store_addresses():
            store = self.block.index_of(address)
            if store is not None:
                break
        else:
            return
        self.counts.retired += store
        self.replay_at = self.block.instructions[store].address
        self.block = EMPTY_BLOCK
        self.hooked_index = ()
        self.ordinal = 0

    def _store_addresses(self) -> tuple[int, ...]:
        # CS's base as the GDT gives it, then as real mode had it (a guest may set
        # CR0.PE and go on without reloading CS), then none (flat).
        eip = self.read_pc()
        return (linear_pc(self.uc, self.start_bits), eip + self.uc.reg_read(x86.UC_X86_REG_CS) * 16, eip)

    def forget_code(self, address: int, size: int) -> None:
        """Bytes at ``address`` changed (a guest store, an interrupt frame): forget blocks decoded there."""
        end = address + size
        for page in range(address >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1):
            starts = self.code_pages.get(page)
            if not starts:
                continue
            for start in list(starts):
                block = self.blocks.get(start)
                if block is None or (block.address < end and address < block.end):
                    self._drop_block(start)
                    starts.discard(start)

    # The table of decoded blocks changes only through these three (a compiled dispatch keeps a copy).

    def _keep_block(self, block: Block) -> None:
        self.blocks[block.address] = block

    def _drop_block(self, address: int) -> None:
        self.blocks.pop(address, None)

    def _forget_all_blocks(self) -> None:
        self.blocks.clear()
        self.code_pages.clear()

    def place_mmio(self, pc: int) -> int | None:
        block = self.block
        index = block.index_of(pc)
        if index is None:
            index = block.index_of(linear_pc(self.uc, self.start_bits))
        if index is None:
            raise CountLost(f"the MMIO access at {pc:#x} could not be placed in its block at {block.address:#x}: "
                            "the instruction count would be wrong")
        self.mmio_instruction = block.instructions[index]
        return self.counts.retired + index

    def current_instruction(self) -> Instruction | None:
        if self.mmio_instruction is not None:
            return self.mmio_instruction
        instructions = self.block.hooked_instructions
        ordinal = self.ordinal - 1
        return instructions[ordinal] if 0 <= ordinal < len(instructions) else None

    def instructions_at_access(self) -> int | None:
        if self.mmio_before is not None:
            return self.mmio_before
        instruction = self.current_instruction()
        return self.instructions_at(instruction.address) if instruction else self.counts.retired

    def instructions_at(self, pc: int) -> int | None:
        return self.counts.retired + self.block.retired_before(pc)

    def halted_at(self, pc: int) -> int | None:
        # HLT ends its translation block: the CPU stands at the block's end.
        block = self.stopped_in
        if block.ends_in_hlt and pc == block.end:
            return block.instructions[-1].address
        return None


class HostDispatch(Dispatch):
    """Host time, no block hook: check points come from the run loop, between runs of the CPU (``HostTime``)."""

    __slots__ = ("clock",)

    def __init__(
        self, uc: unicorn.Uc, bus: PortBus, start_bits: int, on_failure: FailureHandler, time: HostTime
    ) -> None:
        super().__init__(uc, bus, start_bits, on_failure, time)
        self.clock = time.clock

    def resync(self, pc: int) -> None:
        """Nothing counted, nothing to correct."""

    def on_in(self, _engine: int, port: int, width: int, _user: int) -> int:
        try:
            reader = self.readers[port << 3 | width]
        except KeyError:
            return self.careful_in(port, width)
        try:
            # HostClock.now_ns, written out.
            value = reader(port, width, perf_counter_ns() - self.clock.origin_ns)
        except BaseException as error:  # see the module docstring
            self.on_failure(PortAccess(IN, port, width), error)
            return FLOATING_BUS[width]
        self.counts.port_accesses += 1
        return value

    def access_time(self) -> int:
        return self.clock.now_ns()

    def current_instruction(self) -> Instruction | None:
        # Inside an IN/OUT hook Unicorn's PC is the port instruction's address.
        pc = self.read_pc()
        return Instruction(pc, 0, disassemble_at(self.uc, pc, self.start_bits))

    def instructions_at_access(self) -> int | None:
        return None

    def instructions_at(self, pc: int) -> int | None:
        return None

    def halted_at(self, pc: int) -> int | None:
        # Without block information: the byte before the PC is an HLT opcode.
        # The machine asks only when no latch, fault or timeout stopped the CPU,
        # and under the host clock nothing else does.
        if pc > 0 and self.uc.mem_read(pc - 1, 1)[0] == HLT_OPCODE:
            return pc - 1
        return None
