"""A per-instruction reference for the virtual clock's instruction count.

The harness counts a translation block at a time (``core/dispatch.py``).  The
reference counts one instruction at a time: the instruction trace's code hook
(the ``--trace insn`` path), made to count instead of print, runs before
every instruction.  ``counted_run`` runs a guest these ways and gives what
each saw:

- ``fast``: as a user runs it (the hot path, no observer);
- ``plain``: with an observer noting the harness's count at every port access;
- ``traced``: the same, under the counting code hook, which also notes the
  reference count at every access;
- ``python_fast`` and ``python_plain``: the first two again on the Python
  path (``--dispatch python``), where the others take the compiled one (where
  it is built): the two must end in the same state, every register and byte of
  RAM, with the same result, and see the same accesses with the same values.

Unicorn stops a CPU with a code hook sooner than one without, so the two
observed runs differ only in what happens after the run is decided; every
access before it, and the count the verdict reports, must agree.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import capstone
import unicorn
from pmtimer_harness.core.bus import PortAccess
from pmtimer_harness.core.config import MachineConfig, default_dispatch
from pmtimer_harness.core.cpu import code_bits, read_registers
from pmtimer_harness.core.dispatch import VirtualDispatch
from pmtimer_harness.core.insn_trace import InstructionTrace
from pmtimer_harness.core.machine import InstructionTraceOptions, Machine
from pmtimer_harness.core.result import RunResult, Verdict

NO_LIMIT = 1 << 62
CS_MODES = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}
# LOOP, LOOPE and LOOPNE are in none of the first five, only in BRANCH_RELATIVE: `loop $` is its own successor.
CONTROL_TRANSFERS = (
    capstone.CS_GRP_JUMP, capstone.CS_GRP_CALL, capstone.CS_GRP_RET, capstone.CS_GRP_INT, capstone.CS_GRP_IRET,
    capstone.CS_GRP_BRANCH_RELATIVE,
)


def _count_instruction(self: InstructionTrace, uc: unicorn.Uc, address: int, size: int, _user: object) -> None:
    previous = getattr(self, "previous_address", None)  # kept across runs of the CPU, unlike last_address
    if address == previous and not _may_run_twice_in_a_row(uc, address, size, self.start_bits):
        # Hooked twice in a row, yet it cannot lead to itself: the first time it
        # did not run.  Unicorn abandoned its block at it (a store over code of
        # that block, QEMU's precise SMC) and runs it again in a block of its own.
        self.printed -= 1
    self.last_address = self.previous_address = address
    self.printed += 1


def _may_run_twice_in_a_row(uc: unicorn.Uc, address: int, size: int, start_bits: int) -> bool:
    """A control transfer (``jmp $``) or a repeated string instruction can be its own successor."""
    decoder = _detailed(code_bits(uc, start_bits))
    for instruction in decoder.disasm(bytes(uc.mem_read(address, size)), address, 1):
        repeated = any(prefix in (0xF2, 0xF3) for prefix in instruction.prefix)
        return repeated or any(instruction.group(group) for group in CONTROL_TRANSFERS)
    return True


@functools.lru_cache(maxsize=4)
def _detailed(bits: int) -> capstone.Cs:
    decoder = capstone.Cs(capstone.CS_ARCH_X86, CS_MODES[bits])
    decoder.detail = True
    return decoder


@dataclass
class ObservedRun:
    result: RunResult
    accesses: list[tuple[str, int, int, int | None, int]] = field(default_factory=list)  # direction, port, width,
    # value, count
    reference: list[int] = field(default_factory=list)  # the code hook's count before each access
    reference_at_exit: int | None = None  # the code hook's count, the exit OUT included
    interrupts_taken: int = 0


def observed_run(image: bytes, config: MachineConfig, counted: bool) -> ObservedRun:
    machine: Machine
    seen = ObservedRun(result=None)  # type: ignore[arg-type]

    def observe(access: PortAccess, _now_ns: int) -> None:
        seen.accesses.append(
            (access.direction, access.port, access.width, access.value, machine.dispatch.instructions_at_access())
        )
        if counted:
            executed = machine.instruction_trace.printed
            seen.reference.append(executed - 1)  # the hook ran for the IN/OUT itself
            if access.port == 0xF4 and access.direction == "out" and seen.reference_at_exit is None:
                seen.reference_at_exit = executed

    if not counted:
        machine = Machine(config, observer=observe)
        machine.load(image)
        seen.result = machine.run()
        seen.interrupts_taken = machine.interrupts_taken
        return seen
    original = InstructionTrace._on_instruction
    InstructionTrace._on_instruction = _count_instruction  # bound at install, in Machine()
    try:
        machine = Machine(
            config, trace=lambda line: None, instruction_trace=InstructionTraceOptions(limit=NO_LIMIT),
            observer=observe,
        )
    finally:
        InstructionTrace._on_instruction = original
    machine.load(image)
    original_settle = VirtualDispatch.settle

    def settle(dispatch: VirtualDispatch, pc: int, faulted: bool, last_traced: int | None) -> None:
        # A code hook runs before its instruction, and Unicorn checks for a stop
        # request after the hooks: when the CPU stopped where the hook last ran
        # (and not from the block hook, before any code hook), that instruction
        # did not run.  It is hooked, and counted, again when the CPU resumes.
        if last_traced == pc and not dispatch.skipped:
            machine.instruction_trace.printed -= 1
            machine.instruction_trace.previous_address = None  # its next hook is not a second try
        original_settle(dispatch, pc, faulted, last_traced)

    VirtualDispatch.settle = settle
    try:
        seen.result = machine.run()
    finally:
        VirtualDispatch.settle = original_settle
    seen.interrupts_taken = machine.interrupts_taken
    return seen


@dataclass
class FastRun:
    result: RunResult
    end_state: tuple[object, ...]  # what the result says but the wall time, every register, a digest of RAM


def fast_run(image: bytes, config: MachineConfig) -> FastRun:
    machine = Machine(config)
    machine.load(image)
    result = machine.run()
    said = result.replace(wall_seconds=0.0).as_dict()
    ram = hashlib.sha256(bytes(machine.uc.mem_read(0, config.memory))).hexdigest()
    return FastRun(result, (said, read_registers(machine.uc, config.mode), ram))


@dataclass
class CountedRun:
    fast: RunResult
    plain: ObservedRun
    traced: ObservedRun
    compiled_end: tuple[object, ...]
    python_end: tuple[object, ...]
    python_plain: ObservedRun


def counted_run(image: bytes, config: MachineConfig) -> CountedRun:
    """The runs above: the compiled path where it is built (the default then), and the Python path beside it."""
    compiled = config.replace(dispatch=default_dispatch())
    python = config.replace(dispatch="python")
    fast, python_fast = fast_run(image, compiled), fast_run(image, python)
    return CountedRun(
        fast.result, observed_run(image, compiled, False), observed_run(image, compiled, True),
        fast.end_state, python_fast.end_state, observed_run(image, python, False),
    )


def assert_counts_exact(run: CountedRun) -> None:
    """Every count the harness gave agrees with the per-instruction reference."""
    plain, traced = run.plain, run.traced
    assert run.compiled_end == run.python_end  # the compiled path and the Python path, bit for bit
    assert plain.accesses == run.python_plain.accesses
    assert plain.result.as_dict() | {"wall_seconds": 0} == run.python_plain.result.as_dict() | {"wall_seconds": 0}
    harness_counts = [count for *_, count in traced.accesses]
    assert harness_counts == traced.reference, _first_difference(traced)
    assert plain.accesses == traced.accesses
    fast = run.fast
    assert (fast.verdict, fast.instructions, fast.console) == (
        plain.result.verdict, plain.result.instructions, plain.result.console)
    assert (traced.result.verdict, traced.result.console) == (plain.result.verdict, plain.result.console)
    # Both are checked between blocks, and a code hook moves their boundaries: the budget's stop, and an
    # interrupt, which may then come at another instruction, after which the two runs may part.
    if not _budget_spent(plain.result) and not _parted_after_an_interrupt(plain, traced):
        assert traced.result.instructions == plain.result.instructions
    if traced.reference_at_exit is not None:
        assert plain.result.instructions == traced.reference_at_exit


def _parted_after_an_interrupt(plain: ObservedRun, traced: ObservedRun) -> bool:
    """Interrupts came, and the runs ended in different CPU states: they ran different code after one."""
    if not (plain.interrupts_taken or traced.interrupts_taken):
        return False
    ends = [run.result.report.registers if run.result.report else None for run in (plain, traced)]
    return ends[0] != ends[1]


def _budget_spent(result: RunResult) -> bool:
    return result.verdict == Verdict.TIMEOUT and "instruction budget" in result.report.reason


def _first_difference(run: ObservedRun) -> str:
    for index, ((direction, port, width, _value, count), reference) in enumerate(
        zip(run.accesses, run.reference, strict=True)
    ):
        if count != reference:
            return f"access {index} ({width}-byte {direction} at {port:#x}): harness {count}, reference {reference}"
    return "the same"
