"""Every output the harness writes: links followed, special files refused, replaced atomically, no debris."""

import os
import stat
import sys

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands.common import USAGE_ERROR
from pmtimer_harness.tools.output import OutputError, open_output, write_output

from tests.guests import bundled

SNAPSHOT_GUEST = bundled("snapshot_here.asm")
fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")


def test_a_new_file_is_written_with_nothing_beside_it(tmp_path):
    assert write_output(tmp_path / "out.bin", b"data") == tmp_path / "out.bin"
    assert (tmp_path / "out.bin").read_bytes() == b"data"
    assert [path.name for path in tmp_path.iterdir()] == ["out.bin"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_debris(tmp_path, monkeypatch):
    target = tmp_path / "machine.snap"
    target.write_bytes(b"old")

    def crash(descriptor):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "fsync", crash)  # the write dies before the rename
    with pytest.raises(OutputError, match=r"machine\.snap: cannot write: disk on fire"):
        write_output(target, b"new")
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["machine.snap"]


def test_an_exception_in_the_writer_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "picture.png"
    target.write_bytes(b"old")
    with pytest.raises(ZeroDivisionError), open_output(target) as file:
        file.write(b"half")
        raise ZeroDivisionError
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["picture.png"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_replaced_file_keeps_its_permissions(tmp_path):
    target = tmp_path / "shared.snap"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_output(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_link_is_followed_and_stays_a_link(tmp_path):
    real = tmp_path / "real.snap"
    real.write_bytes(b"old")
    link = tmp_path / "link.snap"
    link.symlink_to(real)
    assert write_output(link, b"new") == real
    assert link.is_symlink() and real.read_bytes() == b"new"


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.snap"
    link.symlink_to(tmp_path / "later.snap")
    write_output(link, b"new")
    assert link.is_symlink() and (tmp_path / "later.snap").read_bytes() == b"new"


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        write_output(tmp_path, b"data")
    assert list(tmp_path.iterdir()) == []


@fifo_only
def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="pipe: is a FIFO"):
        write_output(fifo, b"data")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert [path.name for path in tmp_path.iterdir()] == ["pipe"]


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="no /dev/null")
def test_snapshot_to_dev_null_is_refused_and_dev_null_stays_a_device(capsys):
    # Run as root this once turned /dev/null into a regular file.
    status = main(["run", str(SNAPSHOT_GUEST), "--snapshot", "/dev/null"])
    assert status == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "harness: error: /dev/null: is a character device; an output must be a regular file, refusing to replace it"
    ]
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@fifo_only
def test_snapshot_through_a_link_to_a_fifo_is_refused(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "link.snap").symlink_to(fifo)
    assert main(["run", str(SNAPSHOT_GUEST), "--snapshot", str(tmp_path / "link.snap")]) == USAGE_ERROR
    assert "is a FIFO (through a link to" in capsys.readouterr().err
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_snapshot_into_a_missing_folder_is_one_line(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "machine.snap"
    assert main(["run", str(SNAPSHOT_GUEST), "--snapshot", str(target)]) == USAGE_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target) in err[0] and "Traceback" not in err[0]


# --- plot -o: exactly the path named, or a one-line refusal ---------------------

plot_needs_matplotlib = pytest.mark.skipif(
    __import__("importlib").util.find_spec("matplotlib") is None, reason="plot needs matplotlib"
)


@plot_needs_matplotlib
@pytest.mark.parametrize("name", ["picture", "a.xyz", "timer.PNG.bak"])
def test_plot_refuses_a_name_without_a_picture_suffix(tmp_path, capsys, name):
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(tmp_path / name)]) == USAGE_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must end in one of" in err[0] and ".png" in err[0]
    assert list(tmp_path.iterdir()) == []


@plot_needs_matplotlib
def test_plot_into_a_directory_is_refused(tmp_path, capsys):
    folder = tmp_path / "pictures.png"
    folder.mkdir()
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(folder)]) == USAGE_ERROR
    assert "is a directory" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


@plot_needs_matplotlib
def test_plot_writes_exactly_the_path_named_in_the_format_its_suffix_names(tmp_path, capsys):
    picture = tmp_path / "timer.svg"
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(picture)]) == 0
    assert capsys.readouterr().out.startswith(f"{picture}: wrap24.asm")
    assert b"<svg" in picture.read_bytes()[:500]
    assert [path.name for path in tmp_path.iterdir()] == ["timer.svg"]
