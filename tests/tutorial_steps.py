"""Following a tutorial in docs/ as a reader would, in a copy of the repository.

A tutorial is Markdown whose fenced blocks are its steps, in order:

- ``nasm`` and ``python`` blocks whose first line is ``; file: NAME`` or
  ``# file: NAME`` are saved under that name, that line included;
- ``diff`` blocks are applied as a reader would apply them: each must pass
  ``git apply --check`` and ``patch -p1 --dry-run`` where it stands, then
  ``git apply`` makes the change;
- ``console`` blocks are run: each ``$ python ...`` command (after a
  ``PYTHONPATH=...`` if the reader is to set one), and the lines
  shown under it are its output, in order and in place (``shown_in_place``):
  ``...`` stands for what is left out, lines on a line of its own, text
  within a line;
- ``mermaid`` blocks are diagrams: every node of the form ``file.py: Name.name``
  must name a module that exists and a class and function defined in it.

The copy holds ``harness/``, ``devices/``, ``asm/`` and ``docs/``, laid out as
the editable install (``pip install -e``) lays out the package, so a change the
tutorial makes to ``devices/`` takes effect as it does for the reader.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.guests import REPO

COPIED = ("asm", "devices", "harness", "docs")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_MARKER = re.compile(r"^(?:;|#) file: (\S+)\n")
DIAGRAM_NODE = re.compile(r"(\w+\.py): (\w+)\.(\w+)")
ENVIRONMENT_WORD = re.compile(r"^[A-Z_]+=")


def steps(tutorial: Path) -> list[tuple[str, str]]:
    return BLOCK.findall(tutorial.read_text())


def copy_repository(folder: Path) -> dict[str, bytes]:
    """The copy a tutorial is followed in; returns the digest of each file of it as copied."""
    for name in COPIED:
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    lay_out_the_package(folder)
    return _digests(folder)


def lay_out_the_package(folder: Path) -> None:
    """The copy as the editable install sees the repository: pmtimer_harness is harness/ plus devices/ and asm/."""
    package = folder / "site" / "pmtimer_harness"
    package.mkdir(parents=True)
    for entry in (folder / "harness").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in ("devices", "asm"):
        (package / name).symlink_to(folder / name)


def save_file(folder: Path, body: str) -> None:
    marker = FILE_MARKER.match(body)
    assert marker, "a file block in a tutorial starts with '; file: NAME' or '# file: NAME'"
    path = folder / marker.group(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The whole block, marker line included (a comment in NASM and Python): the line numbers a reader
    # counts in the tutorial are the ones the harness prints.
    path.write_text(body)


def apply_change(folder: Path, body: str) -> None:
    patch = body if body.endswith("\n") else body + "\n"
    # Outside any repository, so git applies to the copy alone (and never looks above it).
    environment = {**os.environ, "GIT_CEILING_DIRECTORIES": str(folder.parent)}
    for command in (["git", "apply", "--check"], ["patch", "-p1", "--dry-run", "--force", "--quiet"],
                    ["git", "apply"]):
        if command[0] == "patch" and shutil.which("patch") is None:
            continue
        done = subprocess.run(command, cwd=folder, input=patch, capture_output=True, text=True, timeout=30,
                              env=environment)
        refusal = f"{done.stdout}{done.stderr}\n{body}"
        assert done.returncode == 0, f"{' '.join(command)} refuses the tutorial's change:\n{refusal}"


ELISION = "..."


def _same_line(shown: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in shown.rstrip().split(ELISION))
    return re.fullmatch(pattern, actual.rstrip()) is not None


def _runs(shown: list[str]) -> list[list[str]]:
    """The shown lines between the elision lines: each run stands for consecutive lines of output."""
    runs: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == ELISION:
            runs.append([])
        else:
            runs[-1].append(line)
    return runs


def shown_in_place(shown: list[str], output: list[str]) -> bool:
    """Whether ``shown`` is ``output`` with only the parts its ``...`` lines mark left out."""
    runs = _runs(shown)
    at = 0
    for number, run in enumerate(runs):
        first, last = number == 0, number == len(runs) - 1
        if last and run == [] and len(runs) > 1:
            return True  # a closing "...": whatever follows
        places = range(at, len(output) - len(run) + 1)
        if first:
            places = range(0, 1)  # no "..." before the first line: the output starts there
        if last:
            places = [place for place in places if place + len(run) == len(output)]
        for place in places:
            if all(_same_line(line, output[place + offset]) for offset, line in enumerate(run)):
                at = place + len(run)
                break
        else:
            return False
    return True


def run_commands(folder: Path, body: str) -> None:
    for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
        command, *shown = chunk.rstrip("\n").split("\n")
        words = shlex.split(command)
        settings = dict(word.split("=", 1) for word in itertools.takewhile(ENVIRONMENT_WORD.match, words))
        words = words[len(settings):]
        assert words[0] == "python", f"tutorial commands start with python: {command}"
        assert set(settings) <= {"PYTHONPATH"}, f"a tutorial sets PYTHONPATH alone: {command}"
        # The reader's PYTHONPATH, then the folder that stands for the editable install.
        path = os.pathsep.join([*settings.values(), str(folder / "site")])
        # One stream, unbuffered: the lines interleave as they do on the reader's terminal.
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=300, stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
        )
        output = done.stdout.rstrip("\n").split("\n") if done.stdout.strip() else []
        assert shown_in_place(shown, output), (
            f"$ {command}\nshown (a '...' line marks lines left out):\n" + "\n".join(shown)
            + "\nbut the output is:\n" + "\n".join(output)
        )


def check_diagram(folder: Path, body: str) -> None:
    nodes = DIAGRAM_NODE.findall(body)
    assert nodes, "a diagram names at least one module: 'file.py: Class.function'"
    for module, owner, function in nodes:
        found = [path for path in (folder / "harness").rglob(module)] + list((folder / "devices").glob(module))
        assert found, f"the diagram names {module}, which is not in the repository"
        source = found[0].read_text()
        assert re.search(rf"^(class|def) {owner}\b", source, re.MULTILINE), f"{module} has no {owner}"
        assert re.search(rf"^\s+def {function}\(", source, re.MULTILINE), f"{module} has no {owner}.{function}"


def follow(tutorial: Path, folder: Path) -> None:
    """Every step of ``tutorial``, in order, in ``folder`` (a copy made by ``copy_repository``)."""
    rules = {"nasm": save_file, "python": save_file, "diff": apply_change, "console": run_commands,
             "mermaid": check_diagram}
    for kind, body in steps(tutorial):
        assert kind in rules, f"{tutorial.name} has a {kind} block, and no rule here says what to do with it"
        rules[kind](folder, body)


def _digests(folder: Path) -> dict[str, bytes]:
    digests = {}
    for name in ("harness", "devices", "asm"):
        for path in (folder / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                digests[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).digest()
    return digests


def changed_files(folder: Path, copied: dict[str, bytes]) -> set[str]:
    """Files under harness/, devices/ and asm/ that differ from the copy as it was made, or are new.

    Compared with the copy, not with the repository, which may change while the tutorial runs.
    """
    now = _digests(folder)
    return {name for name, digest in now.items() if copied.get(name) != digest}
