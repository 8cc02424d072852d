"""Guests: a NASM source, a C source, an ELF or a raw flat binary, with the options its header asks for.

A source may carry header lines that the harness reads (``//`` in place of ``;`` in a C guest):

    ; harness: --timer-width 24 --timer-start 0xFFFF00
    ; expect: error
    ; variant: qemu-rules --io-semantics qemu

``; harness:`` lines give the options the guest needs (the command line
overrides them); ``; expect:`` names the verdict the suite and pytest expect
(``pass`` when absent), and, as ``PLATFORM=VERDICT`` words, what the guest
expects on a platform (``; expect: bhyve=error no-pm-timer=fail``): the
matrix holds the guest to those, and the pytest plugin runs the guest on each
platform named.  Each ``; variant: NAME OPTIONS`` line is one more
machine pytest runs the guest on, as the item ``guest[NAME]``, with OPTIONS
over the header's.  ``; portable: no, REASON`` or ``; portable: not PEER,
REASON`` keeps the guest off the peers (``peers/portable.py``).  A platform
that does not exist, one named twice, a variant named as a platform the guest
names, or a ``; portable:`` value of another form is refused: each would run
nothing, two items under one name, or what was meant to be skipped.  Raw
``.bin`` guests have no header.

A C guest (``.c``, or ``.S``: assembly through the C preprocessor; the
capital S, as compilers tell them apart) is compiled with the guest library
(``c_compiler.py``) into an ELF, whose segments are its image
(``elf_image.py``); it starts in 32-bit protected mode unless its header or
the command line says ``--mode 64``.  A ``.elf`` file is such an image, built
elsewhere; its class (32- or 64-bit) is its start mode.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pmtimer_harness.core.config import MAX_MEMORY, MachineConfig
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.platform.profiles import DEFAULT_PLATFORM, UnknownPlatform, profile
from pmtimer_harness.record import Record
from pmtimer_harness.tools import files
from pmtimer_harness.tools.assembler import MAX_SOURCE_BYTES, NASM_TIMEOUT_S, ImageTooLarge, assemble
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.options import HeaderOptionError, parse_header_options

if TYPE_CHECKING:
    from pmtimer_harness.tools.elf_image import ElfImage

SOURCE_SUFFIXES = (".asm", ".nasm", ".s")
C_SUFFIXES = (".c", ".S")  # compared as written: ".s" is NASM's, ".S" the C compiler's
ELF_SUFFIX = ".elf"
BINARY_SUFFIXES = (".bin", ".img")
C_START_OPTIONS = ("--mode", "32")  # under the header's own: a C guest is compiled for protected mode
OPTIONS_TAG = "; harness:"
EXPECT_TAG = "; expect:"
VARIANT_TAG = "; variant:"
PORTABLE_TAG = "; portable:"
PEERS = ("qemu", "bochs")  # the VMMs a guest boots in besides the harness
# Patterns as text: re compiles each on first use and keeps it, so a guest without such lines compiles none.
# "no" or "not PEER", then the reason after a space, comma or colon: "nope" is neither.
PORTABLE_VALUE = r"(?is)(?:no|not\s+(?P<peer>[\w.-]+))(?:[\s,:]+(?P<reason>.*))?"
VARIANT_NAME = r"^[A-Za-z0-9_.+-]+$"


class GuestError(Exception):
    """A guest that cannot be loaded: missing, of an unknown kind, empty, or with a bad header."""


class GuestHeader(Record):
    """A guest's header lines: ``; harness:`` options, ``; expect:`` verdicts, ``; variant:`` lines."""

    __slots__ = ("options", "expect", "on_platform", "variants")

    def __init__(
        self,
        options: tuple[str, ...] = (),
        expect: Verdict = Verdict.PASS,
        on_platform: tuple[tuple[str, Verdict], ...] = (),  # (platform, verdict) as declared
        variants: tuple[tuple[str, tuple[str, ...]], ...] = (),  # (name, options) for each "; variant:" line
    ) -> None:
        self.options = options
        self.expect = expect
        self.on_platform = on_platform
        self.variants = variants

    def expect_on(self, platform: str) -> Verdict:
        """The verdict expected on ``platform``: its own declaration, or the guest's."""
        return dict(self.on_platform).get(platform, self.expect)

    @property
    def platform(self) -> str:
        """The platform the guest runs on when none is named: its header's ``--platform``, or the default."""
        return vars(parse_header_options(self.options)).get("platform", DEFAULT_PLATFORM)


