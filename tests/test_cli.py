"""The command line as a user meets it: exit statuses, messages, JSON, headers."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pmtimer_harness.frontends.cli import main

from tests.guests import REPO, bundled, write_guest


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def test_a_passing_guest_exits_0(capsys):
    assert main(["run", str(bundled("hello.asm"))]) == 0
    assert "hello.asm: pass" in capsys.readouterr().out


def test_a_failing_guest_exits_1(tmp_path, capsys):
    guest = write_guest(tmp_path, "mov al, 7\n out 0xF4, al\n")
    assert main(["run", str(guest)]) == 1
    assert "fail (exit code 7)" in capsys.readouterr().out


def test_an_error_verdict_exits_4_with_a_report(capsys):
    assert main(["run", str(bundled("access_bhyve_write.asm"))]) == 4
    out = capsys.readouterr().out
    assert "OUT at port 0x0408" in out and "out dx, eax" in out and "bhyve" in out


def test_timeout_and_halted_exit_3(tmp_path):
    assert main(["run", str(write_guest(tmp_path, "cli\n hlt\n"))]) == 3
    spin = write_guest(tmp_path, "spin: jmp spin\n", name="spin.asm")
    assert main(["run", str(spin), "--max-instructions", "1000"]) == 3


def test_missing_guest_is_one_clear_line():
    done = run_cli("run", "no/such/guest.asm")
    assert done.returncode == 2
    assert done.stderr.strip() == "harness: error: no/such/guest.asm: no such guest file"


def test_unknown_guest_kind_is_refused(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    done = run_cli("run", str(notes))
    assert done.returncode == 2 and ".asm" in done.stderr and "Traceback" not in done.stderr


def test_bad_option_value_is_a_usage_error():
    done = run_cli("run", "asm/hello.asm", "--timer-width", "12")
    assert done.returncode == 2 and "--timer-width" in done.stderr


def test_out_of_range_option_is_one_clear_line():
    done = run_cli("run", "asm/hello.asm", "--timer-width", "24", "--timer-start", "0x1000000")
    assert done.returncode == 2
    assert "does not fit in 24 bits" in done.stderr and "Traceback" not in done.stderr


def test_assembly_error_shows_nasm_message_and_line(tmp_path):
    guest = write_guest(tmp_path, "mov eax, ebx\n bogus_instruction eax\n")
    done = run_cli("run", str(guest))
    assert done.returncode == 2
    assert "guest.asm:4: error:" in done.stderr and "Traceback" not in done.stderr


def test_bad_header_is_reported_with_its_line(tmp_path):
    guest = write_guest(tmp_path, "hlt\n", header="; harness: --timer-width 99\n")
    done = run_cli("run", str(guest))
    assert done.returncode == 2 and "--timer-width" in done.stderr and "Traceback" not in done.stderr


def test_command_line_overrides_the_header(tmp_path):
    guest = write_guest(tmp_path, "mov dx, TIMER_PORT\n in eax, dx\n out 0xF4, al\n",
                        header="; harness: --timer-start 5\n")
    assert main(["run", str(guest)]) == 1  # exit code 5: the header's start value
    assert main(["run", str(guest), "--timer-start", "0"]) == 0


def test_a_header_without_options_is_what_the_header_parser_makes_of_none():
    # Such a header is not parsed (no parser is built for it): every option's default must be to be absent.
    from pmtimer_harness.tools.options import header_parser, parse_header_options

    assert parse_header_options(()) == header_parser().parse_args([])
    assert vars(parse_header_options(["--timer-start", "5"])) == {"timer_start": 5}


def test_json_output_has_the_documented_fields():
    done = run_cli("run", "asm/monotonic.asm", "--json")
    data = json.loads(done.stdout)
    for field in ("verdict", "exit_code", "console", "instructions", "virtual_ns", "port_reads", "report"):
        assert field in data
    assert data["verdict"] == "pass" and data["port_reads"] == 20001


def test_trace_shows_port_value_address_and_instruction(tmp_path):
    done = run_cli("run", "asm/hello.asm", "--trace")
    line = next(line for line in done.stdout.splitlines() if "IN  0x0408/4" in line)
    assert "->" in line and "in eax, dx" in line and "hello.asm:" in line


def test_a_raw_binary_guest_runs(tmp_path):
    image = tmp_path / "exit.bin"
    image.write_bytes(bytes([0xB0, 0x00, 0xE6, 0xF4]))  # mov al, 0; out 0xF4, al
    assert main(["run", str(image)]) == 0


def test_an_empty_binary_is_refused(tmp_path):
    image = tmp_path / "empty.bin"
    image.write_bytes(b"")
    done = run_cli("run", str(image))
    assert done.returncode == 2 and "empty" in done.stderr


def test_suite_prints_a_table_of_every_bundled_guest():
    done = run_cli("suite")
    assert done.returncode == 0, done.stdout + done.stderr
    for guest in ("monotonic.asm", "rate.asm", "wrap24.asm", "wrap32.asm", "carry24.asm", "access_qemu.asm"):
        assert guest in done.stdout
    assert "guests as expected" in done.stdout


def test_tables_command_dumps_the_fadt_for_the_options():
    done = run_cli("tables", "--timer-width", "24", "--timer-port", "0x608")
    assert done.returncode == 0
    assert "PM_TMR_BLK     0x608" in done.stdout and "TMR_VAL_EXT=0" in done.stdout
    assert "RSD PTR" in done.stdout


def test_tables_as_json_decode_the_fadt_the_board_built():
    done = run_cli("tables", "--platform", "qemu", "--json")
    assert done.returncode == 0, done.stderr
    tables = {table["name"]: table for table in json.loads(done.stdout)}
    assert "PM_TMR_BLK     0x608  (PM_TMR_LEN 4)" in tables["FACP"]["fields"]
    assert bytes.fromhex(tables["RSDP"]["data"]).startswith(b"RSD PTR ")


def test_snapshot_info_as_json(tmp_path):
    snapshot = tmp_path / "here.snap"
    assert run_cli("run", "asm/snapshot_here.asm", "--snapshot", str(snapshot)).returncode == 0
    done = run_cli("snapshot", "info", str(snapshot), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["config"]["platform"] == "acpi"
    assert info["time"]["clock"] == "virtual" and info["time"]["instructions"] > 0
    assert {"cpu", "ram"} <= {chunk["name"] for chunk in info["chunks"]}


def test_a_closed_trace_pipe_stops_quietly():
    process = subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", "run", "asm/monotonic.asm", "--trace"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


def test_version_names_the_package_and_the_dispatch_runs_take(capsys, monkeypatch):
    import pmtimer_harness
    from pmtimer_harness.core.config import native_dispatch_built

    monkeypatch.delenv("HARNESS_DISPATCH", raising=False)
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    built = "is built" if native_dispatch_built() else "is not built: no C compiler at install"
    dispatch = "native" if native_dispatch_built() else "python"
    assert capsys.readouterr().out.strip() == (
        f"pmtimer-harness {pmtimer_harness.__version__} (dispatch: {dispatch}; the compiled fast path {built})"
    )


def test_version_names_the_dispatch_harness_dispatch_chose(capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_DISPATCH", "python")
    with pytest.raises(SystemExit):
        main(["-V"])
    assert "(dispatch: python (from HARNESS_DISPATCH); " in capsys.readouterr().out


def test_usage_error_and_error_verdict_have_distinct_statuses(tmp_path):
    assert run_cli("run", "asm/hello.asm", "--no-such-option").returncode == 2
    assert run_cli("run", "asm/access_bhyve_write.asm").returncode == 4


def users_folder(tmp_path):
    folder = tmp_path / "guests"
    (folder / "include").mkdir(parents=True)
    (folder / "include" / "lib.asm").write_text("not a guest\n")
    write_guest(folder, "mov al, 0\n out 0xF4, al\n", name="good.asm")
    write_guest(folder, "mov al, 3\n out 0xF4, al\n", name="bad#1.asm")
    return folder


def test_suite_runs_the_guests_in_a_folder_as_tap(tmp_path, capsys):
    status = main(["suite", str(users_folder(tmp_path)), "--tap"])
    out = capsys.readouterr().out
    assert status == 1
    lines = out.splitlines()
    assert lines[:2] == ["TAP version 13", "1..2"]
    assert lines[2].startswith("not ok 1 - ") and lines[2].endswith("bad_1.asm")
    assert "  verdict: fail" in lines and "  exit_code: 3" in lines and "  ..." in lines
    assert lines[-1].startswith("ok 2 - ") and lines[-1].endswith("good.asm")


def test_tap_shows_a_failing_guests_fail_lines_and_console_tail_and_a_skip_as_skip(tmp_path, capsys):
    failing = write_guest(tmp_path, """
        %include "report.inc"
