"""NASM, the guest assembler: find it, run it, cache its output, read its listing.

Guests are flat binaries (``nasm -f bin``).  NASM is used rather than Keystone
because Keystone mis-assembles 16-bit code (REFERENCE.md, "Assemblers").

The platform is passed to NASM as defines (``TIMER_PORT``, ``TIMER_WIDTH``,
``INSN_NS``...; see ``MachineConfig.nasm_defines``), so a guest is assembled
for the machine it will run on, as firmware is built for its board.

NASM runs in the guest's folder, so a relative ``%include "../common/cfg.inc"``
means the same file from wherever the harness is started.  Its output is
cached (``cache.py``): an entry is found by NASM's version, the source, its
folder and the defines, and is used only while every file NASM read for it
(the dependency list of ``nasm -M``: includes and ``incbin`` files, wherever
they live) still has the content it had.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pmtimer_harness.asm import BUNDLED_INCLUDE_DIR
from pmtimer_harness.core.config import MAX_MEMORY
from pmtimer_harness.record import Record
from pmtimer_harness.tools import cache, files
from pmtimer_harness.tools.files import shown_name

if TYPE_CHECKING:
    import subprocess

NASM_ENV = "HARNESS_NASM"
NASM_TIMEOUT_S = 60
MAX_SOURCE_BYTES = 16 << 20  # a NASM source past this is not a test guest; refused before it is read
MAX_LISTING_BYTES = 64 << 20  # NASM has written it by then: a bound on what is read back
MAX_MAP_BYTES = MAX_LISTING_BYTES
NASM_BASE_MEMORY = 256 << 20  # NASM's own needs beside the image it builds
STOPPED_AT_FILE_CAP = -signal.SIGXFSZ if hasattr(signal, "SIGXFSZ") else None  # NASM's status past output_cap


class AssemblyError(Exception):
    """NASM rejected the guest; the message is NASM's own, with file and line."""


class ImageTooLarge(AssemblyError):
    """NASM's image is over the cap its caller gave; refused from its size on disk, never read."""

    def __init__(self, source: Path, size: int, limit: int, stopped: bool = False) -> None:
        made = f"an image of at least {size:,} bytes (NASM was stopped there)" if stopped else f"a {size:,}-byte image"
        room = (f"more than guest RAM can ever hold ({MAX_MEMORY >> 20} MiB)" if limit >= MAX_MEMORY
                else f"more than the {limit:,} bytes it may have")
        super().__init__(f"{shown_name(source)}: NASM made {made}, {room}")
        self.size = size  # when NASM was stopped: what it had written by then
        self.limit = limit
        self.stopped = stopped


class NasmNotFound(Exception):
    def __init__(self) -> None:
        super().__init__(
            "NASM was not found. Install it: Linux `sudo apt-get install nasm`, macOS `brew install nasm`, "
            f"Windows `choco install nasm`; or set {NASM_ENV} to the nasm executable."
        )


class Assembly(Record):
    """NASM's output for a guest: the image, its listing and symbols, every file NASM read."""

    __slots__ = ("image", "listing", "symbols", "dependencies")

    def __init__(
        self,
        image: bytes,
        listing: dict[int, str],  # offset in the image -> "file:line: source"
        symbols: dict[str, int],  # label -> address (as NASM computed it: org + offset)
        dependencies: tuple[Path, ...] = (),  # every file NASM read: the source, its includes, incbin files
    ) -> None:
        self.image = image
        self.listing = listing
        self.symbols = symbols
        self.dependencies = dependencies


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


