"""Running a harness guest, unmodified, in Bochs: a second, independent peer.

Bochs (bochs/bochs: bochs/iodev/acpi.cc, bios/rombios32.c) has its own PIIX4
ACPI model and BIOS: the timer at 0xB008, 24 bits, dword reads only, a
revision-1 FADT, counting simulated microseconds.  The guest is assembled for
the harness's ``bochs`` profile and booted from the same disk as QEMU's
(``disk.py``), with the geometry Bochs is told (``cylinders=C, heads=16,
spt=63``).

Bochs as Debian builds it (2.7) has no isa-debug-exit and no headless
display, and stops in its debugger before the first instruction; so, as
REFERENCE.md ("Driving Bochs") found:

- ``display_library: term`` in a session of its own with no terminal;
- ``-rc`` a file holding ``c``: the debugger continues at once;
- ``debug: action=ignore, unmapped=report`` and ``log: /dev/stderr``: every
  access to a port no device claims is logged, ``unmapped: 8-bit write to
  00e9 = 50``.  Ports 0xE9 and 0xF4 are left unclaimed (the port 0xE9 hack
  is off), so the console is read from those lines, byte by byte, and the
  first write to 0xF4 is the exit code, whatever its width;
- Bochs never exits by itself: once the exit code is seen, it is killed
  (its process group: SIGTERM leaves ``bochs-bin`` running), and the lock
  file it leaves beside the disk goes with the temporary folder.

``clock: sync=none`` makes Bochs's time follow its instruction count, so a
Bochs run is repeatable; a guest built for a real clock does not rely on it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.peers.disk import cylinders, disk_image
from pmtimer_harness.peers.process import DROP, KEEP, OUTPUT_LIMIT, STOP, PeerRun, run_watched

BOCHS_ENV = "HARNESS_BOCHS"
BOCHS_SHARE = Path("/usr/share/bochs")
BOCHS_PLATFORM_OPTIONS = ("--platform", "bochs", "--clock", "host")
BOCHS_CONFIG = MachineConfig(platform="bochs", clock="host")
DEFAULT_TIMEOUT_S = 60.0
# 00016398398d[UNMAP ] unmapped: 8-bit write to 00f4 = 00
UNMAPPED_WRITE = re.compile(r"unmapped: (\d+)-bit write to ([0-9a-fA-F]{4}) = ([0-9a-fA-F]+)")
CONSOLE_PORT = 0xE9
EXIT_PORT = 0xF4


class BochsUnavailable(Exception):
    def __init__(self, missing: str) -> None:
        super().__init__(
            f"Bochs was not found ({missing}): Debian/Ubuntu `sudo apt-get install bochs bochsbios vgabios "
            f"bochs-term`; or set {BOCHS_ENV} to the bochs program"
        )


def find_bochs() -> str:
    configured = os.environ.get(BOCHS_ENV)
    if configured and not Path(configured).is_file():
        # The program the user named, or none: another Bochs found on PATH would run unasked.
        raise BochsUnavailable(f"{BOCHS_ENV} names {configured}, which is not a file; unset it to search PATH")
    found = configured or shutil.which("bochs")
    if found is None:
        raise BochsUnavailable("no bochs program")
    for rom in ("BIOS-bochs-latest", "VGABIOS-lgpl-latest"):
        if not (BOCHS_SHARE / rom).is_file():
            raise BochsUnavailable(f"no {BOCHS_SHARE / rom}")
    return found


def bochsrc(disk: Path, cylinder_count: int) -> str:
    return "\n".join([
        "megs: 32",
        f"romimage: file={BOCHS_SHARE / 'BIOS-bochs-latest'}",
        f"vgaromimage: file={BOCHS_SHARE / 'VGABIOS-lgpl-latest'}",
        f"ata0-master: type=disk, path={disk.resolve()}, mode=flat, cylinders={cylinder_count}, heads=16, spt=63",
        "boot: disk",
        "display_library: term",
        "port_e9_hack: enabled=0",
        "debug: action=ignore, unmapped=report",
        "info: action=ignore",
        "log: /dev/stderr",
        "speaker: enabled=0",
        "clock: sync=none",
        "",
    ])


def run_in_bochs(
    guest: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S, cancel: threading.Event | None = None,
) -> PeerRun:
    """Assemble ``guest`` for the bochs profile, boot it in Bochs, and report what it said."""
    bochs = find_bochs()
    with tempfile.TemporaryDirectory(prefix="harness-bochs-") as scratch:
        folder = Path(scratch)
        image = disk_image(Path(guest), BOCHS_CONFIG)
        disk = folder / "disk.img"
        disk.write_bytes(image)
        (folder / "bochsrc").write_text(bochsrc(disk, cylinders(len(image))))
        (folder / "debugger.rc").write_text("c\n")
        command = [bochs, "-q", "-f", "bochsrc", "-rc", "debugger.rc"]
        console = bytearray()
        dropped = [0]
        exit_codes: list[int] = []

        def watch(line: str) -> str:
            match = UNMAPPED_WRITE.search(line)
            if match is None:
                return KEEP if ("PANIC" in line or "ERROR" in line) else DROP
            port, value = int(match.group(2), 16), int(match.group(3), 16)
            if port == EXIT_PORT:
                exit_codes.append(value)
                return STOP
            if port == CONSOLE_PORT:
                if len(console) < OUTPUT_LIMIT:
                    console.append(value & 0xFF)
                else:
                    dropped[0] += 1
            return DROP

        done = run_watched(command, timeout_s, watch, cwd=scratch, cancel=cancel)
    notes = [f"Bochs's console: {dropped[0]:,} bytes past the first {OUTPUT_LIMIT:,} dropped"] if dropped[0] else []
    exit_code = exit_codes[0] if exit_codes else None
    if exit_code is None and not done.timed_out:
        notes.append(f"Bochs ended with status {done.returncode} without a write to the exit port")
        notes += [f"Bochs: {line}" for line in done.diagnostics if line.strip()]
    return PeerRun(exit_code, console.decode("utf-8", "replace"), done.wall_seconds, timed_out=done.timed_out,
                    command=command, notes=notes)
