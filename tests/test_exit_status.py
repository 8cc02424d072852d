"""One table of exit statuses (docs/running.md, "Exit status"), command by command.

For each command: a passing guest, a failing guest, a guest NASM rejects and a
platform that does not exist, where the command takes them; and after every
usage error found once the command line is parsed, ``--json`` and ``--tap``
still print a document that says what went wrong.
"""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands import common
from pmtimer_harness.peers import differential
from pmtimer_harness.peers.process import PeerRun

from tests.guests import write_guest

PASSING = "        mov al, 0\n        out 0xF4, al\n"
FAILING = "        mov al, 1\n        out 0xF4, al\n"
REJECTED = "        bogus_instruction eax\n"
UNKNOWN_PLATFORM = "; expect: pass xenn=fail\n"
READING = "        mov dx, TIMER_PORT\n        in eax, dx\n"  # plot draws the timer values a guest read
COUNTING = "        mov cx, 50\nspin:   loop spin\n"  # a few instructions to save a snapshot in
NOT_PORTABLE = "; portable: no, the harness's own\n"

# The table of docs/running.md, case by case: the status each command that takes a guest gives for each kind of
# guest, and the document its --json or --tap prints.  tests/test_installed_exit_status.py holds the
# installed package to the same table.  A command line's guest goes after its first word; {folder} is
# the test's own.
GUESTS = {  # case -> (header, body)
    "passing": ("", READING + PASSING),
    "failing": ("", READING + FAILING),
    "rejected": ("", REJECTED),
    "unknown platform": (UNKNOWN_PLATFORM, READING + PASSING),
    "all skipped": (NOT_PORTABLE, READING + PASSING),  # no peer may run it
}
TABLE = {
    "run --json": {"passing": 0, "failing": 1, "rejected": 2, "unknown platform": 2},
    "suite --json": {"passing": 0, "failing": 1, "rejected": 1, "unknown platform": 2},
    "suite --tap": {"passing": 0, "failing": 1, "rejected": 1, "unknown platform": 2},
    "matrix --platforms acpi,qemu --json": {"passing": 0, "failing": 1, "rejected": 1, "unknown platform": 2},
    # A guest that fails alike in the harness and in QEMU agrees.
    "differential --machine pc --accel tcg --json": {
        "passing": 0, "failing": 0, "rejected": 1, "unknown platform": 2, "all skipped": 77,
    },
    "qemu --json": {"passing": 0, "failing": 1, "rejected": 2, "unknown platform": 2},
    "image -o {folder}/disk.img": {"passing": 0, "failing": 0, "rejected": 2, "unknown platform": 2},
    "plot -o {folder}/timer.png --json": {"passing": 0, "failing": 1, "rejected": 2, "unknown platform": 2},
}
ROWS = [(command, case) for command, statuses in TABLE.items() for case in statuses]


def write_case(folder: Path, case: str) -> Path:
    header, body = GUESTS[case]
    return write_guest(folder, body, header, name=case.replace(" ", "_") + ".asm")


def command_line(command: str, guest: Path, folder: Path) -> list[str]:
    first, *rest = command.split()
    return [first, str(guest), *(word.format(folder=folder) for word in rest)]


def unavailable(command: str) -> str | None:
    """Why ``command``'s row cannot run here, or None."""
    if command.split()[0] in ("differential", "qemu") and shutil.which("qemu-system-x86_64") is None:
        return "QEMU (qemu-system-x86_64) is not installed"
    if command.startswith("plot") and importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed"
    return None


def document_problem(command: str, status: int, out: str) -> str | None:
    """What is wrong with what ``command`` printed on standard output for ``status``, or None."""
    words = command.split()
    if "--json" in words:
        try:
            document = json.loads(out)
        except ValueError:
            return f"not one JSON document: {out[:200]!r}"
        is_error = isinstance(document, dict) and "error" in document
        if is_error != (status == common.USAGE_ERROR) or (is_error and document["status"] != status):
            return f"status {status} with the document {out[:200]!r}"
    if "--tap" in words:
        lines = out.splitlines()
        second = "Bail out! " if status == common.USAGE_ERROR else "1.."
        if lines[:1] != ["TAP version 13"] or not lines[1:2] or not lines[1].startswith(second):
            return f"status {status} with the TAP {out[:200]!r}"
    return None


def test_the_statuses_are_the_tables():
    assert (common.PASS_STATUS, common.FAIL_STATUS, common.USAGE_ERROR, common.TIMEOUT_STATUS,
            common.ERROR_STATUS, common.SKIP_STATUS, common.INTERRUPTED_STATUS) == (0, 1, 2, 3, 4, 77, 130)


