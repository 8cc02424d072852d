"""The port trace: console lines gathered, ports and devices filtered, JSON lines in the user's file."""

import json
import re

import pytest
from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.core.trace import CONSOLE_LINE_LIMIT, Tracer
from pmtimer_harness.frontends.cli import main

from tests.guests import run_source, write_guest

SAY_HI_READ_AND_EXIT = """
        mov     al, 'h'
        out     0xE9, al
        mov     al, 'i'
        out     0xE9, al
        mov     al, 10
        out     0xE9, al
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     al, '!'
        out     0xE9, al                ; a line the guest never ends
        mov     al, 0
        out     0xF4, al
"""


def traced(tmp_path, body=SAY_HI_READ_AND_EXIT, *options, **narrowing):
    lines = []
    run_source(tmp_path, body, *options, trace=Tracer(lines.append, **narrowing))
    return lines


def test_console_bytes_are_traced_as_whole_lines_where_each_began(tmp_path):
    lines = traced(tmp_path)
    assert len(lines) == 4
    assert '<- "hi\\n"  DEBUGCON line' in lines[0] and "insn          1]" in lines[0]
    assert "PM_TMR read" in lines[1]
    assert '<- "!"  DEBUGCON line' in lines[2]  # cut by the next access, not held to the end
    assert "DEBUG_EXIT write" in lines[3]


def test_a_line_never_ended_is_traced_when_the_run_ends(tmp_path):
    spin = "        mov al, '?'\n        out 0xE9, al\nspin:   jmp spin\n"
    lines = traced(tmp_path, spin, "--max-instructions", "1000")
    assert len(lines) == 1 and '<- "?"' in lines[0]


def test_a_guest_that_never_ends_its_line_is_traced_in_pieces(tmp_path):
    body = """
        mov     ecx, 10000
more:   mov     al, 'x'
        out     0xE9, al
        dec     ecx
        jnz     more
        mov     al, 0
        out     0xF4, al
"""
    pieces = [re.search(r'<- "(x*)"', line).group(1) for line in traced(tmp_path, body) if "DEBUGCON" in line]
    assert list(map(len, pieces)) == [CONSOLE_LINE_LIMIT, CONSOLE_LINE_LIMIT, 10000 - 2 * CONSOLE_LINE_LIMIT]


def test_a_port_range_lets_only_its_ports_through(tmp_path):
    lines = traced(tmp_path, ports=[(0x400, 0x40F)])
    assert len(lines) == 1 and "PM_TMR read" in lines[0]


def test_ports_and_devices_each_let_their_accesses_through(tmp_path):
    lines = traced(tmp_path, ports=[(0xF4, 0xF4)], devices=["pm-timer"])
    assert ["PM_TMR read" in lines[0], "DEBUG_EXIT write" in lines[1], len(lines)] == [True, True, 2]


def test_a_device_the_board_does_not_have_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"pmtimer, which this board does not have.*pm-timer"):
        traced(tmp_path, devices=["pmtimer"])


def test_the_trace_file_holds_one_json_object_per_entry(tmp_path, capsys):
    guest, trace = write_guest(tmp_path, SAY_HI_READ_AND_EXIT), tmp_path / "trace.jsonl"
    assert main(["run", str(guest), "--trace-file", str(trace)]) == 0
    assert "DEBUGCON" not in capsys.readouterr().out
    entries = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [entry["event"] for entry in entries] == ["console", "access", "console", "access"]
    assert entries[0]["text"] == "hi\n" and entries[0]["device"] == "debug-console"
    read = entries[1]
    assert (read["direction"], read["port"], read["width"], read["device"], read["register"]) == (
        "in", 0x408, 4, "pm-timer", "PM_TMR")
    assert read["instruction"] == "in eax, dx" and read["source"].startswith("guest.asm:")
    assert isinstance(read["value"], int) and read["time_ns"] > 0 and read["address"] > 0x7C00


def test_the_trace_file_takes_the_filters(tmp_path):
    guest, trace = write_guest(tmp_path, SAY_HI_READ_AND_EXIT), tmp_path / "trace.jsonl"
    assert main(["run", str(guest), "--trace-file", str(trace), "--trace-device", "debug-exit"]) == 0
    assert [json.loads(line)["port"] for line in trace.read_text().splitlines()] == [0xF4]


@pytest.mark.parametrize("where", ["a folder", "/dev/null", "the guest"])
def test_a_trace_file_that_is_not_the_user_s_regular_output_is_refused(tmp_path, capsys, where):
    guest = write_guest(tmp_path, SAY_HI_READ_AND_EXIT)
    target = {"a folder": tmp_path, "/dev/null": "/dev/null", "the guest": guest}[where]
    before = sorted(tmp_path.iterdir())
    assert main(["run", str(guest), "--trace-file", str(target)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert sorted(tmp_path.iterdir()) == before and guest.read_text().endswith("out     0xF4, al\n")


@pytest.mark.parametrize("value", ["0x10000", "0x408-0x400", "timer", "0x408,"])
def test_a_bad_port_list_is_a_usage_error(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as stopped:
        main(["run", str(write_guest(tmp_path, SAY_HI_READ_AND_EXIT)), "--trace-ports", value])
    assert stopped.value.code == 2 and "--trace-ports" in capsys.readouterr().err


def test_resume_traces_to_a_file_and_refuses_the_snapshot_it_reads(tmp_path, capsys):
    save_here = "        out     0xF5, al        ; a snapshot, when this block ends\n        jmp     saved\nsaved:\n"
    guest = write_guest(tmp_path, save_here + SAY_HI_READ_AND_EXIT)
    snapshot, trace = tmp_path / "saved.snap", tmp_path / "t.jsonl"
    assert main(["run", str(guest), "--snapshot", str(snapshot)]) == 0
    saved = snapshot.read_bytes()
    assert main(["resume", str(snapshot), "--trace-file", str(snapshot)]) == 2
    assert snapshot.read_bytes() == saved and "an output must not replace an input" in capsys.readouterr().err
    assert main(["resume", str(snapshot), "--trace-file", str(trace), "--trace-ports", "0x408"]) == 0
    assert [json.loads(line)["register"] for line in trace.read_text().splitlines()] == ["PM_TMR"]
