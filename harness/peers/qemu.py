"""Running a harness guest, unmodified, in QEMU: the differential check.

A guest is only worth trusting if it means the same thing on a real virtual
machine.  QEMU's PM timer is the one most guests have met: 24 bits, at 0x608
(SeaBIOS puts the PM base at 0x600), narrow reads allowed (REFERENCE.md).

The guest is assembled for that platform (TIMER_PORT 0x608, TIMER_WIDTH 24,
IO_SEMANTICS_QEMU 1, CLOCK_VIRTUAL 0) and written after a small boot sector
(``qemu_loader.asm``) onto a raw disk; QEMU boots it through SeaBIOS with
``isa-debug-exit`` on 0xF4 and ``debugcon`` on 0xE9, so the guest's protocol
is unchanged.  QEMU exits with ``(code << 1) | 1`` for the guest's exit code.

A guest that depends on what only the harness offers (a start value near the
wrap, bhyve's access rules, the snapshot port) says so in its header:
``; portable: no, <reason>``; it is reported as skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.tools.assembler import assemble, find_nasm
from pmtimer_harness.tools.guest import is_source

QEMU_ENV = "HARNESS_QEMU"
LOADER = Path(__file__).resolve().parent / "qemu_loader.asm"
SECTOR = 512
MAX_GUEST_SECTORS = 127  # one INT 13h extended read
PORTABLE_TAG = "; portable:"
# QEMU's platform as harness options: its timer at 0x608, 24 bits wide, QEMU's
# access rules, following real time.  (A guest's own start value still applies
# in the harness; in QEMU the count starts wherever it stands at boot.)
QEMU_PLATFORM_OPTIONS = ("--timer-port", "0x608", "--timer-width", "24", "--io-semantics", "qemu", "--clock", "host")
QEMU_CONFIG = MachineConfig(timer_port=0x608, timer_width=24, io_semantics="qemu", clock="host")
DEFAULT_TIMEOUT_S = 60.0


class QemuUnavailable(Exception):
    def __init__(self) -> None:
        super().__init__(
            "QEMU was not found: Linux `sudo apt-get install qemu-system-x86`, macOS `brew install qemu`, "
            f"Windows `choco install qemu`; or set {QEMU_ENV} to qemu-system-x86_64"
        )


@dataclass
class QemuRun:
    exit_code: int | None  # None when QEMU did not exit through isa-debug-exit
    console: str
    wall_seconds: float
    timed_out: bool = False
    command: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.timed_out:
            return "timeout"
        if self.exit_code is None:
            return "error"
        return "pass" if self.exit_code == 0 else "fail"


def find_qemu() -> str:
    configured = os.environ.get(QEMU_ENV)
    if configured and Path(configured).is_file():
        return configured
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise QemuUnavailable()
    return found


def portability(path: Path) -> str | None:
    """None if the guest runs in QEMU unchanged, else the reason it does not."""
    if not is_source(path):
        return "a raw binary cannot be reassembled for QEMU's platform"
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.lower().startswith(PORTABLE_TAG):
            verdict = stripped[len(PORTABLE_TAG) :].strip()
            if verdict.lower().startswith("no"):
                return verdict[2:].lstrip(" ,:") or "marked not portable"
    return None


def boot_disk(guest: Path, folder: Path) -> Path:
    """A raw disk: the loader's sector, then the guest, padded to whole sectors."""
    image = assemble(guest, QEMU_CONFIG.nasm_defines()).image
    sectors = -(-len(image) // SECTOR)
    if sectors > MAX_GUEST_SECTORS:
        limit = MAX_GUEST_SECTORS * SECTOR
        raise ValueError(f"{guest.name} is {len(image)} bytes; the QEMU loader reads at most {limit}")
    loader_image = folder / "loader.bin"
    subprocess.run(
        [find_nasm(), "-f", "bin", f"-DGUEST_SECTORS={sectors}", "-o", str(loader_image), str(LOADER)],
        check=True, capture_output=True,
    )
    disk = folder / "disk.img"
    disk.write_bytes(loader_image.read_bytes() + image.ljust(sectors * SECTOR, b"\0"))
    return disk


def run_in_qemu(guest: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> QemuRun:
    qemu = find_qemu()
    with tempfile.TemporaryDirectory(prefix="harness-qemu-") as scratch:
        folder = Path(scratch)
        disk = boot_disk(Path(guest), folder)
        console = folder / "console.txt"
        command = [
            qemu, "-machine", "pc", "-accel", "tcg", "-m", "32",
            "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none", "-serial", "none",
            "-drive", f"file={disk},format=raw,if=ide,index=0",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01",
            "-debugcon", f"file:{console}",
        ]
        began = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            text = console.read_text(errors="replace") if console.exists() else ""
            return QemuRun(None, text, time.perf_counter() - began, timed_out=True, command=command)
        wall = time.perf_counter() - began
        text = console.read_text(errors="replace") if console.exists() else ""
        # isa-debug-exit makes QEMU exit with (code << 1) | 1; any even status is QEMU's own.
        exit_code = done.returncode >> 1 if done.returncode % 2 == 1 else None
        return QemuRun(exit_code, text, wall, command=command)
