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

Two decoders give the same records: capstone (``decode_block``), the
reference and the source of every instruction's text, and the compiled one
(``decode_block_compiled``, harness/core/insn_decode.c), which gives lengths
and kinds only, so that a run needs no capstone: importing it costs about
half of what importing Unicorn does.  An instruction's text is decoded by
capstone the first time something asks for it (a trace, a report).
"""

from __future__ import annotations

from collections.abc import Callable

from pmtimer_harness.core.cpu import MAX_INSTRUCTION_BYTES, disassemble_one, disassembler
from pmtimer_harness.record import Record

try:
    from pmtimer_harness.core import _native
except ImportError:  # built without a C compiler: capstone decodes
    _native = None

PORT_MNEMONICS = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
TSC_MNEMONICS = frozenset({"rdtsc", "rdtscp"})

# An instruction's kind, and its flags: the numbers insn_decode.c gives.
OTHER, PORT, RDTSC, RDTSCP, HLT = range(5)
HOOKED_KINDS = frozenset({PORT, RDTSC, RDTSCP})  # each runs a hook of the harness (see above)
MAY_ACCESS_MEMORY = 1  # as may_access_memory() says of its text
ENDS_BLOCK = 2  # as ends_block() says of its text


class Instruction:
    """One decoded instruction: where it is, its length, its kind and flags; its text when asked for.

    Two instructions are equal when address, size, kind and flags are: the
    text is not compared, as the compiled decoder has none until capstone is
    asked.  ``code`` and ``offset`` locate the instruction's bytes for that.
    """

    __slots__ = ("_bits", "_code", "_offset", "_text", "address", "flags", "kind", "size")

    def __init__(
        self, address: int, size: int, text: str | None = None, kind: int = OTHER, flags: int = 0,
        code: bytes = b"", offset: int = 0, bits: int = 32,
    ) -> None:
        self.address = address
        self.size = size
        self.kind = kind
        self.flags = flags
        self._text = text
        self._code = code
        self._offset = offset
        self._bits = bits

    @property
    def text(self) -> str:
        if self._text is None:
            code = self._code[self._offset : self._offset + MAX_INSTRUCTION_BYTES]  # capstone's length may differ
            self._text = instruction_text(code, self.address, self._bits)
        return self._text

    @property
    def ends_block(self) -> bool:
        return bool(self.flags & ENDS_BLOCK)

    @property
    def may_store(self) -> bool:
        # Only an instruction that may touch memory may store: the text (capstone) is read only for those.
        return bool(self.flags & MAY_ACCESS_MEMORY) and may_store(self.text)

    def _key(self) -> tuple[int, int, int, int]:
        return (self.address, self.size, self.kind, self.flags)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instruction) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Instruction({self.address:#x}, {self.size}, kind={self.kind}, flags={self.flags})"


class Block(Record):
    """A translation block as decoded once: its instructions, and the ones that run a hook of the harness."""

    __slots__ = ("address", "size", "bits", "instructions", "hooked_instructions", "hooked_index", "icount")

    def __init__(
        self,
        address: int,
        size: int,
        bits: int,
        instructions: tuple[Instruction, ...],
        hooked_instructions: tuple[Instruction, ...],  # port instructions and TSC reads, in order
        hooked_index: tuple[int, ...],  # for each hooked instruction, how many instructions precede it here
        icount: int,  # a field, not a property: read once per block on the hot path
    ) -> None:
        self.address = address
        self.size = size
        self.bits = bits
        self.instructions = instructions
        self.hooked_instructions = hooked_instructions
        self.hooked_index = hooked_index
        self.icount = icount

    @property
    def end(self) -> int:
        return self.address + self.size

    @property
    def ends_in_hlt(self) -> bool:
        return bool(self.instructions) and self.instructions[-1].kind == HLT

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
        return any(instruction.kind in (RDTSC, RDTSCP) for instruction in self.instructions[index + 1 :])

    def first_memory_access_after(self, index: int) -> int | None:
        """The address of the first instruction after ``index`` that may load or store; None if none does."""
        for instruction in self.instructions[index + 1 :]:
            if instruction.flags & MAY_ACCESS_MEMORY:
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
# (String instructions print their memory operands; ``movsd`` and ``cmpsd`` are left out: they name SSE
# instructions too, which may have none.)
IMPLICIT_STORES = frozenset({
    "push", "pushf", "pushfd", "pushfq", "pusha", "pushal", "pushaw", "call", "lcall", "int", "int3", "into", "int1",
    "enter", "movsb", "movsw", "movsq", "stosb", "stosw", "stosd", "stosq", "insb", "insw", "insd",
})
IMPLICIT_MEMORY = IMPLICIT_STORES | frozenset({
    "pop", "popf", "popfd", "popfq", "popa", "popal", "popaw", "ret", "retf", "retfq", "iret", "iretd", "iretq",
    "leave", "xlatb", "lodsb", "lodsw", "lodsd", "lodsq", "cmpsb", "cmpsw", "cmpsq", "scasb", "scasw", "scasd",
    "scasq", "outsb", "outsw", "outsd", "ljmp",
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
    "call", "lcall", "ret", "retf", "retfq", "iret", "iretd", "iretq", "int", "int3", "into", "int1", "hlt", "loop",
    "loope", "loopne", "jcxz", "jecxz", "jrcxz", "jmp", "ljmp", "sti", "syscall", "sysret", "sysretq", "sysenter",
    "sysexit", "sysexitq",
})
PREFIX_WORDS = ("rep", "repe", "repne", "repz", "repnz", "lock", "bnd", "notrack")  # "repz ret" is a return


def _words(text: str) -> list[str]:
    return [word for word in text.split() if word not in PREFIX_WORDS]


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


def _kind(mnemonic: str, text: str) -> int:
    # A prefix is part of capstone's mnemonic ("rep insb"); a TSC read takes none that changes it.
    if mnemonic.split()[-1] in PORT_MNEMONICS:
        return PORT
    if mnemonic in TSC_MNEMONICS:
        return RDTSC if mnemonic == "rdtsc" else RDTSCP
    return HLT if text == "hlt" else OTHER


def _flags(text: str) -> int:
    return (MAY_ACCESS_MEMORY if may_access_memory(text) else 0) | (ENDS_BLOCK if ends_block(text) else 0)


def described(address: int, size: int, text: str, mnemonic: str) -> Instruction:
    """An instruction capstone decoded, with the kind and flags its text gives."""
    return Instruction(address, size, text, _kind(mnemonic, text), _flags(text))


def instruction_text(code: bytes, address: int, bits: int) -> str:
    """The instruction at the start of ``code``, as capstone prints it (or says of an alias it refuses)."""
    for _, _, mnemonic, operands in disassembler(bits).disasm_lite(code, address, 1):
        return f"{mnemonic} {operands}".strip()
    alias = undocumented_alias(code, address, bits)
    return alias.text if alias is not None else disassemble_one(code, address, bits)


def decode_block(code: bytes, address: int, bits: int, icount: int | None = None) -> Block:
    """Decode a block's bytes with capstone; ``icount``, when known from Unicorn, overrides the decoded count."""
    instructions: list[Instruction] = []
    offset = 0
    while offset < len(code):
        for insn_address, size, mnemonic, operands in disassembler(bits).disasm_lite(code[offset:], address + offset):
            instructions.append(described(insn_address, size, f"{mnemonic} {operands}".strip(), mnemonic))
            offset += size
        if offset < len(code):  # capstone stopped at bytes it does not decode
            alias = undocumented_alias(code[offset:], address + offset, bits)
            if alias is None:
                break
            instructions.append(Instruction(alias.address, alias.size, alias.text, OTHER, _flags(alias.text)))
            offset += alias.size
    return _block(code, address, bits, tuple(instructions), icount)


