"""Files that are not what they seem: devices, FIFOs, huge sparse files, names that are not UTF-8, bad cache entries.

Every input path is covered: a guest source or ``.bin``, an ``%include`` or
``incbin``, a snapshot for ``resume`` and ``snapshot info``, a cache entry.
Each must end in one line and a status (or a run that ignores the bad cache
entry), in a bounded time and memory, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands.common import USAGE_ERROR
from pmtimer_harness.tools import cache, files
from pmtimer_harness.tools.assembler import assemble

from tests.guests import PRELUDE, write_guest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="devices and FIFOs are POSIX things")

DEFINES = MachineConfig().nasm_defines()
PASSING = "mov al, 0\nout 0xF4, al\n"  # exit code 0: pass
LONG = os.environ.get("HARNESS_FUZZ") == "long"
HUGE = 3 << 30  # sparse: 3 GiB on paper, nothing on disk
BUDGET_S = 10.0  # each command; a device read for ever took minutes and gigabytes


def command(capsys, argv: list[str]) -> tuple[int, str, str]:
    started = time.monotonic()
    status = main(argv)
    assert time.monotonic() - started < BUDGET_S
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def one_line_error(capsys, argv: list[str]) -> str:
    status, _, err = command(capsys, argv)
    lines = err.strip().splitlines()
    assert status == USAGE_ERROR and len(lines) == 1 and lines[0].startswith("harness: error: "), err
    return lines[0]


# --- the kinds of thing a path can name ------------------------------------------

def make_fifo(path: Path) -> None:
    os.mkfifo(path)


def make_link_to_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def make_link_to_urandom(path: Path) -> None:
    path.symlink_to("/dev/urandom")


def make_directory(path: Path) -> None:
    path.mkdir()


def make_huge_sparse(path: Path) -> None:
    with path.open("wb") as file:
        file.truncate(HUGE)


def make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener, contextlib.chdir(path.parent):
        listener.bind(path.name)  # a relative name: a socket's path is short; the file stays after it closes


KINDS = {
    "a FIFO": make_fifo, "/dev/zero": make_link_to_zero, "/dev/urandom": make_link_to_urandom,
    "a directory": make_directory, "a huge sparse file": make_huge_sparse, "a socket": make_socket,
}
NOT_REGULAR = {"a FIFO": "is a FIFO", "/dev/zero": "is a character device", "/dev/urandom": "is a character device",
               "a directory": "is a directory", "a socket": "is a socket"}


# --- files.py: the one way in ---------------------------------------------------

@pytest.mark.parametrize("kind", sorted(NOT_REGULAR))
def test_what_is_not_a_regular_file_is_refused_by_name_and_kind(tmp_path, kind):
    path = tmp_path / "input"
    KINDS[kind](path)
    with pytest.raises(files.InputError, match=f"^{re.escape(str(path))} {NOT_REGULAR[kind]}, not a regular file$"):
        files.read_bytes(path, 1 << 20)


def test_a_file_swapped_for_a_fifo_after_its_name_was_checked_is_caught_without_waiting(tmp_path, monkeypatch):
    fifo = tmp_path / "swapped"
    os.mkfifo(fifo)
    monkeypatch.setattr(files, "regular_size", lambda path: 0)  # the name looked like a regular file
    with pytest.raises(files.InputError, match="is a FIFO"):  # open() does not wait for a writer
        files.read_bytes(fifo, 1 << 20)


def test_a_file_over_its_bound_is_refused_from_its_size_before_it_is_read(tmp_path):
    huge = tmp_path / "huge"
    make_huge_sparse(huge)
    with pytest.raises(files.FileTooLarge, match="3,221,225,472 bytes, over the cap of 1,024 bytes"):
        files.read_bytes(huge, 1024)


def test_a_file_at_its_bound_is_read_whole(tmp_path):
    path = tmp_path / "exact"
    path.write_bytes(b"x" * 1024)
    assert files.read_bytes(path, 1024) == b"x" * 1024
    assert files.sha256(path, 1024) == files.sha256(path, 4096)


@given(st.binary(max_size=3 * 65536 + 7))
@settings(max_examples=25)
def test_a_files_digest_is_sha256_as_hashlib_gives_it(content):
    # The digest the cache keeps comes from CPython's built-in SHA-256 (no OpenSSL at start-up):
    # an entry written by one and read by the other must still match.
    import hashlib
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "content"
        path.write_bytes(content)
        assert files.sha256(path, len(content)) == hashlib.sha256(content).hexdigest()


def test_a_name_is_shown_on_one_line_whatever_its_bytes():
    assert files.shown_name(os.fsdecode(b"/g/a\xff\nb#.asm")) == "/g/a\\xff\\x0ab#.asm"


# --- item: a device read as a file ---------------------------------------------

@pytest.mark.parametrize("argv", [["snapshot", "info"], ["resume"]])
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_given_as_a_snapshot_is_refused_unread(capsys, argv, device):
    assert one_line_error(capsys, [*argv, device]) == (
        f"harness: error: {device} is a character device, not a regular file")


def test_a_fifo_given_as_a_snapshot_does_not_wait_for_a_writer(tmp_path, capsys):
    fifo = tmp_path / "pipe.snap"
    os.mkfifo(fifo)
    assert "is a FIFO, not a regular file" in one_line_error(capsys, ["resume", str(fifo)])


def test_an_incbin_of_dev_zero_assembles_and_is_not_cached(tmp_path, cache_dir, capsys):
    guest = write_guest(tmp_path, f'jmp short start\nincbin "/dev/zero", 0, 16\nstart: {PASSING}')
    status, out, _ = command(capsys, ["run", str(guest)])
    assert status == 0 and "pass" in out
    assert cache.entries() == []  # a device has no content to digest: nothing sound to key an entry on


def test_a_source_that_is_a_link_to_a_device_is_refused_as_one(tmp_path, capsys):
    source = tmp_path / "zero.asm"
    source.symlink_to("/dev/zero")
    assert one_line_error(capsys, ["run", str(source)]).endswith("zero.asm is a character device, not a regular file")


@pytest.mark.parametrize("kind", ["a FIFO", "/dev/zero", "a huge sparse file", "a directory"])
def test_a_cache_entry_that_is_not_one_is_a_miss(tmp_path, cache_dir, kind):
    source = write_guest(tmp_path, PASSING)
    image = assemble(source, DEFINES).image
    ((entry, _),) = cache.entries()
    entry.unlink()
    KINDS[kind](entry)
    assert assemble(source, DEFINES).image == image  # assembled again: a FIFO did not block, /dev/zero was not read


# --- item: a huge image is refused before it is read or cached ------------------

def test_an_image_larger_than_the_guest_s_room_is_refused_before_it_is_read_or_cached(tmp_path, cache_dir, capsys,
                                                                                       monkeypatch):
    guest = write_guest(tmp_path, "resb 2 * 1024 * 1024\n")  # 2 MiB; the default guest RAM is 1 MiB
    reads = []
    read_bytes = files.read_bytes
    monkeypatch.setattr(files, "read_bytes",
                        lambda path, limit: reads.append(Path(path).name) or read_bytes(path, limit))
    assert "the assembled image's 2,097,152 bytes do not fit in guest RAM" in one_line_error(
        capsys, ["run", str(guest)])
    assert "guest.bin" not in reads
    assert cache.entries() == []


def test_nasm_is_stopped_at_its_output_cap(tmp_path, cache_dir, capsys, monkeypatch):
    from pmtimer_harness.tools import assembler

    monkeypatch.setattr(assembler, "MAX_LISTING_BYTES", 1 << 20)
    monkeypatch.setattr(assembler, "MAX_MAP_BYTES", 1 << 20)
    guest = write_guest(tmp_path, "resb 4 << 20\n")
    message = one_line_error(capsys, ["run", str(guest)])
    assert "the assembled image's at least 1,048,577 bytes do not fit" in message  # stopped, not 4 MiB written


def test_nasm_is_held_to_memory_for_the_image_it_may_make(tmp_path, capsys):
    guest = write_guest(tmp_path, "resb 1 << 34\n")  # NASM builds the image in memory: it grew past 5 GB
    status, _, err = command(capsys, ["run", str(guest)])
    assert status == USAGE_ERROR and "out of memory" in err and "the image can be at most" in err


def test_an_assembly_too_large_for_the_cache_is_not_kept_and_pushes_nothing_out(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv(cache.MAX_MB_ENV, "0.05")  # 52 KiB
    small = write_guest(tmp_path, "db 1\n", name="small.asm")
    assemble(small, DEFINES)
    kept = cache.entries()
    assert len(kept) == 1
    large = write_guest(tmp_path, "times 60000 db 2\n", name="large.asm")
    assert len(assemble(large, DEFINES).image) == 60000
    assert cache.entries() == kept  # before: written, then pruned with every other entry


# --- item: names that are not UTF-8 ----------------------------------------------

@pytest.fixture
def odd_guests(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in (b"g\xff.asm", b"new\nline#1.asm"):
        Path(os.fsdecode(bytes(folder) + b"/" + name)).write_text(f"bits 16\norg LOAD_ADDRESS\n{PASSING}")
    return folder


def test_run_and_matrix_take_a_guest_whose_name_is_not_utf8(odd_guests, capsys):
    guest = str(odd_guests / os.fsdecode(b"g\xff.asm"))
    status, out, _ = command(capsys, ["run", guest])
    assert status == 0 and "g\\xff.asm: pass" in out
    status, out, _ = command(capsys, ["matrix", "--platforms", "qemu", guest])
    assert status == 0 and "g\\xff.asm  pass" in out
    out.encode("utf-8")  # printable to a strict UTF-8 terminal


def test_suite_tap_keeps_each_guest_on_one_test_point_line(odd_guests, capsys):
    status, out, _ = command(capsys, ["suite", "--tap", str(odd_guests)])
    assert status == 0
    points = [line for line in out.splitlines() if line.startswith("ok ")]
    assert len(out.splitlines()) == 4 and len(points) == 2  # the version, the plan, two points
    assert points[0].endswith("/g\\xff.asm") and points[1].endswith("/new\\x0aline_1.asm")


def test_suite_json_and_table_take_names_that_are_not_utf8(odd_guests, capsys):
    status, out, _ = command(capsys, ["suite", "--json", str(odd_guests)])
    assert status == 0
    names = sorted(os.fsencode(run["guest"]).rsplit(b"/", 1)[1] for run in json.loads(out))
    assert names == [b"g\xff.asm", b"new\nline#1.asm"]  # the JSON names open the files
    status, out, _ = command(capsys, ["suite", str(odd_guests)])
    assert status == 0 and "new\\x0aline#1.asm" in out
    out.encode("utf-8")


# --- item: cache entries with fields of the wrong type -----------------------------

@pytest.mark.parametrize("damage", [{"listing": 12}, {"listing": ["a"]}, {"map": None}, {"image": ""}])
def test_a_cache_entry_with_a_field_of_the_wrong_type_is_assembled_again_and_rewritten(tmp_path, cache_dir, damage):
    source = write_guest(tmp_path, PASSING)
    fresh = assemble(source, DEFINES)
    ((entry, _),) = cache.entries()
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps({**data, **damage}))
    assert assemble(source, DEFINES) == fresh
    rewritten = json.loads(entry.read_text())
    assert isinstance(rewritten["map"], str)  # it names NASM's temporary folder: new each time
    assert {**rewritten, "map": ""} == {**data, "map": ""}


# --- item: cache clear on a folder it cannot change ---------------------------------

def test_cache_clear_says_what_it_could_not_remove(tmp_path, cache_dir, capsys, monkeypatch):
    for index in range(2):
        assemble(write_guest(tmp_path, f"db {index}\n", name=f"g{index}.asm"), DEFINES)

    def refuse(self, **_unlink_options):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)  # a read-only folder (root ignores the mode bits)
    assert one_line_error(capsys, ["cache", "clear"]) == (
        f"harness: error: {cache_dir}: 2 cached assemblies could not be removed (Permission denied); 0 removed")
    assert len(cache.entries()) == 2


def test_cache_clear_says_when_it_cannot_read_the_folder(tmp_path, capsys, monkeypatch):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    monkeypatch.setenv(cache.CACHE_ENV, str(not_a_folder))
    assert "cannot read the cache folder" in one_line_error(capsys, ["cache", "clear"])


# --- the fuzzer: every input path, every kind of file --------------------------------

NASM_READS = ("include", "incbin")  # the harness runs NASM on these, with its time, file and memory limits
INPUT_PATHS = ("source", "bin", "include", "incbin", "resume", "snapshot info", "entry")


def hostile_input(root: Path, where: str, kind: str, stem: str) -> list[str]:
    """The command line that reads ``kind`` of file, named ``stem`` and a suffix, at the input path ``where``."""
    quick = ["--timeout", "0.2"]  # NASM waiting on a FIFO, or reading /dev/zero as an include, stops there
    if where == "entry":
        source = write_guest(root, PASSING, name=f"{stem}.asm")
        assemble(source, DEFINES)
        for entry, _ in cache.entries():  # none for a name with a line break: nasm -M cannot say it
            entry.unlink()
            KINDS[kind](entry)
        return ["run", str(source)]
    if where in ("source", "bin"):
        target = root / f"{stem}.{'asm' if where == 'source' else 'bin'}"
        KINDS[kind](target)
        return ["run", str(target), *quick]
    if where in ("resume", "snapshot info"):
        target = root / f"{stem}.snap"
        KINDS[kind](target)
        return [*where.split(), str(target)]
    target = root / f"{stem}.inc"
    KINDS[kind](target)
    line = f'%include "{stem}.inc"' if where == "include" else f'incbin "{stem}.inc", 0, 16'
    source = root / "guest.asm"
    source.write_bytes(f"{PRELUDE}jmp short start\n{line}\nstart: {PASSING}".encode("utf-8", "surrogateescape"))
    return ["run", str(source), *quick]


def check_hostile_input(root: Path, where: str, kind: str, stem: str = "hostile") -> None:
    session_cache = os.environ.get(cache.CACHE_ENV)
    os.environ[cache.CACHE_ENV] = str(root / "cache")
    try:
        argv = hostile_input(root, where, kind, stem)
        started = time.monotonic()
        status, err = _run_quietly(argv)
        assert time.monotonic() - started < BUDGET_S
        assert "Traceback" not in err
        if status == USAGE_ERROR:  # one line of ours; NASM's own report may add a line per error it found
            assert err.startswith("harness: error: ") and (where in NASM_READS or err.count("\n") == 1), err
        else:  # a bad cache entry is a miss; NASM reads 16 bytes of a device, a directory as nothing
            assert (where == "entry" or where in NASM_READS) and status == 0, (where, kind, status, err)
    finally:
        if session_cache is None:
            os.environ.pop(cache.CACHE_ENV)
        else:
            os.environ[cache.CACHE_ENV] = session_cache


def _run_quietly(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    return status, err.getvalue()


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("where", INPUT_PATHS)
def test_every_kind_of_file_on_every_input_path_ends_in_one_line_or_a_run(tmp_path, where, kind):
    check_hostile_input(tmp_path, where, kind)


NAME_BYTES = st.binary(min_size=1, max_size=12).filter(lambda name: b"/" not in name and b"\0" not in name)


@settings(max_examples=200 if LONG else 8, derandomize=not LONG, deadline=None, database=None)
@given(where=st.sampled_from(INPUT_PATHS), kind=st.sampled_from(sorted(KINDS)), name=NAME_BYTES)
def test_any_kind_of_file_under_any_name_ends_in_one_line_or_a_run(tmp_path_factory, where, kind, name):
    check_hostile_input(tmp_path_factory.mktemp("hostile"), where, kind, os.fsdecode(name))
