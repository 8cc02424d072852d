"""Running a harness guest, unmodified, in QEMU: the differential check's first peer.

A guest is only worth trusting if it means the same thing on a real virtual
machine.  QEMU's PM timer is the one most guests have met: 24 bits, at 0x608
(SeaBIOS puts the PM base at 0x600, on both ``pc`` and ``q35``), aligned narrow
reads allowed; unaligned ones read 0 under TCG and are split into pieces under
KVM (REFERENCE.md, "What the real peers showed").

The guest is assembled for that platform (TIMER_PORT 0x608, TIMER_WIDTH 24,
IO_SEMANTICS_QEMU 1, CLOCK_VIRTUAL 0) onto a boot disk (``disk.py``); QEMU
boots it through SeaBIOS with ``isa-debug-exit`` on 0xF4 and ``debugcon`` on
0xE9, so the guest's protocol is unchanged.  Under ``-accel kvm`` the guest
runs on the host's CPU and only the devices are QEMU's: a second peer.
``hvf`` (macOS) and ``whpx`` (Windows) are the same on those hosts; which
accelerators a QEMU was built with, it says itself (``-accel help``), and one
it lacks is refused before the run, naming those it has.

The exit code: isa-debug-exit ends QEMU with ``exit((value << 1) | 1)``
(qemu/qemu: hw/misc/debugexit.c, ``debug_exit_write``), and a process status
keeps 8 bits, so codes 0x80 and 0x100 would both read as 0, a pass.  The code
is taken instead from QEMU's ``memory_region_ops_write`` trace event, which
names the region, the value and the width of the write; the status is only
the fallback, and then a code whose low 7 bits are zero is not trusted.

A guest that cannot run here says so in its header (``portable.py``).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.peers.disk import disk_image
from pmtimer_harness.peers.process import DROP, KEEP, PeerProcess, PeerRun, run_watched

QEMU_ENV = "HARNESS_QEMU"
MACHINES = ("pc", "q35")
ACCELS = ("tcg", "kvm", "hvf", "whpx")  # QEMU's own CPU, and the host's under Linux, macOS and Windows
HOST_ACCEL = {"linux": "kvm", "darwin": "hvf", "win32": "whpx"}.get(sys.platform)
DEFAULT_ACCELS = ("tcg", HOST_ACCEL) if HOST_ACCEL else ("tcg",)  # what a differential tries unless told
ACCEL_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")  # a line of ``-accel help`` that names one
ACCEL_QUERY_TIMEOUT_S = 10.0
# QEMU's platform (the ``qemu`` profile: timer at 0x608, 24 bits wide, QEMU's
# access rules, the SCI not gated by SCI_EN, TMR_STS set at hand-over; the
# ``qemu-q35``, ``qemu-kvm`` and ``qemu-q35-kvm`` profiles differ only in what
# the guest finds through the FADT, not in the port it is assembled for),
# following real time.  (A guest's own
# start value still applies in the harness; in QEMU the count starts wherever
# it stands at boot.)
QEMU_PLATFORM_OPTIONS = ("--platform", "qemu", "--clock", "host")
QEMU_CONFIG = MachineConfig(platform="qemu", clock="host")
DEFAULT_TIMEOUT_S = 60.0
# memory_region_ops_write cpu 0 mr 0x... addr 0xf4 value 0x100 size 2 name 'isa-debug-exit'
EXIT_WRITE = re.compile(r"memory_region_ops_write .* value (0x[0-9a-fA-F]+) size \d+ name 'isa-debug-exit'")


class QemuUnavailable(Exception):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (
            "QEMU was not found: Linux `sudo apt-get install qemu-system-x86`, macOS `brew install qemu`, "
            f"Windows `choco install qemu`; or set {QEMU_ENV} to qemu-system-x86_64"
        ))


def find_qemu() -> str:
    configured = os.environ.get(QEMU_ENV)
    if configured:
        # The program the user named, or none: another QEMU found on PATH would run unasked.
        if Path(configured).is_file():
            return configured
        raise QemuUnavailable(f"{QEMU_ENV} names {configured}, which is not a file; unset it to search PATH")
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise QemuUnavailable()
    return found


def kvm_unavailable() -> str | None:
    """None if ``-accel kvm`` can run here, else why not."""
    if not sys.platform.startswith("linux"):
        return "KVM is Linux's; this host is " + sys.platform
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist (no KVM module, or no virtualisation extensions)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not readable and writable by this user (join the 'kvm' group)"
    return None


@functools.cache
def offered_accels(qemu: str) -> tuple[str, ...] | None:
    """The accelerators ``qemu`` was built with, as ``-accel help`` lists them; None if it would not say."""
    try:
        answer = subprocess.run([qemu, "-accel", "help"], stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=ACCEL_QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Accelerators supported in QEMU binary:\ntcg\nkvm
    lines = answer.stdout.decode("utf-8", "replace").splitlines()
    names = tuple(line.strip() for line in lines if ACCEL_NAME.match(line.strip()))
    return names if answer.returncode == 0 and names else None


def accel_missing(accel: str, qemu: str) -> str | None:
    """None if ``qemu`` has ``accel`` (or would not say what it has), else the accelerators it does have."""
    offered = offered_accels(qemu)
    if offered is None or accel in offered:
        return None
    return f"this QEMU ({qemu}) offers {', '.join(offered)}"


def qemu_command(qemu: str, disk: Path, machine: str = "pc", accel: str = "tcg") -> list[str]:
    """QEMU booting ``disk``: console on standard output, exit-port writes traced to standard error.

    The debug console and COM1 share standard output (one multiplexed character device), as the harness
    joins them into one console; COM1 is there as on QEMU's machines by default (-nodefaults drops it).
    """
    return [
        qemu, "-machine", machine, "-accel", accel, "-m", "32",
        "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
        "-drive", f"file={disk},format=raw,if=ide,index=0",
        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01",
        "-chardev", "stdio,id=console,mux=on,signal=off",
        "-device", "isa-debugcon,iobase=0xe9,chardev=console", "-serial", "chardev:console",
        "-trace", "memory_region_ops_write",
    ]


def run_in_qemu(
    guest: str | Path, machine: str = "pc", accel: str = "tcg", timeout_s: float = DEFAULT_TIMEOUT_S,
    cancel: threading.Event | None = None,
) -> PeerRun:
    """Assemble ``guest`` for QEMU's platform, boot it from a disk, and report what it said."""
    qemu = find_qemu()
    with tempfile.TemporaryDirectory(prefix="harness-qemu-") as scratch:
        disk = Path(scratch) / "disk.img"
        disk.write_bytes(disk_image(Path(guest), QEMU_CONFIG))
        return boot_in_qemu(disk, machine, accel, timeout_s, qemu, cancel)


