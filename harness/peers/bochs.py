"""Running a harness guest, unmodified, in Bochs: a second, independent peer.

Bochs (bochs/bochs: bochs/iodev/acpi.cc, bios/rombios32.c) has its own PIIX4
ACPI model and BIOS: the timer at 0xB008, 24 bits, dword reads only, a
revision-1 FADT, counting simulated microseconds.  The guest is assembled for
the harness's ``bochs`` profile and booted from the same disk as QEMU's
(``disk.py``), with the geometry Bochs is told (``cylinders=C, heads=16,
spt=63``).

Finding Bochs: the program named by ``HARNESS_BOCHS``, else ``bochs`` on
``PATH``, else where its installers put it (Homebrew under /opt/homebrew or
/usr/local, Bochs's Windows installer in ``Program Files\\Bochs-VERSION``,
the newest first).  Its BIOS images are where Bochs's own ``BXSHARE`` says
(config.cc, ``get_bxshare_path``), else beside the program (Windows), in its
prefix's ``share/bochs`` (Debian's /usr/share/bochs, Homebrew's), or in those
of the usual installs.

Bochs has no isa-debug-exit, and Debian's build (2.7) no headless display; a
build with its debugger stops there before the first instruction.  So, as
REFERENCE.md ("Driving Bochs") found:

- ``display_library: term`` (in a session of its own with no terminal) where
  Bochs has the term display's plugin, else ``nogui``;
- ``-rc`` a file holding ``c``, where Bochs has its debugger (its ``--help``
  lists ``-rc``): the debugger continues at once;
- ``debug: action=ignore, unmapped=report`` and the log in a file of the
  harness's temporary folder (standard error is no portable target: Bochs's
  Windows builds give themselves a console of their own): every access to a
  port no device claims is logged, ``unmapped: 8-bit write to 00e9 = 50``.
  Ports 0xE9 and 0xF4 are left unclaimed (the port 0xE9 hack is off), so the
  console is read from those lines, byte by byte, as Bochs writes them, and
  the first write to 0xF4 is the exit code, whatever its width;
- Bochs never exits by itself: once the exit code is seen, it is killed
  (its process group: SIGTERM leaves ``bochs-bin`` running), and the lock
  file it leaves beside the disk goes with the temporary folder.  A guest
  that fills the log past ``LOG_LIMIT`` is stopped there.

``clock: sync=none`` makes Bochs's time follow its instruction count, so a
Bochs run is repeatable; a guest built for a real clock does not rely on it.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.peers.disk import cylinders, disk_image
from pmtimer_harness.peers.process import (
    CANCEL_POLL_S,
    CHUNK,
    DIAGNOSTIC_LINES,
    DROP,
    KEEP,
    OUTPUT_LIMIT,
    STOP,
    PeerRun,
    run_watched,
)

BOCHS_ENV = "HARNESS_BOCHS"
BXSHARE_ENV = "BXSHARE"
ROMS = ("BIOS-bochs-latest", "VGABIOS-lgpl-latest")
HOMEBREW_PREFIXES = (Path("/opt/homebrew"), Path("/usr/local"))  # Apple silicon, Intel
UNIX_PREFIXES = (Path("/usr"), Path("/usr/local"))
BOCHS_PLATFORM_OPTIONS = ("--platform", "bochs", "--clock", "host")
BOCHS_CONFIG = MachineConfig(platform="bochs", clock="host")
DEFAULT_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 10.0
LOG_LIMIT = 128 << 20  # bytes of Bochs's log: past the 1 MiB of console kept, at about 60 bytes a console byte
LONGEST_LINE = 1 << 16  # a longer piece of the log without a line break is not a line Bochs writes
# 00016398398d[UNMAP ] unmapped: 8-bit write to 00f4 = 00
UNMAPPED_WRITE = re.compile(r"unmapped: (\d+)-bit write to ([0-9a-fA-F]{4}) = ([0-9a-fA-F]+)")
CONSOLE_PORT = 0xE9
EXIT_PORT = 0xF4


class BochsUnavailable(Exception):
    def __init__(self, missing: str) -> None:
        super().__init__(
            f"Bochs was not found ({missing}): Debian/Ubuntu `sudo apt-get install bochs bochsbios vgabios "
            f"bochs-term`, macOS `brew install bochs`, Windows Bochs's installer; or set {BOCHS_ENV} to the bochs "
            f"program and {BXSHARE_ENV} to the folder of its BIOS images"
        )


@dataclass(frozen=True)
class BochsInstall:
    """A Bochs program and what the harness tells it: where its BIOS images are, which display it has."""

    program: str
    share: Path  # holds ROMS
    display: str  # display_library: term or nogui
    debugger: bool  # stops in its debugger at start unless told to continue (-rc)


def find_bochs() -> BochsInstall:
    """The Bochs to run, or BochsUnavailable saying what is missing and how to get it."""
    program = _program()
    return BochsInstall(program, _share(program), _display(program), _has_debugger(program))


def _installs() -> list[tuple[Path, Path]]:
    """Where installers put Bochs, as (program, folder of its BIOS images), the most likely first."""
    if sys.platform == "win32":
        program_files = Path(os.environ.get("PROGRAMFILES", r"C:\Program Files"))
        folders = sorted(program_files.glob("Bochs-*"), key=_version, reverse=True)
        return [(folder / "bochs.exe", folder) for folder in folders]
    prefixes = HOMEBREW_PREFIXES if sys.platform == "darwin" else UNIX_PREFIXES
    return [(prefix / "bin" / "bochs", prefix / "share" / "bochs") for prefix in prefixes]


def _version(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder.name))


def _program() -> str:
    configured = os.environ.get(BOCHS_ENV)
    if configured:
        # The program the user named, or none: another Bochs found on PATH would run unasked.
        if not Path(configured).is_file():
            raise BochsUnavailable(f"{BOCHS_ENV} names {configured}, which is not a file; unset it to search PATH")
        return configured
    found = shutil.which("bochs")
    if found is not None:
        return found
    for program, _ in _installs():
        if program.is_file():
            return str(program)
    raise BochsUnavailable("no bochs program on PATH or where its installers put it")


def _holds_roms(folder: Path) -> bool:
    return all((folder / rom).is_file() for rom in ROMS)


def _prefixes(program: str) -> list[Path]:
    """The install prefixes of ``program``: as named, and with its links followed (Homebrew's keg)."""
    named = Path(program).absolute().parent.parent
    return list(dict.fromkeys([named, Path(program).resolve().parent.parent]))


def _share(program: str) -> Path:
    configured = os.environ.get(BXSHARE_ENV)
    if configured:
        # Bochs's own variable: the user's word for where the images are, as for Bochs itself.
        if not _holds_roms(Path(configured)):
            raise BochsUnavailable(f"{BXSHARE_ENV} names {configured}, which does not hold {' and '.join(ROMS)}")
        return Path(configured)
    candidates = [Path(program).absolute().parent, *(prefix / "share" / "bochs" for prefix in _prefixes(program)),
                  *(share for _, share in _installs())]
    for folder in candidates:
        if _holds_roms(folder):
            return folder
    raise BochsUnavailable(f"no {' and '.join(ROMS)} in any of {', '.join(map(str, dict.fromkeys(candidates)))}")


def _display(program: str) -> str:
    """term where Bochs has that display's plugin (Debian builds no nogui), else nogui."""
    folders = [Path(entry) for entry in os.environ.get("LTDL_LIBRARY_PATH", "").split(os.pathsep) if entry]
    folders.append(Path(program).absolute().parent)  # Windows: the plugin DLLs beside bochs.exe
    for prefix in _prefixes(program):
        folders += [prefix / "lib" / "bochs" / "plugins", *prefix.glob("lib/*/bochs/plugins")]
    for folder in folders:
        if any(folder.glob("*bx_term_gui.*")):  # libbx_term_gui.so, bx_term_gui.dll
            return "term"
    return "nogui"


@functools.cache
def _has_debugger(program: str) -> bool:
    """Whether Bochs was built with its debugger: its usage lists ``-rc`` then (main.cc, ``print_usage``)."""
    try:
        usage = subprocess.run([program, "--help"], stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return True  # as Debian builds it: the run itself will say what is wrong
    return b"-rc " in usage.stdout + usage.stderr


def bochsrc(install: BochsInstall, disk: Path, cylinder_count: int, log: Path) -> str:
    return "\n".join([
        "megs: 32",
        f"romimage: file={install.share / 'BIOS-bochs-latest'}",
        f"vgaromimage: file={install.share / 'VGABIOS-lgpl-latest'}",
        f"ata0-master: type=disk, path={disk.resolve()}, mode=flat, cylinders={cylinder_count}, heads=16, spt=63",
        "boot: disk",
        f"display_library: {install.display}",
        "port_e9_hack: enabled=0",
        "debug: action=ignore, unmapped=report",
        "info: action=ignore",
        f"log: {log.resolve()}",
        "speaker: enabled=0",
        "clock: sync=none",
        "",
    ])


def bochs_command(install: BochsInstall) -> list[str]:
    # -noconsole: a Windows build keeps to the harness's pipes instead of opening a console window of its own.
    return [install.program, *(["-noconsole"] if sys.platform == "win32" else []), "-q", "-f", "bochsrc",
            *(["-rc", "debugger.rc"] if install.debugger else [])]


def follow_log(
    log: Path, watch: Callable[[str], str], stop: threading.Event, ended: threading.Event,
    cancel: threading.Event | None,
) -> str | None:
    """Hand each line Bochs adds to ``log`` to ``watch`` until it says STOP, Bochs ends, or the caller cancels.

    ``stop`` is set to end Bochs.  Returns why Bochs was stopped, when it was
    for the log's size.
    """
    while not log.exists():  # Bochs opens it once it has read its configuration
        if ended.wait(CANCEL_POLL_S) or (cancel is not None and cancel.is_set()):
            stop.set()
            return None
    with log.open("rb") as lines:
        pending = b""
        while True:
            last = ended.is_set()  # read once more after Bochs has ended: what it wrote last
            chunk = lines.read(CHUNK)
            if chunk:
                *complete, pending = (pending + chunk).split(b"\n")
                pending = pending[-LONGEST_LINE:]
                for raw in complete:
                    if watch(raw.decode("utf-8", "replace").rstrip("\r")) == STOP:
                        stop.set()
                        return None
                if lines.tell() > LOG_LIMIT:
                    stop.set()
                    return f"the guest filled Bochs's log past {LOG_LIMIT:,} bytes; Bochs was stopped there"
                continue
            if last:
                return None
            if cancel is not None and cancel.is_set():
                stop.set()
                return None
            ended.wait(CANCEL_POLL_S)


def run_in_bochs(
    guest: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S, cancel: threading.Event | None = None,
) -> PeerRun:
    """Assemble ``guest`` for the bochs profile, boot it in Bochs, and report what it said."""
    install = find_bochs()
    with tempfile.TemporaryDirectory(prefix="harness-bochs-") as scratch:
        folder = Path(scratch)
        image = disk_image(Path(guest), BOCHS_CONFIG)
        disk = folder / "disk.img"
        disk.write_bytes(image)
        log = folder / "bochs.log"
        (folder / "bochsrc").write_text(bochsrc(install, disk, cylinders(len(image)), log))
        (folder / "debugger.rc").write_text("c\n")
        command = bochs_command(install)
        console = bytearray()
        dropped = [0]
        exit_codes: list[int] = []
        logged: collections.deque[str] = collections.deque(maxlen=DIAGNOSTIC_LINES)

        def watch(line: str) -> str:
            match = UNMAPPED_WRITE.search(line)
            if match is None:
                if "PANIC" in line or "ERROR" in line:
                    logged.append(line)
                return DROP
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

        stop, ended = threading.Event(), threading.Event()
        stopped_for: list[str | None] = [None]

        def follow() -> None:
            stopped_for[0] = follow_log(log, watch, stop, ended, cancel)

        follower = threading.Thread(target=follow, name="bochs-log", daemon=True)
        follower.start()
        try:
            done = run_watched(command, timeout_s, lambda line: KEEP, cwd=scratch, cancel=stop)
        finally:
            ended.set()
            follower.join()
    notes = [f"Bochs's console: {dropped[0]:,} bytes past the first {OUTPUT_LIMIT:,} dropped"] if dropped[0] else []
    exit_code = exit_codes[0] if exit_codes else None
    # Stopping Bochs for its exit write or its log's size reads as a timeout to run_watched; only the clock is one.
    timed_out = done.timed_out and exit_code is None and stopped_for[0] is None
    if stopped_for[0] is not None:
        notes.append(stopped_for[0])
    if exit_code is None and not timed_out:
        if stopped_for[0] is None:
            notes.append(f"Bochs ended with status {done.returncode} without a write to the exit port")
        notes += [f"Bochs: {line}" for line in [*done.diagnostics, *logged] if line.strip()]
    return PeerRun(exit_code, console.decode("utf-8", "replace"), done.wall_seconds, timed_out=timed_out,
                   command=command, notes=notes)
