"""A GDB remote stub (``--gdb PORT``): break, step, read registers and memory, ask for the timer.

Implements the part of the GDB Remote Serial Protocol a debugging session
needs (see the GDB manual, "Remote Protocol"): packets ``$data#checksum`` with
``+`` acknowledgements; ``?``, ``g``/``G``, ``p``/``P``, ``m``/``M``, ``c``,
``s``, ``X`` (binary memory writes), ``Z0``/``z0`` (breakpoints), ``k``, ``D``,
``qSupported``, and ``qRcmd`` for ``monitor timer`` (the PM timer's value,
TMR_STS and TMR_EN).

Why not the ``udbserver`` package: with a real-mode CPU it reported every
register as zero, and it prints a warning from Unicorn for each register it
reads; this harness's guests start in real mode.

How it runs: a Unicorn code hook stops before each instruction while the
debugger steps, or at a breakpoint, and serves packets until the debugger
says continue or step.  Everything happens on the run loop's thread, inside
that hook, which looks at the run's ``give_up`` (Ctrl-C, the end of
``--timeout``) while it waits for a packet: a guest stopped at the debugger
still ends with its run.

A write to guest memory must reach code Unicorn has translated already, and
the running translation block goes on to its end whatever memory now holds:
so the written range leaves Unicorn's translation cache and the dispatch's
decoded blocks (``wrote``), and the CPU is stopped and started again at the
same instruction, which is then translated afresh.

Registers are GDB's i386 layout (eax..edi, eip, eflags, cs, ss, ds, es, fs,
gs, 32 bits each); the stub sends only those, and GDB treats the rest as
unavailable.  Addresses are linear; the harness starts real-mode guests
with CS = 0, so EIP and the linear address agree.
"""

from __future__ import annotations

import contextlib
import select
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
POLL_S = 0.2  # how soon a wait for the debugger, or for its next packet, notices Ctrl-C or the timeout
ESCAPE = 0x7D  # in ``X`` data: the next byte is XORed with 0x20 (GDB manual, "Overview", binary data)


