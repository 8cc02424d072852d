"""Parallel runs (-j N): the rows, order, documents and exit status of a run in turn; workers that die or are stopped.

Fields that depend on the host and so differ between any two runs, in turn or
not, are left out of the comparisons: each run's wall time (``wall_seconds``
in ``suite --json``, the table's ``wall`` column; ``harness_wall_seconds`` and
``peer_wall_seconds`` in ``differential --json``, the peer's seconds in its
table).  Everything else is compared byte for byte.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pmtimer_harness.frontends.cli import build_parser, main
from pmtimer_harness.frontends.commands import common
from pmtimer_harness.frontends.commands.suite import SuiteJob
from pmtimer_harness.frontends.suite import format_tap
from pmtimer_harness.tools import parallel
from pmtimer_harness.tools.guest import checked_header

from tests import pool_jobs
from tests.guests import default_ctrl_c, write_guest

PASSING = "        mov al, 0\n        out 0xF4, al\n"
FAILING = "        mov al, 3\n        out 0xF4, al\n"
REJECTED = "        bogus_instruction eax\n"
READS = "        mov dx, TIMER_PORT\n        in eax, dx\n        in eax, dx\n"  # virtual time: the same each run
SPINNING = "spin:   jmp spin\n"


def died(job, reason):
    return f"{job}: {reason}"


def test_rows_come_back_in_the_jobs_order_from_at_most_n_workers():
    assert parallel.run_jobs(pool_jobs.twice, [1, 2, 3, 4, 5], 2, died=died) == [2, 4, 6, 8, 10]
    assert len(set(parallel.run_jobs(pool_jobs.pid, [1, 2, 3, 4], 2, died=died))) == 2


def test_one_job_or_one_process_runs_here_in_turn_with_no_pool():
    here = os.getpid()
    assert parallel.run_jobs(lambda job: os.getpid(), [1], 4, died=died) == [here]
    assert parallel.run_jobs(lambda job: os.getpid(), [1, 2, 3], 1, died=died) == [here] * 3


@pytest.mark.parametrize(("work", "reason"), [
    (pool_jobs.dies_on_two, "2: the process running it ended with status 3 before it gave a result"),
    (pool_jobs.crashes_on_two, "2: the process running it was killed by SIGSEGV"),
    (pool_jobs.out_of_memory_on_two, "2: its process ran out of memory"),
    (pool_jobs.unreadable_on_two,
     "2: its result could not be read back (TypeError: Unreadable.__init__() missing 1 required positional argument: "
     "'second')"),
])
def test_a_worker_that_dies_costs_its_own_job_alone(work, reason):
    assert parallel.run_jobs(work, [1, 2, 3, 4], 2, died=died) == [1, reason, 3, 4]


def test_an_exception_the_job_raises_is_raised_here_as_a_run_in_turn_raises_it():
    with pytest.raises(ValueError, match="two is refused"):
        parallel.run_jobs(pool_jobs.refuses_two, [1, 2, 3], 2, died=died)


def test_the_default_is_harness_jobs_else_the_cores(monkeypatch):
    args = build_parser("suite").parse_args(["suite"])
    monkeypatch.delenv(common.JOBS_ENV)
    assert common.jobs(args) == parallel.cores() >= 1
    monkeypatch.setenv(common.JOBS_ENV, "3")
    assert common.jobs(args) == 3
    assert common.jobs(build_parser("suite").parse_args(["suite", "-j", "2"])) == 2


@pytest.mark.parametrize("given", [["-j", "0"], ["--jobs", "many"]])
def test_a_job_count_that_is_not_one_or_more_is_a_usage_error(capsys, given):
    with pytest.raises(SystemExit) as stopped:
        main(["suite", *given])
    assert stopped.value.code == common.USAGE_ERROR and "-j/--jobs" in capsys.readouterr().err


def test_a_bad_harness_jobs_is_a_usage_error_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(common.JOBS_ENV, "0")
    assert main(["suite", str(write_guest(tmp_path, PASSING)), "--json"]) == common.USAGE_ERROR
    assert capsys.readouterr().err.splitlines() == [
        "harness: error: HARNESS_JOBS: '0': give 1 or more (1 runs in this process)",
    ]


@pytest.fixture
def folder(tmp_path):
    """A few guests: passing, failing, rejected by NASM, reading the timer."""
    for name, body in [("a_pass.asm", PASSING), ("b_fail.asm", FAILING), ("c_rejected.asm", REJECTED),
                       ("d_reads.asm", READS + PASSING)]:
        write_guest(tmp_path, body, name=name)
    return tmp_path


def _output(capsys, command):
    status = main(command)
    out, err = capsys.readouterr()
    return status, out, err


def _without_wall_times(text):
    text = re.sub(r'"(\w+_)?wall_seconds": [0-9.]+', '"wall_seconds": -', text)
    return re.sub(r"\b[0-9]+\.[0-9]{2} s$", "- s", text, flags=re.MULTILINE)


@pytest.mark.parametrize("shape", [["--json"], ["--tap"]])
def test_suite_in_parallel_gives_the_rows_documents_and_status_of_a_run_in_turn(folder, capsys, shape):
    serial = _output(capsys, ["suite", str(folder), "-j", "1", *shape])
    side_by_side = _output(capsys, ["suite", str(folder), "-j", "2", *shape])
    assert serial[0] == side_by_side[0] == common.FAIL_STATUS
    assert _without_wall_times(side_by_side[1]) == _without_wall_times(serial[1])
    # Off a terminal, a line per finished guest, counting finished work.
    assert sorted(line.split("] ")[1].split(":")[0] for line in side_by_side[2].splitlines()) == [
        "a_pass.asm", "b_fail.asm", "c_rejected.asm", "d_reads.asm"]
    assert [line.split("]")[0] for line in side_by_side[2].splitlines()] == ["[1/4", "[2/4", "[3/4", "[4/4"]


@pytest.mark.parametrize("shape", [["--json"], ["--markdown"]])
def test_matrix_in_parallel_gives_the_cells_documents_and_status_of_a_run_in_turn(folder, capsys, shape):
    command = ["matrix", str(folder), "--platforms", "acpi,qemu", *shape]
    serial = _output(capsys, [*command, "-j", "1"])
    side_by_side = _output(capsys, [*command, "-j", "2"])
    assert serial[0] == side_by_side[0] == common.FAIL_STATUS
    assert side_by_side[1] == serial[1]
    assert len(side_by_side[2].splitlines()) == 8


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU (qemu-system-x86_64) is not installed")
def test_differential_in_parallel_gives_the_rows_document_and_status_of_a_run_in_turn(tmp_path, capsys):
    # Guests that read no clock: the harness's host clock and QEMU's agree however loaded the host is.
    guests = [str(write_guest(tmp_path, body, name=name))
              for name, body in [("a_pass.asm", PASSING), ("b_fail.asm", FAILING), ("c_rejected.asm", REJECTED)]]
    command = ["differential", *guests, "--machine", "pc", "--accel", "tcg", "--json"]
    serial = _output(capsys, [*command, "-j", "1"])
    side_by_side = _output(capsys, [*command, "-j", "2"])
    assert serial[0] == side_by_side[0] == common.FAIL_STATUS  # the rejected guest's row
    assert _without_wall_times(side_by_side[1]) == _without_wall_times(serial[1])
    assert [row["agree"] for row in json.loads(side_by_side[1])] == [True, True, False]


def test_a_guest_whose_worker_dies_is_a_not_ok_row_and_the_others_run(tmp_path):
    args = build_parser("suite").parse_args(["suite"])
    guests = [write_guest(tmp_path, PASSING, name=name) for name in ("a.asm", "dies.asm", "c.asm")]
    todo = [SuiteJob(guest, checked_header(guest).expect, args) for guest in guests]
    rows = parallel.run_jobs(pool_jobs.suite_row_unless_it_dies, todo, 2, died=SuiteJob.died)
    tap = format_tap(rows).splitlines()
    assert tap[:4] == ["TAP version 13", "1..3", f"ok 1 - {guests[0]}", f"not ok 2 - {guests[1]}"]
    assert '  reason: "the process running it ended with status 3 before it gave a result"' in tap
    assert f"ok 3 - {guests[2]}" in tap


def test_a_guests_timeout_holds_inside_its_worker(tmp_path, capsys):
    spinning = [write_guest(tmp_path, SPINNING, name=f"spin{n}.asm") for n in (1, 2)]
    began = time.monotonic()
    status = main(["suite", *map(str, spinning), "--clock", "host", "--timeout", "0.3", "-j", "2", "--json"])
    assert time.monotonic() - began < 10
    assert status == common.FAIL_STATUS
    assert [row["verdict"] for row in json.loads(capsys.readouterr().out)] == ["timeout", "timeout"]


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _descendants(pid: int) -> set[int]:
    """``pid``'s children, theirs, and so on."""
    found = _children(pid)
    for child in list(found):
        found |= _descendants(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; sends SIGINT")
def test_ctrl_c_stops_every_worker_and_prints_the_usual_interrupted_result(tmp_path):
    quick = write_guest(tmp_path, PASSING, name="quick.asm")
    spinning = [write_guest(tmp_path, SPINNING, name=f"spin{n}.asm") for n in (1, 2, 3)]
    process = subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", "suite", str(quick), *map(str, spinning), "-j", "2",
         "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c,
    )
    try:
        assert "quick.asm" in process.stderr.readline()  # its progress line: two spinning guests come next
        workers = _children(process.pid)
        time.sleep(0.5)  # the two spinning by now
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "spin1.asm" in stdout and "interrupted" in stdout and "spin3.asm" not in stdout
    gone_by = time.monotonic() + 5
    while any(_alive(pid) for pid in workers) and time.monotonic() < gone_by:
        time.sleep(0.05)
    assert workers and not any(_alive(pid) for pid in workers)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; sends SIGINT")
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU (qemu-system-x86_64) is not installed")
def test_ctrl_c_stops_every_differential_worker_and_the_peers_they_started(tmp_path):
    quick = write_guest(tmp_path, PASSING, name="quick.asm")
    spinning = [write_guest(tmp_path, SPINNING, name=f"spin{n}.asm") for n in (1, 2, 3)]
    process = subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", "differential", str(quick), *map(str, spinning), "-j", "2",
         "--machine", "pc", "--accel", "tcg", "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c,
    )
    try:
        assert "quick.asm" in process.stderr.readline()
        started = _descendants(process.pid)
        booting_by = time.monotonic() + 10
        while len(started) < 4 and time.monotonic() < booting_by:  # two workers, a QEMU under each
            time.sleep(0.1)
            started = _descendants(process.pid)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, stdout + stderr
    assert stderr.splitlines()[-1] == "harness: interrupted; the peers were stopped" and "Traceback" not in stderr
    gone_by = time.monotonic() + 5
    while any(_alive(pid) for pid in started) and time.monotonic() < gone_by:
        time.sleep(0.05)
    assert len(started) >= 4 and not any(_alive(pid) for pid in started)

