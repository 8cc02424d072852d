"""The instruction trace (``--trace insn``): each instruction, the registers it changed, its source line.

    0x00007c06  66ed              in eax, dx                ; rate.asm:40: in eax, dx
    [        1005 ns  insn   5] IN  0x0408/4 -> 0x00000003  PM_TMR read  at ...
                eax=0x3

A Unicorn code hook runs before every instruction: it prints the instruction
(capstone) with its NASM source line, and the registers the previous one
changed, by comparing register snapshots.  Port accesses appear between the
instruction that made them and its register changes.

Unicorn honours a stop request at once when a code hook is installed, instead
of at the end of the block: with the trace on, the CPU retires fewer
instructions after the one that ended the run.  The verdict, exit code,
console and every value a guest reads are the same either way (tested).

After ``limit`` instructions the trace stops: the run loop removes the hook,
flushes the translated code (so the hook's calls leave it) and resumes, at
full speed, exactly where the CPU stood.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import unicorn
from pmtimer_harness.core.cpu import code_bits, disassemble_one, disassembler, read_registers

DEFAULT_LIMIT = 10_000
PROGRAM_COUNTERS = ("eip", "rip")


class InstructionTrace:
    def __init__(
        self,
        uc: unicorn.Uc,
        start_bits: int,
        source_map: Mapping[int, str],
        emit: Callable[[str], None],
        limit: int = DEFAULT_LIMIT,
        ranges: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.uc = uc
        self.start_bits = start_bits
        self.source_map = source_map
        self.emit = emit
        self.limit = limit
        self.ranges = tuple(ranges) or ((1, 0),)  # begin > end: the whole address space
        self.printed = 0
        self.limit_reached = False
        self.last_address: int | None = None  # the last instruction the hook saw: where a stop took effect
        self._previous: dict[str, int] | None = None
        self._handles: list[int] = []

    def install(self) -> None:
        disassembler(self.start_bits)  # the decoder (capstone) loads now, not at the first traced instruction
        for low, high in self.ranges:
            self._handles.append(self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_instruction, begin=low, end=high))

    def remove(self) -> None:
        """Take the hook out of the CPU; the run goes on untraced."""
        self.finish()
        for handle in self._handles:
            self.uc.hook_del(handle)
        self._handles.clear()
        self.uc.ctl_flush_tb()  # translated code still calls the hook until retranslated
        self.emit(f"(instruction trace stopped after {self.printed:,} instructions: --trace-limit)")

    def finish(self) -> None:
        """Print what the last traced instruction changed."""
        if self._previous is not None:
            self._print_changes(read_registers(self.uc, self.start_bits))
            self._previous = None

    def _on_instruction(self, uc: unicorn.Uc, address: int, size: int, _user: object) -> None:
        self.last_address = address
        if self.printed >= self.limit:
            self.limit_reached = True
            uc.emu_stop()
            return
        registers = read_registers(uc, self.start_bits)
        self._print_changes(registers)
        code = bytes(uc.mem_read(address, size))
        text = disassemble_one(code, address, code_bits(uc, self.start_bits))
        line = f"{address:#010x}  {code.hex():<16}  {text:<32}"
        source = self.source_map.get(address)
        self.emit(f"{line}  ; {source}" if source else line.rstrip())
        self._previous = registers
        self.printed += 1

    def _print_changes(self, registers: dict[str, int]) -> None:
        previous = self._previous
        if previous is None:
            return
        changed = [
            f"{name}={value:#x}"
            for name, value in registers.items()
            if name not in PROGRAM_COUNTERS and previous.get(name) != value
        ]
        if changed:
            self.emit("            " + " ".join(changed))
