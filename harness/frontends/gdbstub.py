"""A GDB remote stub (``--gdb PORT``): break, step, read registers and memory, ask for the timer.

Implements the part of the GDB Remote Serial Protocol a debugging session
needs (see the GDB manual, "Remote Protocol"): packets ``$data#checksum`` with
``+`` acknowledgements; ``?``, ``g``/``G``, ``p``/``P``, ``m``/``M``, ``c``,
``s``, ``Z0``/``z0`` (breakpoints), ``k``, ``D``, ``qSupported``, and
``qRcmd`` for ``monitor timer`` (the PM timer's value, TMR_STS and TMR_EN).

Why not the ``udbserver`` package: with a real-mode CPU it reported every
register as zero, and it prints a warning from Unicorn for each register it
reads; this harness's guests start in real mode.

How it runs: a Unicorn code hook stops before each instruction while the
debugger steps, or at a breakpoint, and serves packets until the debugger
says continue or step.  Everything happens on the run loop's thread, inside
that hook.  Registers are GDB's i386 layout (eax..edi, eip, eflags, cs, ss, ds,
es, fs, gs, 32 bits each); the stub sends only those, and GDB treats the rest
as unavailable.  Addresses are linear; the harness starts real-mode guests
with CS = 0, so EIP and the linear address agree.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

import unicorn
from unicorn import x86_const as x86

GDB_REGISTERS = (
    x86.UC_X86_REG_EAX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_EBX,
    x86.UC_X86_REG_ESP, x86.UC_X86_REG_EBP, x86.UC_X86_REG_ESI, x86.UC_X86_REG_EDI,
    x86.UC_X86_REG_EIP, x86.UC_X86_REG_EFLAGS, x86.UC_X86_REG_CS, x86.UC_X86_REG_SS,
    x86.UC_X86_REG_DS, x86.UC_X86_REG_ES, x86.UC_X86_REG_FS, x86.UC_X86_REG_GS,
)
SIGTRAP = 5
PACKET_SIZE = 0x4000  # what qSupported announces
MAX_READ = PACKET_SIZE // 2 - 16  # bytes in one ``m`` reply (two hex digits each)
MAX_BUFFER = 4 * PACKET_SIZE
BAD_PACKET = b"E01"
ACCEPT_POLL_S = 0.2  # how soon a wait for the debugger notices Ctrl-C or the timeout


def write_label_script(symbols: Mapping[str, int], folder: Path) -> Path:
    """A gdb script that names each label: ``source`` it, then ``break *$guest_main``."""
    lines = [f"set ${name.replace('.', '_')} = {address:#x}" for name, address in sorted(symbols.items())]
    script = folder / "labels.gdb"
    script.write_text("\n".join(lines) + "\n")
    return script


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def frame(data: bytes) -> bytes:
    return b"$" + data + b"#" + f"{checksum(data):02x}".encode()


class GdbStub:
    def __init__(
        self,
        uc: unicorn.Uc,
        port: int,
        monitor: Callable[[str], str],
        announce: Callable[[str], None],
        give_up: Callable[[], bool] = lambda: False,
    ) -> None:
        self.uc = uc
        self.monitor = monitor
        self.give_up = give_up  # Ctrl-C or the run's --timeout: stop waiting for a debugger
        self.breakpoints: set[int] = set()
        self.stepping = True  # stop before the first instruction
        self.killed = False
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        announce(f"gdb: waiting for a debugger on localhost:{self.port} (target remote :{self.port})")
        self._connection: socket.socket | None = None
        self._buffer = b""
        self._handle = uc.hook_add(unicorn.UC_HOOK_CODE, self._on_instruction)

    # --- the CPU side -------------------------------------------------------

    def _on_instruction(self, uc: unicorn.Uc, address: int, size: int, _user: object) -> None:
        if not self.stepping and address not in self.breakpoints:
            return
        if self._connection is None:
            self._connection = self._wait_for_debugger()
            if self._connection is None:
                self.stepping = False
                uc.emu_stop()
                return
            self._listener.close()
        else:
            self._send(f"S{SIGTRAP:02x}".encode())
        self.stepping = False
        self._serve()

    def _wait_for_debugger(self) -> socket.socket | None:
        # accept() is retried through Ctrl-C (PEP 475): wait in short steps and look up between them.
        self._listener.settimeout(ACCEPT_POLL_S)
        while not self.give_up():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            return connection
        return None

    def finished(self, exit_code: int | None) -> None:
        """The run is over: tell the debugger, then hang up."""
        if self._connection is None:
            self._listener.close()
            return
        with contextlib.suppress(OSError):  # the debugger may be gone already
            self._send(f"W{(exit_code or 0) & 0xFF:02x}".encode() if exit_code is not None else b"X09")
        self._connection.close()
        self._connection = None

    # --- the protocol -------------------------------------------------------

    def _serve(self) -> None:
        """Answer packets until the debugger resumes the CPU."""
        while True:
            packet = self._receive()
            if packet is None:  # the debugger went away: let the guest run on
                self.breakpoints.clear()
                return
            reply, resume = self.reply(packet)
            if resume:
                return
            self._send(reply)

    def reply(self, packet: bytes) -> tuple[bytes, bool]:
        """The answer to one packet, and whether the CPU resumes; a malformed packet gets an error reply."""
        try:
            return self._answer(packet)
        except (ValueError, IndexError, OverflowError, unicorn.UcError):
            # ``pzz``, ``P99=0``, ``m0,zz``: the protocol's error reply, and the session goes on.
            return BAD_PACKET, False

    def _answer(self, packet: bytes) -> tuple[bytes, bool]:
        command, body = packet[:1], packet[1:]
        if command == b"c":
            return b"", True
        if command == b"s":
            self.stepping = True
            return b"", True
        if command == b"?":
            return f"S{SIGTRAP:02x}".encode(), False
        if command == b"g":
            return b"".join(self._register_hex(r) for r in GDB_REGISTERS), False
        if command == b"p":
            number = int(body, 16)
            return (self._register_hex(GDB_REGISTERS[number]) if number < len(GDB_REGISTERS) else b"E45"), False
        if command == b"P":
            number_text, _, value = body.partition(b"=")
            number = int(number_text, 16)
            if number >= len(GDB_REGISTERS):
                return b"E45", False
            self.uc.reg_write(GDB_REGISTERS[number], int.from_bytes(bytes.fromhex(value.decode())[:4], "little"))
            return b"OK", False
        if command == b"m":
            return self._read_memory(body), False
        if command == b"M":
            return self._write_memory(body), False
        if command in (b"Z", b"z"):
            return self._breakpoint(command == b"Z", body), False
        if command == b"k":
            self.breakpoints.clear()
            self.killed = True
            self.uc.emu_stop()
            return b"", True
        if command == b"D":
            self.breakpoints.clear()
            self._send(b"OK")
            return b"", True
        if packet.startswith(b"qSupported"):
            return f"PacketSize={PACKET_SIZE:x}".encode(), False
        if packet.startswith(b"qAttached"):
            return b"1", False
        if packet.startswith(b"qRcmd,"):
            return self._monitor(bytes.fromhex(packet[6:].decode()).decode(errors="replace")), False
        if packet.startswith(b"H"):
            return b"OK", False
        if packet.startswith(b"qfThreadInfo"):
            return b"m1", False
        if packet.startswith(b"qsThreadInfo"):
            return b"l", False
        if packet == b"qC":
            return b"QC1", False
        return b"", False  # unsupported: an empty reply, as the protocol asks

    def _register_hex(self, register: int) -> bytes:
        return (self.uc.reg_read(register) & 0xFFFF_FFFF).to_bytes(4, "little").hex().encode()

    def _read_memory(self, body: bytes) -> bytes:
        address, length = (int(part, 16) for part in body.split(b","))
        # The protocol lets a stub return fewer bytes than asked: never more than a packet holds.
        length = min(length, MAX_READ)
        try:
            return bytes(self.uc.mem_read(address, length)).hex().encode()
        except unicorn.UcError:
            return b"E14"

    def _write_memory(self, body: bytes) -> bytes:
        where, data = body.split(b":")
        address, _ = (int(part, 16) for part in where.split(b","))
        try:
            self.uc.mem_write(address, bytes.fromhex(data.decode()))
        except unicorn.UcError:
            return b"E14"
        return b"OK"

    def _breakpoint(self, insert: bool, body: bytes) -> bytes:
        kind, address, _ = body.split(b",")
        if kind != b"0":
            return b""  # only software breakpoints
        target = int(address, 16)
        if insert:
            self.breakpoints.add(target)
        else:
            self.breakpoints.discard(target)
        return b"OK"

    def _monitor(self, command: str) -> bytes:
        text = self.monitor(command.strip())
        return text.encode().hex().encode()

    # --- packets on the wire ------------------------------------------------

    def _send(self, data: bytes) -> None:
        assert self._connection is not None
        self._connection.sendall(frame(data))

    def _receive(self) -> bytes | None:
        assert self._connection is not None
        while True:
            start = self._buffer.find(b"$")
            end = self._buffer.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self._buffer) >= end + 3:
                packet = self._buffer[start + 1 : end]
                self._buffer = self._buffer[end + 3 :]
                self._connection.sendall(b"+")
                return packet
            try:
                chunk = self._connection.recv(4096)
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk.replace(b"\x03", b"")  # no interrupt-from-debugger support
            if len(self._buffer) > MAX_BUFFER and self._buffer.find(b"#", self._buffer.find(b"$")) < 0:
                self._buffer = b""  # a packet longer than any gdb sends: drop it
