"""``; portable:`` values: ``no, REASON`` and ``not PEER, REASON``; anything else is refused, naming the line."""

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.peers.portable import portability
from pmtimer_harness.tools.guest import GuestError

from tests.guests import write_guest

EXIT_0 = "        mov al, 0\n        out 0xF4, al\n"


@pytest.mark.parametrize(("value", "on_qemu", "on_bochs"), [
    ("no, needs --timer-start", "needs --timer-start", "needs --timer-start"),
    ("no", "marked not portable", "marked not portable"),
    ("No: port 0xF5", "port 0xF5", "port 0xF5"),
    ("not bochs, the SCI never comes", None, "the SCI never comes"),
    ("not bochs: the SCI never comes", None, "the SCI never comes"),
    ("NOT QEMU", "marked not portable to qemu", None),
])
def test_a_declaration_names_the_peers_it_refuses_and_why(tmp_path, value, on_qemu, on_bochs):
    guest = write_guest(tmp_path, EXIT_0, header=f"; portable: {value}\n")
    assert (portability(guest, "qemu"), portability(guest, "bochs")) == (on_qemu, on_bochs)


@pytest.mark.parametrize("value", ["nope", "not qemuu, a typo", "not", "", "yes"])
def test_any_other_value_is_refused_naming_the_file_and_line(tmp_path, value):
    guest = write_guest(tmp_path, EXIT_0, header=f"; harness: --timer-width 32\n; portable: {value}\n")
    with pytest.raises(GuestError, match=r"guest\.asm:2: '; portable:' takes 'no, REASON' or 'not PEER, REASON' "
                                         r"\(PEER one of qemu, bochs\), not"):
        portability(guest)


def test_the_qemu_command_refuses_a_malformed_value_before_qemu_starts(tmp_path, capsys):
    guest = write_guest(tmp_path, EXIT_0, header="; portable: nope\n")
    assert main(["qemu", str(guest), "--json"]) == 2
    assert "'; portable:' takes" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["run"], ["suite", "--json"], ["matrix", "--platforms", "acpi"]])
def test_every_front_end_refuses_a_malformed_value_before_the_guest_runs(tmp_path, capsys, command):
    guest = write_guest(tmp_path, EXIT_0, header="; portable: nope\n")
    assert main([command[0], str(guest), *command[1:]]) == 2
    out, err = capsys.readouterr()
    assert "guest.asm:1: '; portable:' takes" in err and "pass" not in out
