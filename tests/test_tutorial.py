"""Runs the tutorials in docs/: every file they save, every change they make, every command they show.

Each tutorial is followed in its own copy of the repository (so its deliberate
breakage of a device stays there); ``tests/tutorial_steps.py`` says how each
kind of block is followed.  The exercises' solutions (docs/solutions/) run in
the copy the second tutorial leaves, where its clock device is attached.
"""

from tests.guests import REPO
from tests.tutorial_steps import changed_files, copy_repository, follow, steps

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
    copy_repository(tmp_path)
    follow(tutorial, tmp_path)
    # A new device takes its own file and one entry in the board's list; every other change was put back.
    assert changed_files(tmp_path) == {"devices/my_rtc.py", "harness/core/board.py"}
    follow(SOLUTIONS / "README.md", tmp_path)
