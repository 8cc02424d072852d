"""Waits outside the guest keep the run's promises: NASM and a debugger that never comes.

Assembling and waiting for gdb happen before the first instruction, so the
guest's own budget and Ctrl-C handling have not started yet; these tests show
that ``--timeout`` and Ctrl-C reach them too, with one line and no traceback.
"""

import signal
import subprocess
import sys
import time

import pytest

from tests.guests import REPO, default_ctrl_c

ENDLESS_SOURCE = '%include "/dev/zero"\n'  # NASM reads it for ever
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs /dev/zero and SIGINT")


def harness(*arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", *arguments],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c,
    )


@posix_only
def test_nasm_gets_no_more_than_the_run_s_timeout(tmp_path):
    guest = tmp_path / "endless.asm"
    guest.write_text(ENDLESS_SOURCE)
    began = time.monotonic()
    _, stderr = harness("run", str(guest), "--timeout", "1", "--no-cache").communicate(timeout=60)
    assert time.monotonic() - began < 20
    assert "NASM did not finish within 1 s" in stderr and "Traceback" not in stderr


@posix_only
def test_ctrl_c_while_nasm_runs_is_one_line_and_status_130(tmp_path):
    guest = tmp_path / "endless.asm"
    guest.write_text(ENDLESS_SOURCE)
    process = harness("run", str(guest), "--no-cache")
    time.sleep(1.0)  # NASM is reading /dev/zero by now
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "harness: interrupted" in stderr and "Traceback" not in stderr


def test_waiting_for_a_debugger_ends_with_the_timeout():
    began = time.monotonic()
    process = harness("run", "asm/hello.asm", "--gdb", "0", "--timeout", "1")
    stdout, stderr = process.communicate(timeout=60)
    assert time.monotonic() - began < 20
    assert process.returncode == 3
    assert "timeout: wall-clock budget of 1 s spent" in stdout and "Traceback" not in stderr


@posix_only
def test_ctrl_c_while_waiting_for_a_debugger_interrupts_the_run():
    process = harness("run", "asm/hello.asm", "--gdb", "0")
    assert "waiting for a debugger" in process.stderr.readline() + process.stderr.readline()
    time.sleep(1.0)  # the announcement comes before the run starts: let it reach the wait itself
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "hello.asm: interrupted" in stdout and "Traceback" not in stderr


def test_an_infinite_cache_cap_is_the_default(monkeypatch):
    from pmtimer_harness.tools import cache

    for value in ("inf", "-inf", "1e400", "nan"):
        monkeypatch.setenv(cache.MAX_MB_ENV, value)
        assert cache.max_bytes() == cache.DEFAULT_MAX_BYTES
    monkeypatch.setenv(cache.MAX_MB_ENV, "2")
    assert cache.max_bytes() == 2 << 20

