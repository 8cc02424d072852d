"""Taking an external interrupt: what the CPU does between two instructions.

Unicorn has no way to raise an external interrupt, so the harness does what
the processor would (Intel SDM vol. 3A, 6.12 "Exception and interrupt
handling"; for real mode, 20.1.4 "Interrupt and exception handling"):

- real mode: push FLAGS, CS and IP (16 bits each), clear IF and TF, and jump
  to the far pointer in the interrupt vector table at IDTR.base + vector x 4;
- 32-bit protected mode, at the same privilege level: read the gate at
  IDTR.base + vector x 8, push EFLAGS, CS and EIP (32 bits each), clear TF,
  clear IF for an interrupt gate (not for a trap gate), and jump to the gate's
  selector:offset.

STI delays what it enables by one instruction (SDM vol. 2B, STI: "the
processor ... inhibits the recognition of maskable hardware interrupts until
the instruction following STI has executed"), so ``sti; hlt`` halts before an
interrupt already pending is taken and the interrupt wakes it.  Unicorn ends a
translation block after an STI, so the machine's next check point stands just
behind it: ``after_sti`` says so, and the machine waits one block more.

Privilege changes, task gates, 16-bit gates and long mode are not modelled:
delivery through one of them is refused with a message.  So is delivery the
guest set up in a way a real CPU would answer with a fault (a shutdown, at
worst): a table, stack or handler outside guest RAM, or a gate selector the
GDT does not hold.  Every such check is made before anything is changed, so
the report shows the CPU as the interrupt found it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import unicorn
from pmtimer_harness.core.cpu import CR0_PE, descriptor_base, segment_base
from unicorn import x86_const as x86

EFLAGS_TF = 1 << 8
EFLAGS_IF = 1 << 9
STI_OPCODE = 0xFB
GATE_PRESENT = 0x80
INTERRUPT_GATE_32 = 0x0E
TRAP_GATE_32 = 0x0F
SELECTOR_TI = 1 << 2  # table indicator: the LDT


class DeliveryError(Exception):
    """The interrupt cannot be delivered the way the guest set things up."""


def interrupts_enabled(uc: unicorn.Uc) -> bool:
    return bool(uc.reg_read(x86.UC_X86_REG_EFLAGS) & EFLAGS_IF)


def after_sti(uc: unicorn.Uc) -> bool:
    """The byte just behind CS:EIP is STI's opcode: the CPU may stand in its interrupt shadow.

    A byte, not a record of what ran: a jump to just past a 0xFB byte reads as
    STI too, which costs one block's delay, never an interrupt.
    """
    eip = uc.reg_read(x86.UC_X86_REG_EIP)
    cs = uc.reg_read(x86.UC_X86_REG_CS)
    base = segment_base(uc, cs) if uc.reg_read(x86.UC_X86_REG_CR0) & CR0_PE else cs << 4
    address = base + eip - 1
    if address < 0:
        return False
    try:
        return uc.mem_read(address, 1)[0] == STI_OPCODE
    except unicorn.UcError:
        return False


def guest_installed(uc: unicorn.Uc, vector: int) -> bool:
    """The guest set a handler for ``vector``: a non-zero IVT entry (real mode), a present IDT gate (protected).

    ``int n`` through any other vector stays the harness's error: no BIOS stands behind it here.
    """
    _, table, limit, _ = uc.reg_read(x86.UC_X86_REG_IDTR)
    protected = bool(uc.reg_read(x86.UC_X86_REG_CR0) & CR0_PE)
    size = 8 if protected else 4
    if protected and vector * 8 + 7 > limit:
        return False
    try:
        entry = bytes(uc.mem_read(table + vector * size, size))
    except unicorn.UcError:
        return False
    return bool(entry[5] & GATE_PRESENT) if protected else entry != bytes(4)


MemoryWritten = Callable[[int, int], None]  # (address, size): guest memory the delivery wrote


def deliver(uc: unicorn.Uc, vector: int, start_bits: int, wrote: MemoryWritten = lambda _a, _s: None) -> int:
    """Enter the handler for ``vector``, returning to the current CS:IP; gives the handler's linear address.

    ``wrote`` hears of the frame's bytes: they may lie over code the harness decoded.
    """
    if start_bits == 64:
        raise DeliveryError("interrupt delivery in long mode is not modelled")
    if uc.reg_read(x86.UC_X86_REG_CR0) & CR0_PE:
        return _deliver_protected(uc, vector, wrote)
    return _deliver_real(uc, vector, wrote)


def _deliver_real(uc: unicorn.Uc, vector: int, wrote: MemoryWritten) -> int:
    # The limit is not checked: Unicorn's reset leaves IDTR.limit 0 where the
    # processor's is 0xFFFF (SDM vol. 3A, "Processor State After Reset"), and no guest sets it.
    _, ivt_base, _, _ = uc.reg_read(x86.UC_X86_REG_IDTR)
    entry = ivt_base + vector * 4
    offset, segment = struct.unpack("<HH", _read(uc, entry, 4, "the interrupt vector table entry"))
    handler = segment * 16 + offset
    _check_in_ram(uc, handler, 1, f"the handler {segment:#06x}:{offset:#06x}")
    flags = uc.reg_read(x86.UC_X86_REG_EFLAGS)
    ss = uc.reg_read(x86.UC_X86_REG_SS)
    sp = uc.reg_read(x86.UC_X86_REG_SP)
    words = (flags & 0xFFFF, uc.reg_read(x86.UC_X86_REG_CS), uc.reg_read(x86.UC_X86_REG_IP))
    pushes = []  # each word at SS:(SP - 2), SP wrapping within its 64 KiB as the CPU's does
    for word in words:
        sp = (sp - 2) & 0xFFFF
        pushes.append((ss * 16 + sp, word))
    for address, _ in pushes:
        _check_in_ram(uc, address, 2, f"the stack at {ss:#06x}:{address - ss * 16:#06x}")
    for address, word in pushes:
        uc.mem_write(address, struct.pack("<H", word))
        wrote(address, 2)
    uc.reg_write(x86.UC_X86_REG_SP, sp)
    uc.reg_write(x86.UC_X86_REG_EFLAGS, flags & ~(EFLAGS_IF | EFLAGS_TF))
    uc.reg_write(x86.UC_X86_REG_CS, segment)
    uc.reg_write(x86.UC_X86_REG_EIP, offset)
    return handler


def _deliver_protected(uc: unicorn.Uc, vector: int, wrote: MemoryWritten) -> int:
    _, idt_base, idt_limit, _ = uc.reg_read(x86.UC_X86_REG_IDTR)
    if vector * 8 + 7 > idt_limit:
        raise DeliveryError(f"vector {vector:#x} is beyond the IDT limit {idt_limit:#x}")
    gate = _read(uc, idt_base + vector * 8, 8, f"the IDT gate for vector {vector:#x}")
    low, selector, _, kind, high = struct.unpack("<HHBBH", gate)
    if not kind & GATE_PRESENT:
        raise DeliveryError(f"the IDT gate for vector {vector:#x} is not present")
    gate_type = kind & 0x1F
    if gate_type not in (INTERRUPT_GATE_32, TRAP_GATE_32):
        raise DeliveryError(
            f"IDT gate type {gate_type:#x} for vector {vector:#x} is not a 32-bit interrupt or trap gate"
        )
    offset = high << 16 | low
    handler = _code_segment_base(uc, selector, vector) + offset
    _check_in_ram(uc, handler, 1, f"the handler {selector:#06x}:{offset:#010x}")
    flags = uc.reg_read(x86.UC_X86_REG_EFLAGS)
    esp = (uc.reg_read(x86.UC_X86_REG_ESP) - 12) & 0xFFFF_FFFF
    ss = uc.reg_read(x86.UC_X86_REG_SS)
    frame_address = segment_base(uc, ss) + esp
    _check_in_ram(uc, frame_address, 12, f"the stack at {ss:#06x}:{esp:#010x}")
    frame = struct.pack("<III", uc.reg_read(x86.UC_X86_REG_EIP), uc.reg_read(x86.UC_X86_REG_CS), flags)
    try:
        uc.reg_write(x86.UC_X86_REG_CS, selector)
    except unicorn.UcError as error:  # the CPU refused the descriptor (a data segment, say)
        raise DeliveryError(f"loading CS with the gate's selector {selector:#06x} failed: {error}") from None
    uc.mem_write(frame_address, frame)
    wrote(frame_address, len(frame))
    uc.reg_write(x86.UC_X86_REG_ESP, esp)
    cleared = EFLAGS_TF | (EFLAGS_IF if gate_type == INTERRUPT_GATE_32 else 0)
    uc.reg_write(x86.UC_X86_REG_EFLAGS, flags & ~cleared)
    uc.reg_write(x86.UC_X86_REG_EIP, offset)
    return handler


def _code_segment_base(uc: unicorn.Uc, selector: int, vector: int) -> int:
    """The base of the gate's code segment; refused where the CPU would fault (#GP, #NP)."""
    where = f"the IDT gate for vector {vector:#x} selects {selector:#06x}"
    if selector & ~3 == 0:
        raise DeliveryError(f"{where}, the null selector")
    if selector & SELECTOR_TI:
        raise DeliveryError(f"{where}, in the LDT: local descriptor tables are not modelled")
    _, gdt_base, gdt_limit, _ = uc.reg_read(x86.UC_X86_REG_GDTR)
    if gdt_limit < (selector | 7):
        raise DeliveryError(f"{where}, beyond the GDT limit {gdt_limit:#x}")
    descriptor = int.from_bytes(_read(uc, gdt_base + (selector & ~7), 8, "the GDT descriptor"), "little")
    return descriptor_base(descriptor)


def _check_in_ram(uc: unicorn.Uc, address: int, size: int, what: str) -> None:
    for begin, end, _ in uc.mem_regions():
        if begin <= address and address + size - 1 <= end:
            return
    raise DeliveryError(f"{what} (linear {address:#x}) lies outside guest RAM")


def _read(uc: unicorn.Uc, address: int, size: int, what: str) -> bytes:
    _check_in_ram(uc, address, size, what)
    return bytes(uc.mem_read(address, size))
