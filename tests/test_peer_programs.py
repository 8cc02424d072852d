"""HARNESS_QEMU and HARNESS_BOCHS name the peer program: one that is not there is the user's mistake.

Another program of the same name on PATH must not run in its place, as with HARNESS_NASM.
"""

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.peers.bochs import BochsUnavailable, find_bochs
from pmtimer_harness.peers.qemu import QemuUnavailable, find_qemu

from tests.guests import bundled


@pytest.fixture
def decoys_on_path(tmp_path, monkeypatch):
    """A PATH whose qemu-system-x86_64 and bochs are executables the user did not name."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("qemu-system-x86_64", "bochs"):
        decoy = folder / name
        decoy.write_text("#!/bin/sh\nexit 0\n")
        decoy.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return tmp_path / "no-such-program"


def test_a_missing_harness_qemu_is_refused_by_name(decoys_on_path, monkeypatch):
    monkeypatch.setenv("HARNESS_QEMU", str(decoys_on_path))
    with pytest.raises(QemuUnavailable, match=f"HARNESS_QEMU names {decoys_on_path}, which is not a file"):
        find_qemu()


def test_a_missing_harness_bochs_is_refused_by_name(decoys_on_path, monkeypatch):
    monkeypatch.setenv("HARNESS_BOCHS", str(decoys_on_path))
    with pytest.raises(BochsUnavailable, match=f"HARNESS_BOCHS names {decoys_on_path}, which is not a file"):
        find_bochs()


def test_the_qemu_command_says_so_in_one_line_with_the_usage_status(decoys_on_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_QEMU", str(decoys_on_path))
    assert main(["qemu", str(bundled("hello.asm"))]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "HARNESS_QEMU names" in error


def test_a_named_program_that_exists_is_the_one_used(tmp_path, monkeypatch):
    program = tmp_path / "my-qemu"
    program.write_text("#!/bin/sh\n")
    monkeypatch.setenv("HARNESS_QEMU", str(program))
    assert find_qemu() == str(program)
