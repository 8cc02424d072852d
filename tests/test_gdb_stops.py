"""A guest stopped at the debugger: the run's budget still ends it, the count is exact, written code runs.

The debugger here is a socket speaking the remote protocol from a thread,
while the machine runs in the test's own thread, as on the command line.
"""

import socket
import threading
import time

import pytest
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.gdbstub import frame
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.result import Verdict

EXITS_WITH_AL_0 = bytes([
    0xB0, 0x00,  # 0x7c00  mov al, 0
    0xE6, 0xF4,  # 0x7c02  out 0xF4, al
])
LOOPS_THREE_TIMES = bytes([
    0xB9, 0x03, 0x00,  # 0x7c00  mov cx, 3
    0xB0, 0x00,        # 0x7c03  again: mov al, 0
    0x49,              # 0x7c05  dec cx
    0x75, 0xFB,        # 0x7c06  jnz again
    0xE6, 0xF4,        # 0x7c08  out 0xF4, al
])


class Debugger:
    """The debugger's end of the connection: packets out, packets and the hang-up in."""

    def __init__(self, port: int) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.received = b""

    def ask(self, packet: bytes) -> bytes:
        self.send(packet)
        return self.next_packet()

    def send(self, packet: bytes) -> None:
        self.socket.sendall(frame(packet))

    def next_packet(self) -> bytes:
        while True:
            start = self.received.find(b"$")
            end = self.received.find(b"#", start)
            if start >= 0 and end >= 0 and len(self.received) >= end + 3:
                packet, self.received = self.received[start + 1 : end], self.received[end + 3 :]
                return packet
            chunk = self.socket.recv(4096)
            if not chunk:
                return b"<hung up>"
            self.received += chunk


def debugged(image: bytes, config: MachineConfig, session) -> tuple[object, list[bytes]]:
    """Run ``image`` with ``session(debugger)`` attached from a thread; the result and what the stub said last."""
    machine = Machine(config, gdb_port=0, announce=lambda line: None)
    machine.load(image)
    heard: list[bytes] = []
    failures: list[BaseException] = []

    def attach() -> None:
        try:
            debugger = Debugger(machine.debugger.port)
            session(debugger)
            heard.extend([debugger.next_packet(), debugger.next_packet()])  # the end of the run, then the hang-up
        except BaseException as error:  # handed to the test's thread
            failures.append(error)

    thread = threading.Thread(target=attach, daemon=True)
    thread.start()
    result = machine.run()
    thread.join(timeout=10)
    if failures:
        raise failures[0]
    return result, heard


def test_a_run_ended_before_the_first_instruction_counts_none():
    machine = Machine(MachineConfig(timeout=0.3), gdb_port=0, announce=lambda line: None)
    machine.load(bytes([0x90, 0x90]) + EXITS_WITH_AL_0)  # no debugger comes
    result = machine.run()
    assert (result.verdict, result.instructions) == (Verdict.TIMEOUT, 0)


def test_a_debugger_that_kills_the_guest_at_once_ran_no_instruction():
    result, _ = debugged(EXITS_WITH_AL_0, MachineConfig(), lambda debugger: debugger.send(b"k"))
    assert (result.verdict, result.instructions) == (Verdict.ERROR, 0)
    assert "killed from the debugger" in result.report.reason


def test_the_timeout_ends_a_run_stopped_at_the_debugger_and_hangs_up_politely():
    def stay_stopped(debugger: Debugger) -> None:
        assert debugger.ask(b"?") == b"S05"

    began = time.perf_counter()
    result, heard = debugged(EXITS_WITH_AL_0, MachineConfig(timeout=0.5), stay_stopped)
    assert time.perf_counter() - began < 5
    assert (result.verdict, result.instructions) == (Verdict.TIMEOUT, 0)
    assert heard == [b"X09", b"<hung up>"]


def test_a_run_stopped_at_a_breakpoint_counts_what_ran_before_it():
    def stop_at_the_out(debugger: Debugger) -> None:
        assert debugger.ask(b"Z0,7c08,1") == b"OK"
        assert debugger.ask(b"c") == b"S05"  # CX is 0: the loop ran three times

    result, _ = debugged(LOOPS_THREE_TIMES, MachineConfig(timeout=0.5), stop_at_the_out)
    assert (result.verdict, result.instructions) == (Verdict.TIMEOUT, 10)


@pytest.mark.parametrize(("write", "code"), [(b"M7c01,1:05", 5), (b"X7c01,1:}\x03", 0x23)])  # 0x23 is '#', escaped
def test_a_debugger_write_over_the_instruction_at_the_stop_runs(write, code):
    def patch(debugger: Debugger) -> None:
        assert debugger.ask(write) == b"OK"  # mov al, 0 -> mov al, code
        debugger.send(b"c")

    result, heard = debugged(EXITS_WITH_AL_0, MachineConfig(), patch)
    assert (result.verdict, result.exit_code, result.instructions) == (Verdict.FAIL, code, 2)
    assert heard[0] == f"W{code:02x}".encode()


def test_a_debugger_write_reaches_code_translated_before_the_stop():
    def patch_the_loop(debugger: Debugger) -> None:
        assert debugger.ask(b"Z0,7c05,1") == b"OK"
        assert debugger.ask(b"c") == b"S05"  # the first time round, in the block from 0x7c00
        assert debugger.ask(b"c") == b"S05"  # the second, in the block at 0x7c03, translated and run
        assert debugger.ask(b"z0,7c05,1") == b"OK"
        assert debugger.ask(b"M7c04,1:07") == b"OK"  # mov al, 0 -> mov al, 7: the third time round sees it
        debugger.send(b"c")

    result, _ = debugged(LOOPS_THREE_TIMES, MachineConfig(), patch_the_loop)
    assert (result.verdict, result.exit_code, result.instructions) == (Verdict.FAIL, 7, 11)


def test_a_step_after_a_write_runs_the_written_instruction_once():
    def patch_then_step(debugger: Debugger) -> None:
        assert debugger.ask(b"M7c01,1:09") == b"OK"
        assert debugger.ask(b"s") == b"S05"
        assert debugger.ask(b"p0")[:2] == b"09"  # AL, after one instruction
        debugger.send(b"c")

    result, _ = debugged(EXITS_WITH_AL_0, MachineConfig(), patch_then_step)
    assert (result.verdict, result.exit_code, result.instructions) == (Verdict.FAIL, 9, 2)
