"""``run --uart-input FILE``: the user's bytes reach COM1's receiver; a file that is not one is refused in one line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pmtimer_harness.devices.uart16550 import MAX_INPUT_BYTES
from pmtimer_harness.tools.runner import resume_snapshot, run_guest

from tests.guests import write_guest
from tests.test_hostile_files import command, one_line_error
from tests.test_uart16550 import POLLING_ECHO


@pytest.fixture
def echo_guest(tmp_path: Path) -> Path:
    return write_guest(tmp_path, POLLING_ECHO)


def test_run_sends_the_files_bytes_to_the_guest_which_echoes_them(tmp_path, echo_guest, capsys):
    given = tmp_path / "input.txt"
    given.write_bytes(b"typed\n")
    status, out, _ = command(capsys, ["run", str(echo_guest), "--uart-input", str(given)])
    assert status == 0 and "typed\n" in out


@pytest.mark.skipif(sys.platform == "win32", reason="devices are POSIX things")
@pytest.mark.parametrize("what", ["a directory", "a device", "missing", "over the cap"])
def test_an_input_that_is_not_a_small_regular_file_is_refused_in_one_line(what, tmp_path, echo_guest, capsys):
    path = {"a directory": tmp_path, "a device": Path("/dev/zero"), "missing": tmp_path / "nothing"}.get(what)
    if path is None:
        path = tmp_path / "huge"
        with open(path, "wb") as file:
            file.truncate(1 << 30)  # sparse: a GiB on paper
    line = one_line_error(capsys, ["run", str(echo_guest), "--uart-input", str(path)])
    assert str(path) in line
    if what == "over the cap":
        assert f"{MAX_INPUT_BYTES:,}" in line


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_input_is_refused_in_one_line(tmp_path, echo_guest, capsys):
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    path.chmod(0)
    assert "ermission" in one_line_error(capsys, ["run", str(echo_guest), "--uart-input", str(path)])


def test_a_snapshot_over_the_input_file_is_refused(tmp_path, echo_guest, capsys):
    given = tmp_path / "input.txt"
    given.write_bytes(b"typed\n")
    one_line_error(capsys, ["run", str(echo_guest), "--uart-input", str(given), "--snapshot", str(given)])
    assert given.read_bytes() == b"typed\n"


def test_a_run_saved_while_input_is_on_its_way_resumes_to_the_same_end(tmp_path, echo_guest):
    given = b"split in two\n"
    whole = run_guest(echo_guest, uart_input=given).result
    snapshot = tmp_path / "half.snap"
    run_guest(echo_guest, uart_input=given, snapshot_path=snapshot, save_at=whole.instructions // 2)
    resumed = resume_snapshot(snapshot).result
    assert (resumed.verdict, resumed.console, resumed.virtual_ns) == (whole.verdict, whole.console, whole.virtual_ns)
    assert whole.console.startswith("split in two\n")


def test_an_interrupt_driven_echo_saved_at_any_of_several_points_resumes_to_the_same_end(tmp_path):
    from tests.test_uart16550 import INTERRUPT_ECHO

    guest = write_guest(tmp_path, INTERRUPT_ECHO)
    given = b"ok\n"  # three bytes: the guest counts three interrupts
    whole = run_guest(guest, uart_input=given).result
    assert whole.verdict == "pass", whole.console
    for fifth in range(1, 5):
        snapshot = tmp_path / f"at-{fifth}.snap"
        run_guest(guest, uart_input=given, snapshot_path=snapshot, save_at=whole.instructions * fifth // 5)
        resumed = resume_snapshot(snapshot).result
        assert (resumed.verdict, resumed.console, resumed.virtual_ns, resumed.instructions) == (
            whole.verdict, whole.console, whole.virtual_ns, whole.instructions), fifth
