"""ELF guests: the image their loadable segments make, and where each address is in the C source.

A guest ELF (built from a C guest by ``c_compiler.py``, or given as a
``.elf`` file) is an x86 executable: 32-bit (``EM_386``) or 64-bit
(``EM_X86_64``), little-endian, ``ET_EXEC``.  Its ``PT_LOAD`` segments go
at their physical addresses (``p_paddr``), ``p_filesz`` bytes from the file
and zeros to ``p_memsz``; they become one image from the lowest address to
the highest end, gaps zeroed, as the machine loads a flat binary and the boot
loader of ``harness/peers/disk.py`` copies one.  The CPU starts at the entry,
which must be that lowest address (the linker script of ``c_compiler.py``
puts the start-up code there).

A file that is not such an ELF (truncated, another class or machine, a
segment outside guest RAM or past the end of the file, segments that overlap,
an entry outside the image) is refused in one line (``ElfError``), before any
of its segments is copied.

Its symbol table and DWARF line table (pyelftools) name each address:
``hello_timer.c:17 (main+0x12): report(...)``, in the form the NASM listing
gives (``file:line: source``).  That map (``SourceLines``) is read the first
time an address is asked for: a run that shows no source never parses DWARF,
and DWARF or a symbol table it cannot read leaves addresses unnamed, never
fails the run (the segments alone decide what runs); DWARF of more than
MAX_DEBUG_BYTES is not read, so that naming an address stays quick.
"""

from __future__ import annotations

import bisect
import io
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pmtimer_harness.tools import files

ELF_MAGIC = b"\x7fELF"
ELF_CLASSES = {1: 32, 2: 64}  # EI_CLASS
MACHINES = {32: "EM_386", 64: "EM_X86_64"}  # e_machine, as pyelftools names it
MAX_SOURCE_TEXT = 60  # the characters of a C line shown beside an address
MAX_SOURCE_FILE_BYTES = 4 << 20  # a larger "source" is not read for its lines
MAX_SEGMENTS = 256  # each is checked against every other: a linked guest has a handful
MAX_SYMBOLS = 1 << 16  # read from a symbol table: a hostile one may claim millions
MAX_DEBUG_BYTES = 4 << 20  # of DWARF read for lines: pyelftools takes ~2 s a MiB; a linked guest has tens of KiB
MAX_INLINED_BYTES = 1 << 16  # an inlined call further back than this cannot hold the address: look no further


class ElfError(ValueError):
    """Not an x86 executable the harness can load; the message is one line and names the file."""


@dataclass(frozen=True)
class ElfImage:
    base: int  # the lowest address a segment is loaded at: the image's first byte
    image: bytes
    entry: int
    bits: int  # 32 or 64: the mode the CPU must start in
    symbols: dict[str, int]  # functions and objects by name
    source_map: Mapping[int, str]


def elf_bits(head: bytes) -> int | None:
    """32 or 64 for an ELF's first bytes; None for anything else."""
    if len(head) < 5 or head[:4] != ELF_MAGIC:
        return None
    return ELF_CLASSES.get(head[4])


def read_elf(data: bytes, name: str, memory: int) -> ElfImage:
    """The image of the ELF ``data`` (called ``name`` in messages), for a machine of ``memory`` bytes of RAM."""
    from elftools.elf.elffile import ELFFile  # only an ELF guest pays for pyelftools' import

    bits = elf_bits(data)
    if bits is None:
        raise ElfError(f"{name}: not a 32- or 64-bit ELF file")
    try:
        elf = ELFFile(io.BytesIO(data))
        header = elf.header
        if header["e_ident"]["EI_DATA"] != "ELFDATA2LSB" or header.e_machine != MACHINES[bits]:
            raise ElfError(f"{name}: not an x86 ELF ({bits}-bit, {header.e_machine}); the harness runs x86 guests")
        if header.e_type != "ET_EXEC":
            raise ElfError(f"{name}: an ELF of type {header.e_type}, not a linked executable (ET_EXEC)")
        segments = _loadable_segments(elf, data, name, memory)
        entry = header.e_entry
        symbols = _symbols(elf)
    except ElfError:
        raise
    except Exception as error:  # pyelftools raises many kinds (ELFError, struct errors...) for a malformed file
        raise ElfError(f"{name}: a malformed ELF file ({type(error).__name__}: {error})") from None
    base = min(address for address, _, _ in segments)
    end = max(address + size for address, _, size in segments)
    if entry != base:
        raise ElfError(f"{name}: its entry {entry:#x} is not its first loaded byte {base:#x}; the harness starts "
                       "a guest at the start of its image")
    image = bytearray(end - base)
    for address, content, _ in segments:
        image[address - base : address - base + len(content)] = content
    return ElfImage(base, bytes(image), entry, bits, symbols, SourceLines(data))


