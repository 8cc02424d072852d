"""The x86 CPU as the harness sees it: modes, start state, registers, disassembly.

Unicorn (unicorn 2.1) is the processor.  This module knows what Unicorn leaves
implicit: which operand size the code at CS runs in, how each start mode is set
up, and how to read the registers for a report.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import unicorn
from unicorn import x86_const as x86

if TYPE_CHECKING:
    import capstone

UC_MODES = {16: unicorn.UC_MODE_16, 32: unicorn.UC_MODE_32, 64: unicorn.UC_MODE_64}

GENERAL_REGISTERS_16_32 = {
    "eax": x86.UC_X86_REG_EAX, "ebx": x86.UC_X86_REG_EBX, "ecx": x86.UC_X86_REG_ECX,
    "edx": x86.UC_X86_REG_EDX, "esi": x86.UC_X86_REG_ESI, "edi": x86.UC_X86_REG_EDI,
    "ebp": x86.UC_X86_REG_EBP, "esp": x86.UC_X86_REG_ESP, "eip": x86.UC_X86_REG_EIP,
    "eflags": x86.UC_X86_REG_EFLAGS,
}
GENERAL_REGISTERS_64 = {
    "rax": x86.UC_X86_REG_RAX, "rbx": x86.UC_X86_REG_RBX, "rcx": x86.UC_X86_REG_RCX,
    "rdx": x86.UC_X86_REG_RDX, "rsi": x86.UC_X86_REG_RSI, "rdi": x86.UC_X86_REG_RDI,
    "rbp": x86.UC_X86_REG_RBP, "rsp": x86.UC_X86_REG_RSP, "r8": x86.UC_X86_REG_R8,
    "r9": x86.UC_X86_REG_R9, "r10": x86.UC_X86_REG_R10, "r11": x86.UC_X86_REG_R11,
    "r12": x86.UC_X86_REG_R12, "r13": x86.UC_X86_REG_R13, "r14": x86.UC_X86_REG_R14,
    "r15": x86.UC_X86_REG_R15, "rip": x86.UC_X86_REG_RIP, "rflags": x86.UC_X86_REG_RFLAGS,
}
SEGMENT_REGISTERS = {
    "cs": x86.UC_X86_REG_CS, "ds": x86.UC_X86_REG_DS, "es": x86.UC_X86_REG_ES,
    "fs": x86.UC_X86_REG_FS, "gs": x86.UC_X86_REG_GS, "ss": x86.UC_X86_REG_SS,
}
CONTROL_REGISTERS = {
    "cr0": x86.UC_X86_REG_CR0, "cr2": x86.UC_X86_REG_CR2, "cr3": x86.UC_X86_REG_CR3,
    "cr4": x86.UC_X86_REG_CR4,
}
# What a report shows.
REGISTERS_16_32 = {**GENERAL_REGISTERS_16_32, **SEGMENT_REGISTERS, "cr0": x86.UC_X86_REG_CR0}
REGISTERS_64 = {**GENERAL_REGISTERS_64, **SEGMENT_REGISTERS, "cr0": x86.UC_X86_REG_CR0}

CR0_PE = 1 << 0
MAX_INSTRUCTION_BYTES = 15
TRANSLATION_CACHE_BYTES = 64 << 20  # Unicorn's translated host code; its default is 1 GiB
DESCRIPTOR_D_BIT = 54


def new_cpu(start_bits: int) -> unicorn.Uc:
    """A CPU whose reset state is the given start mode.

    Unicorn's 32-bit mode starts with CR0.PE set and flat 4 GiB segments (no
    GDT loaded); its 64-bit mode starts in long mode with flat addressing and
    no page tables.

    Two settings bound what a runaway guest can do to the host:

    - The translation cache is ``TRANSLATION_CACHE_BYTES``, not Unicorn's
      1 GiB: a guest running through fresh code fills it, Unicorn flushes it
      and translates again, and the host's memory stays bounded.
    - In 64-bit mode addresses go through Unicorn's virtual TLB, which maps
      each address to the same physical one.  Without it, long mode with no
      page tables keeps only an address's low 52 bits (qemu/qemu:
      target/i386/excp_helper.c, ``PG_ADDRESS_MASK``): a jump to the
      non-canonical 0x8000000000000000 would run the RAM at 0, and a store
      there would land in it, where a real CPU raises #GP.  With it, such an
      address is outside guest RAM and the access faults at once.  The price:
      page tables a 64-bit guest loads itself are not walked.
    """
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, UC_MODES[start_bits])
    uc.ctl_set_tcg_buffer_size(TRANSLATION_CACHE_BYTES)  # before the first use: Unicorn sizes it then
    if start_bits == 64:
        uc.ctl_set_tlb_mode(unicorn.UC_TLB_VIRTUAL)
    return uc


def is_canonical(address: int) -> bool:
    """Whether a 64-bit address is canonical: bits 63-47 all equal (SDM vol. 1, 3.3.7.1)."""
    top = address >> 47
    return top == 0 or top == (1 << 17) - 1


def program_counter_register(start_bits: int) -> int:
    return x86.UC_X86_REG_RIP if start_bits == 64 else x86.UC_X86_REG_EIP


def code_bits(uc: unicorn.Uc, start_bits: int) -> int:
    """Operand size of the code CS selects now: 16, 32 or 64.

    A real-mode guest can enter protected mode by itself, so this is read from
    CR0.PE and the D bit of the CS descriptor in the GDT.  Unicorn's flat
    32-bit start has no GDT (limit 0): its code is 32-bit.
    """
    if start_bits == 64:
        return 64
    if not uc.reg_read(x86.UC_X86_REG_CR0) & CR0_PE:
        return 16
    selector = uc.reg_read(x86.UC_X86_REG_CS)
    _, gdt_base, gdt_limit, _ = uc.reg_read(x86.UC_X86_REG_GDTR)
    if gdt_limit < (selector | 7):
        return start_bits
    try:
        descriptor = int.from_bytes(uc.mem_read(gdt_base + (selector & ~7), 8), "little")
    except unicorn.UcError:
        # A GDTR outside RAM is legal until a segment is loaded from it: CS keeps
        # the descriptor it had.  The block decoder checks the guess against Unicorn's.
        return start_bits
    return 32 if descriptor >> DESCRIPTOR_D_BIT & 1 else 16


def resume_address(uc: unicorn.Uc, start_bits: int) -> int:
    """The ``begin`` that makes ``emu_start`` continue at the current CS:EIP.

    Unicorn's 16-bit mode sets EIP = begin - CS x 16 whatever the CPU mode, so
    after a real-mode guest has entered protected mode the selector still
    counts; its 32- and 64-bit modes set EIP = begin.
    """
    eip = uc.reg_read(program_counter_register(start_bits))
    if start_bits == 16:
        return eip + uc.reg_read(x86.UC_X86_REG_CS) * 16
    return eip


def linear_pc(uc: unicorn.Uc, start_bits: int) -> int:
    """CS base + EIP: the address Unicorn's block hook reports for the instruction at CS:EIP."""
    eip = uc.reg_read(program_counter_register(start_bits))
    if start_bits == 64:
        return eip
    if not uc.reg_read(x86.UC_X86_REG_CR0) & CR0_PE:
        return uc.reg_read(x86.UC_X86_REG_CS) * 16 + eip
    return segment_base(uc, uc.reg_read(x86.UC_X86_REG_CS)) + eip