def _error_document(out: str, text: str) -> None:
    document = json.loads(out)
    assert text in document["error"] and document["status"] == common.USAGE_ERROR


@pytest.mark.parametrize(("command", "case"), ROWS)
def test_each_command_gives_the_table_s_status_and_prints_a_whole_document(tmp_path, capsys, command, case):
    if reason := unavailable(command):
        pytest.skip(reason)
    status = main(command_line(command, write_case(tmp_path, case), tmp_path))
    assert (status, document_problem(command, status, capsys.readouterr().out)) == (TABLE[command][case], None)


def test_run_a_usage_error_after_parsing_is_a_json_document(tmp_path, capsys):
    assert main(["run", str(write_guest(tmp_path, PASSING)), "--platform", "nosuch", "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'nosuch'")
    assert main(["run", str(write_guest(tmp_path, PASSING, UNKNOWN_PLATFORM)), "--json"]) == 2
    _error_document(capsys.readouterr().out, "guest.asm:1: '; expect:' no platform 'xenn'")


@pytest.mark.parametrize(("ending", "status"), [(PASSING, 0), (FAILING, 1)])
def test_resume(tmp_path, capsys, ending, status):
    snapshot = tmp_path / "saved.snap"
    guest = write_guest(tmp_path, COUNTING + ending)
    assert main(["run", str(guest), "--snapshot", str(snapshot), "--save-at", "10"]) == status
    assert main(["resume", str(snapshot), "--json"]) == status
    capsys.readouterr()
    assert main(["resume", str(snapshot), "--platform", "nosuch", "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'nosuch'")


def test_snapshot_info_of_a_file_that_is_not_one_is_a_json_document(tmp_path, capsys):
    assert main(["snapshot", "info", str(write_guest(tmp_path, PASSING)), "--json"]) == 2
    _error_document(capsys.readouterr().out, "not a snapshot")


def test_suite_a_guest_nasm_rejects_is_a_row_and_the_others_run(tmp_path, capsys):
    guests = [write_guest(tmp_path, body, name=name)
              for body, name in [(PASSING, "a.asm"), (REJECTED, "b.asm"), (PASSING, "c.asm")]]
    assert main(["suite", *map(str, guests), "--tap"]) == common.FAIL_STATUS
    tap = capsys.readouterr().out.splitlines()
    assert tap[:4] == ["TAP version 13", "1..3", f"ok 1 - {guests[0]}", f"not ok 2 - {guests[1]}"]
    assert any(line.startswith("  reason: ") and "b.asm:3: error: parser: instruction expected" in line
               for line in tap)
    assert f"ok 3 - {guests[2]}" in tap
    assert main(["suite", *map(str, guests), "--json"]) == common.FAIL_STATUS
    rows = json.loads(capsys.readouterr().out)
    assert [row["verdict"] for row in rows] == ["pass", "error", "pass"]
    assert "instruction expected" in rows[1]["error"]


def test_suite_a_guest_nasm_rejects_is_never_as_expected_even_when_it_expects_error(tmp_path, capsys):
    guest = write_guest(tmp_path, REJECTED, "; expect: error\n")
    assert main(["suite", str(guest)]) == common.FAIL_STATUS
    assert "UNEXPECTED" in capsys.readouterr().out


@pytest.mark.parametrize("shape", ["--tap", "--json"])
def test_suite_an_unknown_platform_in_a_header_is_a_usage_error_in_a_document(tmp_path, capsys, shape):
    good = write_guest(tmp_path, PASSING, name="good.asm")
    bad = write_guest(tmp_path, PASSING, UNKNOWN_PLATFORM, name="bad.asm")
    assert main(["suite", str(good), str(bad), shape]) == common.USAGE_ERROR
    out, err = capsys.readouterr()
    assert "[1/2]" not in err  # refused before the first guest ran
    if shape == "--json":
        _error_document(out, "bad.asm:1: '; expect:' no platform 'xenn'")
    else:
        assert out.startswith("TAP version 13\nBail out! ") and "no platform 'xenn'" in out
        assert len(out.splitlines()) == 2


def test_suite_an_unknown_platform_option_is_a_usage_error_in_a_document(tmp_path, capsys):
    assert main(["suite", str(write_guest(tmp_path, PASSING)), "--platform", "nosuch", "--tap"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("TAP version 13\nBail out! no platform 'nosuch'")


@pytest.mark.parametrize(("body", "status", "cell"), [
    (PASSING, 0, "pass"), (FAILING, 1, "fail 1 !"), (REJECTED, 1, "error [1] !"),
])
def test_matrix_holds_a_guest_naming_no_platform_to_its_plain_expect_on_its_own(tmp_path, capsys, body, status, cell):
    # Its own platform is acpi (the default): qemu's cell is shown, not held.
    assert main(["matrix", str(write_guest(tmp_path, body)), "--platforms", "qemu,acpi"]) == status
    row = capsys.readouterr().out.splitlines()[1]
    assert row.split("  ")[-1].strip() == cell
    assert "!" not in row.split("  ")[1]


def test_matrix_own_platform_is_the_headers(tmp_path, capsys):
    guest = write_guest(tmp_path, FAILING, "; harness: --platform qemu\n")
    assert main(["matrix", str(guest), "--platforms", "acpi,qemu", "--json"]) == 1
    cells = json.loads(capsys.readouterr().out)
    assert [(cell["platform"], cell["expected"], cell["as_declared"]) for cell in cells] == [
        ("acpi", None, True), ("qemu", "pass", False),
    ]


def test_matrix_a_guest_nasm_rejects_is_never_as_declared(tmp_path, capsys):
    guest = write_guest(tmp_path, REJECTED, "; expect: error qemu=error\n")
    assert main(["matrix", str(guest), "--platforms", "qemu", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["as_declared"] is False


def test_matrix_an_unknown_platform_in_a_header_is_a_json_document(tmp_path, capsys):
    assert main(["matrix", str(write_guest(tmp_path, PASSING, UNKNOWN_PLATFORM)), "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'xenn'")


@pytest.fixture
def without_qemu(monkeypatch):
    """A QEMU that is never started: every row here is skipped or refused before a run."""
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")


@pytest.mark.usefixtures("without_qemu")
def test_differential_whose_every_run_was_skipped_is_status_77(tmp_path, capsys):
    guest = write_guest(tmp_path, PASSING, "; portable: no, the harness's own\n")
    assert main(["differential", str(guest), "--machine", "pc", "--accel", "tcg", "--json"]) == 77
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["skipped"] == "the harness's own"
    assert err.splitlines()[-1] == "harness: note: every run was skipped; nothing was compared"  # after the progress


@pytest.fixture
def peer_that_passes(monkeypatch):
    """A QEMU never started that 'ran' every guest to exit code 0."""
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")
    monkeypatch.setattr(differential, "accel_missing", lambda accel, qemu: None)
    monkeypatch.setattr(differential.PeerSetup, "run", lambda setup, guest, timeout_s, cancel: PeerRun(0, "", 0.1))


@pytest.mark.usefixtures("peer_that_passes")
def test_differential_a_guest_nasm_rejects_is_a_row_and_the_others_run(tmp_path, capsys):
    guests = [write_guest(tmp_path, body, name=name)
              for body, name in [(PASSING, "a.asm"), (REJECTED, "b.asm"), (PASSING, "c.asm")]]
    command = ["differential", *map(str, guests), "--machine", "pc", "--accel", "tcg"]
    assert main([*command, "--json"]) == common.FAIL_STATUS
    rows = json.loads(capsys.readouterr().out)
    assert [(row["agree"], row["harness_verdict"]) for row in rows] == [
        (True, "pass"), (False, "error"), (True, "pass"),
    ]
    assert "b.asm:3: error: parser: instruction expected" in rows[1]["error"] and rows[1]["skipped"] is None
    assert main(command) == common.FAIL_STATUS
    table = capsys.readouterr().out.splitlines()
    assert table[3].split()[:5] == ["b.asm", "QEMU", "pc/tcg", "error", "-"] and "ERROR" in table[3]
    assert table[-2:] == ["2 of 2 runs agree; 0 skipped; 1 ERROR (not run)",
                          f"  b.asm on QEMU pc/tcg: {rows[1]['error']}"]
    assert main([*command, "--tap"]) == common.FAIL_STATUS
    tap = capsys.readouterr().out.splitlines()
    assert tap[:4] == ["TAP version 13", "1..3", f"ok 1 - {guests[0]} on QEMU pc/tcg",
                       f"not ok 2 - {guests[1]} on QEMU pc/tcg"]
    assert tap[4:7] == ["  ---", "  verdict: error", f"  reason: {json.dumps(rows[1]['error'])}"]
    assert f"ok 3 - {guests[2]} on QEMU pc/tcg" in tap


def test_differential_rows_that_differ_are_not_ok_in_tap_with_the_differences(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(differential, "find_qemu", lambda: "qemu-system-x86_64")
    monkeypatch.setattr(differential, "accel_missing", lambda accel, qemu: None)
    monkeypatch.setattr(differential.PeerSetup, "run", lambda setup, guest, timeout_s, cancel: PeerRun(1, "", 0.1))
    guest = write_guest(tmp_path, PASSING)
    assert main(["differential", str(guest), "--machine", "pc", "--accel", "tcg", "--tap"]) == common.FAIL_STATUS
    assert capsys.readouterr().out.splitlines() == [
        "TAP version 13", "1..1", f"not ok 1 - {guest} on QEMU pc/tcg", "  ---", "  differences:",
        '    - "verdict: harness pass (exit code 0), QEMU pc/tcg fail (exit code 1)"', "  ...",
    ]


@pytest.mark.usefixtures("without_qemu")
def test_differential_whose_every_run_was_skipped_is_a_tap_plan_of_skips(tmp_path, capsys):
    guest = write_guest(tmp_path, PASSING, "; portable: no, the harness's own\n")
    assert main(["differential", str(guest), "--machine", "pc", "--accel", "tcg", "--tap"]) == common.SKIP_STATUS
    assert capsys.readouterr().out.splitlines() == [
        "TAP version 13", "1..1", f"ok 1 - {guest} on QEMU pc/tcg # SKIP the harness's own",
    ]


@pytest.mark.usefixtures("without_qemu")
def test_differential_a_bad_header_with_tap_is_a_bail_out(tmp_path, capsys):
    guest = write_guest(tmp_path, PASSING, UNKNOWN_PLATFORM)
    assert main(["differential", str(guest), "--machine", "pc", "--accel", "tcg", "--tap"]) == common.USAGE_ERROR
    out = capsys.readouterr().out
    assert out.startswith("TAP version 13\nBail out! ") and "no platform 'xenn'" in out


@pytest.mark.parametrize(("header", "message"), [
    (UNKNOWN_PLATFORM, "guest.asm:1: '; expect:' no platform 'xenn'"),
    ("; portable: nope\n", "guest.asm:1: '; portable:' takes 'no, REASON' or 'not PEER, REASON'"),
])
@pytest.mark.usefixtures("without_qemu")
def test_differential_a_bad_header_is_a_usage_error_before_any_run(tmp_path, capsys, header, message):
    guest = write_guest(tmp_path, PASSING, header)
    assert main(["differential", str(guest), "--machine", "pc", "--accel", "tcg", "--json"]) == 2
    _error_document(capsys.readouterr().out, message)


def test_fingerprint(capsys):
    assert main(["fingerprint", "--platform", "qemu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["fingerprint", "--platform", "nosuch", "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'nosuch'")
    assert main(["fingerprint", "--machine", "q35", "--json"]) == 2
    _error_document(capsys.readouterr().out, "give them with --peer qemu")


def test_platforms(capsys):
    assert main(["platforms", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["platforms", "nosuch", "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'nosuch'")


def test_tables(capsys):
    assert main(["tables", "--platform", "qemu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["tables", "--platform", "nosuch", "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'nosuch'")


@pytest.mark.parametrize(("body", "extra", "status"), [
    (PASSING, [], 0), (FAILING, [], 0), (REJECTED, [], 2), (PASSING, ["--platform", "nosuch"], 2),
])
def test_image_runs_no_guest_so_a_failing_one_is_written(tmp_path, capsys, body, extra, status):
    disk = tmp_path / "disk.img"
    assert main(["image", str(write_guest(tmp_path, body)), "-o", str(disk), *extra]) == status
    assert disk.exists() == (status == 0)


def test_plot_an_unknown_platform_is_a_json_document(tmp_path, capsys):
    guest = write_guest(tmp_path, PASSING)
    assert main(["plot", str(guest), "-o", str(tmp_path / "t.png"), "--platform", "nosuch", "--json"]) == 2
    _error_document(capsys.readouterr().out, "no platform 'nosuch'")


def test_cache(capsys, cache_dir):
    assert main(["cache", "info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
    assert main(["cache", "clear"]) == 0


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(capsys, flag):
    with pytest.raises(SystemExit) as stopped:
        main([flag])
    assert stopped.value.code == 0 and capsys.readouterr().out.startswith("pmtimer-harness ")


def test_suite_a_file_that_is_not_a_guest_is_a_usage_error_in_a_document(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a guest\n")
    assert main(["suite", str(write_guest(tmp_path, PASSING)), str(notes), "--tap"]) == 2
    out = capsys.readouterr().out
    assert out.startswith("TAP version 13\nBail out! ") and "notes.txt: a guest is a NASM source" in out