def decode_block_compiled(code: bytes, address: int, bits: int, icount: int | None = None) -> Block:
    """Decode a block's bytes in C (insn_decode.c): the same records as ``decode_block``, text left to capstone."""
    instructions = tuple(
        Instruction(at, size, None, kind, flags, code, at - address, bits)
        for at, size, kind, flags in _native.decode_block(code, address, bits)
    )
    return _block(code, address, bits, instructions, icount)


def _block(code: bytes, address: int, bits: int, instructions: tuple[Instruction, ...], icount: int | None) -> Block:
    hooked_index = tuple(index for index, instruction in enumerate(instructions) if instruction.kind in HOOKED_KINDS)
    return Block(
        address,
        len(code),
        bits,
        instructions,
        tuple(instructions[index] for index in hooked_index),
        hooked_index,
        len(instructions) if icount is None else icount,
    )


class BlockDecoder(Record):
    """A way to decode blocks: ``load(bits)`` readies it before a run, out of the guest's time."""

    __slots__ = ("name", "decode", "load")

    def __init__(
        self,
        name: str,
        decode: Callable[..., Block],  # (code, address, bits, icount=None)
        load: Callable[[int], object],
    ) -> None:
        self.name = name
        self.decode = decode
        self.load = load


CAPSTONE = BlockDecoder("capstone", decode_block, disassembler)
# The compiled decoder where the extension has it (an older build may not): else capstone.
COMPILED = (
    BlockDecoder("compiled", decode_block_compiled, lambda _bits: None)
    if hasattr(_native, "decode_block")
    else CAPSTONE
)
