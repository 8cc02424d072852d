"""A run, a failed run, a refused run, a snapshot, a plot, a gdb session: nothing stays in the temporary folder."""

import os
import re
import socket
import subprocess
import sys

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.commands.common import USAGE_ERROR, VERDICT_STATUS

from tests.guests import REPO, bundled, write_guest


def harness(tmp, *args, **kwargs):
    environment = {**os.environ, "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}
    return subprocess.run([sys.executable, "-m", "pmtimer_harness", *args], capture_output=True, text=True,
                          cwd=REPO, env=environment, timeout=120, **kwargs)


@pytest.fixture
def private_tmp(tmp_path):
    folder = tmp_path / "tmp"
    folder.mkdir()
    yield folder
    assert sorted(path.name for path in folder.iterdir()) == []


def test_runs_that_pass_fail_and_are_refused_leave_nothing(private_tmp, tmp_path):
    assert harness(private_tmp, "run", str(bundled("hello.asm"))).returncode == 0
    failing = write_guest(tmp_path, "mov dx, 0x408\n out dx, al\n")  # bhyve refuses it: error verdict
    assert harness(private_tmp, "run", str(failing)).returncode == VERDICT_STATUS[Verdict.ERROR]
    assert harness(private_tmp, "run", str(bundled("hello.asm")), "--timeout", "inf").returncode == USAGE_ERROR
    assert harness(private_tmp, "run", str(tmp_path / "missing.asm")).returncode == USAGE_ERROR


def test_snapshots_saved_refused_and_resumed_leave_nothing(private_tmp, tmp_path):
    snapshot = tmp_path / "here.snap"
    assert harness(private_tmp, "run", str(bundled("snapshot_here.asm")), "--snapshot", str(snapshot)).returncode == 0
    assert harness(private_tmp, "resume", str(snapshot)).returncode == 0
    (tmp_path / "folder.snap").mkdir()
    folder = tmp_path / "folder.snap"
    refused = harness(private_tmp, "run", str(bundled("snapshot_here.asm")), "--snapshot", str(folder))
    assert refused.returncode == USAGE_ERROR
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder.snap", "here.snap", "tmp"]


def test_a_gdb_session_leaves_nothing(private_tmp):
    environment = {**os.environ, "TMPDIR": str(private_tmp)}
    run = subprocess.Popen([sys.executable, "-m", "pmtimer_harness", "run", str(bundled("hello.asm")), "--gdb", "0"],
                           cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        labels = re.search(r"source (\S+),", run.stderr.readline()).group(1)
        assert os.path.exists(labels)  # there while the debugger may need it
        port = int(re.search(r"localhost:(\d+)", run.stderr.readline()).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=30) as debugger:
            debugger.sendall(b"$c#63")  # continue
            received = b""
            while b"$W" not in received:
                chunk = debugger.recv(4096)
                if not chunk:
                    break
                received += chunk
        assert run.wait(timeout=60) == 0
    finally:
        run.kill()
        run.communicate()
