"""SIGTERM and SIGHUP end a command as Ctrl-C does: the peers stopped, every folder removed, 128 + the signal.

Each command runs in a session of its own (as a service manager or a closing
terminal would signal it), with a private temporary folder; the signal goes to
the harness alone, once its peer emulator runs or its guest waits.  Peers are
found by their working folder or their command line, which name that folder.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pmtimer_harness.core.gdbstub import frame

from tests.guests import REPO, bundled, default_ctrl_c, write_guest
from tests.test_ctrl_c import GUESTS
from tests.test_nothing_left_behind import private_tmp  # noqa: F401 - a fixture: the folder must end empty

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, sends SIGHUP")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU is not installed")
needs_bochs = pytest.mark.skipif(shutil.which("bochs") is None, reason="Bochs is not installed")
PEERS = ("qemu-system-x86_64", "bochs-bin")
SPIN = "spin:   jmp spin\n"


def start(tmp: Path, *arguments: str) -> subprocess.Popen:
    environment = {**os.environ, "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}
    return subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", *arguments], cwd=REPO, env=environment, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, preexec_fn=default_ctrl_c,
    )


def peers_in(folder: Path) -> list[int]:
    """Peer emulators running from ``folder`` or naming it on their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = Path(os.readlink(entry / "exe")).name
            cwd = os.readlink(entry / "cwd")
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if name in PEERS and (cwd.startswith(str(folder)) or str(folder) in command):
            found.append(int(entry.name))
    return found


def wait_for(condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.05)
    return value


def signal_once_the_peer_runs(harness: subprocess.Popen, folder: Path, signum: int) -> tuple[str, str]:
    wait_for(lambda: peers_in(folder) or harness.poll() is not None)
    assert harness.poll() is None, harness.communicate()
    harness.send_signal(signum)
    stdout, stderr = harness.communicate(timeout=30)
    wait_for(lambda: not peers_in(folder), timeout_s=5)  # killed and reaped, not left to spin
    return stdout, stderr


@needs_qemu
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_qemu_and_removes_its_disk(private_tmp, tmp_path, signum):  # noqa: F811
    harness = start(private_tmp, "qemu", str(write_guest(tmp_path, SPIN)), "--timeout", "60")
    _, stderr = signal_once_the_peer_runs(harness, private_tmp, signum)
    assert harness.returncode == 128 + signum
    assert stderr == f"harness: interrupted by {signal.Signals(signum).name}; QEMU was stopped\n"
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("peer", [pytest.param("qemu", marks=needs_qemu), pytest.param("bochs", marks=needs_bochs)])
def test_sigterm_stops_the_differential_s_peer_and_removes_its_folder(private_tmp, tmp_path, peer):  # noqa: F811
    guest = write_guest(tmp_path, SPIN)
    harness = start(private_tmp, "differential", "--peer", peer, "--machine", "pc", "--accel", "tcg", str(guest),
                    "--timeout", "60")
    _, stderr = signal_once_the_peer_runs(harness, private_tmp, signal.SIGTERM)
    assert harness.returncode == 143
    assert stderr == "harness: interrupted by SIGTERM; the peers were stopped\n"
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_stops_a_spinning_guest_with_the_result_so_far(private_tmp, tmp_path, signum):  # noqa: F811
    guest = write_guest(tmp_path, GUESTS["spinning"])
    harness = start(private_tmp, "run", str(guest), "--trace", "--max-instructions", str(10**12), "--timeout", "60")
    assert "DEBUGCON" in harness.stdout.readline()  # the guest is running
    harness.send_signal(signum)
    stdout, stderr = harness.communicate(timeout=30)
    assert harness.returncode == 128 + signum
    assert f"interrupted: {signal.Signals(signum).name} stopped the run" in stdout
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("debugger", "signum"),
    [(False, signal.SIGTERM), (True, signal.SIGTERM), (True, signal.SIGINT)],
    ids=["SIGTERM while waiting for gdb", "SIGTERM while stopped at gdb", "Ctrl-C while stopped at gdb"],
)
def test_a_signal_ends_a_gdb_session_and_removes_the_labels(private_tmp, debugger, signum):  # noqa: F811
    harness = start(private_tmp, "run", str(bundled("hello.asm")), "--gdb", "0", "--timeout", "60")
    labels = Path(re.search(r"source (\S+),", harness.stderr.readline()).group(1))
    port = int(re.search(r"localhost:(\d+)", harness.stderr.readline()).group(1))
    if not debugger:
        time.sleep(0.5)  # the stub waits for a debugger that never comes
        harness.send_signal(signum)
        stdout, stderr = harness.communicate(timeout=30)
    else:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(frame(b"?"))
            heard = b""
            while b"#" not in heard:
                heard += connection.recv(4096)
            assert b"$S05#" in heard  # stopped before the first instruction
            harness.send_signal(signum)
            stdout, stderr = harness.communicate(timeout=30)
            while chunk := connection.recv(4096):
                heard += chunk
        assert heard.endswith(b"$X09#" + f"{sum(b'X09') & 0xFF:02x}".encode())  # told, then hung up on
    assert harness.returncode == 128 + signum
    by = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name
    assert f"hello.asm: interrupted\ninterrupted: {by} stopped the run" in stdout
    assert "0 instructions" in stdout and "Traceback" not in stderr
    assert not labels.exists()


def test_a_sighup_the_parent_ignored_stays_ignored(tmp_path):
    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    guest = write_guest(tmp_path, GUESTS["spinning"])
    harness = subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", "run", str(guest), "--trace", "--max-instructions", str(10**12)],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=nohup,
    )
    try:
        assert "DEBUGCON" in harness.stdout.readline()
        harness.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert harness.poll() is None  # as nohup asked
        harness.send_signal(signal.SIGTERM)
        stdout, _ = harness.communicate(timeout=30)
    finally:
        harness.kill()
        harness.wait()
    assert harness.returncode == 143 and "interrupted: SIGTERM stopped the run" in stdout
