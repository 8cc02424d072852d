"""Translation blocks: what the harness knows about each block of guest code.

Unicorn calls the block hook once each time a translation block starts, with
its address and byte size.  Decoding the block once (capstone) tells how many
instructions it retires and where its port instructions sit, so the run loop
can tell, at each IN or OUT, exactly how many instructions came before it
without reading a register (a register read from a hook costs several
microseconds, more than the whole access).

The same goes for RDTSC and RDTSCP: under the virtual clock Unicorn calls a
hook as each one runs (``tsc.py``), and the reader needs to know how many
instructions came before it.  Port instructions and TSC reads together are the
block's *hooked* instructions: their hooks run in program order, so the n-th
hook call inside a block belongs to its n-th hooked instruction.

A ``rep ins``/``rep outs`` instruction re-enters its own one-instruction block
for each iteration after the first, so each iteration counts as an instruction,
as QEMU's icount does.
"""

from __future__ import annotations

from dataclasses import dataclass

from pmtimer_harness.core.cpu import disassembler

PORT_MNEMONICS = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
TSC_MNEMONICS = frozenset({"rdtsc", "rdtscp"})


@dataclass(frozen=True, slots=True)
class Instruction:
    address: int
    size: int
    text: str


@dataclass(frozen=True, slots=True)  # slots: the block hook reads icount on every block
class Block:
    address: int
    size: int
    bits: int
    instructions: tuple[Instruction, ...]
    hooked_instructions: tuple[Instruction, ...]  # port instructions and TSC reads, in order
    hooked_index: tuple[int, ...]  # for each hooked instruction, how many instructions precede it here
    icount: int  # a field, not a property: read once per block on the hot path

    @property
    def end(self) -> int:
        return self.address + self.size

    @property
    def ends_in_hlt(self) -> bool:
        return bool(self.instructions) and self.instructions[-1].text == "hlt"

    @property
    def exact(self) -> bool:
        """The decoding covers the block's bytes exactly, with nothing left undecoded."""
        return sum(instruction.size for instruction in self.instructions) == self.size

    def index_of(self, address: int) -> int | None:
        """How many of this block's instructions come before the one at ``address``; None if none is there."""
        for index, instruction in enumerate(self.instructions):
            if instruction.address == address:
                return index
        return None

    def reads_tsc_after(self, index: int) -> bool:
        """Whether an RDTSC or RDTSCP comes after the instruction at ``index``."""
        return any(instruction.text in TSC_MNEMONICS for instruction in self.instructions[index + 1 :])

    def first_memory_access_after(self, index: int) -> int | None:
        """The address of the first instruction after ``index`` that may load or store; None if none does."""
        for instruction in self.instructions[index + 1 :]:
            if may_access_memory(instruction.text):
                return instruction.address
        return None

    def retired_before(self, address: int) -> int:
        """Instructions of this block that retired when execution stands at ``address``."""
        index = self.index_of(address)
        if index is None and address == self.decoded_end:
            # At the first bytes capstone could not decode, which Unicorn ran (or faulted at):
            # ``8f 48 80`` is a POP to Unicorn, and nothing to capstone.
            index = len(self.instructions)
        return self.icount if index is None else min(index, self.icount)

    @property
    def decoded_end(self) -> int:
        """Where the decoding stopped: the block's end, or the first bytes capstone could not decode."""
        return self.address + sum(instruction.size for instruction in self.instructions)


EMPTY_BLOCK = Block(0, 0, 16, (), (), (), 0)

# Instructions that store without a memory operand in their text, and those that only load so.
IMPLICIT_STORES = frozenset({
    "push", "pushf", "pushfd", "pushfq", "pusha", "pushal", "call", "lcall", "int", "int3", "into", "int1", "enter",
    "movsb", "movsw", "movsd", "movsq", "stosb", "stosw", "stosd", "stosq", "insb", "insw", "insd",
})
IMPLICIT_MEMORY = IMPLICIT_STORES | frozenset({
    "pop", "popf", "popfd", "popfq", "popa", "popal", "ret", "retf", "iret", "iretd", "iretq", "leave", "xlatb",
    "lodsb", "lodsw", "lodsd", "lodsq", "cmpsb", "cmpsw", "cmpsd", "cmpsq", "scasb", "scasw", "scasd", "scasq",
    "outsb", "outsw", "outsd", "ljmp",
})


def may_access_memory(text: str) -> bool:
    """Whether an instruction, as capstone prints it, may read or write memory (a ``[...]`` operand or implicitly).

    Segment loads in protected mode read the GDT too; they are caught by their
    ``mov``/far-jump forms only when written with a memory operand.
    """
    if "[" in text:
        return True
    return any(word in IMPLICIT_MEMORY for word in text.split()[:3])


