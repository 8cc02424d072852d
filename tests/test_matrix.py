"""The matrix command: what its table says about each cell, and what it refuses before any cell runs."""

import json

import pytest
from pmtimer_harness.frontends import matrix
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.matrix import platforms_option
from pmtimer_harness.platform.profiles import PROFILES
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


def test_a_folder_gives_the_guests_below_it_but_not_its_include_folder(tmp_path, capsys):
    (tmp_path / "deeper").mkdir()
    (tmp_path / "include").mkdir()
    write_guest(tmp_path / "deeper", EXIT_0, name="found.asm")
    (tmp_path / "include" / "macros.asm").write_text("%macro nothing 0\n%endmacro\n")  # no guest: not a row
    assert main(["matrix", str(tmp_path), "--platforms", "acpi", "--json"]) == 0
    assert [cell["guest"] for cell in json.loads(capsys.readouterr().out)] == ["found.asm"]


def test_platforms_all_is_every_platform_and_stands_alone(tmp_path, capsys):
    assert platforms_option("all") is None
    with pytest.raises(Exception, match="'all' stands alone"):
        platforms_option("all,qemu")
    guest = write_guest(tmp_path, EXIT_0)
    assert main(["matrix", str(guest), "--platforms", "all", "--json"]) == 0
    assert [cell["platform"] for cell in json.loads(capsys.readouterr().out)] == list(PROFILES)


def test_a_quirk_on_the_command_line_reaches_every_cell(tmp_path, capsys):
    narrow = write_guest(tmp_path, "        mov dx, TIMER_PORT\n        in ax, dx\n" + EXIT_0)
    assert main(["matrix", str(narrow), "--platforms", "acpi,qemu", "--quirk", "narrow-reads-refused", "--json"]) == 1
    cells = json.loads(capsys.readouterr().out)
    assert [cell["verdict"] for cell in cells] == ["error", "error"]
    assert all("2-byte IN" in cell["reason"] for cell in cells)


def test_the_clock_and_timeout_on_the_command_line_replace_the_matrix_budget(tmp_path, capsys):
    # Host clock: no instruction budget, so the spinning guest meets the 0.2 s budget instead of 10 s.
    spin = write_guest(tmp_path, "spin:   jmp spin\n", header="; expect: timeout\n")
    assert main(["matrix", str(spin), "--platforms", "acpi,qemu", "--clock", "host", "--timeout", "0.2",
                 "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert [(cell["verdict"], cell["as_declared"]) for cell in cells] == [("timeout", True)] * 2
    assert all("0.2" in cell["reason"] for cell in cells)


def test_io_ns_and_insn_ns_reach_the_cells_and_no_cache_reaches_the_assembler(tmp_path, monkeypatch):
    seen, run_guest = [], matrix.run_guest

    def recorded(guest, options, use_cache):
        seen.append((options, use_cache))
        return run_guest(guest, options, use_cache=use_cache)

    monkeypatch.setattr(matrix, "run_guest", recorded)
    guest = write_guest(tmp_path, EXIT_0)
    assert main(["matrix", str(guest), "--platforms", "qemu", "--io-ns", "7", "--insn-ns", "3", "--no-cache"]) == 0
    ((options, use_cache),) = seen
    assert (options.io_ns, options.insn_ns, options.platform, use_cache) == (7, 3, "qemu", False)


def test_a_bad_machine_option_is_a_usage_error_before_any_cell_runs(tmp_path, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(matrix, "run_guest", lambda *args, **kwargs: ran.append(args))
    guest = write_guest(tmp_path, EXIT_0)
    assert main(["matrix", str(guest), "--platforms", "acpi", "--quirk", "nosuch", "--json"]) == 2
    out, err = capsys.readouterr()
    assert ran == [] and "no quirk 'nosuch'" in json.loads(out)["error"] and len(err.splitlines()) == 1


def test_off_a_terminal_each_cell_is_one_line_on_standard_error_and_the_output_stays_clean(tmp_path, capsys):
    passing = write_guest(tmp_path, EXIT_0, name="passing.asm")
    assert main(["matrix", str(passing), "--platforms", "acpi,qemu", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 2
    lines = err.splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "[1/2] passing.asm on acpi: pass", "[2/2] passing.asm on qemu: pass",
    ]
