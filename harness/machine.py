"""The machine: a Unicorn x86 CPU, guest RAM, the port bus and its devices, and the run loop.

Time and verdicts are the two things this module is careful about.

Time: the block hook counts retired instructions a translation block at a time,
and at each port access the run loop adds how many instructions of the current
block precede the IN or OUT (see ``blocks.py``).  The clock therefore sees the
exact instruction count at every access, with no per-instruction hook.

Verdicts: Unicorn honours ``emu_stop`` only at the next block boundary, so a
guest may retire a few instructions after the one that ended its run.  The
first stop reason is latched, and once it is, no device sees another access:
the exit device keeps the first code, and a device error is never overwritten
by a later exit.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import unicorn
from unicorn import x86_const as x86

from devices.debug_console import DebugConsole
from devices.debug_exit import DebugExit
from devices.pm_timer import IoSemantics, PmTimer
from devices.ports import DeviceError
from harness.blocks import EMPTY_BLOCK, Block, Instruction, decode_block
from harness.bus import IN, OUT, PortAccess, PortAccessError, PortBus
from harness.clock import make_clock
from harness.config import BOOT_DRIVE, ConfigError, MachineConfig
from harness.cpu import code_bits, disassemble_one, new_cpu, program_counter_register, read_registers
from harness.native_hooks import NativeHooks
from harness.result import Report, RunResult, Verdict

UNREACHABLE = 0xFFFF_FFFF_FFFF_FFFF
FLOATING_BUS = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFF_FFFF}
MAX_INSTRUCTION_BYTES = 15

EXCEPTION_NAMES = {
    0: "#DE divide error", 1: "#DB debug", 2: "NMI", 3: "#BP breakpoint", 4: "#OF overflow",
    5: "#BR bound range", 6: "#UD invalid opcode", 7: "#NM no math coprocessor",
    8: "#DF double fault", 10: "#TS invalid TSS", 11: "#NP segment not present",
    12: "#SS stack fault", 13: "#GP general protection", 14: "#PF page fault",
    16: "#MF x87 error", 17: "#AC alignment check", 18: "#MC machine check", 19: "#XM SIMD error",
}  # fmt: skip

UC_FAULTS = {
    unicorn.UC_ERR_READ_UNMAPPED: "read from unmapped memory",
    unicorn.UC_ERR_WRITE_UNMAPPED: "write to unmapped memory",
    unicorn.UC_ERR_FETCH_UNMAPPED: "instruction fetch from unmapped memory",
    unicorn.UC_ERR_INSN_INVALID: "invalid instruction",
    unicorn.UC_ERR_EXCEPTION: "unhandled CPU exception",
}

TraceSink = Callable[[str], None]


@dataclass
class Stop:
    """The first reason the run ended: latched, never replaced."""

    verdict: Verdict
    instructions: int
    exit_code: int | None = None
    report: Report | None = None


class Machine:
    def __init__(
        self,
        config: MachineConfig,
        *,
        timer_model: type[PmTimer] = PmTimer,
        source_map: Mapping[int, str] | None = None,
        trace: TraceSink | None = None,
    ) -> None:
        self.config = config
        self.clock = make_clock(config.clock, config.insn_ns, config.io_ns)
        self.uc = new_cpu(config.mode)
        self.uc.mem_map(0, config.memory)
        self.source_map = source_map or {}
        self._trace = trace
        self._pc_register = program_counter_register(config.mode)

        self.console = DebugConsole()
        self.exit = DebugExit(on_exit=self._guest_exited)
        self.timer = timer_model(
            port=config.timer_port,
            width=config.timer_width,
            start=config.timer_start,
            semantics=IoSemantics(config.io_semantics),
        )
        self.bus = PortBus(strict=config.strict_io)
        try:
            for device in (self.console, self.exit, self.timer):
                self.bus.attach(device)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        self._readers = self.bus.readers
        self._writers = self.bus.writers
        self._now_ns = self.clock.now_ns

        self.port_writes = 0
        self._stop: Stop | None = None
        self._retired = 0
        self._block: Block = EMPTY_BLOCK
        self._port_ordinal = 0
        self._port_accesses = 0
        self._access_instructions = 0  # of the OUT being dispatched, for the exit latch
        self._max_instructions = config.max_instructions
        self._blocks: dict[int, Block] = {}
        self._memory_fault: str | None = None
        self._image_size = 0

        self._hooks = NativeHooks(self.uc)
        self._hooks.on_block(self._on_block)
        self._hooks.on_in(self._on_in)
        self._hooks.on_out(self._on_out)
        self.uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        self.uc.hook_add(unicorn.UC_HOOK_MEM_INVALID, self._on_memory_fault)

    # --- loading and starting -------------------------------------------

    def load(self, image: bytes) -> None:
        end = self.config.load_address + len(image)
        if not image:
            raise ConfigError("the guest image is empty")
        if end > self.config.memory:
            raise ConfigError(
                f"a {len(image)}-byte guest at {self.config.load_address:#x} ends at {end:#x}, "
                f"past the end of guest RAM ({self.config.memory:#x}); raise --memory"
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

    def run(self) -> RunResult:
        if not self._image_size:
            raise ConfigError("no guest loaded")
        self._set_start_state()
        timeout_us = max(1, int(self.config.timeout * 1_000_000))
        began = time.perf_counter()
        fault: unicorn.UcError | None = None
        try:
            self.uc.emu_start(self.config.load_address, UNREACHABLE, timeout=timeout_us)
        except unicorn.UcError as error:
            fault = error
        wall_seconds = time.perf_counter() - began
        stop = self._stop or self._classify_end(fault, wall_seconds)
        return self._result(stop, wall_seconds)

    # --- hot path: one call per translation block, one per port access ---

    def _on_block(self, _engine: int, address: int, size: int, _user: int) -> None:
        self._retired += self._block.icount
        if self._retired >= self._max_instructions:
            self._instruction_budget_spent(address)
        block = self._blocks.get(address)
        if block is None or block.size != size:
            block = self._decode_block(address, size)
        self._block = block
        self._port_ordinal = 0

    def _on_in(self, _engine: int, port: int, width: int, _user: int) -> int:
        if self._stop is not None:
            return FLOATING_BUS[width]
        ordinal = self._port_ordinal
        self._port_ordinal = ordinal + 1
        try:
            instructions = self._retired + self._block.port_index[ordinal]
            now_ns = self._now_ns(instructions, self._port_accesses)
            # PortBus.read, written out: one Python call less on every access.
            reader = self._readers.get(port << 3 | width)
            value = self.bus.read_unrouted(port, width) if reader is None else reader(port, width, now_ns)
        except Exception as error:
            self._access_failed(PortAccess(IN, port, width), ordinal, error)
            return FLOATING_BUS[width]
        if self._trace is not None:
            self._trace_access(PortAccess(IN, port, width, value), ordinal, instructions, now_ns)
        self._port_accesses += 1
        return value

    def _on_out(self, _engine: int, port: int, width: int, value: int, _user: int) -> None:
        if self._stop is not None:
            return
        ordinal = self._port_ordinal
        self._port_ordinal = ordinal + 1
        try:
            instructions = self._access_instructions = self._retired + self._block.port_index[ordinal]
            now_ns = self._now_ns(instructions, self._port_accesses)
            writer = self._writers.get(port << 3 | width)
            if writer is None:
                self.bus.write_unrouted(port, width, value)
            else:
                writer(port, width, value, now_ns)
        except Exception as error:
            self._access_failed(PortAccess(OUT, port, width, value), ordinal, error)
            return
        if self._trace is not None:
            self._trace_access(PortAccess(OUT, port, width, value), ordinal, instructions, now_ns)
        self._port_accesses += 1
        self.port_writes += 1

    # --- stopping ---------------------------------------------------------

    def _latch(self, stop: Stop) -> None:
        if self._stop is None:
            self._stop = stop
            self.uc.emu_stop()

    def _guest_exited(self, code: int) -> None:
        verdict = Verdict.PASS if code == 0 else Verdict.FAIL
        self._latch(Stop(verdict, self._access_instructions + 1, exit_code=code))

    def _instruction_budget_spent(self, next_address: int) -> None:
        report = self._report_at(
            next_address,
            f"timeout: instruction budget of {self.config.max_instructions:,} spent (--max-instructions)",
        )
        self._latch(Stop(Verdict.TIMEOUT, self._retired, report=report))

    def _access_failed(self, access: PortAccess, ordinal: int, error: Exception) -> None:
        instruction = self._port_instruction(ordinal)
        instructions = self._retired + self._block.retired_before(instruction.address) if instruction else self._retired
        address = instruction.address if instruction else self._read_pc()
        details = None
        if isinstance(error, PortAccessError):
            reason = f"error: {error}"
        elif isinstance(error, DeviceError):
            reason = f"error: {self._device_name(access.port)} refused {access.describe()}: {error}"
        else:
            reason = f"error: {self._device_name(access.port)} raised {type(error).__name__}: {error}"
            details = "device traceback:\n" + "".join(traceback.format_exception(error)[-4:])
        report = self._report_at(address, reason, access=access, details=details)
        self._latch(Stop(Verdict.ERROR, instructions, report=report))

    def _on_interrupt(self, uc: unicorn.Uc, number: int, _user: object) -> None:
        pc = self._read_pc()
        software = bytes(uc.mem_read(max(0, pc - 2), 2)) == bytes([0xCD, number])
        if software:
            address = pc - 2
            reason = (
                f"error: software interrupt INT {number:#04x}: no BIOS or interrupt handler is modelled; "
                "guests report through the console (0xE9) and exit (0xF4) ports"
            )
        else:
            address = pc
            name = EXCEPTION_NAMES.get(number, f"vector {number}")
            reason = f"error: CPU exception {name}"
        report = self._report_at(address, reason)
        self._latch(Stop(Verdict.ERROR, self._retired + self._block.retired_before(address), report=report))

    def _on_memory_fault(
        self, _uc: unicorn.Uc, access: int, address: int, size: int, _value: int, _user: object
    ) -> bool:
        kind = {
            unicorn.UC_MEM_READ_UNMAPPED: "read",
            unicorn.UC_MEM_WRITE_UNMAPPED: "write",
            unicorn.UC_MEM_FETCH_UNMAPPED: "fetch",
        }.get(access, "access")
        self._memory_fault = f"{size}-byte {kind} at {address:#x}; guest RAM is 0-{self.config.memory - 1:#x}"
        return False

    def _classify_end(self, fault: unicorn.UcError | None, wall_seconds: float) -> Stop:
        pc = self._read_pc()
        instructions = self._retired + self._block.retired_before(pc)
        if fault is not None:
            reason = f"error: {UC_FAULTS.get(fault.errno, str(fault))}"
            report = self._report_at(pc, reason, details=self._memory_fault)
            return Stop(Verdict.ERROR, instructions, report=report)
        if self._block.ends_in_hlt and pc == self._block.end:
            hlt = self._block.instructions[-1].address
            reason = "halted: HLT with no interrupt source to wake the CPU"
            return Stop(Verdict.HALTED, instructions, report=self._report_at(hlt, reason))
        if wall_seconds >= self.config.timeout:
            reason = f"timeout: wall-clock budget of {self.config.timeout:g} s spent (--timeout)"
            return Stop(Verdict.TIMEOUT, instructions, report=self._report_at(pc, reason))
        reason = "error: the CPU stopped without a verdict"
        return Stop(Verdict.ERROR, instructions, report=self._report_at(pc, reason))

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
        try:
            code = bytes(self.uc.mem_read(address, MAX_INSTRUCTION_BYTES))
        except unicorn.UcError:
            return "(unmapped)"
        return disassemble_one(code, address, code_bits(self.uc, self.config.mode))

    def _port_instruction(self, ordinal: int) -> Instruction | None:
        instructions = self._block.port_instructions
        return instructions[ordinal] if ordinal < len(instructions) else None

    def _device_name(self, port: int) -> str:
        claim = self.bus.claimant(port)
        return claim[0].name if claim else "the bus"

    def _read_pc(self) -> int:
        return self.uc.reg_read(self._pc_register)

    def _decode_block(self, address: int, size: int) -> Block:
        bits = code_bits(self.uc, self.config.mode)
        block = decode_block(bytes(self.uc.mem_read(address, size)), address, bits)
        self._blocks[address] = block
        return block

    def _trace_access(self, access: PortAccess, ordinal: int, instructions: int, now_ns: int) -> None:
        instruction = self._port_instruction(ordinal)
        where = f"{instruction.address:#010x}  {instruction.text}" if instruction else "?"
        source = self.source_map.get(instruction.address) if instruction else None
        arrow = "->" if access.direction == IN else "<-"
        line = (
            f"[{now_ns:>12} ns  insn {instructions:>10}] "
            f"{access.direction.upper():<3} {access.port:#06x}/{access.width} {arrow} "
            f"{access.value:#0{2 + 2 * access.width}x}  at {where}"
        )
        if source:
            line += f"  ; {source}"
        assert self._trace is not None
        self._trace(line)

    def _result(self, stop: Stop, wall_seconds: float) -> RunResult:
        virtual_ns = None
        if self.clock.kind == "virtual":
            virtual_ns = self.clock.now_ns(stop.instructions, self._port_accesses)
        return RunResult(
            verdict=stop.verdict,
            exit_code=stop.exit_code,
            console=self.console.text,
            instructions=stop.instructions,
            virtual_ns=virtual_ns,
            port_reads=self._port_accesses - self.port_writes,
            port_writes=self.port_writes,
            wall_seconds=wall_seconds,
            report=stop.report,
            warnings=list(self.bus.unclaimed_log),
        )