def segment_base(uc: unicorn.Uc, selector: int) -> int:
    """The base of a GDT segment (0 for Unicorn's flat start, which has no GDT, or a GDT outside RAM)."""
    _, gdt_base, gdt_limit, _ = uc.reg_read(x86.UC_X86_REG_GDTR)
    if gdt_limit < (selector | 7):
        return 0
    try:
        descriptor = int.from_bytes(uc.mem_read(gdt_base + (selector & ~7), 8), "little")
    except unicorn.UcError:
        return 0
    return descriptor_base(descriptor)


def descriptor_base(descriptor: int) -> int:
    return (descriptor >> 16 & 0xFFFFFF) | (descriptor >> 56 & 0xFF) << 24


def read_registers(uc: unicorn.Uc, start_bits: int) -> dict[str, int]:
    names = REGISTERS_64 if start_bits == 64 else REGISTERS_16_32
    values = uc.reg_read_batch(list(names.values()))
    return dict(zip(names, values, strict=True))


@lru_cache(maxsize=4)
def disassembler(bits: int) -> capstone.Cs:
    # Imported here: loading capstone costs half as much as loading Unicorn, and
    # only a run that decodes (the virtual clock, a trace, an error report) needs it.
    import capstone

    modes = {16: capstone.CS_MODE_16, 32: capstone.CS_MODE_32, 64: capstone.CS_MODE_64}
    return capstone.Cs(capstone.CS_ARCH_X86, modes[bits])


def disassemble_one(code: bytes, address: int, bits: int) -> str:
    for _, _, mnemonic, operands in disassembler(bits).disasm_lite(code, address, 1):
        return f"{mnemonic} {operands}".strip()
    return f"(undecodable bytes {code[:8].hex(' ')})"


def disassemble_at(uc: unicorn.Uc, address: int, start_bits: int) -> str:
    """The instruction at ``address``, decoded in the mode the CPU is in now."""
    try:
        code = bytes(uc.mem_read(address, MAX_INSTRUCTION_BYTES))
    except unicorn.UcError:
        return "(unmapped)"
    return disassemble_one(code, address, code_bits(uc, start_bits))