class GivenUp(Exception):
    """The run ended (Ctrl-C, --timeout) while the stub waited for the debugger."""


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
        wrote: Callable[[int, int], None] = lambda address, size: None,
    ) -> None:
        self.uc = uc
        self.monitor = monitor
        self.give_up = give_up  # Ctrl-C or the run's --timeout: stop waiting for the debugger
        self.wrote = wrote  # guest memory at (address, size) changed: forget code decoded there
        self.breakpoints: set[int] = set()
        self.stepping = True  # stop before the first instruction
        self.killed = False
        self.stopped_at: int | None = None  # where the stub stopped the CPU, before that instruction ran
        self.restart = False  # the CPU stopped so that code the debugger wrote is translated afresh
        self._memory_written = False
        self._resumed_at: int | None = None
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        announce(f"gdb: waiting for a debugger on localhost:{self.port} (target remote :{self.port})")
        self._connection: socket.socket | None = None
        self._buffer = b""
        self._handle = uc.hook_add(unicorn.UC_HOOK_CODE, self._on_instruction)

    # --- the CPU side -------------------------------------------------------

    def _on_instruction(self, uc: unicorn.Uc, address: int, size: int, _user: object) -> None:
        resumed_at, self._resumed_at = self._resumed_at, None
        if address == resumed_at:
            return  # the CPU started again where the debugger left it: not a new stop
        if not self.stepping and address not in self.breakpoints:
            return
        self.stepping = False
        if self._connection is None:
            self._connection = self._wait_for_debugger()
            self._listener.close()
            if self._connection is None:
                self._stop_cpu(address)
                return
            first_stop = True
        else:
            first_stop = False
        try:
            self._serve(first_stop)
        except GivenUp:
            self._stop_cpu(address)
            return
        if self.killed:
            self._stop_cpu(address)
        elif self._memory_written:
            self._memory_written = False
            self.restart = True
            self._resumed_at = address
            self._stop_cpu(address)

    def _stop_cpu(self, address: int) -> None:
        # From a code hook, Unicorn stops before the instruction at ``address`` runs.
        self.stopped_at = address
        self.uc.emu_stop()

    def take_stop(self) -> int | None:
        """Where the stub stopped the CPU since last asked (the instruction there did not run), if it did."""
        stopped_at, self.stopped_at = self.stopped_at, None
        return stopped_at

    def take_restart(self) -> bool:
        """True once after the stub stopped the CPU only to have it start again at the same instruction."""
        restart, self.restart = self.restart, False
        return restart

    def _wait_for_debugger(self) -> socket.socket | None:
        # accept() is retried through Ctrl-C (PEP 475): wait in short steps and look up between them.
        self._listener.settimeout(POLL_S)
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
            self._connection.shutdown(socket.SHUT_WR)
        self._connection.close()
        self._connection = None

    # --- the protocol -------------------------------------------------------

    def _serve(self, first_stop: bool) -> None:
        """Answer packets until the debugger resumes the CPU; a debugger gone lets the guest run on."""
        try:
            if not first_stop:  # the debugger asked for the first stop itself (``?``)
                self._send(f"S{SIGTRAP:02x}".encode())
            while (packet := self._receive()) is not None:
                reply, resume = self.reply(packet)
                if resume:
                    return
                self._send(reply)
        except OSError:
            pass
        self.breakpoints.clear()

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
        if command == b"X":
            return self._write_binary(body), False
        if command in (b"Z", b"z"):
            return self._breakpoint(command == b"Z", body), False
        if command == b"k":
            self.breakpoints.clear()
            self.killed = True  # the CPU stops when the hook returns
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
        return self._write(address, bytes.fromhex(data.decode()))

    def _write_binary(self, body: bytes) -> bytes:
        where, _, data = body.partition(b":")
        address, length = (int(part, 16) for part in where.split(b","))
        value = unescaped(data)
        if len(value) != length:
            return BAD_PACKET
        return self._write(address, value)

    def _write(self, address: int, data: bytes) -> bytes:
        if not data:
            return b"OK"  # GDB's probe for ``X``: a write of nothing
        try:
            self.uc.mem_write(address, data)
        except unicorn.UcError:
            return b"E14"
        # Unicorn keeps translating from what memory held: forget every translation of these bytes.
        self.uc.ctl_remove_cache(address, address + len(data))
        self.wrote(address, len(data))
        self._memory_written = True
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
        """The next packet; None when the debugger went away.  Raises ``GivenUp`` when the run ends first."""
        assert self._connection is not None
        while True:
            start = self._buffer.find(b"$")
            end = self._buffer.find(b"#", start + 1) if start >= 0 else -1
            if start >= 0 and end >= 0 and len(self._buffer) >= end + 3:
                packet = self._buffer[start + 1 : end]
                self._buffer = self._buffer[end + 3 :]
                try:
                    self._connection.sendall(b"+")
                except OSError:
                    return None
                return packet
            try:
                self._wait_for_bytes(self._connection)
                chunk = self._connection.recv(4096)
            except OSError:
                return None
            if not chunk:
                return None
            # A Ctrl-C from the debugger (0x03, outside any packet) is not supported: ``find`` skips it.
            self._buffer += chunk
            if len(self._buffer) > MAX_BUFFER and self._buffer.find(b"#", self._buffer.find(b"$")) < 0:
                self._buffer = b""  # a packet longer than any gdb sends: drop it

    def _wait_for_bytes(self, connection: socket.socket) -> None:
        # A blocking recv() is retried through Ctrl-C (PEP 475): wait in short steps and look up between them.
        while not select.select([connection], [], [], POLL_S)[0]:
            if self.give_up():
                raise GivenUp


def unescaped(data: bytes) -> bytes:
    """``X`` packet data as the bytes it stands for: ``}`` escapes the byte after it."""
    value = bytearray()
    escaped = False
    for byte in data:
        if escaped:
            value.append(byte ^ 0x20)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            value.append(byte)
    return bytes(value)