@lru_cache(maxsize=4)
def nasm_version(nasm: str) -> str:
    """``nasm -v``, remembered in the cache folder for this executable (path, size, time): a process saved per run."""
    try:
        identity = os.stat(nasm)
    except OSError:
        raise NasmNotFound() from None
    executable = f"{os.path.realpath(nasm)}|{identity.st_size}|{identity.st_mtime_ns}"
    known = cache.remembered_version(executable)
    if known is not None:
        return known
    import subprocess  # only here and where NASM runs: a run from the cache starts without it

    try:
        run = subprocess.run([nasm, "-v"], capture_output=True, timeout=NASM_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        raise NasmNotFound() from None
    version = run.stdout.decode("utf-8", "backslashreplace").strip()
    cache.remember_version(executable, version)
    return version


def include_dirs(source: Path) -> list[Path]:
    return [source.parent, BUNDLED_INCLUDE_DIR]


def assemble(
    source: Path, defines: dict[str, int], use_cache: bool | None = None, timeout_s: float = NASM_TIMEOUT_S,
    max_image_bytes: int | None = None,
) -> Assembly:
    """Assemble ``source`` with ``-D`` defines; ``use_cache`` None follows ``HARNESS_NO_CACHE``.

    Each NASM process gets at most ``timeout_s`` (a run passes its ``--timeout`` when that is shorter).
    An image over ``max_image_bytes`` (the room the caller has for it; None: the most guest RAM can
    be) raises ``ImageTooLarge`` before it is read or cached.
    """
    if max_image_bytes is None:
        max_image_bytes = MAX_MEMORY
    nasm = find_nasm()
    source = Path(source).resolve()
    if use_cache is None:
        use_cache = cache.enabled()
    text = files.read_bytes(source, MAX_SOURCE_BYTES)
    key = cache.key(nasm_version(nasm), source, text, [str(d) for d in include_dirs(source)], defines)
    if use_cache:
        entry = cache.lookup(key)
        if entry is not None:
            if len(entry.image) > max_image_bytes:
                raise ImageTooLarge(source, len(entry.image), max_image_bytes)
            return _assembly(entry.image, entry.listing, entry.symbol_map, source, entry.dependencies)
    with tempfile.TemporaryDirectory(prefix="harness-nasm-") as scratch:
        work = Path(scratch)
        _run_nasm(nasm, source, defines, work, timeout_s, max_image_bytes)
        _check_output_sizes(source, work, max_image_bytes)
        image = files.read_bytes(work / "guest.bin", max_image_bytes)
        listing = files.read_text(work / "guest.lst", MAX_LISTING_BYTES, errors="replace")
        symbol_map = files.read_text(work / "guest.map", MAX_MAP_BYTES, errors="replace")
        dependencies = _dependencies(nasm, source, defines, work, timeout_s)
    if use_cache:
        cache.store(key, cache.Entry(image, listing, symbol_map, dependencies))
    return _assembly(image, listing, symbol_map, source, dependencies)


def output_cap(max_image_bytes: int) -> int:
    """The most NASM may write to any one file: past it the system stops NASM (SIGXFSZ), so the disk cannot fill."""
    return max(max_image_bytes, MAX_LISTING_BYTES, MAX_MAP_BYTES) + 1


def memory_cap(file_cap: int) -> int:
    """NASM's address space: it holds the whole image in memory (``resb 1 << 34`` took 5.6 GB, growing)."""
    return 2 * file_cap + NASM_BASE_MEMORY


def _check_output_sizes(source: Path, work: Path, max_image_bytes: int, stopped: bool = False) -> None:
    # A short source can ask for a huge image (`times 1 << 30 db 0`): measured before anything is read.
    image_size = files.regular_size(work / "guest.bin")
    if image_size > max_image_bytes:
        raise ImageTooLarge(source, image_size, max_image_bytes, stopped)
    listing_size = files.regular_size(work / "guest.lst")
    if listing_size > MAX_LISTING_BYTES:
        raise AssemblyError(
            f"{shown_name(source)}: NASM's listing is {listing_size:,} bytes, "
            f"over the cap of {MAX_LISTING_BYTES >> 20} MiB"
        )


def _assembly(image: bytes, listing: str, symbol_map: str, source: Path, dependencies) -> Assembly:
    return Assembly(image, parse_listing(listing, source.name), parse_symbol_map(symbol_map), tuple(dependencies))


def _nasm_arguments(source: Path, defines: dict[str, int], work: Path) -> list[str]:
    arguments = ["-f", "bin", "-p", str(work / "map.inc")]
    for directory in include_dirs(source):
        arguments += ["-I", f"{directory}{os.sep}"]
    arguments += [f"-D{name}={value}" for name, value in sorted(defines.items())]
    return [*arguments, str(source)]


def _nasm(
    nasm: str, arguments: list[str], source: Path, timeout_s: float, file_cap: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    # In the guest's folder: relative includes resolve against it, never against the caller's folder.
    # Bytes, not text: file names in NASM's output need not be UTF-8 (see _nasm_text).
    import subprocess  # see nasm_version

    try:
        return subprocess.run(
            [nasm, *arguments], capture_output=True, timeout=timeout_s, cwd=source.parent,
            preexec_fn=_limits(file_cap),
        )
    except subprocess.TimeoutExpired:
        raise AssemblyError(f"{shown_name(source)}: NASM did not finish within {timeout_s:g} s") from None
    except OSError as error:
        raise AssemblyError(f"{shown_name(source)}: NASM could not be started: {error.strerror or error}") from None


def _limits(file_cap: int | None) -> Callable[[], None] | None:
    """What NASM's process runs with: files of at most ``file_cap`` bytes, memory to match (None: as we run).

    None too where the system has no such limits (Windows): there NASM's size is only measured afterwards.
    """
    return None if file_cap is None else child_limits(file_cap, memory_cap(file_cap))


def child_limits(file_bytes: int, memory_bytes: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` holding a child (NASM, a C compiler) to files of ``file_bytes`` and that much memory.

    None where the system has no such limits (Windows).
    """
    try:
        import resource
    except ImportError:
        return None
    wanted = [(resource.RLIMIT_FSIZE, file_bytes), (resource.RLIMIT_AS, memory_bytes)]

    def apply() -> None:
        # In the child, between fork and exec: nothing may raise (a system that refuses a limit runs without it).
        # Once RLIMIT_AS holds, the forked copy of a large parent may have no memory left for Python itself: a
        # MemoryError here would keep the child from starting at all, so no call follows the last limit (not
        # even a context manager's exit) and any failure ends the function quietly.
        try:
            for limit, value in wanted:
                try:
                    _, hard = resource.getrlimit(limit)
                    resource.setrlimit(limit, (value if hard == resource.RLIM_INFINITY else min(value, hard), hard))
                except (OSError, ValueError):
                    continue
        except Exception:
            return

    return apply


def _nasm_text(output: bytes) -> str:
    """NASM's messages as text: a name that is not UTF-8 keeps its bytes as \\xNN."""
    return output.decode("utf-8", "backslashreplace").strip()


def _run_nasm(
    nasm: str, source: Path, defines: dict[str, int], work: Path, timeout_s: float, max_image_bytes: int
) -> None:
    # The symbol map can only be asked for from inside the source: a pre-included file does it.
    # Forward slashes: NASM on Windows takes them, and a backslash is not special to it.
    (work / "map.inc").write_text(f"[map symbols {(work / 'guest.map').as_posix()}]\n")
    outputs = ["-o", str(work / "guest.bin"), "-l", str(work / "guest.lst")]
    cap = output_cap(max_image_bytes)
    run = _nasm(nasm, outputs + _nasm_arguments(source, defines, work), source, timeout_s, cap)
    if run.returncode == STOPPED_AT_FILE_CAP:
        _check_output_sizes(source, work, max_image_bytes, stopped=True)
        raise AssemblyError(f"{shown_name(source)}: NASM wrote a file past the cap of {cap - 1:,} bytes")
    if run.returncode != 0:
        message = _nasm_text(run.stderr) or f"{shown_name(source)}: NASM failed with status {run.returncode}"
        if "out of memory" in message:
            message += (f" (NASM may use {memory_cap(cap) >> 20} MiB here: "
                        f"the image can be at most {max_image_bytes:,} bytes)")
        raise AssemblyError(message)


def _dependencies(
    nasm: str, source: Path, defines: dict[str, int], work: Path, timeout_s: float
) -> tuple[Path, ...]:
    """Every file NASM reads for this source, from ``nasm -M`` (NASM 2.16's ``-MD`` leaves out includes)."""
    # -MW quotes names with spaces and leaves backslashes alone (Windows paths), continuing lines with '&'.
    run = _nasm(nasm, ["-M", "-MW", "-MT", "guest", *_nasm_arguments(source, defines, work)], source, timeout_s)
    if run.returncode != 0:
        raise AssemblyError(_nasm_text(run.stderr) or f"{shown_name(source)}: NASM failed to list its dependencies")
    # File names as the file system has them (surrogateescape): each one opens the file NASM read.
    return parse_dependencies(os.fsdecode(run.stdout), source.parent, work)


DEPENDENCY_WORD = r'"([^"]*)"|(\S+)'  # compiled (and kept) by re once NASM runs: a cached guest needs none


def parse_dependencies(text: str, folder: Path, work: Path) -> tuple[Path, ...]:
    """The files in a Watcom-style dependency line (``guest : a.asm "b c.inc" &``), without our own."""
    _, _, after = text.partition(":")
    paths = []
    for quoted, plain in re.findall(DEPENDENCY_WORD, after):
        word = quoted or plain
        if word == "&":
            continue
        path = (folder / word).resolve()
        if path.parent != work.resolve() and path not in paths:
            paths.append(path)
    return tuple(paths)


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
