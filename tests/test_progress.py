"""Progress: plain lines off a terminal, a bar and a status line on one."""

import ast
import inspect
import io
import json
import sys

import pytest
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.progress import RunProgress, SuiteProgress
from pmtimer_harness.peers import differential
from pmtimer_harness.peers.process import PeerRun
from pmtimer_harness.tools import runner
from pmtimer_harness.tools.runner import run_guest

from tests.guests import bundled, write_guest

EXIT_0 = "        mov al, 0\n        out 0xF4, al\n"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_each_guest_is_one_plain_line():
    stream = io.StringIO()
    run = run_guest(bundled("hello.asm"))
    with SuiteProgress(2, stream) as progress:
        progress.starting("hello.asm")
        progress.finished(run)
    assert stream.getvalue().startswith("[1/2] hello.asm: pass in ")


def test_on_a_terminal_the_suite_draws_a_bar():
    stream = Terminal()
    run = run_guest(bundled("hello.asm"))
    with SuiteProgress(1, stream) as progress:
        progress.starting("hello.asm")
        progress.finished(run)
    assert "hello.asm:" in stream.getvalue() and "guest/s" in stream.getvalue()
    assert "hello.asm: pass in" not in stream.getvalue()


def test_a_long_run_shows_a_status_line_on_a_terminal(monkeypatch):
    monkeypatch.setattr(RunProgress, "DELAY_S", 0.0)
    monkeypatch.setattr(RunProgress, "INTERVAL_S", 0.05)
    machine = Machine(MachineConfig(timeout=0.5, max_instructions=10**12))
    machine.load(bytes([0xEB, 0xFE]))  # jmp $
    stream = Terminal()
    with RunProgress(machine, "spin.bin", stream):
        machine.run()
    assert "spin.bin: running" in stream.getvalue() and "instructions" in stream.getvalue()


def test_no_status_line_off_a_terminal():
    machine = Machine(MachineConfig(timeout=0.2, max_instructions=10**12))
    machine.load(bytes([0xEB, 0xFE]))
    stream = io.StringIO()
    with RunProgress(machine, "spin.bin", stream):
        machine.run()
    assert stream.getvalue() == ""


def test_the_status_line_is_rewritten_without_escape_codes_within_the_terminals_width(monkeypatch):
    # A Windows console without virtual-terminal processing prints ESC [ K as it is.
    monkeypatch.setattr(RunProgress, "DELAY_S", 0.0)
    monkeypatch.setattr(RunProgress, "INTERVAL_S", 0.05)
    monkeypatch.setenv("COLUMNS", "40")
    machine = Machine(MachineConfig(timeout=0.3, max_instructions=10**12))
    machine.load(bytes([0xEB, 0xFE]))  # jmp $
    stream = Terminal()
    with RunProgress(machine, "spin.bin", stream):
        machine.run()
    shown = stream.getvalue()
    assert "\x1b" not in shown
    lines = shown.split("\r")[1:]
    assert lines[0].startswith("spin.bin: running") and all(len(line) <= 39 for line in lines)
    assert lines[-2:] == [" " * len(lines[-3].rstrip()), ""]  # the last one blanked, the cursor back at the start


def test_the_matrix_draws_a_bar_on_a_terminal_and_no_cell_lines(tmp_path, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    guest = write_guest(tmp_path, EXIT_0, name="passing.asm")
    assert main(["matrix", str(guest), "--platforms", "acpi,qemu", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert "cell/s" in terminal.getvalue() and "passing.asm on acpi: pass in" not in terminal.getvalue()


@pytest.fixture
def peer_that_passes(monkeypatch):
    """A QEMU never started that 'ran' every guest to exit code 0 in half a second."""
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")
    monkeypatch.setattr(differential, "accel_missing", lambda accel, qemu: None)
    monkeypatch.setattr(differential.PeerSetup, "run", lambda setup, guest, timeout_s, cancel: PeerRun(0, "", 0.5))


@pytest.mark.usefixtures("peer_that_passes")
def test_off_a_terminal_the_differential_writes_a_line_per_finished_row(tmp_path, capsys):
    ran = write_guest(tmp_path, EXIT_0, name="ran.asm")
    skipped = write_guest(tmp_path, EXIT_0, header="; portable: no, the harness's own\n", name="skipped.asm")
    assert main(["differential", str(ran), str(skipped), "--machine", "pc", "--accel", "tcg", "--json"]) == 0
    out, err = capsys.readouterr()
    assert [row["agree"] for row in json.loads(out)] == [True, None]
    assert err.splitlines() == [
        "[1/2] ran.asm on QEMU pc/tcg: agree in 0.50 s",
        "[2/2] skipped.asm on QEMU pc/tcg: skipped (the harness's own) in 0.00 s",
    ]


def test_the_runner_takes_its_status_line_from_the_caller_and_imports_no_front_end_for_it():
    # tools/ lies below frontends/: the status line is handed in, never imported (it was a circle).
    imported = {
        node.module for node in ast.walk(ast.parse(inspect.getsource(runner)))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "pmtimer_harness.frontends.progress" not in imported
    seen = []

    def watching(machine, name):
        seen.append(name)
        return RunProgress(machine, name, io.StringIO())

    assert run_guest(bundled("hello.asm"), progress=watching).result.verdict == "pass"
    assert seen == ["hello.asm"]
