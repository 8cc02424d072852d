"""pytest plugin: every guest source under the test paths is a test item.

A guest item runs the guest with its header's options and passes when the
verdict is the one its ``; expect:`` line names (``pass`` by default).  A
failing item shows the guest's console, exit code and the harness's report.

This repository loads it from ``conftest.py``; elsewhere, run pytest with
``-p pmtimer_harness.frontends.pytest_plugin``.  Guests are collected from ``*.asm`` files
outside folders named ``include``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pmtimer_harness.tools.runner import GuestRun, run_guest


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".asm" and "include" not in file_path.parent.parts:
        return GuestFile.from_parent(parent, path=file_path)
    return None


class GuestFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        yield GuestItem.from_parent(self, name=self.path.stem)


class GuestMismatch(Exception):
    def __init__(self, run: GuestRun) -> None:
        super().__init__(run.guest.name)
        self.run = run


class GuestItem(pytest.Item):
    def runtest(self) -> None:
        run = run_guest(self.path)
        if not run.as_expected:
            raise GuestMismatch(run)

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        if not isinstance(excinfo.value, GuestMismatch):
            return super().repr_failure(excinfo, style)
        run = excinfo.value.run
        result = run.result
        lines = [
            f"guest {run.guest.name}: expected {run.expect.value}, got {result.verdict.value}"
            f" (exit code {result.exit_code})",
            "--- console ---",
            result.console.rstrip() or "(nothing)",
        ]
        if result.report is not None:
            lines += ["--- report ---", result.report.format()]
        return "\n".join(lines)

    def reportinfo(self):  # type: ignore[no-untyped-def]
        return self.path, 0, f"guest {self.path.name}"
