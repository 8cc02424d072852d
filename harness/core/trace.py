"""The port trace (``--trace``): every port access as a line of text or a JSON object.

    [  1005 ns  insn   5] IN  0x0408/4 -> 0x00000003  PM_TMR read  at 0x00007c06  in eax, dx  ; guest.asm:12: ...
    [  2013 ns  insn  13] OUT 0x00e9/1 <- "INFO: 0 then 3\\n"  DEBUGCON line  at 0x00007c0d  out 0xe9, al  ; ...
    [  3021 ns  insn  21] RD  0xfea00000/4 -> 0x010000ed  ID read  at 0x00007c31  mov eax, dword ptr [ebx]  ; ...

Virtual time, instructions retired before the access (``-`` under the host
clock), direction (IN/OUT for a port, RD/WR for a memory-mapped register),
port/width or physical address/width, value, the device register it hit, guest
address, the instruction as capstone decodes it, and the source line from
NASM's listing.

What the machine hands over is a ``TracedAccess``; a ``Tracer`` decides what
is written and how:

- filters: only the ports in the given ranges and the devices named (either
  one lets an access through; none given: every access);
- the console's bytes are gathered into lines: one entry per line, stamped
  with the time, count and instruction of its first byte, written when its
  newline comes, when another access is traced, when it reaches
  ``CONSOLE_LINE_LIMIT`` bytes, or when the run ends;
- text lines, or JSON lines (one object per entry, ``"event"`` saying which
  kind: ``access``, ``mmio`` (a memory-mapped register's, with its
  ``physical_address``), ``console`` or ``note``, the instruction trace's
  and the interrupts' lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pmtimer_harness.core.blocks import Instruction
from pmtimer_harness.core.bus import IN, PortAccess
from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.core.mmio_bus import READ, MmioAccess
from pmtimer_harness.devices.debug_console import DebugConsole

PortRange = tuple[int, int]  # first, last: both included
CONSOLE_LINE_LIMIT = 4096  # bytes: a guest that never ends its line is traced in pieces this long, not held


@dataclass(frozen=True)
class TracedAccess:
    """One port access, with where and when the guest made it."""

    access: PortAccess | MmioAccess
    now_ns: int
    instructions: int | None  # retired before the access; None under the host clock
    device: str | None  # None: no device claims the port
    register: str
    instruction: Instruction | None
    source: str | None

    def where(self) -> str:
        where = ""
        if self.instruction is not None:
            where += f"  at {self.instruction.address:#010x}  {self.instruction.text}"
        if self.source:
            where += f"  ; {self.source}"
        return where

    def when(self) -> str:
        count = "-" if self.instructions is None else str(self.instructions)
        return f"[{self.now_ns:>12} ns  insn {count:>10}] "

    def text(self) -> str:
        access = self.access
        reads = access.direction in (IN, READ)
        arrow = "->" if reads else "<-"
        value = access.value if access.value is not None else 0
        verb = "read" if reads else "write"
        if isinstance(access, MmioAccess):
            what = f"{'RD' if reads else 'WR':<3} {access.address:#010x}/{access.width}"
        else:
            what = f"{access.direction.upper():<3} {access.port:#06x}/{access.width}"
        return (
            f"{self.when()}{what} {arrow} "
            f"{value:#0{2 + 2 * access.width}x}  {self.register + ' ' + verb:<16}{self.where()}"
        )

    def as_dict(self) -> dict[str, object]:
        access = self.access
        if isinstance(access, MmioAccess):
            event, target, location = "mmio", "physical_address", access.address
        else:
            event, target, location = "access", "port", access.port
        return {
            "event": event,
            "time_ns": self.now_ns,
            "instructions": self.instructions,
            "direction": access.direction,
            target: location,
            "width": access.width,
            "value": access.value,
            "device": self.device,
            "register": self.register,
            "address": None if self.instruction is None else self.instruction.address,
            "instruction": None if self.instruction is None else self.instruction.text,
            "source": self.source,
        }


@dataclass
class ConsoleLine:
    """Console bytes gathered until a newline: traced once, where the first of them was written."""

    first: TracedAccess
    characters: bytearray

    @property
    def line(self) -> str:
        return self.characters.decode("latin-1")  # a byte is a character, as the console's capture keeps it

    def text(self) -> str:
        first = self.first
        return (f"{first.when()}OUT {first.access.port:#06x}/{first.access.width} <- "
                f"{json.dumps(self.line)}  {first.register} line{first.where()}")

    def as_dict(self) -> dict[str, object]:
        entry = self.first.as_dict()
        del entry["value"]
        entry.update(event="console", text=self.line, bytes=len(self.characters))
        return entry


class Tracer:
    """Where the trace goes and what it keeps.

    ``write`` takes each entry, a line without its newline.  ``ports`` and
    ``devices`` narrow the accesses traced; ``as_json`` writes JSON objects.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        ports: Iterable[PortRange] = (),
        devices: Iterable[str] = (),
        as_json: bool = False,
    ) -> None:
        self.write = write
        self.ports = tuple(ports)
        self.devices = frozenset(devices)
        self.as_json = as_json
        self._console: ConsoleLine | None = None

    def check_devices(self, present: Iterable[str]) -> None:
        """Refuses a device filter naming a device the board does not have: it would trace nothing, silently."""
        names = sorted(set(present))
        missing = sorted(self.devices - set(names))
        if missing:
            raise ConfigError(f"the trace names device {', '.join(missing)}, which this board does not have "
                              f"(its devices: {', '.join(names)})")

    def wants(self, traced: TracedAccess) -> bool:
        if not self.ports and not self.devices:
            return True
        access = traced.access
        if traced.device in self.devices:
            return True
        return isinstance(access, PortAccess) and any(first <= access.port <= last for first, last in self.ports)

    def access(self, traced: TracedAccess) -> None:
        if not self.wants(traced):
            return
        if traced.device == DebugConsole.name and traced.access.direction != IN:
            self._gather(traced)
            return
        self.finish()
        self._emit(traced.as_dict() if self.as_json else traced.text())

    def note(self, line: str) -> None:
        """A line of the instruction trace or an interrupt taken: written as it comes."""
        self._emit({"event": "note", "text": line} if self.as_json else line)

    def device_note(self, line: str, device: str) -> None:
        """A device's event (its interrupt line moved, or was taken): kept when the filters keep the device."""
        if (not self.ports and not self.devices) or device in self.devices:
            self.note(line)

    def finish(self) -> None:
        """Write the console line begun and not ended: before another access, and when the run ends."""
        pending, self._console = self._console, None
        if pending is not None:
            self._emit(pending.as_dict() if self.as_json else pending.text())

    def _gather(self, traced: TracedAccess) -> None:
        if self._console is None:
            self._console = ConsoleLine(traced, bytearray())
        character = (traced.access.value or 0) & 0xFF  # the console prints the low byte of a wider OUT
        self._console.characters.append(character)
        if character == ord("\n") or len(self._console.characters) >= CONSOLE_LINE_LIMIT:
            self.finish()

    def _emit(self, entry: str | dict[str, object]) -> None:
        self.write(json.dumps(entry) if isinstance(entry, dict) else entry)


def as_tracer(trace: Tracer | Callable[[str], None] | None) -> Tracer | None:
    """A ``Tracer`` as given, or one writing every access as text to a function that takes lines."""
    if trace is None or isinstance(trace, Tracer):
        return trace
    return Tracer(trace)
