"""The examples of the README and docs/ run as written: their Python blocks, and their shell lines that run the harness.

The tutorials are not among the pages: ``tests/test_tutorial.py`` follows them
step by step, in a copy of the repository, as their breakage of a device needs.
"""

import re
import shlex
import shutil
import subprocess

from tests.guests import REPO

README = REPO / "README.md"
TUTORIALS = ("tutorial.md", "tutorial-2.md", "tutorial-3.md")
PAGES = [README, *(page for page in sorted((REPO / "docs").glob("*.md")) if page.name not in TUTORIALS)]
PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def python_blocks(page=None) -> list[str]:
    """The Python examples of one page, or of every page."""
    blocks = []
    for shown in [page] if page else PAGES:
        for indent, body in PYTHON_BLOCK.findall(shown.read_text()):
            blocks.append("\n".join(line[len(indent):] for line in body.splitlines()))
    return blocks


def test_every_python_example_in_the_docs_runs(monkeypatch):
    monkeypatch.chdir(REPO)  # the examples name the bundled guests as asm/...
    ran = 0
    for page in PAGES:
        for block in python_blocks(page):
            exec(compile(block, str(page.relative_to(REPO)), "exec"), {"__name__": "docs_example"})
            ran += 1
    assert ran >= 4  # the README's, the API's, the device's, the snapshot's: a pattern that finds none is broken


FENCED_BLOCK = re.compile(r"^ *```[a-z]*\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
HARNESS_LINE = re.compile(r"^(?:\$ )?(?:\.venv/bin/)?python -m pmtimer_harness (.*?)(?:\s+#.*)?$")
# Harness lines the pages show and this test does not run, each with why and what runs it instead.
NOT_RUN_HERE = {
    "matrix": "every guest on every platform costs half a minute: tests/test_matrix.py and test_platforms.py run it",
    "differential": "QEMU and Bochs in real time, minutes a run: tests/test_qemu.py runs it on short guests",
    "--gdb": "waits for a debugger to attach: tests/test_gdb.py attaches one",
}


def shown_commands() -> list[list[str]]:
    """Every harness command line in the pages' fenced blocks (with or without a prompt), each once."""
    commands = []
    for page in PAGES:
        for block in FENCED_BLOCK.findall(page.read_text()):
            for line in block.splitlines():
                match = HARNESS_LINE.match(line.strip())
                if match and shlex.split(match.group(1)) not in commands:
                    commands.append(shlex.split(match.group(1)))
    return commands


def not_run_here(arguments: list[str]) -> bool:
    return arguments[0] in NOT_RUN_HERE or any(argument in NOT_RUN_HERE for argument in arguments)


def harness_lines() -> list[list[str]]:
    return [arguments for arguments in shown_commands() if not not_run_here(arguments)]


def file_making_lines() -> list[str]:
    """The pages' printf lines: the files their harness commands are then given."""
    return [line.strip() for page in PAGES for block in FENCED_BLOCK.findall(page.read_text())
            for line in block.splitlines() if line.strip().startswith("printf ")]


def test_every_exclusion_still_names_a_command_the_docs_show():
    shown = shown_commands()
    for excluded in NOT_RUN_HERE:
        assert any(excluded in arguments for arguments in shown), f"{excluded}: no longer shown, no longer excluded"


def test_every_harness_command_in_the_docs_runs(tmp_path, monkeypatch, capsys):
    from pmtimer_harness.frontends.cli import main

    shutil.copytree(REPO / "asm", tmp_path / "asm", ignore=shutil.ignore_patterns("__pycache__"))
    for line in file_making_lines():
        subprocess.run(["sh", "-c", line], cwd=tmp_path, check=True, timeout=10)
    monkeypatch.chdir(tmp_path)
    commands = harness_lines()
    assert len(commands) >= 10
    for arguments in commands:
        status = main(arguments)  # in this process: an internal error is an exception here, not a status
        printed = capsys.readouterr()
        assert status in (0, 1), f"{arguments}: status {status}\n{printed.out}{printed.err}"
        assert "Traceback" not in printed.err


SAMPLE_FLAGS = re.MULTILINE | re.DOTALL


def test_the_sample_report_is_what_the_harness_prints(capsys, monkeypatch):
    from pmtimer_harness.frontends.cli import main

    running = REPO / "docs" / "running.md"
    sample = re.search(r"^```\n(access_bhyve_narrow\.asm: error\n.*?)^```", running.read_text(), SAMPLE_FLAGS)
    monkeypatch.chdir(REPO)
    main(["run", "asm/access_bhyve_narrow.asm"])
    printed = capsys.readouterr().out.splitlines()
    compared = ("access_", "  access:", "  at:", "  source:")  # the reason wraps, the registers are cut short
    shown = [line for line in sample.group(1).splitlines() if line.startswith(compared)]
    assert len(shown) == 4
    for line in shown:
        assert line in printed