guest_main:
        xor     eax, eax
        CHECK   z, "zero is zero"
        mov     eax, 1
        test    eax, eax
        CHECK   z, "one is zero"
        FINISH
""", name="failing.asm", header="")
    skipping = write_guest(tmp_path, """
        %include "report.inc"
guest_main:
        SKIP    "no timer here"
        FINISH
""", name="skipping.asm", header="; expect: skip\n")
    assert main(["suite", str(failing), str(skipping), "--tap"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert '    - "FAIL: one is zero"' in lines and "  console_tail:" in lines
    assert lines[-1].endswith("skipping.asm # SKIP no timer here")


def test_suite_takes_files_and_prints_json(tmp_path, capsys):
    folder = users_folder(tmp_path)
    assert main(["suite", str(folder / "good.asm"), str(bundled("hello.asm")), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [Path(run["guest"]).name for run in runs] == ["good.asm", "hello.asm"]


def test_suite_on_a_missing_path_is_a_usage_error(tmp_path, capsys):
    assert main(["suite", str(tmp_path / "nowhere")]) == 2
    assert "no such guest file" in capsys.readouterr().err


def test_cache_info_as_json(capsys):
    assert main(["cache", "info", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"folder", "entries", "bytes", "max_bytes", "enabled"}


def test_save_at_past_the_end_says_no_snapshot_was_written(tmp_path, capsys):
    snapshot = tmp_path / "late.snap"
    assert main(["run", str(bundled("hello.asm")), "--save-at", "100000000", "--snapshot", str(snapshot)]) == 0
    assert "--save-at 100,000,000: the run ended after" in capsys.readouterr().err
    assert not snapshot.exists()


def test_each_snapshot_written_is_named(tmp_path, capsys):
    snapshot = tmp_path / "here.snap"
    assert main(["run", str(bundled("snapshot_here.asm")), "--snapshot", str(snapshot)]) == 0
    assert f"harness: note: snapshot written to {snapshot} at " in capsys.readouterr().err


def test_int3_is_reported_at_its_own_address(tmp_path, capsys):
    from pmtimer_harness.core.result import Verdict
    from pmtimer_harness.frontends.commands.common import VERDICT_STATUS

    guest = write_guest(tmp_path, "nop\n nop\n int3\n nop\n")
    assert main(["run", str(guest)]) == VERDICT_STATUS[Verdict.ERROR]
    out = capsys.readouterr().out
    assert "#BP breakpoint from INT3" in out and re.search(r"at:\s+0x00007c02\s+int3", out)


def test_console_escape_sequences_are_shown_not_sent_to_the_terminal(tmp_path, capsys):
    guest = write_guest(tmp_path, """
        mov si, message
next:   lodsb
        out 0xE9, al
        cmp al, 0
        jne next
        mov al, 0
        out 0xF4, al
message: db 27, "[2J", "red", 13, 10, 7, 0
""")
    assert main(["run", str(guest)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2Jred\n\\x07\\x00" in out
    assert main(["run", str(guest), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["console"] == "\x1b[2Jred\r\n\x07\x00"  # JSON keeps it exact
