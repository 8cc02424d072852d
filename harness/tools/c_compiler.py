"""The C compiler for C guests: find one, build a freestanding x86 ELF placed at the load address.

A C guest (``.c``, or ``.S``: assembly through the C preprocessor) is
compiled with the guest library (``asm/c/lib``, headers in ``asm/c/include``)
for the machine it will run on, as NASM guests are assembled for it: the
harness's defines (``TIMER_PORT``, ``TIMER_WIDTH``, ``LOAD_ADDRESS``...; see
``MachineConfig.nasm_defines``) are ``-D`` macros to the guest.  The
library takes none (it reads the FADT, as an operating system does), so it is
compiled once per compiler, flags and mode in a process, and a matrix builds
only the guest for each platform.  Each file is compiled on its own (``-c``,
with ``-MD``: the headers it read), then all are linked by a linker script
that puts the start-up code first, at the load address, in one loadable
segment.  The result is an ELF with its symbols and DWARF line
table (``-g``), which ``elf_image.py`` loads.

The compiler, in this order of choice:

- ``$CC``, when set: a command, with arguments if it needs them
  (``CC="zig cc"``); a ``$CC`` that cannot be run is an error, not a reason to
  look elsewhere: the user asked for that one;
- ``gcc``, then ``clang``, on ``PATH``;
- the ``ziglang`` package (``pip install 'pmtimer-harness[c]'``), which
  carries clang for Linux, macOS and Windows: ``python -m ziglang cc``.

Which compiler ran (its command and the first line of ``--version``) and
with which flags is in the run's record (``GuestRun.as_dict``: ``build``).
Its output is cached (``cache.py``) under the compiler's identity, the flags,
the source and the defines, and used while every file any compile read (the
guest, its headers, the library's sources and headers: the ``-MD`` output)
is unchanged.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pmtimer_harness.asm import C_GUEST_DIR, C_INCLUDE_DIR, C_LIBRARY_DIR
from pmtimer_harness.core.config import MAX_MEMORY
from pmtimer_harness.tools import cache, files
from pmtimer_harness.tools.assembler import STOPPED_AT_FILE_CAP, AssemblyError, NasmNotFound, child_limits
from pmtimer_harness.tools.files import shown_name

CC_ENV = "CC"
C_START = C_LIBRARY_DIR / "start.S"  # linked first: the entry, at the load address
COMPILE_TIMEOUT_S = 120  # zig's clang fills its own cache on first use: far slower than later runs
MAX_OUTPUT_BYTES = 256 << 20  # the most any one compiler output file may grow to (an object, the ELF)
FILE_CAP_WORDS = (b"File size limit exceeded", b"File too large")  # gcc's, clang's words for SIGXFSZ, EFBIG
MAX_COMPILER_MEMORY = 2 << 30  # address space: gcc and zig's clang build guests in far less
MAX_MESSAGE_BYTES = 64 << 10  # of the compiler's stderr: its first lines are all a diagnostic shows
MESSAGE_CHUNK = 1 << 16
READER_JOIN_S = 5  # the group is dead by then: its pipe is closed
GROUPS = sys.platform != "win32"  # a build step runs in a process group of its own, killed as one
MAX_DIAGNOSTIC_LINES = 12  # a compile error shows the compiler's first lines, as NASM's would be shown
VERSION_TIMEOUT_S = 60

# No warnings (-w): a successful build shows none, and a dozen before an error would fill the lines a failed
# one shows and hide why it failed.
# Freestanding: no host headers' libc, no start files, no stack canaries (no TLS to read them from), no
# position-independent code (the image is placed where it was linked).  No SSE: the start state leaves
# CR4.OSFXSR clear, as a PC does, so SSE instructions would fault; floating point is x87 in 32-bit guests.
COMPILE_FLAGS = (
    "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
    "-nostdlib", "-static", "-O2", "-g", "-std=gnu11", "-mno-sse", "-mno-sse2", "-mno-mmx", "-w",
)
BITS_FLAGS = {32: (), 64: ("-mno-red-zone",)}  # interrupts would write below the stack pointer
TARGETS = {  # what each kind of compiler is told for each start mode
    "gcc": {32: ("-m32",), 64: ("-m64",)},
    "clang": {32: ("--target=i386-unknown-none-elf",), 64: ("--target=x86_64-unknown-none-elf",)},
    "zig": {32: ("-target", "x86-freestanding-none"), 64: ("-target", "x86_64-freestanding-none")},
}
LINK_FLAGS = {
    "gcc": ("-no-pie", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments"),
    "clang": ("-fuse-ld=lld", "-Wl,--build-id=none"),
    "zig": ("-Wl,--build-id=none",),
}
LINKER_SCRIPT = """\
ENTRY(_start)
PHDRS {{ image PT_LOAD; }}
SECTIONS {{
  . = {load_address:#x};
  .text : {{ KEEP(*(.text.start)) *(.text .text.*) }} :image
  .rodata : {{ *(.rodata .rodata.*) }} :image
  .data : {{ *(.data .data.*) }} :image
  .bss : {{ __bss_start = .; *(.bss .bss.* COMMON) . = ALIGN(4); __bss_end = .; }} :image
  .stack (NOLOAD) : {{ *(.stack) }} :image
  /DISCARD/ : {{ *(.comment) *(.note*) *(.eh_frame*) }}
}}
"""
# One segment, the start-up code first: the image is one block from the load address, as the boot
# loader of harness/peers/disk.py copies it, and its first byte is the entry.


class CompileError(AssemblyError):
    """The compiler rejected the guest; the message is its own diagnostic (the first lines)."""


class CompilerNotFound(NasmNotFound):
    """No C compiler to build a C guest with; the message says how to get one on each system.

    ``configured``: the compiler is the one ``$CC`` names.  No compiler at all may be a reason to skip a
    C guest (as no NASM is a NASM guest's); a ``$CC`` that cannot run is the user's mistake, to be fixed.
    """

    def __init__(self, message: str | None = None, configured: bool = False) -> None:
        self.configured = configured
        Exception.__init__(self, message or (
            "no C compiler was found for a C guest. Install one: `pip install 'pmtimer-harness[c]'` (clang, "
            "carried by the ziglang package, on any system); or Linux `sudo apt-get install gcc`, macOS "
            "`xcode-select --install` with `pip install 'pmtimer-harness[c]'` (Apple's clang has no ELF linker), "
            f"Windows `pip install 'pmtimer-harness[c]'`; or set {CC_ENV} to a compiler."
        ))


@dataclass(frozen=True)
class Compiler:
    command: tuple[str, ...]  # the program and the arguments before any of ours ("python -m ziglang cc")
    kind: str  # "gcc", "clang" or "zig": which target flags it takes
    version: str  # the first line of its --version

    @property
    def identity(self) -> str:
        return f"{shlex.join(self.command)} | {self.version}"


@dataclass(frozen=True)
class CBuild:
    elf: bytes
    dependencies: tuple[Path, ...]  # every file the compiles read
    compiler: Compiler
    compile_flags: tuple[str, ...]  # as given to the compiler for each unit, but the file names
    link_flags: tuple[str, ...]

    def record(self) -> dict[str, object]:
        """What the run's record says of the build."""
        return {"compiler": shlex.join(self.compiler.command), "version": self.compiler.version,
                "compile_flags": list(self.compile_flags), "link_flags": list(self.link_flags)}


def find_compiler() -> Compiler:
    """``$CC``, else gcc or clang on PATH, else the ziglang package's clang; CompilerNotFound if none."""
    configured = os.environ.get(CC_ENV, "").strip()
    if configured:
        try:
            command = tuple(shlex.split(configured))
        except ValueError as error:
            raise CompilerNotFound(f"{CC_ENV}={configured!r} is not a command: {error}", configured=True) from None
        program = shutil.which(command[0]) if command else None
        if program is None:
            raise CompilerNotFound(f"{CC_ENV}={configured!r}: {command[0] if command else configured!r} "
                                   "was not found; set CC to a C compiler, or unset it", configured=True)
        try:
            return identify((program, *command[1:]))
        except CompilerNotFound as error:
            raise CompilerNotFound(f"{CC_ENV}={configured!r}: {error}", configured=True) from None
    for name in ("gcc", "clang"):
        program = shutil.which(name)
        if program is not None:
            return identify((program,))
    if importlib.util.find_spec("ziglang") is not None:
        return identify((sys.executable, "-m", "ziglang", "cc"))
    raise CompilerNotFound()


@lru_cache(maxsize=8)
def identify(command: tuple[str, ...]) -> Compiler:
    """The compiler behind ``command``: its kind and version line, from ``--version``."""
    try:
        run = subprocess.run([*command, "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CompilerNotFound(f"{shlex.join(command)} could not be run: {error}") from None
    text = run.stdout.decode("utf-8", "replace")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if run.returncode != 0 or not first:
        raise CompilerNotFound(f"{shlex.join(command)} --version failed: is it a C compiler?")
    if "ziglang" in command or Path(command[0]).stem == "zig":
        kind = "zig"
    else:
        kind = "clang" if "clang" in text.lower() else "gcc"
    return Compiler(command, kind, first)


def compile_flags(compiler: Compiler, bits: int, defines: dict[str, int], source: Path) -> tuple[str, ...]:
    """Every flag a compile of ``source`` takes, but the file names; its folder is searched for headers first."""
    includes = ("-I", str(source.parent), "-I", str(C_INCLUDE_DIR))
    macros = tuple(f"-D{name}={value}" for name, value in sorted(defines.items()))
    return (*TARGETS[compiler.kind][bits], *COMPILE_FLAGS, *BITS_FLAGS[bits], *includes, *macros)


def link_flags(compiler: Compiler, bits: int) -> tuple[str, ...]:
    return (*TARGETS[compiler.kind][bits], "-nostdlib", "-static", *LINK_FLAGS[compiler.kind],
            "-Wl,-T,guest.ld")


def library_sources() -> list[Path]:
    """The guest library's units: the start-up code first, then the rest in name order."""
    rest = sorted(path for path in C_LIBRARY_DIR.iterdir() if path.suffix in (".c", ".S") and path != C_START)
    return [C_START, *rest]


@dataclass(frozen=True)
class LibraryBuild:
    """The library's objects for one compiler, flags and mode: the same for every guest and platform."""

    objects: tuple[bytes, ...]  # in library_sources() order
    dependencies: tuple[tuple[Path, str], ...]  # each file the compiles read, with its content's digest

    def current(self) -> bool:
        return all(cache.file_digest(path) == digest for path, digest in self.dependencies)


# Built once per process for each recipe, while no file it read changes: a matrix builds a guest for each
# platform's defines, and the library (which reads the FADT, never the defines) need not be built again.
_libraries: dict[str, LibraryBuild] = {}


def build(
    source: Path, defines: dict[str, int], bits: int, use_cache: bool | None = None,
    timeout_s: float = COMPILE_TIMEOUT_S,
) -> CBuild:
    """Compile ``source`` for a ``bits``-bit start, link it with the library at ``LOAD_ADDRESS``; cached."""
    if bits not in BITS_FLAGS:
        raise CompileError(f"{shown_name(source)}: a C guest starts in 32- or 64-bit mode, not {bits}-bit "
                           "(--mode 32 or --mode 64)")
    compiler = find_compiler()
    source = Path(source).resolve()
    if use_cache is None:
        use_cache = cache.enabled()
    text = files.read_bytes(source, MAX_OUTPUT_BYTES)
    compiling, linking = compile_flags(compiler, bits, defines, source), link_flags(compiler, bits)
    # The linker script is part of the build too: a harness that places guests differently rebuilds them.
    recipe = "\0".join([compiler.identity, *compiling, "|", *linking, LINKER_SCRIPT])
    key = cache.key(recipe, source, text, [str(C_GUEST_DIR)], defines)
    if use_cache:
        entry = cache.lookup(key)
        if entry is not None and not shadowing_headers(source, entry.dependencies):
            return CBuild(entry.image, entry.dependencies, compiler, compiling, linking)
    library = _library(compiler, bits, source, timeout_s)
    with tempfile.TemporaryDirectory(prefix="harness-cc-") as scratch:
        work = Path(scratch)
        (work / "guest.ld").write_text(LINKER_SCRIPT.format(load_address=defines["LOAD_ADDRESS"]))
        objects = []
        for number, content in enumerate(library.objects):
            (work / f"library{number}.o").write_bytes(content)
            objects.append(f"library{number}.o")
        dependencies = [*_compile_unit(compiler, compiling, source, work, "guest", source, timeout_s),
                        *(path for path, _ in library.dependencies)]
        _compile(compiler, [*linking, "-o", "guest.elf", *objects, "guest.o"], work, source, timeout_s)
        elf = files.read_bytes(work / "guest.elf", MAX_OUTPUT_BYTES)
    dependencies = list(dict.fromkeys(dependencies))
    if use_cache:
        cache.store(key, cache.Entry(elf, "", "", tuple(dependencies)))
    return CBuild(elf, tuple(dependencies), compiler, compiling, linking)


def shadowing_headers(source: Path, dependencies: tuple[Path, ...]) -> list[Path]:
    """Files beside ``source`` that a compile would now read in place of a header it read from elsewhere.

    The guest's folder is searched first (``-I``), so a ``harness.h`` or ``stdint.h`` put there since the
    build hides the library's or the compiler's: every file the build read is unchanged, yet a compile now
    reads another.  Headers are matched by name, as the compiler's search finds them.
    """
    folder = source.parent
    beside = {path.name for path in dependencies if path.parent == folder}
    elsewhere = {path.name for path in dependencies
                 if path.parent != folder and not path.is_relative_to(C_LIBRARY_DIR)} - beside
    return [folder / name for name in sorted(elsewhere) if (folder / name).exists()]


def _library(compiler: Compiler, bits: int, guest: Path, timeout_s: float) -> LibraryBuild:
    """The library compiled for ``compiler`` and ``bits``, from this process's earlier build where still current."""
    flags = compile_flags(compiler, bits, {}, C_INCLUDE_DIR / "harness.h")
    recipe = "\0".join([compiler.identity, *flags])
    known = _libraries.get(recipe)
    if known is not None and known.current():
        return known
    objects: list[bytes] = []
    dependencies: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="harness-cc-") as scratch:
        work = Path(scratch)
        for unit in library_sources():
            dependencies += _compile_unit(compiler, flags, unit, work, "unit", guest, timeout_s)
            objects.append(files.read_bytes(work / "unit.o", MAX_OUTPUT_BYTES))
    digests = tuple((path, cache.file_digest(path) or "") for path in dict.fromkeys(dependencies))
    _libraries[recipe] = built = LibraryBuild(tuple(objects), digests)
    return built


def _compile_unit(
    compiler: Compiler, flags: tuple[str, ...], unit: Path, work: Path, name: str, guest: Path, timeout_s: float,
) -> tuple[Path, ...]:
    """Compile ``unit`` to ``name``.o in ``work``; the files it read (its -MD output)."""
    _compile(compiler, [*flags, "-MD", "-MF", f"{name}.d", "-c", str(unit), "-o", f"{name}.o"], work, guest,
             timeout_s)
    # As the system encodes names: a header's name need not be UTF-8, and its bytes must name it again.
    return parse_make_dependencies(os.fsdecode(files.read_bytes(work / f"{name}.d", MAX_OUTPUT_BYTES)), work)


def _compile(compiler: Compiler, arguments: list[str], work: Path, source: Path, timeout_s: float) -> None:
    try:
        status, messages = _run_compiler([*compiler.command, *arguments], work, _environment(compiler, work),
                                         timeout_s)
    except subprocess.TimeoutExpired:
        raise CompileError(f"{shown_name(source)}: the C compiler did not finish within {timeout_s:g} s") from None
    except OSError as error:
        raise CompilerNotFound(f"{shlex.join(compiler.command)} could not be started: "
                               f"{error.strerror or error}") from None
    # The compiler itself, or the assembler it ran (gcc reports its child's signal as an internal error).
    if status == STOPPED_AT_FILE_CAP or any(words in messages for words in FILE_CAP_WORDS):
        raise CompileError(f"{shown_name(source)}: the C compiler wrote a file past the cap of "
                           f"{MAX_OUTPUT_BYTES >> 20} MiB; guest RAM is at most {MAX_MEMORY >> 20} MiB")
    if status != 0:
        raise CompileError(diagnostic(messages.decode("utf-8", "backslashreplace"), source, status,
                                      cut=len(messages) >= MAX_MESSAGE_BYTES))


def _run_compiler(command: list[str], work: Path, environment: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
    """Run one step of a build: its status, and the first MAX_MESSAGE_BYTES of what it wrote to stderr.

    gcc and clang are drivers: cc1, as and ld are their children.  The step runs in a process group of its
    own, killed as a whole when it ends or at the deadline, so a cc1 blocked on a FIFO the guest includes,
    or busy expanding macros, does not outlive the build.  Messages past the first are read and dropped:
    a macro expanded a million times can warn a million times.  TimeoutExpired at the deadline.
    """
    process = subprocess.Popen(command, cwd=work, env=environment, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_limits(),
                               start_new_session=GROUPS)
    messages = bytearray()

    def read_messages() -> None:
        assert process.stderr is not None
        while chunk := process.stderr.read1(MESSAGE_CHUNK):
            messages.extend(chunk[: MAX_MESSAGE_BYTES - len(messages)])

    reader = threading.Thread(target=read_messages, daemon=True)
    reader.start()
    try:
        status = process.wait(timeout=timeout_s)
    finally:
        _stop_group(process)
        reader.join(timeout=READER_JOIN_S)
        assert process.stderr is not None
        if not reader.is_alive():  # one that left the group still holds the pipe: closing it would wait on the read
            process.stderr.close()
    return status, bytes(messages)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the step's driver and whatever it started that is still running (its group, where there are groups)."""
    if GROUPS:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    elif process.poll() is None:
        process.kill()
    process.wait()


def diagnostic(text: str, source: Path, status: int, cut: bool = False) -> str:
    """The compiler's first lines: where and what; the rest is in a compile of one's own.

    ``cut``: the compiler wrote more than was read (MAX_MESSAGE_BYTES).
    """
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return f"{shown_name(source)}: the C compiler failed with status {status}"
    shown = lines[:MAX_DIAGNOSTIC_LINES]
    left = len(lines) - len(shown)
    if cut:
        shown.append(f"(more than {left} more lines from the compiler)")
    elif left:
        shown.append(f"({left} more lines from the compiler)")
    return "\n".join(shown)


def _limits() -> Callable[[], None] | None:
    """What each compiler process runs with (None where the system has no such limits: Windows).

    Files of at most MAX_OUTPUT_BYTES, and MAX_COMPILER_MEMORY of address space: a guest that includes
    ``/dev/zero`` makes the compiler read without end, and it stops at the limit, not at the host's memory.
    """
    return child_limits(MAX_OUTPUT_BYTES, MAX_COMPILER_MEMORY)


def _environment(compiler: Compiler, work: Path) -> dict[str, str]:
    """The compiler's temporary files in the build's scratch (a step killed at its deadline leaves them there,
    and the scratch goes); zig's own cache in the harness's cache folder when caching is on, else in the scratch."""
    environment = {**os.environ, "TMPDIR": str(work), "TMP": str(work), "TEMP": str(work)}
    if compiler.kind != "zig":
        return environment
    folder = str(cache.folder() / "zig") if cache.enabled() else str(work / "zig-cache")
    return {**environment, "ZIG_GLOBAL_CACHE_DIR": folder, "ZIG_LOCAL_CACHE_DIR": folder}


MAKE_WORD = re.compile(r"(?:\\ |\S)+")  # a name: anything but blanks, where "\ " is a blank of the name


def parse_make_dependencies(text: str, folder: Path) -> tuple[Path, ...]:
    """The prerequisites of a ``-MD`` file (``x.o: a.c b.h \\``), escaped spaces kept, our own files left out."""
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ")
    _, separator, after = joined.partition(": ")
    if not separator:
        return ()
    paths: list[Path] = []
    for word in MAKE_WORD.findall(after.split("\n", 1)[0]):
        name = re.sub(r"\\([ #])", r"\1", word).replace("$$", "$")  # make's escapes; other backslashes are Windows'
        path = (folder / name).resolve()
        if path.parent != folder.resolve() and path not in paths:
            paths.append(path)
    return tuple(paths)
