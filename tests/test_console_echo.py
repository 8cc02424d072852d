"""The console on the terminal while the guest runs: ``run`` shows each byte as it comes."""

from __future__ import annotations

import io
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

from guests import write_guest
from pmtimer_harness.devices.debug_console import DebugConsole
from pmtimer_harness.frontends.console_echo import ConsoleEcho

PRINTS_THEN_SPINS = """\
        %include "report.inc"
guest_main:
        mov     si, text
next:   lodsb
        test    al, al
        jz      spin
        mov     dx, 0x3F8               ; COM1's THR: the harness sends at once, so no LSR poll
        out     dx, al
        jmp     next
spin:   jmp     spin                    ; until the wall-clock budget ends the run
text:   db      "up before the end", 0  ; no newline: a partial line is shown too
"""


def command(tmp_path, *options):
    return [sys.executable, "-m", "pmtimer_harness", "run", str(write_guest(tmp_path, PRINTS_THEN_SPINS)), *options]


def read_until(process, stream, wanted: bytes, deadline_s: float) -> bytes:
    """What ``stream`` gives until ``wanted`` is in it or the deadline passes."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    seen, ends = b"", time.monotonic() + deadline_s
    while wanted not in seen and time.monotonic() < ends:
        if selector.select(timeout=max(ends - time.monotonic(), 0)):
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    return seen


def test_text_printed_through_com1_is_on_stdout_while_the_guest_still_runs(tmp_path):
    process = subprocess.Popen(command(tmp_path, "--clock", "host", "--timeout", "1.5"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = read_until(process, process.stdout, b"up before the end", 10)
        assert b"up before the end" in seen
        assert process.poll() is None, "the text came only when the run ended"
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    report = (seen + out).decode()
    assert report.count("up before the end") == 1  # the report does not print it again
    assert "up before the end\n\nguest.asm: timeout" in report


def test_with_json_the_console_comes_on_stderr_and_stdout_stays_one_document(tmp_path):
    done = subprocess.run(command(tmp_path, "--json", "--max-instructions", "100000"),
                          capture_output=True, text=True, timeout=60)
    assert "up before the end" in done.stderr
    assert json.loads(done.stdout)["console"] == "up before the end"


class Stalled(io.StringIO):
    """A terminal that takes nothing until released, as a full pipe nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def write(self, text: str) -> int:
        self.released.wait()
        return super().write(text)


def test_a_stream_that_falls_behind_neither_grows_the_buffer_nor_holds_up_the_end(monkeypatch):
    monkeypatch.setattr(ConsoleEcho, "MAX_PENDING", 1000)
    monkeypatch.setattr(ConsoleEcho, "STUCK_S", 0.1)
    console = DebugConsole()
    machine = SimpleNamespace(board=SimpleNamespace(console=console))
    stream = Stalled()
    echo = ConsoleEcho(machine, stream)  # type: ignore[arg-type]
    with echo:
        for _ in range(3):
            for byte in b"x" * 1000:
                console.put(byte)
            time.sleep(0.1)  # the drainer takes one batch and is stuck writing it
    assert len(echo._pending) <= 1000
    assert console.listener is None
    stream.released.set()
    echo._thread.join(5)
    echo._drain()
    assert "console bytes not shown here" in stream.getvalue()
