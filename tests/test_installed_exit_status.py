"""The installed package held to the exit-status table, command by command.

The wheel is installed in a fresh virtual environment, as
``tests/test_user_project.py`` installs it, beside a project that names its
guests in ``harness_guests``: a passing guest, a failing one, one NASM
rejects, one whose header names a platform that does not exist, and one no
peer may run.  One script in that environment runs every command line of
``tests/test_exit_status.py``'s table through the installed command line, then
pytest over the project, all in one process; the statuses and documents are
checked here against that same table.
"""

import json
import os
import subprocess
from pathlib import Path

from tests.test_exit_status import GUESTS, ROWS, TABLE, command_line, document_problem, unavailable, write_case

# Runs inside the fresh environment: each command line (standard input, a JSON list) through the installed
# main(), then pytest over the project; prints what each gave.
SCRIPT = '''
import contextlib, io, json, sys
import pytest
import pmtimer_harness
from pmtimer_harness.frontends.cli import main

runs = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    runs.append([status, out.getvalue(), err.getvalue()])

class Outcomes:
    def __init__(self):
        self.items = {}
    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            self.items[report.nodeid] = report.outcome

outcomes = Outcomes()
with contextlib.redirect_stdout(io.StringIO()):
    status = pytest.main(["-q", "-p", "no:hypothesispytest", "-p", "no:cacheprovider"], plugins=[outcomes])
print(json.dumps({"package": pmtimer_harness.__file__, "runs": runs,
                  "pytest": [int(status), outcomes.items]}))
'''

# pytest's own statuses: each guest is an item that passes or fails, and the run goes on past a failing one.
PYTEST_OUTCOMES = {"passing": "passed", "failing": "failed", "rejected": "failed", "unknown platform": "failed",
                   "all skipped": "passed"}


def test_the_installed_commands_give_the_table_s_statuses_and_print_whole_documents(tmp_path, installed_python):
    python = installed_python
    project = tmp_path / "project"
    (project / "guests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\nharness_guests =\n    guests/*.asm\n")
    guests = {case: write_case(project / "guests", case) for case in GUESTS}
    outputs = tmp_path / "out"  # the disk images and pictures, outside the project pytest reads
    outputs.mkdir()
    rows = [(command, case) for command, case in ROWS if unavailable(command) is None]
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")

    ran = subprocess.run(
        [python, "-c", SCRIPT], cwd=project, env=env, capture_output=True, text=True, timeout=300,
        input=json.dumps([command_line(command, guests[case], outputs) for command, case in rows]),
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)

    assert Path(report["package"]).is_relative_to(python.parents[1])  # the installed copy, not the repository's
    wrong = [
        f"{command} on the {case} guest: status {status} (the table says {TABLE[command][case]}), "
        f"{document_problem(command, status, out) or 'its document is whole'}; {err.strip()[-300:]}"
        for (command, case), (status, out, err) in zip(rows, report["runs"], strict=True)
        if status != TABLE[command][case] or document_problem(command, status, out)
    ]
    assert not wrong, "\n".join(wrong)

    status, items = report["pytest"]
    assert items == {f"guests/{guests[case].name}::{guests[case].stem}": outcome
                     for case, outcome in PYTEST_OUTCOMES.items()}
    assert status == 1  # some tests failed, and every guest ran