def _loadable_segments(elf: object, data: bytes, name: str, memory: int) -> list[tuple[int, bytes, int]]:
    """(address, file bytes, size in memory) of each PT_LOAD segment, every one checked before any is copied."""
    count = elf.num_segments()  # type: ignore[attr-defined]
    if count > MAX_SEGMENTS:
        raise ElfError(f"{name}: {count:,} program headers, over the cap of {MAX_SEGMENTS}")
    found: list[tuple[int, bytes, int]] = []
    for segment in elf.iter_segments():  # type: ignore[attr-defined]
        if segment["p_type"] != "PT_LOAD" or segment["p_memsz"] == 0:
            continue
        address, offset = segment["p_paddr"], segment["p_offset"]
        filesz, memsz = segment["p_filesz"], segment["p_memsz"]
        where = f"{name}: a segment at {address:#x} ({memsz:,} bytes)"
        if filesz > memsz:
            raise ElfError(f"{where} has more bytes in the file ({filesz:,}) than in memory")
        if offset + filesz > len(data):
            raise ElfError(f"{where} reads past the end of the {len(data):,}-byte file")
        if address + memsz > memory:
            raise ElfError(f"{where} ends past guest RAM ({memory:,} bytes; --memory raises it)")
        for other, _, other_size in found:
            if address < other + other_size and other < address + memsz:
                raise ElfError(f"{where} overlaps the segment at {other:#x}")
        found.append((address, data[offset : offset + filesz], memsz))
    if not found:
        raise ElfError(f"{name}: no loadable segment (PT_LOAD): nothing to run")
    return found


def _symbols(elf: object) -> dict[str, int]:
    """Functions and objects by name; none from a symbol table this reader cannot read.

    Symbols only name addresses, as the DWARF does: the segments decide what runs, so a broken section
    table or symbol table leaves the image's addresses unnamed and the guest still runs.
    """
    try:
        return {symbol.name: symbol["st_value"] for symbol in _symbol_entries(elf)
                if symbol["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE")
                and symbol["st_shndx"] != "SHN_UNDEF"}
    except Exception:  # pyelftools raises many kinds for a malformed table (ELFParseError, FieldError...)
        return {}


@dataclass(frozen=True, order=True)
class InlinedCall:
    """A function inlined into another: where its code lies, and the line that called it."""

    low: int
    high: int  # the first address past it
    path: str = field(compare=False)
    line: int = field(compare=False)
    name: str = field(compare=False)


@dataclass(frozen=True)
class LineRow:
    address: int
    path: str  # as DWARF names it: the compile folder, the include folder, the file
    line: int
    ends: bool  # the first address past a sequence of code


