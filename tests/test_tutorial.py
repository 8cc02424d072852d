"""Runs the tutorials in docs/: every file they save, every change they make, every command they show.

Each tutorial is followed in its own copy of the repository (so its deliberate
breakage of a device stays there); ``tests/tutorial_steps.py`` says how each
kind of block is followed.  The exercises' solutions (docs/solutions/) run in
the copy their tutorial leaves: the second's, where its clock device is
attached; the third's, beside the reader's own project folder.
"""

import ast

import pytest

from tests.guests import REPO
from tests.tutorial_steps import changed_files, copy_repository, follow, shown_in_place, steps

DOCS = REPO / "docs"
SOLUTIONS = DOCS / "solutions"


def test_the_first_tutorial_runs_as_written(tmp_path):
    tutorial = DOCS / "tutorial.md"
    kinds = [kind for kind, _ in steps(tutorial)]
    assert kinds.count("console") >= 5 and "diff" in kinds
    copy_repository(tmp_path)
    follow(tutorial, tmp_path)


def test_the_second_tutorial_and_its_solutions_run_as_written(tmp_path):
    tutorial = DOCS / "tutorial-2.md"
    kinds = [kind for kind, _ in steps(tutorial)]
    assert {"nasm", "python", "diff", "console", "mermaid"} <= set(kinds)
    copied = copy_repository(tmp_path)
    follow(tutorial, tmp_path)
    # A new device takes its own file and one entry in the board's list; every other change was put back.
    assert changed_files(tmp_path, copied) == {"devices/my_rtc.py", "harness/core/board.py"}
    follow(SOLUTIONS / "README.md", tmp_path)


def test_the_third_tutorial_and_its_solutions_run_as_written(tmp_path):
    tutorial = DOCS / "tutorial-3.md"
    kinds = [kind for kind, _ in steps(tutorial)]
    assert {"nasm", "python", "diff", "console"} <= set(kinds)
    # The reader's own project lives beside the harness's folder, not in it.
    harness = tmp_path / "pmtimer-harness"
    copied = copy_repository(harness)
    follow(tutorial, harness)
    assert changed_files(harness, copied) == set()  # the device came from outside: the harness is as it was
    assert {path.name for path in (tmp_path / "my-project").iterdir()} >= {"alarm.py", "alarm.asm"}
    follow(SOLUTIONS / "part-3.md", harness)


# realmode.asm's first instructions as the trace prints them (source comments left out).
TRACE = [
    "0x00007c00  b8c007            mov ax, 0x7c0",
    "            eax=0x7c0",
    "0x00007c03  8ed8              mov ds, ax",
    "            ds=0x7c0",
    "0x00007c05  8a1e0000          mov bl, byte ptr [0]",
]


@pytest.mark.parametrize("shown", [
    TRACE,
    ["...", "            ds=0x7c0", "..."],
    ["0x00007c00  b8c007 ...", "...", "0x00007c05  8a1e0000 ..."],
    ["...", "0x00007c05  8a1e0000          mov bl, byte ptr [0]"],
])
def test_shown_output_fits_where_it_is_shown(shown):
    assert shown_in_place(shown, TRACE)


@pytest.mark.parametrize("shown", [
    # ds=0x7c0 under the instruction before the one that set it, as tutorial 2 once showed it.
    ["0x00007c00  b8c007            mov ax, 0x7c0", "            ds=0x7c0", "..."],
    TRACE[::-1],  # every line is there, out of order
    TRACE[:2] + TRACE[3:],  # a line left out with no "..." to say so
    TRACE[1:],  # the first line left out
    TRACE[:-1],  # the last line left out
    ["0x00007c00  b8c007", "..."],  # part of a line, with no "..." for the rest
])
def test_shown_output_out_of_place_or_silently_shortened_is_refused(shown):
    assert not shown_in_place(shown, TRACE)


def test_the_solutions_import_only_the_top_level_package():
    for solution in SOLUTIONS.glob("*.py"):
        for node in ast.walk(ast.parse(solution.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("pmtimer_harness"):
                assert node.module == "pmtimer_harness", f"{solution.name} imports from {node.module}"
            if isinstance(node, ast.Import):
                assert all(not alias.name.startswith("pmtimer_harness.") for alias in node.names), solution.name
