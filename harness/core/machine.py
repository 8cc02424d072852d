"""The machine: a Unicorn x86 CPU, guest RAM, the board's devices, and the run loop.

The board (``board.py``) builds the devices, the port bus and
the ACPI tables from the platform profile, and routes the SCI to the PIC; the
per-block and per-access work lives in ``dispatch.py``; the run's time, its
counts and its schedule in ``timekeeping.py``; this module starts the CPU,
delivers the interrupts the board has ready, and turns how it stopped into one
verdict.

Unicorn honours ``emu_stop`` only at the next block boundary, so a
guest may retire a few instructions after the one that ended its run.  The
first stop reason is latched, and once it is, no device sees another access:
the exit device keeps the first code, and a device error is never overwritten
by a later exit.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import unicorn
from pmtimer_harness.core.board import Board, DeviceClockError
from pmtimer_harness.core.bus import PortAccess, PortAccessError
from pmtimer_harness.core.clock import VirtualClock, make_clock
from pmtimer_harness.core.config import BOOT_DRIVE, ConfigError, MachineConfig
from pmtimer_harness.core.cpu import disassemble_at, is_canonical, new_cpu, read_registers, resume_address
from pmtimer_harness.core.dispatch import HostDispatch, VirtualDispatch
from pmtimer_harness.core.interrupts import DeliveryError, after_sti, deliver, guest_installed, interrupts_enabled
from pmtimer_harness.core.mmio_bus import MmioAccess
from pmtimer_harness.core.native_dispatch import NativeDispatch
from pmtimer_harness.core.native_hooks import NativeHooks
from pmtimer_harness.core.result import Report, RunResult, Verdict, exit_verdict
from pmtimer_harness.core.timekeeping import HostTime, VirtualTime, make_time
from pmtimer_harness.devices.acpi_pm1 import Pm1Registers
from pmtimer_harness.devices.pm_timer import PmTimer
from pmtimer_harness.devices.ports import DeviceError
from pmtimer_harness.platform.acpi_tables import RSDP_ADDRESS, TABLES_END
from pmtimer_harness.record import Record
from unicorn import x86_const as x86

if TYPE_CHECKING:
    from pmtimer_harness.core.gdbstub import GdbStub
    from pmtimer_harness.core.insn_trace import InstructionTrace
    from pmtimer_harness.core.reference_dispatch import ReferenceDispatch
    from pmtimer_harness.core.trace import Tracer

    TraceSink = Tracer | Callable[[str], None]  # a Tracer, or a function given each trace line as text

UNREACHABLE = 0xFFFF_FFFF_FFFF_FFFF
MAX_SLICE_S = 0.25  # the CPU runs at most this long before the run loop looks at the budget and Ctrl-C
# How long a halted CPU waits through device events that wake it for none: an hour of guest time (a 32-bit
# PM timer's top bit toggles every 600 s) or this many events (an RTC at 8192 Hz behind a masked line).
HLT_PATIENCE_NS = 3600 * 10**9
HLT_PATIENCE_EVENTS = 100_000

EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM no math coprocessor",
    8: "#DF double fault", 10: "#TS invalid TSS", 11: "#NP segment not present",
    12: "#SS stack fault", 13: "#GP general protection", 14: "#PF page fault",
    16: "#MF x87 error", 17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD error",
}

# One-byte instructions that raise a trap: vector -> (opcode, mnemonic).
ONE_BYTE_TRAPS = {1: (0xF1, "INT1"), 3: (0xCC, "INT3"), 4: (0xCE, "INTO")}

UC_FAULTS = {
    unicorn.UC_ERR_READ_UNMAPPED: "read from unmapped memory",
    unicorn.UC_ERR_WRITE_UNMAPPED: "write to unmapped memory",
    unicorn.UC_ERR_FETCH_UNMAPPED: "instruction fetch from unmapped memory",
    unicorn.UC_ERR_INSN_INVALID: "invalid instruction",
    unicorn.UC_ERR_EXCEPTION: "unhandled CPU exception",
}

AccessObserver = Callable[[PortAccess, int], None]  # every port access, with its time


class InstructionTraceOptions(Record):
    """``--trace insn``: how many instructions at most, and the address ranges traced."""

    __slots__ = ("limit", "ranges")

    def __init__(
        self,
        limit: int = 10_000,
        ranges: tuple[tuple[int, int], ...] = (),  # (first, last) addresses; empty: everywhere
    ) -> None:
        self.limit = limit
        self.ranges = ranges


class Stop(Record):
    """The first reason the run ended: latched, never replaced."""

    __slots__ = ("verdict", "instructions", "exit_code", "report")
    __hash__ = None  # type: ignore[assignment]  # filled in as the run goes

    def __init__(
        self,
        verdict: Verdict,
        instructions: int | None,  # None under the host clock, which does not count them
        exit_code: int | None = None,
        report: Report | None = None,
    ) -> None:
        self.verdict = verdict
        self.instructions = instructions
        self.exit_code = exit_code
        self.report = report


class Machine:
    def __init__(
        self,
        config: MachineConfig,
        *,
        timer_model: type[PmTimer] = PmTimer,
        pm1_model: type[Pm1Registers] = Pm1Registers,
        source_map: Mapping[int, str] | None = None,
        trace: TraceSink | None = None,
        instruction_trace: InstructionTraceOptions | None = None,
        observer: AccessObserver | None = None,
        gdb_port: int | None = None,
        announce: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.clock = make_clock(config.clock, config.insn_ns, config.io_ns)
        self.uc = new_cpu(config.mode)
        reference = config.dispatch == "reference"
        self.time = make_time(self.clock, config.instruction_budget, self._stop_cpu, self.uc.emu_stop,
                              block_hook=reference)
        self.uc.mem_map(0, config.memory)
        self.source_map = source_map or {}
        self._trace: Tracer | None = None
        if trace is not None:
            from pmtimer_harness.core.trace import as_tracer  # only a traced run: start-up

            self._trace = as_tracer(trace)
        self.board = Board(
            config,
            on_exit=self._guest_exited,
            on_snapshot_request=self._snapshot_requested,
            on_interrupt_change=self._interrupt_inputs_changed,
            on_irq_line=self._irq_line_moved,
            map_mmio=self._map_mmio,
            timer_model=timer_model,
            pm1_model=pm1_model,
        )
        self.bus = self.board.bus
        self.acpi_tables = self.board.acpi_tables
        self._place_acpi_tables()
        self.interrupts_taken = 0
        self._sti_shadow_kept = False  # a check point held an interrupt back for STI's shadow
        self.dispatch = self._make_dispatch()
        self.dispatch.on_internal_error = self._internal_error
        self.dispatch.mmio = self.board.mmio
        self._observer = observer
        if trace is not None or observer is not None:
            self.dispatch.trace_with(self._trace_access)
        self.instruction_trace: InstructionTrace | None = None
        if trace is not None and instruction_trace is not None:
            from pmtimer_harness.core.insn_trace import InstructionTrace  # only --trace insn: start-up

            self.instruction_trace = InstructionTrace(
                self.uc, config.mode, self.source_map, self._emit_trace, instruction_trace.limit,
                instruction_trace.ranges,
            )
        self._stop: Stop | None = None
        self._hlt_waited_out = False  # the last HLT's wait ran out of patience, rather than of events
        self._interrupted_by: int = signal.SIGINT
        self._memory_fault: str | None = None
        self._image_size = 0
        self._restored = False
        self._snapshot_due = False
        self.on_snapshot: Callable[[Machine], None] | None = None  # called at each save point
        self.warnings: list[str] = []

        self._hooks = NativeHooks(self.uc)
        self.dispatch.install(self._hooks)
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        self.uc.hook_add(unicorn.UC_HOOK_MEM_INVALID, self._on_memory_fault)
        if self.instruction_trace is not None:
            self.instruction_trace.install()
        self.debugger: GdbStub | None = None
        if gdb_port is not None:
            from pmtimer_harness.core.gdbstub import GdbStub  # sockets: only a debugging session needs them

            self.debugger = GdbStub(
                self.uc, gdb_port, self._monitor_command, announce, self._gdb_gives_up, self.dispatch.forget_code
            )

    def _make_dispatch(self) -> VirtualDispatch | HostDispatch | ReferenceDispatch:
        time, mode = self.time, self.config.mode
        if self.config.dispatch == "reference":  # it counts every instruction itself, so it serves both clocks
            from pmtimer_harness.core.reference_dispatch import ReferenceDispatch  # only when chosen: start-up

            return ReferenceDispatch(self.uc, self.bus, mode, self._access_failed, time, self._check_point)
        if isinstance(time, HostTime):
            return HostDispatch(self.uc, self.bus, mode, self._access_failed, time)
        # The compiled path and the Python path: the same hooks, counts and verdicts (core/native_dispatch.py).
        virtual_dispatch = NativeDispatch if self.config.dispatch == "native" else VirtualDispatch
        return virtual_dispatch(self.uc, self.bus, mode, self._access_failed, time, self._check_point)

    def _stop_cpu(self) -> None:
        self.dispatch.stop_cpu()  # through the dispatch, which must know of a stop during an MMIO access

    def _map_mmio(self, address: int, size: int) -> None:
        """A user's device claimed MMIO regions: its pages go to the dispatch's MMIO hooks."""
        self.dispatch.claim_mmio(address, size)

    # --- loading and starting -------------------------------------------

    def _place_acpi_tables(self) -> None:
        # Firmware's job: the tables sit in the BIOS area, where guests scan for the RSDP.
        if self.config.memory < TABLES_END:
            self.acpi_tables = []
            return
        for entry in self.acpi_tables:
            self.uc.mem_write(entry.address, entry.data)

    def load(self, image: bytes) -> None:
        end = self.config.load_address + len(image)
        if not image:
            raise ConfigError("the guest image is empty")
        if end > self.config.memory:
            raise ConfigError(
                f"a {len(image)}-byte guest at {self.config.load_address:#x} ends at {end:#x}, "
                f"past the end of guest RAM ({self.config.memory:#x}); raise --memory"
            )
        if self.acpi_tables and self.config.load_address < TABLES_END and end > RSDP_ADDRESS:
            raise ConfigError(
                f"a guest at {self.config.load_address:#x}-{end - 1:#x} overlaps the ACPI tables at "
                f"{RSDP_ADDRESS:#x}-{TABLES_END - 1:#x}; load it elsewhere"
            )
        self.uc.mem_write(self.config.load_address, image)
        self._image_size = len(image)

    def _set_start_state(self) -> None:
        start = self.config.load_address
        if self.config.mode == 16:
            # BIOS boot-sector convention: CS:IP = 0000:7C00, DL = boot drive,
            # flat zero segments, stack just below the image.
            for register in (x86.UC_X86_REG_CS, x86.UC_X86_REG_DS, x86.UC_X86_REG_ES, x86.UC_X86_REG_SS):
                self.uc.reg_write(register, 0)
            self.uc.reg_write(x86.UC_X86_REG_SP, start)
            self.uc.reg_write(x86.UC_X86_REG_DL, BOOT_DRIVE)
        elif self.config.mode == 32:
            self.uc.reg_write(x86.UC_X86_REG_ESP, start)
        else:
            self.uc.reg_write(x86.UC_X86_REG_RSP, start)

    def save_at(self, instructions: int) -> None:
        """Pause for ``on_snapshot`` at the first block boundary after ``instructions`` (virtual clock)."""
        if not isinstance(self.clock, VirtualClock):
            raise ConfigError("--save-at counts instructions: it needs the virtual clock")
        if isinstance(instructions, bool) or not isinstance(instructions, int) or instructions < 0:
            raise ConfigError(f"--save-at must be a whole number of instructions, 0 or more, not {instructions!r}")
        self.time.save_at(instructions)

    def run(self) -> RunResult:
        if not self._image_size:
            raise ConfigError("no guest loaded")
        if self._trace is not None:  # here, not at construction: the user's devices are attached by now
            self._trace.check_devices(device.name for device in self.bus.devices)
        if self._restored:
            begin = resume_address(self.uc, self.config.mode)
        else:
            self._set_start_state()
            begin = self.config.load_address
        self.time.start_clock()
        began = time.perf_counter()
        self.time.set_deadline(began + self.config.timeout)
        try:
            with self._ctrl_c_stops_the_run():
                while True:
                    fault, sliced = self._run_cpu(begin)
                    if self._may_go_on(fault) and self._paused_to_go_on(sliced):
                        begin = resume_address(self.uc, self.config.mode)
                        continue
                    wall_seconds = time.perf_counter() - began
                    self._finish_trace()
                    stop = self._stop or self._classify_end(fault, wall_seconds)
                    return self._result(stop, wall_seconds)
        finally:
            self.time.disarm()
            if self.instruction_trace is not None:
                self.instruction_trace.finish()
            if self.debugger is not None:
                self.debugger.finished(self._stop.exit_code if self._stop else None)

    def _gdb_gives_up(self) -> bool:
        """Ctrl-C or the end of --timeout came while the stub waited for the debugger or its next word."""
        return self.time.gives_up()

    def _monitor_command(self, command: str) -> str:
        """GDB's ``monitor`` commands: ``monitor timer`` shows the PM timer and its PM1 bits now."""
        if command != "timer":
            return "monitor commands: timer\n"
        return self.board.describe_timer(self._time_at(self.dispatch.read_pc()))

    def _time_at(self, pc: int) -> int:
        """The time with the CPU standing at ``pc``."""
        return self.time.time_at(self.dispatch.instructions_at(pc))

    # --- snapshots ----------------------------------------------------------

    def mark_restored(self) -> None:
        """The CPU, RAM, devices and time hold a saved state: the next ``run()`` resumes from it."""
        self._restored = True
        self._image_size = self.config.memory  # the guest is in RAM already
        self.dispatch.devices_changed()

    @property
    def save_at_pending(self) -> bool:
        """``save_at`` was asked for and the run has not reached it."""
        return self.time.save_pending

    def _snapshot_requested(self) -> None:
        # Saved at the next block boundary, where the CPU's state is whole.
        self._snapshot_due = True
        self.dispatch.stop_cpu()

    def _snapshot_taken(self) -> bool:
        if not self._snapshot_due or self._stop is not None:
            return False
        self._snapshot_due = False
        self.dispatch.resync(self.dispatch.read_pc())
        if self.on_snapshot is not None:
            self.on_snapshot(self)
        self.time.check_soon()
        return True

    def _trace_limit_reached(self) -> bool:
        """The instruction trace stopped the CPU at its limit: take it out and go on."""
        trace = self.instruction_trace
        if trace is None or not trace.limit_reached or trace.printed < trace.limit:
            return False
        trace.remove()
        self.instruction_trace = None
        self.dispatch.resync(self.dispatch.read_pc())
        return True

    def _may_go_on(self, fault: unicorn.UcError | None) -> bool:
        return self._stop is None and fault is None and not self.time.gives_up()

    def _paused_to_go_on(self, sliced: bool) -> bool:
        """The CPU stopped without a verdict: for a snapshot, the trace limit, the end of a slice or a HLT."""
        if self.debugger is not None and self.debugger.take_restart():
            self.dispatch.resync(self.dispatch.read_pc())  # code the debugger wrote is translated afresh
            return True
        if self._snapshot_taken() or self._trace_limit_reached():
            # The block that asked for the pause may have ended in a HLT: the CPU is halted still.
            if self.dispatch.halted_at(self.dispatch.read_pc()) is None:
                return True
            return self._interrupt_serviced(self._woke_from_hlt)
        if sliced:  # the CPU ran its slice: the host clock may have a timer event due
            self._interrupt_serviced(self._serviced_wakeup)
            return self._stop is None
        return self._interrupt_serviced(self._woke_from_hlt) or self._interrupt_serviced(self._serviced_wakeup)

    @contextmanager
    def _ctrl_c_stops_the_run(self) -> Iterator[None]:
        """Ctrl-C (SIGINT) ends the run with the verdict ``interrupted`` at the next chance.

        The handler runs between Python bytecodes: inside a hook, after a slice
        of CPU time, or in a halted CPU's nap, so a run stops within a slice.
        Signals can be handled only in the main thread; elsewhere Ctrl-C is left alone.
        The command line hands SIGTERM and SIGHUP to this handler too, with
        their own numbers (``frontends/stop_signals.py``): the report names the signal.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, _frame: object) -> None:
            if not self.time.interrupted:
                self._interrupted_by = signum
            self.time.interrupt()  # the check point stops the CPU; the host clock's stops it now

        previous = signal.signal(signal.SIGINT, stop)
        try:
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    def _interrupt_serviced(self, service: Callable[[], bool]) -> bool:
        """A HLT or the host clock's timer event paused the CPU for an interrupt: ``service`` takes it.

        A harness bug here becomes an error verdict, not a traceback.
        """
        try:
            return service()
        except Exception as error:
            self._internal_error("while servicing an interrupt", error)
            return False

    def _internal_error(self, where: str, error: Exception) -> None:
        if isinstance(error, DeviceClockError):  # the user's device failed, not the harness
            cause = error.__cause__
            details = "device traceback:\n" + "".join(_traceback_lines(cause)[-4:]) if cause is not None else None
            self._latch(Stop(Verdict.ERROR, None, report=Report(reason=f"error: {error}", details=details)))
            return
        details = "".join(_traceback_lines(error))
        report = Report(reason=f"error: internal harness error {where}: {error!r}", details=details)
        self._latch(Stop(Verdict.ERROR, None, report=report))

    def _run_cpu(self, begin: int) -> tuple[unicorn.UcError | None, bool]:
        """Run the CPU for one slice: until a stop, a fault, or the slice's end (then ``sliced``).

        A slice is at most ``MAX_SLICE_S``, so that the run loop looks at the
        budget and Ctrl-C; under the host clock it also ends at the next timer
        event.  The run's time ends it (``begin_slice``); the dispatch counts what retired.
        """
        dispatch, run_time = self.dispatch, self.time
        slice_s = min(MAX_SLICE_S, run_time.wall_deadline - time.perf_counter())
        until_check_ns = run_time.until_check_ns()
        if until_check_ns is not None:
            slice_s = min(slice_s, until_check_ns / 1e9)
        trace = self.instruction_trace
        if trace is not None:
            trace.last_address = None
        fault = None
        dispatch.stop_requested = dispatch.stop_waiting = False  # emu_start forgets a stop asked for before it
        run_time.begin_slice(max(0.0, slice_s))
        try:
            self.uc.emu_start(begin, UNREACHABLE)
        except unicorn.UcError as error:
            fault = error
        finally:
            sliced = run_time.end_slice()
        sliced = sliced and fault is None
        dispatch.settle(dispatch.read_pc(), fault is not None, self._last_code_hook_address())
        return fault, sliced

    def _last_code_hook_address(self) -> int | None:
        """The last instruction a code hook saw, for ``settle``: one the debugger stopped before did not run."""
        stopped_at = self.debugger.take_stop() if self.debugger is not None else None
        if stopped_at is not None:
            return stopped_at
        return self.instruction_trace.last_address if self.instruction_trace is not None else None

    # --- interrupts: the SCI through the PIC to the CPU ----------------------

    def _interrupt_inputs_changed(self) -> None:
        # A PIC or PM1 register changed: whether an interrupt is due may have too.
        self.time.check_soon()

    def _check_point(self, address: int) -> bool:
        """Before the block at ``address``: spend the budget, or take an interrupt (True)."""
        run_time = self.time
        try:
            if run_time.take_slice_end() or run_time.interrupted:
                self.dispatch.stop_cpu()
                return False
            if run_time.budget_spent():
                self._instruction_budget_spent(address)
                return False
            if run_time.take_save_point():
                self.board.snapshot_port.taken += 1
                self._snapshot_requested()
                return False
            return self._service_interrupts(run_time.now_ns())
        except Exception as error:  # called from a hook: never let an exception vanish there
            self._internal_error("at a check point", error)
            return False

    def _service_interrupts(self, now_ns: int) -> bool:
        if self.board.pending_vector(now_ns) is not None:
            if interrupts_enabled(self.uc) and not self._in_sti_shadow():
                return self._take_interrupt(now_ns)
            self.time.recheck_later()  # IF is clear, or STI's shadow: look again at the next block
            return False
        self._sti_shadow_kept = False
        event_ns = self.board.next_event_ns(now_ns)
        if event_ns is None:
            self.time.disarm()
        else:
            self.time.arm(event_ns)
        return False

    def _in_sti_shadow(self) -> bool:
        """The check point stands just behind an STI: the interrupt waits for one more block, once."""
        if self._sti_shadow_kept:  # the block after the STI has run: the shadow is over
            self._sti_shadow_kept = False
            return False
        self._sti_shadow_kept = after_sti(self.uc)
        return self._sti_shadow_kept

    def _take_interrupt(self, now_ns: int) -> bool:
        self._sti_shadow_kept = False
        taken = self.board.acknowledge()
        if taken is None:  # pragma: no cover - pending_vector said there was one
            return False
        irq, vector = taken
        pc = self.dispatch.read_pc()
        source = f"IRQ {irq} ({self.board.irq_name(irq)})"
        try:
            handler = deliver(self.uc, vector, self.config.mode, wrote=self.dispatch.forget_code)
        except DeliveryError as error:
            reason = f"error: {source} through vector {vector:#04x} could not be delivered: {error}"
            report = self._report_at(pc, reason)
            self._latch(Stop(Verdict.ERROR, self.dispatch.instructions_at(pc), report=report))
            return False
        self.interrupts_taken += 1
        self._trace_irq(irq, f"[{now_ns:>12} ns] {source} -> vector {vector:#04x}, handler at {handler:#010x}")
        self.time.check_soon()
        return True

    def _irq_line_moved(self, irq: int, level: bool | None, device: str) -> None:
        """A user device's line moved (``level``), or the guest's EOI ended its interrupt (None): traced."""
        if self._trace is not None:
            now_ns = self._time_at(self.dispatch.read_pc())
            what = "EOI" if level is None else "up" if level else "down"
            self._trace_irq(irq, f"[{now_ns:>12} ns] IRQ {irq} ({device}) {what}")

    def _trace_irq(self, irq: int, line: str) -> None:
        """A user device's line is traced with the device (``--trace-device``); the SCI's always."""
        device = self.board.irq_devices.get(irq)
        if device is None:
            self._emit_trace(line)
        else:
            self._tracing(lambda trace: trace.device_note(line, device.name))

    def _woke_from_hlt(self) -> bool:
        """The CPU executed HLT: wait for the next interrupt and take it; False if none can come.

        The virtual clock skips the idle time; the host clock sleeps.
        """
        self._hlt_waited_out = False
        pc = self.dispatch.read_pc()
        if self.dispatch.halted_at(pc) is None or not interrupts_enabled(self.uc):
            return False
        now_ns = self._time_at(pc)
        # Event after event, as long as one is to come: several devices keep time (the SCI, the RTC, COM1's
        # input, a user's), and the one that wakes the CPU may come after many that do not.  A device whose
        # events never wake it (a masked line, a status bit that never sets) would keep the wait going for
        # ever: it ends after HLT_PATIENCE_NS of guest time or HLT_PATIENCE_EVENTS events, the same on every
        # run under the virtual clock; the run's --timeout and Ctrl-C end it too.
        give_up_ns = now_ns + HLT_PATIENCE_NS
        for _ in range(HLT_PATIENCE_EVENTS):
            if self.time.gives_up():
                return False
            if self.board.pending_vector(now_ns) is not None:
                return self._take_interrupt(now_ns)
            event_ns = self.board.next_event_ns(now_ns)
            if event_ns is None or event_ns <= now_ns:  # none to come, or one that would not move time on
                return False
            if event_ns > give_up_ns:
                break
            now_ns = self.time.wait_until(now_ns, event_ns)
        self._hlt_waited_out = True
        return False

    def _serviced_wakeup(self) -> bool:
        """The host clock's alarm stopped the CPU for a check point: service it and go on."""
        if not self.time.take_wakeup():
            return False
        self._service_interrupts(self._time_at(self.dispatch.read_pc()))
        return self._stop is None

    # --- stopping ---------------------------------------------------------

    def _latch(self, stop: Stop) -> None:
        if self._stop is None:
            self._stop = stop
            self.dispatch.stop()
            self.dispatch.stop_cpu()

    def _guest_exited(self, code: int) -> None:
        verdict = exit_verdict(code)
        before = self.dispatch.instructions_at_access()
        self._latch(Stop(verdict, None if before is None else before + 1, exit_code=code))

    def _instruction_budget_spent(self, next_address: int) -> None:
        budget = self.config.instruction_budget
        report = self._report_at(next_address, f"timeout: instruction budget of {budget:,} spent (--max-instructions)")
        self._latch(Stop(Verdict.TIMEOUT, self.dispatch.instructions_at(next_address), report=report))

    def _access_failed(self, access: PortAccess | MmioAccess, error: BaseException) -> None:
        instruction = self.dispatch.current_instruction()
        address = instruction.address if instruction else self.dispatch.read_pc()
        details = None
        if isinstance(error, KeyboardInterrupt):  # raised by a device: Ctrl-C, as the run's own handler takes it
            reason = f"interrupted: KeyboardInterrupt in {self._device_name(access)} during {access.describe()}"
            report = self._report_at(address, reason, access=access)
            self._latch(Stop(Verdict.INTERRUPTED, self.dispatch.instructions_at_access(), report=report))
            return
        if isinstance(error, PortAccessError):
            reason = f"error: {error}"
        elif isinstance(error, DeviceError):
            reason = f"error: {self._device_name(access)} refused {access.describe()}: {error}"
        else:
            reason = f"error: {self._device_name(access)} raised {type(error).__name__}: {error}"
            details = "device traceback:\n" + "".join(_traceback_lines(error)[-4:])
        report = self._report_at(address, reason, access=access, details=details)
        self._latch(Stop(Verdict.ERROR, self.dispatch.instructions_at_access(), report=report))

    def _on_interrupt(self, uc: unicorn.Uc, number: int, _user: object) -> None:
        pc = self.dispatch.read_pc()
        software = bytes(uc.mem_read(max(0, pc - 2), 2)) == bytes([0xCD, number])
        trap = ONE_BYTE_TRAPS.get(number)
        if software and guest_installed(uc, number):
            self._software_interrupt(number, pc)  # a delivery that fails latches its own report
            return
        if software:
            address = pc - 2
            reason = (
                f"error: software interrupt INT {number:#04x}: no BIOS or interrupt handler is modelled, "
                "and the guest installed none for this vector; "
                "guests report through the console (0xE9) and exit (0xF4) ports"
            )
        elif trap is not None and pc > 0 and uc.mem_read(pc - 1, 1)[0] == trap[0]:
            # A trap is delivered with EIP past the instruction (SDM vol. 3A, 6.5): report the instruction.
            address = pc - 1
            reason = f"error: CPU exception {EXCEPTION_NAMES[number]} from {trap[1]}"
        else:
            address = pc
            name = EXCEPTION_NAMES.get(number, f"vector {number}")
            reason = f"error: CPU exception {name}"
        report = self._report_at(address, reason)
        self._latch(Stop(Verdict.ERROR, self.dispatch.instructions_at(address), report=report))

    def _software_interrupt(self, number: int, pc: int) -> None:
        """``int n`` through the guest's own vector, returning after the instruction (``pc``), as a CPU does."""
        try:
            handler = deliver(self.uc, number, self.config.mode, wrote=self.dispatch.forget_code)
        except DeliveryError as error:
            reason = f"error: software interrupt INT {number:#04x} could not be delivered: {error}"
            report = self._report_at(pc - 2, reason)
            self._latch(Stop(Verdict.ERROR, self.dispatch.instructions_at(pc - 2), report=report))
            return
        self._emit_trace(f"[{self._time_at(pc):>12} ns] INT {number:#04x} -> handler at {handler:#010x}")

    def _on_memory_fault(
        self, _uc: unicorn.Uc, access: int, address: int, size: int, _value: int, _user: object
    ) -> bool:
        kind = {
            unicorn.UC_MEM_READ_UNMAPPED: "read",
            unicorn.UC_MEM_WRITE_UNMAPPED: "write",
            unicorn.UC_MEM_FETCH_UNMAPPED: "fetch",
        }.get(access, "access")
        self._memory_fault = f"{size}-byte {kind} at {address:#x}; guest RAM is 0-{self.config.memory - 1:#x}"
        if self.config.mode == 64 and not is_canonical(address):
            self._memory_fault += "; the address is not canonical: a real CPU raises #GP"
        return False

    def _classify_end(self, fault: unicorn.UcError | None, wall_seconds: float) -> Stop:
        pc = self.dispatch.read_pc()
        instructions = self.dispatch.instructions_at(pc)
        if fault is not None:
            reason = f"error: {UC_FAULTS.get(fault.errno, str(fault))}"
            report = self._report_at(pc, reason, details=self._memory_fault)
            return Stop(Verdict.ERROR, instructions, report=report)
        if self.debugger is not None and self.debugger.killed:
            return Stop(Verdict.ERROR, instructions, report=self._report_at(pc, "error: killed from the debugger"))
        if self.time.interrupted:
            reason = f"interrupted: {_signal_words(self._interrupted_by)} stopped the run"
            return Stop(Verdict.INTERRUPTED, instructions, report=self._report_at(pc, reason))
        if wall_seconds >= self.config.timeout:
            reason = f"timeout: wall-clock budget of {self.config.timeout:g} s spent (--timeout)"
            return Stop(Verdict.TIMEOUT, instructions, report=self._report_at(pc, reason))
        hlt = self.dispatch.halted_at(pc)
        if hlt is not None:
            reason = "halted: HLT, and no interrupt is coming to wake the CPU"
            if self._hlt_waited_out:
                reason = (f"halted: HLT, and no interrupt woke the CPU in {HLT_PATIENCE_NS // 10**9:,} s of guest "
                          f"time or {HLT_PATIENCE_EVENTS:,} device events")
            why = self._why_no_interrupt()
            if why:
                reason += f": {why}"
            return Stop(Verdict.HALTED, instructions, report=self._report_at(hlt, reason))
        reason = "error: the CPU stopped without a verdict"
        return Stop(Verdict.ERROR, instructions, report=self._report_at(pc, reason))

    def _why_no_interrupt(self) -> str | None:
        if not interrupts_enabled(self.uc):
            return "interrupts are disabled (IF=0: no sti)"
        return self.board.pic.held_back()

    # --- reports ------------------------------------------------------------

    def _report_at(self, address: int, reason: str, **extra: object) -> Report:
        return Report(
            reason=reason,
            address=address,
            instruction=self.disassemble_at(address),
            source=self.source_map.get(address),
            registers=read_registers(self.uc, self.config.mode),
            **extra,
        )

    def disassemble_at(self, address: int) -> str:
        return disassemble_at(self.uc, address, self.config.mode)

    def _device_name(self, access: PortAccess | MmioAccess) -> str:
        if isinstance(access, MmioAccess):
            mmio_claim = self.board.mmio.claimant(access.address, access.width)
            return mmio_claim.device.name if mmio_claim else "the bus"
        claim = self.bus.claimant(access.port)
        return claim[0].name if claim else "the bus"

    def _trace_access(self, access: PortAccess | MmioAccess, now_ns: int) -> None:
        if self._observer is not None and isinstance(access, PortAccess):
            self._observer(access, now_ns)
        if self._trace is None:
            return
        instruction = self.dispatch.current_instruction()
        source = self.source_map.get(instruction.address) if instruction else None
        instructions = self.dispatch.instructions_at_access()
        if isinstance(access, MmioAccess):
            register = self.board.mmio.register_name(access.address)
            mmio_claim = self.board.mmio.claimant(access.address, access.width)
            device = mmio_claim.device.name if mmio_claim else None
        else:
            register = self.bus.register_name(access.port)
            claim = self.bus.claimant(access.port)
            device = claim[0].name if claim else None
        from pmtimer_harness.core.trace import TracedAccess  # loaded with the tracer

        traced = TracedAccess(access, now_ns, instructions, device, register, instruction, source)
        self._tracing(lambda trace: trace.access(traced))

    def _emit_trace(self, line: str) -> None:
        self._tracing(lambda trace: trace.note(line))

    def _finish_trace(self) -> None:
        self._tracing(lambda trace: trace.finish())

    def _tracing(self, step: Callable[[Tracer], None]) -> None:
        # Called from inside Unicorn's hooks, where an exception would be lost:
        # a trace sink that fails (a closed pipe) ends the run instead.
        if self._trace is None:
            return
        try:
            step(self._trace)
        except Exception as error:
            self._trace = None
            reason = f"error: the trace output failed ({type(error).__name__}: {error}); the run was stopped"
            self._latch(Stop(Verdict.ERROR, None, report=Report(reason=reason)))

    def _result(self, stop: Stop, wall_seconds: float) -> RunResult:
        counts = self.time.counts
        virtual_ns = None
        if isinstance(self.time, VirtualTime) and stop.instructions is not None:
            virtual_ns = self.time.time_at(stop.instructions)
        return RunResult(
            verdict=stop.verdict,
            exit_code=stop.exit_code,
            console=self.board.console.text,
            instructions=stop.instructions,
            virtual_ns=virtual_ns,
            port_reads=counts.port_accesses - counts.port_writes,
            port_writes=counts.port_writes,
            wall_seconds=wall_seconds,
            report=stop.report,
            warnings=self.bus.unclaimed_notes() + self.board.mmio.unclaimed_notes()
            + [note for note in (self.board.console.dropped_note,) if note],
        )


def _signal_words(signum: int) -> str:
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name


def _traceback_lines(error: BaseException) -> list[str]:
    import traceback  # loaded only when something failed: a run that goes well does not pay for it

    return traceback.format_exception(error)
