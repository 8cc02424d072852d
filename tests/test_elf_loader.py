"""ELF guests: segments placed where they say, and every malformed file refused in one line."""

import contextlib
import struct

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.tools.elf_image import ElfError, SourceLines, read_elf
from pmtimer_harness.tools.guest import GuestError
from pmtimer_harness.tools.runner import run_guest

MEMORY = 1 << 20
EXIT_CODE_5 = bytes([0xB0, 0x05, 0xE6, 0xF4, 0xF4])  # mov al, 5; out 0xF4, al; hlt
PT_LOAD = 1


def elf32(segments, entry=None, machine=3, kind=2, elf_class=1):
    """A minimal ELF32 executable: the header, one program header per (address, bytes, memsz), the bytes."""
    header_size, entry_size = 52, 32
    offset = header_size + entry_size * len(segments)
    table, contents = b"", b""
    for address, data, memsz in segments:
        table += struct.pack("<8I", PT_LOAD, offset + len(contents), address, address, len(data), memsz, 7, 0x1000)
        contents += data
    ident = b"\x7fELF" + bytes([elf_class, 1, 1]) + bytes(9)
    first = segments[0][0] if entry is None else entry
    header = ident + struct.pack("<HHIIIIIHHHHHH", kind, machine, 1, first, header_size, 0, 0, header_size,
                                 entry_size, len(segments), 40, 0, 0)
    return header + table + contents


def run_elf(tmp_path, data, options=()):
    path = tmp_path / "guest.elf"
    path.write_bytes(data)
    return run_guest(path, list(options))


def test_a_segment_runs_where_it_says_from_its_entry(tmp_path):
    run = run_elf(tmp_path, elf32([(0x20000, EXIT_CODE_5, 5)]))
    assert run.result.exit_code == 5 and run.config.load_address == 0x20000 and run.config.mode == 32


def test_segments_with_a_gap_and_bss_make_one_image_zeroed_between():
    image = read_elf(elf32([(0x8000, b"\x90\x90", 16), (0x9000, b"\xAA", 1)]), "g.elf", MEMORY)
    assert image.base == 0x8000 and len(image.image) == 0x1001
    assert image.image[:2] == b"\x90\x90" and image.image[2:0x1000] == bytes(0xFFE) and image.image[-1] == 0xAA


@pytest.mark.parametrize(("data", "words"), [
    (b"", "not a 32- or 64-bit ELF"),
    (b"\x7fELF\x03" + bytes(60), "not a 32- or 64-bit ELF"),
    (elf32([(0x8000, EXIT_CODE_5, 5)])[:40], "malformed ELF"),
    (elf32([(0x8000, EXIT_CODE_5, 5)])[:70], "malformed ELF"),
    (elf32([(0x8000, EXIT_CODE_5, 5)], machine=40), "not an x86 ELF"),
    (elf32([(0x8000, EXIT_CODE_5, 5)], kind=1), "not a linked executable"),
    (elf32([(0xFFFF0, EXIT_CODE_5, 0x20)]), "ends past guest RAM"),
    (elf32([(0x8000, EXIT_CODE_5, 0xFFFFFFF0)]), "ends past guest RAM"),
    (elf32([(0x8000, EXIT_CODE_5, 2)]), "more bytes in the file"),
    (elf32([(0x8000, EXIT_CODE_5, 8), (0x8004, b"\x90", 1)]), "overlaps the segment at 0x8000"),
    (elf32([(0x8000, EXIT_CODE_5, 5)], entry=0x8002), "is not its first loaded byte"),
    (elf32([(0x8000, b"", 0)]), "no loadable segment"),
])
def test_a_malformed_elf_is_refused_in_one_line(data, words):
    with pytest.raises(ElfError, match=words) as refused:
        read_elf(data, "g.elf", MEMORY)
    assert "\n" not in str(refused.value)


def test_a_segment_past_the_end_of_the_file_is_refused():
    data = bytearray(elf32([(0x8000, EXIT_CODE_5, 5)]))
    struct.pack_into("<I", data, 52 + 4, 1 << 30)  # p_offset
    with pytest.raises(ElfError, match="reads past the end of the"):
        read_elf(bytes(data), "g.elf", MEMORY)


def test_every_truncation_of_an_elf_is_refused_or_loaded_never_a_crash():
    data = elf32([(0x8000, EXIT_CODE_5, 5), (0x9000, b"\x01\x02", 4)])
    for length in range(len(data)):
        with contextlib.suppress(ElfError):
            read_elf(data[:length], "g.elf", MEMORY)


def test_a_segment_over_the_acpi_tables_is_refused_by_the_run(tmp_path, capsys):
    path = tmp_path / "guest.elf"
    path.write_bytes(elf32([(0xE0000, EXIT_CODE_5, 5)]))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "overlaps the ACPI tables" in err and err.count("\n") == 1


def test_a_hostile_elf_on_the_command_line_is_one_line_and_status_2(tmp_path, capsys):
    path = tmp_path / "guest.elf"
    path.write_bytes(elf32([(0x8000, EXIT_CODE_5, 5)], machine=62))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "guest.elf" in err and "Traceback" not in err


def test_an_elfs_class_is_its_start_mode_and_another_mode_is_refused(tmp_path):
    with pytest.raises(GuestError, match="is a 32-bit ELF: it starts in 32-bit mode"):
        run_elf(tmp_path, elf32([(0x8000, EXIT_CODE_5, 5)]), ["--mode", "16"])
    assert run_elf(tmp_path, elf32([(0x8000, EXIT_CODE_5, 5)])).result.verdict is Verdict.FAIL  # exit code 5


@pytest.mark.parametrize("data", [b"", b"\x7fELF\x01\x01\x01" + bytes(100), elf32([(0x8000, EXIT_CODE_5, 5)])])
def test_an_elf_without_readable_symbols_or_lines_names_no_address_and_never_fails(data):
    lines = SourceLines(data)
    assert lines.get(0x8000) is None and 0x8000 not in lines and len(lines) == 0


def test_an_elf_with_thousands_of_program_headers_is_refused_at_once():
    data = elf32([(0x8000 + 16 * number, b"\x90", 1) for number in range(5000)])
    with pytest.raises(ElfError, match="5,000 program headers, over the cap of 256"):
        read_elf(data, "g.elf", MEMORY)
