"""An output never replaces the guest it was made from, and a count is never negative."""

import pytest
from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.tools.runner import build_machine

from tests.guests import bundled, write_guest

INCLUDES_A_FILE = """
        %include "exit.inc"
"""


@pytest.fixture
def guest_with_include(tmp_path):
    (tmp_path / "exit.inc").write_text("        mov al, 0\n        out 0xF4, al\n")
    return write_guest(tmp_path, INCLUDES_A_FILE)


def refused(capsys, *command):
    assert main(list(command)) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "must not replace an input" in error


@pytest.mark.parametrize("victim", ["guest.asm", "exit.inc", "link-to-guest.asm"])
def test_a_snapshot_over_the_guest_or_its_include_is_refused(guest_with_include, victim, capsys):
    folder = guest_with_include.parent
    (folder / "link-to-guest.asm").symlink_to(guest_with_include)
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    refused(capsys, "run", str(guest_with_include), "--save-at", "1", "--snapshot", str(folder / victim))
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


@pytest.mark.parametrize("victim", ["guest.asm", "exit.inc"])
def test_an_image_over_the_guest_or_its_include_is_refused(guest_with_include, victim, capsys):
    folder = guest_with_include.parent
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    refused(capsys, "image", str(guest_with_include), "-o", str(folder / victim))
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


@pytest.mark.parametrize("option", [["--save-at", "-1"], ["--trace", "insn", "--trace-limit", "-1"]])
def test_a_negative_count_is_a_usage_error(option, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(bundled("hello.asm")), "--snapshot", str(tmp_path / "x.snap"), *option])
    assert stopped.value.code == 2
    assert "is negative" in capsys.readouterr().err
    assert not (tmp_path / "x.snap").exists()


@pytest.mark.parametrize("instructions", [-5, 1.5, True])
def test_save_at_takes_only_a_count_of_instructions(instructions):
    machine = build_machine(bundled("hello.asm"))
    with pytest.raises(ConfigError, match="--save-at must be a whole number of instructions"):
        machine.save_at(instructions)