def _verdict(word: str, path: Path, number: int) -> Verdict:
    try:
        return Verdict(word)
    except ValueError:
        choices = ", ".join(v.value for v in Verdict)
        raise GuestError(f"{path}:{number}: '; expect:' takes one of {choices}, not {word!r}") from None


class Guest(Record):
    """A guest ready to load: its image, and what names its addresses (source lines, symbols)."""

    __slots__ = ("path", "image", "source_map", "symbols", "load_address", "build", "elf")

    def __init__(
        self,
        path: Path,
        image: bytes,
        source_map: Mapping[int, str],  # linear address -> "file:line: source"
        symbols: dict[str, int],  # label -> address; assumes the guest's org is its load address
        load_address: int | None = None,  # an ELF's own: its first loaded byte, where it starts
        build: dict[str, object] | None = None,  # a C guest's compiler and flags, for the run's record
        elf: bytes | None = None,  # an ELF guest's file: gdb reads its symbols and C lines from it
    ) -> None:
        self.path = path
        self.image = image
        self.source_map = source_map
        self.symbols = symbols
        self.load_address = load_address
        self.build = build
        self.elf = elf


def check_guest_path(path: Path) -> None:
    """Refuses, from its name alone, what cannot be a guest; its reading checks again (``files.py``)."""
    if not path.exists():
        raise GuestError(f"{shown_name(path)}: no such guest file")
    try:
        size = files.regular_size(path)
    except files.InputError as error:
        raise GuestError(str(error)) from None
    if not (is_source(path) or path.suffix.lower() in (*BINARY_SUFFIXES, ELF_SUFFIX)):
        raise GuestError(f"{shown_name(path)}: a guest is a NASM source (.asm), a C source (.c, .S), "
                         "an ELF (.elf) or a raw flat binary (.bin)")
    if is_source(path) and size > MAX_SOURCE_BYTES:
        raise GuestError(f"{shown_name(path)}: a {size:,}-byte source is over the cap of {MAX_SOURCE_BYTES >> 20} MiB")


def is_source(path: Path) -> bool:
    """A source the harness builds: NASM's or the C compiler's."""
    return is_c_source(path) or path.suffix.lower() in SOURCE_SUFFIXES


def is_c_source(path: Path) -> bool:
    return path.suffix in C_SUFFIXES or path.suffix.lower() == ".c"


