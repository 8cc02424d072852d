"""Taking an external interrupt: what the CPU does between two instructions.

Unicorn has no way to raise an external interrupt, so the harness does what
the processor would (Intel SDM vol. 3A, 6.12 "Exception and interrupt
handling"; for real mode, 20.1.4 "Interrupt and exception handling"):

- real mode: push FLAGS, CS and IP (16 bits each), clear IF and TF, and jump
  to the far pointer in the interrupt vector table at vector x 4;
- 32-bit protected mode, at the same privilege level: read the gate at
  IDTR.base + vector x 8, push EFLAGS, CS and EIP (32 bits each), clear TF,
  clear IF for an interrupt gate (not for a trap gate), and jump to the gate's
  selector:offset.

Privilege changes, task gates, 16-bit gates and long mode are not modelled:
delivery through one of them is refused with a message.
"""

from __future__ import annotations

import struct

import unicorn
from pmtimer_harness.core.cpu import CR0_PE
from unicorn import x86_const as x86

EFLAGS_TF = 1 << 8
EFLAGS_IF = 1 << 9
GATE_PRESENT = 0x80
INTERRUPT_GATE_32 = 0x0E
TRAP_GATE_32 = 0x0F


class DeliveryError(Exception):
    """The interrupt cannot be delivered the way the guest set things up."""


def interrupts_enabled(uc: unicorn.Uc) -> bool:
    return bool(uc.reg_read(x86.UC_X86_REG_EFLAGS) & EFLAGS_IF)


def deliver(uc: unicorn.Uc, vector: int, start_bits: int) -> int:
    """Enter the handler for ``vector``, returning to the current CS:IP; gives the handler's linear address."""
    if start_bits == 64:
        raise DeliveryError("interrupt delivery in long mode is not modelled")
    if uc.reg_read(x86.UC_X86_REG_CR0) & CR0_PE:
        return _deliver_protected(uc, vector)
    return _deliver_real(uc, vector)


def _deliver_real(uc: unicorn.Uc, vector: int) -> int:
    offset, segment = struct.unpack("<HH", uc.mem_read(vector * 4, 4))
    flags = uc.reg_read(x86.UC_X86_REG_EFLAGS)
    ss = uc.reg_read(x86.UC_X86_REG_SS)
    sp = (uc.reg_read(x86.UC_X86_REG_SP) - 6) & 0xFFFF
    frame = struct.pack("<HHH", uc.reg_read(x86.UC_X86_REG_IP), uc.reg_read(x86.UC_X86_REG_CS), flags & 0xFFFF)
    uc.mem_write(ss * 16 + sp, frame)
    uc.reg_write(x86.UC_X86_REG_SP, sp)
    uc.reg_write(x86.UC_X86_REG_EFLAGS, flags & ~(EFLAGS_IF | EFLAGS_TF))
    uc.reg_write(x86.UC_X86_REG_CS, segment)
    uc.reg_write(x86.UC_X86_REG_EIP, offset)
    return segment * 16 + offset


def _deliver_protected(uc: unicorn.Uc, vector: int) -> int:
    _, idt_base, idt_limit, _ = uc.reg_read(x86.UC_X86_REG_IDTR)
    if vector * 8 + 7 > idt_limit:
        raise DeliveryError(f"vector {vector:#x} is beyond the IDT limit {idt_limit:#x}")
    low, selector, _, kind, high = struct.unpack("<HHBBH", uc.mem_read(idt_base + vector * 8, 8))
    if not kind & GATE_PRESENT:
        raise DeliveryError(f"the IDT gate for vector {vector:#x} is not present")
    gate_type = kind & 0x1F
    if gate_type not in (INTERRUPT_GATE_32, TRAP_GATE_32):
        raise DeliveryError(
            f"IDT gate type {gate_type:#x} for vector {vector:#x} is not a 32-bit interrupt or trap gate"
        )
    flags = uc.reg_read(x86.UC_X86_REG_EFLAGS)
    esp = (uc.reg_read(x86.UC_X86_REG_ESP) - 12) & 0xFFFF_FFFF
    frame = struct.pack("<III", uc.reg_read(x86.UC_X86_REG_EIP), uc.reg_read(x86.UC_X86_REG_CS), flags)
    uc.mem_write(segment_base(uc, uc.reg_read(x86.UC_X86_REG_SS)) + esp, frame)
    uc.reg_write(x86.UC_X86_REG_ESP, esp)
    cleared = EFLAGS_TF | (EFLAGS_IF if gate_type == INTERRUPT_GATE_32 else 0)
    uc.reg_write(x86.UC_X86_REG_EFLAGS, flags & ~cleared)
    uc.reg_write(x86.UC_X86_REG_CS, selector)
    offset = high << 16 | low
    uc.reg_write(x86.UC_X86_REG_EIP, offset)
    return segment_base(uc, selector) + offset


def segment_base(uc: unicorn.Uc, selector: int) -> int:
    """The base of a GDT segment (0 for Unicorn's flat start, which has no GDT)."""
    _, gdt_base, gdt_limit, _ = uc.reg_read(x86.UC_X86_REG_GDTR)
    if gdt_limit < (selector | 7):
        return 0
    descriptor = int.from_bytes(uc.mem_read(gdt_base + (selector & ~7), 8), "little")
    return (descriptor >> 16 & 0xFFFFFF) | (descriptor >> 56 & 0xFF) << 24
