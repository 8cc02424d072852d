"""Trace lines: one per port access, for ``--trace``.

    [   1005 ns  insn      5] IN  0x0408/4 -> 0x00000003  PM_TMR read  at 0x00007c06  in eax, dx  ; guest.asm:12: ...

Virtual time, instructions retired before the access (``-`` under the host
clock), direction, port/width, value, the device register it hit, guest
address, the instruction as capstone decodes it, and the source line from
NASM's listing.
"""

from __future__ import annotations

from pmtimer_harness.core.blocks import Instruction
from pmtimer_harness.core.bus import IN, PortAccess


def format_access(
    access: PortAccess,
    now_ns: int,
    instructions: int | None,
    instruction: Instruction | None,
    source: str | None,
    register: str = "",
) -> str:
    count = "-" if instructions is None else str(instructions)
    arrow = "->" if access.direction == IN else "<-"
    value = access.value if access.value is not None else 0
    verb = "read" if access.direction == IN else "write"
    line = (
        f"[{now_ns:>12} ns  insn {count:>10}] "
        f"{access.direction.upper():<3} {access.port:#06x}/{access.width} {arrow} "
        f"{value:#0{2 + 2 * access.width}x}  {register + ' ' + verb:<16}"
    )
    if instruction is not None:
        line += f"  at {instruction.address:#010x}  {instruction.text}"
    if source:
        line += f"  ; {source}"
    return line