class SourceLines(Mapping[int, str]):
    """Address -> ``file.c:line (function+offset): text``, read from the ELF's DWARF on first use."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._rows: list[LineRow] | None = None
        self._starts: list[int] = []
        self._functions: list[tuple[int, int, str]] = []  # (address, size, name), sorted
        self._texts: dict[str, list[str] | None] = {}
        self._calls: list[InlinedCall] = []  # sorted by (low, high)
        self._call_starts: list[int] = []

    def __bool__(self) -> bool:
        return True  # without parsing: the machine asks whether there is a map at all

    def __getitem__(self, address: int) -> str:
        found = self.get(address)
        if found is None:
            raise KeyError(address)
        return found

    def __iter__(self) -> Iterator[int]:
        self._parse()
        return iter(row.address for row in self._rows or () if not row.ends)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def get(self, address: int, default: str | None = None) -> str | None:  # type: ignore[override]
        try:
            return self._named(address, default)
        except Exception:  # asked from inside a report or a trace: a name it cannot give is no name, not a failure
            return default

    def _named(self, address: int, default: str | None) -> str | None:
        self._parse()
        row = self._row_at(address)
        function = self._function_at(address)
        if row is None and function is None:
            return default
        inlined = ""
        call = self._call_at(address)
        if call is not None and row is not None:
            # The line that called an inlined function (inl() in the guest's own code), then the function's.
            inlined = f" [{call.name}: {PurePosixPath(row.path).name}:{row.line}]"
            row = LineRow(address, call.path, call.line, False)
        where = f"{PurePosixPath(row.path).name}:{row.line}" if row else "?"
        named = f" ({function})" if function else ""
        text = self._text(row) if row else ""
        return (f"{where}{named}: {text}" if text else f"{where}{named}") + inlined

    def _call_at(self, address: int) -> InlinedCall | None:
        """The outermost inlined call whose code holds ``address``, if any."""
        index = bisect.bisect_right(self._call_starts, address) - 1
        while index >= 0:
            call = self._calls[index]
            if call.low <= address < call.high:
                return call
            if address - call.low > MAX_INLINED_BYTES:
                return None
            index -= 1
        return None

    def _row_at(self, address: int) -> LineRow | None:
        index = bisect.bisect_right(self._starts, address) - 1
        if index < 0 or self._rows is None:
            return None
        row = self._rows[index]
        return None if row.ends else row

    def _function_at(self, address: int) -> str | None:
        index = bisect.bisect_right(self._functions, (address, float("inf"), "")) - 1
        if index < 0:
            return None
        start, size, name = self._functions[index]
        if size and address >= start + size:
            return None  # a label of no size (_start) runs to the next one
        return f"{name}+{address - start:#x}" if address != start else name

    def _text(self, row: LineRow) -> str:
        if row.path not in self._texts:
            try:
                self._texts[row.path] = files.read_text(Path(row.path), MAX_SOURCE_FILE_BYTES,
                                                        errors="replace").splitlines()
            except (OSError, ValueError):
                self._texts[row.path] = None
        lines = self._texts[row.path]
        if not lines or not 0 < row.line <= len(lines):
            return ""
        text = " ".join(lines[row.line - 1].split())
        return text if len(text) <= MAX_SOURCE_TEXT else text[: MAX_SOURCE_TEXT - 3] + "..."

    def _parse(self) -> None:
        if self._rows is not None:
            return
        self._rows = []
        try:
            from elftools.elf.elffile import ELFFile

            elf = ELFFile(io.BytesIO(self._data))
            self._functions = sorted(
                (symbol["st_value"], symbol["st_size"], symbol.name)
                for symbol in _symbol_entries(elf) if _is_code_label(symbol)
            )
            if elf.has_dwarf_info() and _debug_bytes(elf) <= MAX_DEBUG_BYTES:
                self._rows = _line_rows(elf.get_dwarf_info())
                self._calls = sorted(_inlined_calls(elf.get_dwarf_info()))
        except Exception:  # DWARF it cannot read: addresses stay unnamed; the run goes on
            self._rows, self._calls = [], []
        self._rows.sort(key=lambda row: (row.address, not row.ends))
        self._starts = [row.address for row in self._rows]
        self._call_starts = [call.low for call in self._calls]


def _debug_bytes(elf: object) -> int:
    """The size of the DWARF sections, as their headers give it."""
    return sum(section["sh_size"] for section in elf.iter_sections()  # type: ignore[attr-defined]
               if section.name.startswith(".debug"))


def _is_code_label(symbol: object) -> bool:
    """A function, or a global label of assembly code (``_start``), which has no type."""
    info = symbol["st_info"]  # type: ignore[index]
    return info["type"] == "STT_FUNC" or (info["type"] == "STT_NOTYPE" and info["bind"] == "STB_GLOBAL")


def _symbol_entries(elf: object) -> list:
    """The named symbols of ``.symtab``, the first MAX_SYMBOLS of them (a linked guest has hundreds)."""
    table = elf.get_section_by_name(".symtab")  # type: ignore[attr-defined]
    if table is None:
        return []
    return [symbol for symbol in itertools.islice(table.iter_symbols(), MAX_SYMBOLS) if symbol.name]


def _line_rows(dwarf: object) -> list[LineRow]:
    rows: dict[int, LineRow] = {}
    for unit in dwarf.iter_CUs():  # type: ignore[attr-defined]
        program = dwarf.line_program_for_CU(unit)  # type: ignore[attr-defined]
        if program is None:
            continue
        folder = _text_of(unit.get_top_DIE().attributes.get("DW_AT_comp_dir"))
        for entry in program.get_entries():
            state = entry.state
            if state is None:
                continue
            if state.end_sequence:
                rows.setdefault(state.address, LineRow(state.address, "", 0, True))
            else:  # the last row at an address is the one its instruction belongs to
                rows[state.address] = LineRow(state.address, _file_path(program, state.file, folder), state.line,
                                              False)
    return list(rows.values())


def _file_path(program: object, number: int, folder: str) -> str:
    header = program.header  # type: ignore[attr-defined]
    entries = header["file_entry"]
    index = number if header["version"] >= 5 else number - 1  # DWARF 5 counts files from 0
    if not 0 <= index < len(entries):
        return "?"
    entry = entries[index]
    directories = header["include_directory"]
    directory_index = entry.dir_index if header["version"] >= 5 else entry.dir_index - 1
    parts = [folder]
    if 0 <= directory_index < len(directories):
        parts.append(_text_of(directories[directory_index]))
    parts.append(_text_of(entry.name))
    return str(PurePosixPath(*[part for part in parts if part]))


def _text_of(value: object) -> str:
    raw = getattr(value, "value", value)
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw if isinstance(raw, str) else ""


def _inlined_calls(dwarf: object) -> list[InlinedCall]:
    """Every outermost inlined call (DW_TAG_inlined_subroutine not inside another), with its ranges."""
    calls: list[InlinedCall] = []
    for unit in dwarf.iter_CUs():  # type: ignore[attr-defined]
        program = dwarf.line_program_for_CU(unit)  # type: ignore[attr-defined]
        top = unit.get_top_DIE()
        if program is None:
            continue
        folder = _text_of(top.attributes.get("DW_AT_comp_dir"))
        base = top.attributes["DW_AT_low_pc"].value if "DW_AT_low_pc" in top.attributes else 0
        pending = list(top.iter_children())
        while pending:
            die = pending.pop()
            if die.tag != "DW_TAG_inlined_subroutine":
                pending.extend(die.iter_children())
                continue
            attributes = die.attributes
            if "DW_AT_call_file" not in attributes or "DW_AT_call_line" not in attributes:
                continue
            path = _file_path(program, attributes["DW_AT_call_file"].value, folder)
            name = _inlined_name(die)
            for low, high in _die_ranges(dwarf, unit, die, base):
                calls.append(InlinedCall(low, high, path, attributes["DW_AT_call_line"].value, name))
    return calls


def _inlined_name(die: object) -> str:
    try:
        origin = die.get_DIE_from_attribute("DW_AT_abstract_origin")  # type: ignore[attr-defined]
        return _text_of(origin.attributes.get("DW_AT_name")) or "?"
    except Exception:  # no origin, or one this reader cannot follow: the call still has its line
        return "?"


def _die_ranges(dwarf: object, unit: object, die: object, base: int) -> list[tuple[int, int]]:
    """The address ranges of ``die``: low_pc and high_pc (an address, or a length), or a range list."""
    attributes = die.attributes  # type: ignore[attr-defined]
    if "DW_AT_low_pc" in attributes and "DW_AT_high_pc" in attributes:
        low, high = attributes["DW_AT_low_pc"].value, attributes["DW_AT_high_pc"]
        return [(low, high.value if high.form == "DW_FORM_addr" else low + high.value)]
    ranges = attributes.get("DW_AT_ranges")
    if ranges is None or ranges.form != "DW_FORM_sec_offset":
        return []  # a DWARF 5 index (rnglistx) is left unread: the address keeps the inlined function's line
    from elftools.dwarf.ranges import BaseAddressEntry

    found = []
    for entry in dwarf.range_lists().get_range_list_at_offset(ranges.value, cu=unit):  # type: ignore[attr-defined]
        if isinstance(entry, BaseAddressEntry):
            base = entry.base_address
        elif entry.is_absolute:
            found.append((entry.begin_offset, entry.end_offset))
        else:
            found.append((base + entry.begin_offset, base + entry.end_offset))
    return found