def read_header(path: Path) -> GuestHeader:
    check_guest_path(path)
    if path.suffix.lower() == ELF_SUFFIX:
        return GuestHeader(options=("--mode", str(_elf_start_mode(path))))
    if not is_source(path):
        return GuestHeader()
    try:
        # A C source may hold bytes that are not UTF-8 (a Latin-1 comment, a header's name), as compilers take it.
        text = files.read_text(path, MAX_SOURCE_BYTES, errors="surrogateescape" if is_c_source(path) else "strict")
    except UnicodeDecodeError:
        raise GuestError(f"{path}: not a text file; a raw binary guest should end in .bin") from None
    if is_c_source(path):
        text = "\n".join(as_nasm_comment(line) for line in text.splitlines())
    options: list[str] = list(C_START_OPTIONS) if is_c_source(path) else []
    expect = Verdict.PASS
    on_platform: list[tuple[str, Verdict]] = []
    variants: list[tuple[str, tuple[str, ...]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.lower().startswith(OPTIONS_TAG):
            try:
                options += shlex.split(stripped[len(OPTIONS_TAG) :])
            except ValueError as error:
                raise GuestError(f"{path}:{number}: bad '; harness:' line: {error}") from None
        elif stripped.lower().startswith(EXPECT_TAG):
            for word in stripped[len(EXPECT_TAG) :].lower().split():
                platform, equals, verdict = word.partition("=")
                if equals:
                    _check_platform(platform, [name for name, _ in on_platform], path, number)
                    on_platform.append((platform, _verdict(verdict, path, number)))
                else:
                    expect = _verdict(word, path, number)
        elif stripped.lower().startswith(VARIANT_TAG):
            variants.append(_variant(path, number, stripped[len(VARIANT_TAG) :], [name for name, _ in variants]))
        elif stripped.lower().startswith(PORTABLE_TAG):
            portable_declaration(stripped[len(PORTABLE_TAG) :], f"{path}:{number}")
    _check_item_names(path, variants, on_platform)
    return GuestHeader(tuple(options), expect, tuple(on_platform), tuple(variants))


def as_nasm_comment(line: str) -> str:
    """A C guest's ``// harness:`` line in the form the header's reader takes (``; harness:``)."""
    stripped = line.lstrip()
    return ";" + stripped[2:] if stripped.startswith("//") else ""


def _elf_start_mode(path: Path) -> int:
    from pmtimer_harness.tools.elf_image import elf_bits  # only an ELF guest is read as one: start-up

    try:
        with files.open_regular(path, MAX_MEMORY) as file:
            bits = elf_bits(file.read(5))
    except OSError as error:
        raise GuestError(f"{shown_name(path)}: {error.strerror or error}") from None
    if bits is None:
        raise GuestError(f"{shown_name(path)}: not a 32- or 64-bit ELF file")
    return bits


def portable_declaration(value: str, where: str) -> tuple[str, str]:
    """(the peer refused, or "all"; the reason) from ``no, REASON`` or ``not PEER, REASON``."""
    match = re.fullmatch(PORTABLE_VALUE, value.strip())
    peer = match and (match["peer"] or "all").lower()
    if peer is None or peer not in ("all", *PEERS):
        raise GuestError(f"{where}: '; portable:' takes 'no, REASON' or 'not PEER, REASON' "
                         f"(PEER one of {', '.join(PEERS)}), not {value.strip()!r}")
    return peer, (match["reason"] or "").strip()


def _check_platform(name: str, taken: list[str], path: Path, number: int) -> None:
    try:
        profile(name)
    except UnknownPlatform as error:
        raise GuestError(f"{path}:{number}: '; expect:' {error}") from None
    if name in taken:
        raise GuestError(f"{path}:{number}: '; expect:' names {name} twice")


def _check_item_names(
    path: Path, variants: list[tuple[str, tuple[str, ...]]], on_platform: list[tuple[str, Verdict]]
) -> None:
    # pytest names both kinds of item guest[NAME]: two of one name would be one node id for two runs.
    clash = sorted({name for name, _ in variants} & {name for name, _ in on_platform})
    if clash:
        raise GuestError(f"{path}: '; variant: {clash[0]}' has the name of a platform '; expect:' names; "
                         "rename the variant")


def check_options(path: Path, header: GuestHeader) -> None:
    """Parse the header's options, and each variant's: a mistake there is the user's, found before any run."""
    lines = [("'; harness:'", header.options)]
    lines += [(f"'; variant: {name}'", options) for name, options in header.variants]
    for line, options in lines:
        try:
            parse_header_options(options)
        except HeaderOptionError as error:
            raise GuestError(f"{path}: its {line} line: {error}") from None


def checked_header(path: Path) -> GuestHeader:
    """The guest's header, its options parsed: a mistake there is the user's, found before any guest runs."""
    header = read_header(path)
    check_options(path, header)
    return header


def platform_expectations(path: Path) -> dict[str, Verdict]:
    """The platforms a guest's header names, each with the verdict it expects there (for the pytest plugin)."""
    return dict(read_header(Path(path)).on_platform)


def _variant(path: Path, number: int, text: str, taken: list[str]) -> tuple[str, tuple[str, ...]]:
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise GuestError(f"{path}:{number}: bad '; variant:' line: {error}") from None
    name, *options = words or [""]
    if not re.match(VARIANT_NAME, name) or name in taken:
        raise GuestError(f"{path}:{number}: '; variant:' needs a new name of letters, digits, _.+-: {name!r}")
    return name, tuple(options)


def load_guest(path: Path, config: MachineConfig, use_cache: bool | None = None) -> Guest:
    check_guest_path(path)
    room = config.memory - config.load_address
    if is_c_source(path):
        from pmtimer_harness.tools.c_compiler import COMPILE_TIMEOUT_S, build  # only a C guest needs them

        built = build(path, config.nasm_defines(), config.mode, use_cache=use_cache,
                      timeout_s=min(config.timeout, COMPILE_TIMEOUT_S))
        elf = _elf_image(built.elf, path, config)
        return Guest(path, elf.image, elf.source_map, elf.symbols, elf.base, built.record(), built.elf)
    if path.suffix.lower() == ELF_SUFFIX:
        try:
            data = files.read_bytes(path, MAX_MEMORY)
        except files.FileTooLarge as error:
            raise _too_large(path, f"{error.size:,}", MAX_MEMORY) from None
        elf = _elf_image(data, path, config)
        return Guest(path, elf.image, elf.source_map, elf.symbols, elf.base, elf=data)
    if is_source(path):
        nasm_timeout_s = min(NASM_TIMEOUT_S, config.timeout)
        try:
            assembly = assemble(path, config.nasm_defines(), use_cache=use_cache, timeout_s=nasm_timeout_s,
                                max_image_bytes=room)
        except ImageTooLarge as error:
            amount = f"at least {error.size:,}" if error.stopped else f"{error.size:,}"
            raise _too_large(path, f"the assembled image's {amount}", room) from None
        image = assembly.image
        source_map = {config.load_address + offset: text for offset, text in assembly.listing.items()}
        symbols = assembly.symbols
    else:
        try:
            image = files.read_bytes(path, room)  # refused from its size, before it is read: it may be huge
        except files.FileTooLarge as error:
            raise _too_large(path, f"{error.size:,}", room) from None
        source_map, symbols = {}, {}
    if not image:
        raise GuestError(f"{path}: the guest image is empty")
    return Guest(path, image, source_map, symbols)


def _elf_image(data: bytes, path: Path, config: MachineConfig) -> ElfImage:
    """The ELF's image, refused in one line when it cannot start as ``config`` says (its class is its mode)."""
    from pmtimer_harness.tools.elf_image import ElfError, read_elf  # only an ELF guest is read as one: start-up

    try:
        elf = read_elf(data, shown_name(path), config.memory)
    except ElfError as error:
        raise GuestError(str(error)) from None
    if elf.bits != config.mode:
        raise GuestError(f"{shown_name(path)} is a {elf.bits}-bit ELF: it starts in {elf.bits}-bit mode "
                         f"(--mode {elf.bits}), not {config.mode}-bit")
    return elf


def source_dependencies(path: Path, config: MachineConfig, use_cache: bool | None = None) -> tuple[Path, ...]:
    """Every file a build of the source ``path`` for ``config`` reads: the source, its includes or headers."""
    if is_c_source(path):
        from pmtimer_harness.tools.c_compiler import build

        return build(path, config.nasm_defines(), config.mode, use_cache=use_cache).dependencies
    return assemble(path, config.nasm_defines(), use_cache=use_cache).dependencies


def built_image(path: Path, config: MachineConfig, max_image_bytes: int) -> bytes:
    """The image of the source ``path`` built for ``config``: NASM's output, or a C guest's ELF made flat.

    Over ``max_image_bytes``, NASM's is refused before it is read (``ImageTooLarge``); a C guest's ELF is
    measured once built.
    """
    if not is_c_source(path):
        return assemble(path, config.nasm_defines(), max_image_bytes=max_image_bytes).image
    from pmtimer_harness.tools.c_compiler import build

    image = _elf_image(build(path, config.nasm_defines(), config.mode).elf, path, config).image
    if len(image) > max_image_bytes:
        raise ImageTooLarge(path, len(image), max_image_bytes)
    return image


def _too_large(path: Path, amount: str, room: int) -> GuestError:
    return GuestError(f"{shown_name(path)}: {amount} bytes do not fit in guest RAM above the load address "
                      f"({room:,} bytes; --memory is at most {MAX_MEMORY >> 20} MiB)")
