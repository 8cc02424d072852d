"""NASM, the guest assembler: find it, run it, cache its output, read its listing.

Guests are flat binaries (``nasm -f bin``).  NASM is used rather than Keystone
because Keystone mis-assembles 16-bit code (REFERENCE.md, "Assemblers").

The platform is passed to NASM as defines (``TIMER_PORT``, ``TIMER_WIDTH``,
``INSN_NS``...; see ``MachineConfig.nasm_defines``), so a guest is assembled
for the machine it will run on, as firmware is built for its board.

Output is cached by content: the key covers NASM's version, the source, the
defines, and every ``.inc``/``.mac`` file in the include directories (the
guest's own folder and ``asm/include``), so an edited include rebuilds.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pmtimer_harness.asm import BUNDLED_INCLUDE_DIR

INCLUDE_SUFFIXES = (".inc", ".mac")
NASM_ENV = "HARNESS_NASM"
CACHE_ENV = "HARNESS_CACHE_DIR"
NASM_TIMEOUT_S = 60
OUTPUTS = ("guest.bin", "guest.lst", "guest.map")


class AssemblyError(Exception):
    """NASM rejected the guest; the message is NASM's own, with file and line."""


class NasmNotFound(Exception):
    def __init__(self) -> None:
        super().__init__(
            "NASM was not found. Install it: Linux `sudo apt-get install nasm`, macOS `brew install nasm`, "
            f"Windows `choco install nasm`; or set {NASM_ENV} to the nasm executable."
        )


@dataclass(frozen=True)
class Assembly:
    image: bytes
    listing: dict[int, str]  # offset in the image -> "file:line: source"
    symbols: dict[str, int]  # label -> address (as NASM computed it: org + offset)


def find_nasm() -> str:
    configured = os.environ.get(NASM_ENV)
    if configured:
        if Path(configured).is_file():
            return configured
        raise NasmNotFound()
    found = shutil.which("nasm")
    if found is None:
        raise NasmNotFound()
    return found


@lru_cache(maxsize=1)
def nasm_version(nasm: str) -> str:
    run = subprocess.run([nasm, "-v"], capture_output=True, text=True, timeout=NASM_TIMEOUT_S)
    return run.stdout.strip()


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "pmtimer-harness" / "nasm"


def include_dirs(source: Path) -> list[Path]:
    return [source.resolve().parent, BUNDLED_INCLUDE_DIR]


def _cache_key(nasm: str, source: Path, defines: dict[str, int]) -> str:
    digest = hashlib.sha256()
    digest.update(nasm_version(nasm).encode())
    digest.update(source.read_bytes())
    for name, value in sorted(defines.items()):
        digest.update(f"-D{name}={value}\n".encode())
    for directory in include_dirs(source):
        digest.update(str(directory).encode())
        for include in sorted(directory.glob("*")):
            if include.suffix in INCLUDE_SUFFIXES and include.is_file():
                digest.update(include.name.encode() + include.read_bytes())
    return digest.hexdigest()[:32]


def assemble(source: Path, defines: dict[str, int], use_cache: bool = True) -> Assembly:
    nasm = find_nasm()
    key = _cache_key(nasm, source, defines)
    entry = cache_root() / key
    if use_cache and all((entry / name).is_file() for name in OUTPUTS):
        return _load(entry, source)
    with tempfile.TemporaryDirectory(prefix="harness-nasm-") as scratch:
        work = Path(scratch)
        _run_nasm(nasm, source, defines, work)
        if use_cache:
            _store(work, entry)
        return _load(work, source)


def _run_nasm(nasm: str, source: Path, defines: dict[str, int], work: Path) -> None:
    # The symbol map can only be asked for from inside the source: a pre-included file does it.
    # Forward slashes: NASM on Windows takes them, and a backslash is not special to it.
    (work / "map.inc").write_text(f"[map symbols {(work / 'guest.map').as_posix()}]\n")
    command = [nasm, "-f", "bin", "-o", str(work / "guest.bin"), "-l", str(work / "guest.lst")]
    command += ["-p", str(work / "map.inc")]
    for directory in include_dirs(source):
        command += ["-I", f"{directory}{os.sep}"]
    command += [f"-D{name}={value}" for name, value in sorted(defines.items())]
    command.append(str(source))
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=NASM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssemblyError(f"{source}: NASM did not finish within {NASM_TIMEOUT_S} s") from None
    if run.returncode != 0:
        raise AssemblyError(run.stderr.strip() or f"{source}: NASM failed with status {run.returncode}")


def _store(work: Path, entry: Path) -> None:
    # Copy into a private folder, then rename: a reader never sees half an entry.
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
    for name in OUTPUTS:
        shutil.copyfile(work / name, staging / name)
    try:
        staging.replace(entry)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process stored it first


def _load(folder: Path, source: Path) -> Assembly:
    listing = parse_listing((folder / "guest.lst").read_text(errors="replace"), source.name)
    symbols = parse_symbol_map((folder / "guest.map").read_text(errors="replace"))
    return Assembly((folder / "guest.bin").read_bytes(), listing, symbols)


MAP_SYMBOL = re.compile(r"^\s*([0-9A-F]+)\s+([0-9A-F]+)\s+(\S+)\s*$")


def parse_symbol_map(text: str) -> dict[str, int]:
    """Labels from NASM's map file ("Real  Virtual  Name"), without macro-local ``..@`` ones."""
    symbols = {}
    for line in text.splitlines():
        match = MAP_SYMBOL.match(line)
        if match and not match.group(3).startswith("..@"):
            symbols[match.group(3)] = int(match.group(2), 16)
    return symbols


LISTING_LINE = re.compile(r"^\s*(\d+) ([0-9A-F]{8}) ")
INCLUDE_DIRECTIVE = re.compile(r'^\s*%include\s+["<]([^">]+)[">]', re.IGNORECASE)


def parse_listing(text: str, source_name: str) -> dict[int, str]:
    """Map each image offset that starts an instruction or datum to its source line.

    NASM listings are fixed-column: line number, offset, bytes, then at column
    36 a ``<n>`` marker for lines one level down (from an include, or from a
    macro expansion), and the source text from column 40.  A ``<1>`` line after
    a ``%include`` line is that file's own line; after any other guest line it
    is part of the macro that line calls, and is attributed to the call.
    Deeper levels are attributed to the line above them.
    """
    offsets: dict[int, str] = {}
    guest_line = 0
    include_name: str | None = None
    outer = f"{source_name}:0"
    for line in text.splitlines():
        number = line[:6].strip()
        level = line[36:40].strip()
        source = line[40:].strip()
        if number.isdigit() and not level:
            guest_line = int(number)
            included = INCLUDE_DIRECTIVE.match(source)
            include_name = included.group(1) if included else None
        if number.isdigit() and level == "<1>" and include_name is not None:
            outer = f"{include_name}:{number}"
        elif number.isdigit() and not level:
            outer = f"{source_name}:{guest_line}"
        match = LISTING_LINE.match(line)
        if match is None or not source:
            continue
        own_line = not level or (level == "<1>" and include_name is not None)
        where = outer if own_line else f"{outer} (expanded)"
        offsets.setdefault(int(match.group(2), 16), f"{where}: {source}")
    return offsets