def boot_in_qemu(
    disk: Path, machine: str = "pc", accel: str = "tcg", timeout_s: float = DEFAULT_TIMEOUT_S, qemu: str | None = None,
    cancel: threading.Event | None = None,
) -> PeerRun:
    """Boot a disk image (``image`` makes them) and report what the guest on it said."""
    qemu = qemu or find_qemu()
    if (missing := accel_missing(accel, qemu)) is not None:
        raise QemuUnavailable(f"-accel {accel} cannot run here: {missing}")
    command = qemu_command(qemu, disk, machine, accel)
    exit_values: list[int] = []

    def watch(line: str) -> str:
        match = EXIT_WRITE.search(line)
        if match is not None:
            exit_values.append(int(match.group(1), 16))
        return DROP if line.startswith("memory_region_ops_write") else KEEP

    done = run_watched(command, timeout_s, watch, cancel=cancel)
    return qemu_result(done, exit_values, command)


def qemu_result(done: PeerProcess, exit_values: list[int], command: list[str]) -> PeerRun:
    notes = []
    if done.output_dropped:
        notes.append(f"QEMU's console: {done.output_dropped:,} bytes past the first {len(done.output):,} dropped")
    if done.timed_out:
        return PeerRun(None, done.output, done.wall_seconds, timed_out=True, command=command, notes=notes)
    status = done.returncode
    if exit_values:
        exit_code: int | None = exit_values[0]
    elif status is not None and status > 0 and status % 2 == 1:
        # No trace line (a QEMU built without the log trace backend): the status keeps 7 bits of the code.
        exit_code = status >> 1 or None
        notes.append(f"exit code from QEMU's status {status}: only its low 7 bits"
                     + ("; 0 there may be 0x80, so it is not taken as a pass" if exit_code is None else ""))
    else:
        exit_code = None
        notes.append(f"QEMU ended with status {status} without a write to the exit port")
    if exit_code is None:
        notes += [f"QEMU: {line}" for line in done.diagnostics if line.strip()]
    return PeerRun(exit_code, done.output, done.wall_seconds, command=command, notes=notes)
