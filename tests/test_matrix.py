"""The matrix command: what its table says about each cell, and what it refuses before any cell runs."""

import json

import pytest
from pmtimer_harness.frontends import matrix
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.matrix import platforms_option
from pmtimer_harness.tools.guest import GuestError, read_header

from tests.guests import write_guest

EXIT_0 = """\
        mov al, 0
        out 0xF4, al
"""
PLATFORM_LIST = "the platforms are acpi, bhyve, qemu"


def test_a_host_clock_guest_runs_under_the_wall_clock_budget_alone(tmp_path, capsys):
    # The matrix's instruction budget means nothing to a guest whose header asks for the host clock.
    guest = write_guest(tmp_path, EXIT_0, header="; harness: --clock host\n")
    assert main(["matrix", str(guest), "--platforms", "acpi,qemu", "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert [(cell["verdict"], cell["reason"]) for cell in cells] == [("pass", ""), ("pass", "")]


def test_an_error_cell_shows_its_reason_as_a_footnote_under_the_table(tmp_path, capsys):
    rejected = write_guest(tmp_path, "        bogus_instruction eax\n", name="rejected.asm")
    refused = write_guest(tmp_path, "        mov dx, TIMER_PORT\n        in ax, dx\n", name="refused.asm")
    assert main(["matrix", str(rejected), str(refused), "--platforms", "acpi,bhyve"]) == 1
    lines = capsys.readouterr().out.splitlines()
    # Held on acpi, their own platform, to the plain '; expect: pass': bhyve's cells are only shown.
    assert lines[1].split() == ["rejected.asm", "error", "[1]", "!", "error", "[1]"]
    assert lines[2].split() == ["refused.asm", "error", "[2]", "!", "error", "[2]"]
    assert lines[4].startswith("[1] ") and "rejected.asm:3: error:" in lines[4]
    assert lines[5].startswith("[2] error: 2-byte IN at port 0x0408: refused by pm-timer")


@pytest.mark.parametrize(("header", "message"), [
    ("; expect: pass bhyv=error\n", f"'; expect:' no platform 'bhyv'; {PLATFORM_LIST}"),
    ("; expect: =fail\n", f"'; expect:' no platform ''; {PLATFORM_LIST}"),
    ("; expect: qemu=pass qemu=fail\n", "'; expect:' names qemu twice"),
    ("; harness: --timer-width 25\n", "its '; harness:' line: argument --timer-width: invalid choice"),
])
def test_a_bad_header_is_a_usage_error_before_any_cell_runs(tmp_path, capsys, monkeypatch, header, message):
    ran = []
    monkeypatch.setattr(matrix, "run_guest", lambda *args, **kwargs: ran.append(args))
    good = write_guest(tmp_path, EXIT_0, name="good.asm")
    bad = write_guest(tmp_path, EXIT_0, header=header, name="bad.asm")
    assert main(["matrix", str(good), str(bad), "--platforms", "acpi", "--json"]) == 2
    out, err = capsys.readouterr()
    assert ran == [] and message in json.loads(out)["error"]
    assert message in err and len(err.splitlines()) == 1


def test_a_file_that_is_not_text_is_refused_before_any_cell_runs(tmp_path, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(matrix, "run_guest", lambda *args, **kwargs: ran.append(args))
    good = write_guest(tmp_path, EXIT_0, name="good.asm")
    junk = tmp_path / "junk.asm"
    junk.write_bytes(b"\xff\xfe\x00\x01 not a source")
    assert main(["matrix", str(good), str(junk), "--platforms", "acpi"]) == 2
    assert ran == [] and "junk.asm: not a text file" in capsys.readouterr().err


def test_platforms_must_exist_are_listed_when_one_does_not_and_count_once():
    with pytest.raises(Exception, match=f"no platform 'nosuch'; {PLATFORM_LIST}"):
        platforms_option("acpi,nosuch")
    with pytest.raises(Exception, match=f"name at least one platform; {PLATFORM_LIST}"):
        platforms_option(" , ")
    assert platforms_option("qemu,acpi,qemu") == ["qemu", "acpi"]


def test_the_header_parser_refuses_a_platform_that_does_not_exist_for_every_front_end(tmp_path):
    guest = write_guest(tmp_path, EXIT_0, header="; expect: error xne=pass\n")
    with pytest.raises(GuestError, match=f"guest.asm:1: '; expect:' no platform 'xne'; {PLATFORM_LIST}"):
        read_header(guest)


def test_markdown_gives_the_table_the_readme_shows(tmp_path, capsys):
    passing = write_guest(tmp_path, EXIT_0, name="passing.asm")
    refused = write_guest(tmp_path, "        mov dx, TIMER_PORT\n        in ax, dx\n" + EXIT_0, name="refused.asm",
                          header="; expect: acpi=error\n")
    assert main(["matrix", str(passing), str(refused), "--platforms", "acpi,qemu", "--markdown"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "| guest | acpi | qemu |", "|---|---|---|",
        "| `passing.asm` | pass | pass |", "| `refused.asm` | error | pass |",
    ]
