"""An emulator's child process: nothing it started outlives the run, even once the emulator itself has exited."""

import os
import sys
import time
from pathlib import Path

import pytest
from pmtimer_harness.peers.process import KEEP, run_watched

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX's")


def alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/stat")
    if Path("/proc/self").exists():
        # A killed orphan may stay a zombie a moment (or for good, under a PID 1 that never reaps): dead.
        return status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_child_left_by_an_emulator_that_exited_is_killed_at_the_deadline():
    # Debian's bochs is a script that starts bochs-bin: a leader can be gone while its child runs on, holding the pipes.
    began = time.monotonic()
    done = run_watched(["sh", "-c", "sleep 30 & echo $!; exit 0"], 0.5, lambda line: KEEP)
    pid = int(done.output.split()[0])
    try:
        assert gone_within(pid, 2.0)
        assert done.timed_out and time.monotonic() - began < 3.0
    finally:
        if alive(pid):
            os.kill(pid, 9)