# Instructions whose memory first operand is only read.
READ_ONLY_DESTINATIONS = frozenset({"cmp", "test", "bt", "jmp", "ljmp", "lgdt", "lidt"})
STOPPING_MOVES = frozenset({"ss,", "cr0,", "cr3,", "cr4,"})  # loads after which QEMU ends a block too
# Instructions after which QEMU ends a translation block (qemu/target/i386/translate.c: gen_eob and jumps).
BLOCK_ENDS = frozenset({
    "call", "lcall", "ret", "retf", "iret", "iretd", "iretq", "int", "int3", "into", "int1", "hlt", "loop", "loope",
    "loopne", "jcxz", "jecxz", "jrcxz", "jmp", "ljmp", "sti", "syscall", "sysret", "sysenter", "sysexit",
})


def _words(text: str) -> list[str]:
    return [word for word in text.split() if word not in ("rep", "repe", "repne", "lock", "bnd", "notrack")]


def may_store(text: str) -> bool:
    """Whether an instruction, as capstone prints it, may write memory: a ``[...]`` destination or implicitly."""
    words = _words(text)
    if not words:
        return False
    mnemonic = words[0]
    if mnemonic in IMPLICIT_STORES:
        return True
    destination = " ".join(words[1:]).split(",")[0]
    return "[" in destination and mnemonic not in READ_ONLY_DESTINATIONS


def ends_block(text: str) -> bool:
    """Whether QEMU ends a translation block after this instruction: a jump, call, return, interrupt, HLT, STI,
    a load of SS or a control register, or a repeated string instruction (each iteration is a block of its own)."""
    if text.split()[:1] in (["rep"], ["repe"], ["repne"]):
        return True
    words = _words(text)
    if not words:
        return False
    mnemonic, destination = words[0], (words[1:2] or [""])[0]
    return mnemonic in BLOCK_ENDS or mnemonic.startswith("j") or (mnemonic == "mov" and destination in STOPPING_MOVES)


# Prefix bytes: legacy prefixes in every mode, REX (0x40-0x4F) in 64-bit code.
LEGACY_PREFIXES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})
X87_ESCAPES = range(0xD8, 0xE0)
POP_RM = 0x8F
MODRM_REG_BITS = 0x38


def undocumented_alias(code: bytes, address: int, bits: int) -> Instruction | None:
    """An instruction Unicorn runs and capstone refuses, decoded for its length; None for anything else.

    These are the x87 escapes (D8-DF) with a ModRM reg field capstone does not
    know (``dc d0`` is FCOM2, an alias of FCOM) and POP r/m (8F) with a reg
    field other than 0, which QEMU runs as POP.  Their length depends on the
    ModRM byte's mod and rm fields, never on its reg field, so the same bytes
    with reg 0 (``d9 /0``, ``8f /0``, both known to capstone) have it.
    """
    index = 0
    while index < len(code) and (code[index] in LEGACY_PREFIXES or (bits == 64 and 0x40 <= code[index] <= 0x4F)):
        index += 1
    if index + 1 >= len(code) or not (code[index] == POP_RM or code[index] in X87_ESCAPES):
        return None
    opcode, modrm = code[index], code[index + 1]
    known = POP_RM if opcode == POP_RM else 0xD9
    patched = code[:index] + bytes([known, modrm & ~MODRM_REG_BITS]) + code[index + 2 :]
    for _, size, _, operands in disassembler(bits).disasm_lite(patched, address, 1):
        name = "pop" if opcode == POP_RM else "x87"  # "pop": it touches the stack (may_access_memory)
        reg = (modrm & MODRM_REG_BITS) >> 3
        return Instruction(address, size, f"{name} {operands} ({opcode:02x} /{reg}, which capstone does not decode)")
    return None


def _is_hooked(mnemonic: str) -> bool:
    # A prefix is part of capstone's mnemonic ("rep insb"); a TSC read takes none that changes it.
    return mnemonic.split()[-1] in PORT_MNEMONICS or mnemonic in TSC_MNEMONICS


def decode_block(code: bytes, address: int, bits: int, icount: int | None = None) -> Block:
    """Decode a block's bytes; ``icount``, when known from Unicorn, overrides the decoded count."""
    instructions: list[Instruction] = []
    hooked_instructions = []
    hooked_index = []
    offset = 0
    while offset < len(code):
        for insn_address, size, mnemonic, operands in disassembler(bits).disasm_lite(code[offset:], address + offset):
            instruction = Instruction(insn_address, size, f"{mnemonic} {operands}".strip())
            if _is_hooked(mnemonic):
                hooked_index.append(len(instructions))
                hooked_instructions.append(instruction)
            instructions.append(instruction)
            offset += size
        if offset < len(code):  # capstone stopped at bytes it does not decode
            alias = undocumented_alias(code[offset:], address + offset, bits)
            if alias is None:
                break
            instructions.append(alias)
            offset += alias.size
    return Block(
        address,
        len(code),
        bits,
        tuple(instructions),
        tuple(hooked_instructions),
        tuple(hooked_index),
        len(instructions) if icount is None else icount,
    )
