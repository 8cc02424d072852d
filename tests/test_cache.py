"""The assembly cache: it follows every file NASM read, and it never fails a run."""

import os
import stat
import sys

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.tools import cache
from pmtimer_harness.tools.assembler import assemble, parse_dependencies


def sibling_project(root):
    """guests/g.asm includes ../common/cfg.inc: a file outside the guest's folder and the bundled includes."""
    (root / "common").mkdir()
    (root / "guests").mkdir()
    (root / "common" / "cfg.inc").write_text("%define VALUE 1\n")
    source = root / "guests" / "g.asm"
    source.write_text('%include "../common/cfg.inc"\ndb VALUE\n')
    return source


def test_a_change_to_an_include_in_a_sibling_folder_rebuilds(tmp_path, cache_dir):
    source = sibling_project(tmp_path)
    assert assemble(source, {}).image == b"\x01"
    assert len(cache.entries()) == 1
    (tmp_path / "common" / "cfg.inc").write_text("%define VALUE 2\n")
    assert assemble(source, {}).image == b"\x02"


def test_the_entry_lists_what_nasm_read_including_incbin(tmp_path, cache_dir):
    source = sibling_project(tmp_path)
    (tmp_path / "common" / "blob.dat").write_bytes(b"AB")
    source.write_text('%include "../common/cfg.inc"\nincbin "../common/blob.dat"\n')
    assembly = assemble(source, {})
    assert assembly.image == b"AB"
    names = {path.name for path in assembly.dependencies}
    assert names == {"g.asm", "cfg.inc", "blob.dat"}
    (tmp_path / "common" / "blob.dat").write_bytes(b"CD")
    assert assemble(source, {}).image == b"CD"


def test_a_cached_entry_is_served_without_nasm(tmp_path, cache_dir, monkeypatch):
    source = sibling_project(tmp_path)
    first = assemble(source, {})
    monkeypatch.setattr("pmtimer_harness.tools.assembler._run_nasm", lambda *args: pytest.fail("NASM ran again"))
    again = assemble(source, {})
    assert again.image == first.image and again.listing == first.listing


def test_relative_includes_do_not_depend_on_the_working_folder(tmp_path, cache_dir, monkeypatch):
    source = sibling_project(tmp_path)
    (tmp_path / "elsewhere" / "common").mkdir(parents=True)
    (tmp_path / "elsewhere" / "common" / "cfg.inc").write_text("%define VALUE 9\n")
    monkeypatch.chdir(tmp_path / "elsewhere" / "common")
    assert assemble(source, {}, use_cache=False).image == b"\x01"


def test_no_cache_keeps_nothing(tmp_path, cache_dir):
    source = sibling_project(tmp_path)
    assert assemble(source, {}, use_cache=False).image == b"\x01"
    assert not cache_dir.exists()


def test_no_cache_environment_variable(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv(cache.NO_CACHE_ENV, "1")
    assemble(sibling_project(tmp_path), {})
    assert not cache_dir.exists()


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_cache_folder_does_not_fail_the_run(tmp_path, cache_dir):
    cache_dir.mkdir()
    cache_dir.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert assemble(sibling_project(tmp_path), {}).image == b"\x01"
        assert os.listdir(cache_dir) == []
    finally:
        cache_dir.chmod(stat.S_IRWXU)


def test_a_full_disk_leaves_no_staging_debris(tmp_path, cache_dir, monkeypatch):
    source = sibling_project(tmp_path)

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", disk_full)
    assert assemble(source, {}).image == b"\x01"
    assert os.listdir(cache_dir) == []


def test_a_cache_path_that_is_a_file_does_not_fail_the_run(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker))
    assert assemble(sibling_project(tmp_path), {}).image == b"\x01"
    assert blocker.read_text() == "x"


def test_a_damaged_entry_is_assembled_again(tmp_path, cache_dir):
    source = sibling_project(tmp_path)
    assemble(source, {})
    ((path, _),) = cache.entries()
    path.write_bytes(b"\xff{not json")
    assert assemble(source, {}).image == b"\x01"


def test_the_size_cap_removes_the_least_recently_used(tmp_path, cache_dir):
    for index in range(3):
        source = tmp_path / f"g{index}.asm"
        source.write_text(f"times 1000 db {index}\n")
        known = {path for path, _ in cache.entries()}
        assemble(source, {})
        (new,) = {path for path, _ in cache.entries()} - known
        os.utime(new, (1000 + index, 1000 + index))  # used in the order made
    largest = max(stat.st_size for _, stat in cache.entries())
    assert cache.prune(2 * largest) == 1
    assert sorted(stat.st_mtime for _, stat in cache.entries()) == [1001, 1002]


def test_cache_info_and_clear(tmp_path, cache_dir, capsys):
    assemble(sibling_project(tmp_path), {})
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache_dir) in out and "entries:  1" in out
    (cache_dir / "keep-me.txt").write_text("not ours")
    assert main(["cache", "clear"]) == 0
    assert "1 cached assemblies removed" in capsys.readouterr().out
    assert os.listdir(cache_dir) == ["keep-me.txt"]


def test_dependency_lines_with_spaces_and_continuations(tmp_path):
    work = tmp_path / "work"
    text = f'guest : /w/x.asm "/w/a b.inc" &\n  ../c.inc {work / "map.inc"}\n'
    paths = parse_dependencies(text, tmp_path / "g", work)
    assert [p.name for p in paths] == ["x.asm", "a b.inc", "c.inc"]  # not the harness's own map.inc


def test_a_folder_that_refuses_writes_does_not_fail_the_run(tmp_path, cache_dir, monkeypatch):
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refused)  # as a read-only folder does, even for root
    assert assemble(sibling_project(tmp_path), {}).image == b"\x01"
    assert cache.entries() == []


def test_an_old_temporary_file_from_a_killed_process_is_removed(tmp_path, cache_dir):
    cache_dir.mkdir()
    stale = cache_dir / ".0123.entry.abcd.tmp"
    fresh = cache_dir / ".4567.entry.efgh.tmp"
    stale.write_text("half")
    fresh.write_text("being written")
    os.utime(stale, (0, 0))
    assemble(sibling_project(tmp_path), {})
    assert not stale.exists() and fresh.exists()
