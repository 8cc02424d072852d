"""pytest plugin: guest sources are test items, in this repository and in any project that installs it.

Installed with the package, it is found through the ``pytest11`` entry point
(``-p no:pmtimer_harness`` turns it off).  A guest item runs the guest with
its header's options and passes when the verdict is the one its ``; expect:``
line names (``pass`` by default).  A failing item shows the guest's console,
exit code and the harness's report; NASM's own message when it rejects the
source; no traceback.  Without NASM the items are skipped, saying why.

Which files are guests: the ini option ``harness_guests``, glob patterns
matched against each file's path relative to the rootdir, ``/``-separated;
``*`` also crosses folders.  The default, ``asm/*.asm`` and ``*guests/*.asm``,
takes ``.asm`` files in a top-level ``asm/`` folder or in any folder whose name
ends in ``guests``.  The suffix is matched in any case (``.ASM`` too), as the
command line takes it.  Files in a folder named ``include`` are never guests.

A guest runs with its header's options as the item ``guest.asm::guest``, and
once more on each machine its header names, one item each
(``guest.asm::guest[24bit]``, ``guest.asm::guest[xen]``): a variant's
options, or a platform profile named with the verdict expected there::

    ; variant: 24bit --timer-width 24
    ; expect: pass xen=pass bhyve=error

Every guest item carries the ``guest`` marker: ``-m "not guest"`` runs the rest.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

GUESTS_INI = "harness_guests"
DEFAULT_GUEST_GLOBS = ["asm/*.asm", "*guests/*.asm"]
GUEST_SUFFIX = ".asm"
MARKER = "guest: an x86 guest run by pmtimer-harness (deselect with -m 'not guest')"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        GUESTS_INI, type="linelist", default=DEFAULT_GUEST_GLOBS,
        help="globs (relative to the rootdir) of the guest sources pmtimer-harness runs as tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if is_guest(file_path, parent.config):
        return GuestFile.from_parent(parent, path=file_path)
    return None


def is_guest(path: Path, config: pytest.Config) -> bool:
    if path.suffix.lower() != GUEST_SUFFIX or "include" in path.parent.parts:
        return False
    try:
        relative = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        relative = path.as_posix()
    # As written, and with the suffix as the patterns spell it: guests/BOOT.ASM matches *guests/*.asm.
    names = {relative, relative[: -len(path.suffix)] + GUEST_SUFFIX}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in config.getini(GUESTS_INI))


class GuestFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        from pmtimer_harness.tools.guest import GuestError, check_options, read_header

        try:
            header = read_header(self.path)
            check_options(self.path, header)
        except GuestError as error:
            yield GuestItem.from_parent(self, name=self.path.stem, problem=str(error))
            return
        yield GuestItem.from_parent(self, name=self.path.stem)
        for name, options in header.variants:
            yield GuestItem.from_parent(self, name=f"{self.path.stem}[{name}]", options=options)
        for platform, verdict in header.on_platform:
            yield GuestItem.from_parent(
                self, name=f"{self.path.stem}[{platform}]", options=("--platform", platform),
                unbuildable_is_error=verdict.value == "error",
            )


class GuestProblem(Exception):
    """The guest could not be run (NASM's message, a bad header or option): shown as it is."""


class GuestMismatch(Exception):
    def __init__(self, run) -> None:  # type: ignore[no-untyped-def]
        super().__init__(run.guest.name)
        self.run = run


class GuestItem(pytest.Item):
    def __init__(  # type: ignore[no-untyped-def]
        self, *, options: tuple[str, ...] = (), problem: str | None = None, unbuildable_is_error: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.options = options
        self.problem = problem
        # As the matrix counts it: a guest that cannot even be built for a platform is an error there.
        self.unbuildable_is_error = unbuildable_is_error
        self.add_marker("guest")

    def runtest(self) -> None:
        # Imported here: a project that only has the plugin installed pays nothing for it.
        from pmtimer_harness.frontends.commands.common import USER_ERRORS
        from pmtimer_harness.tools.assembler import NasmNotFound
        from pmtimer_harness.tools.runner import run_guest

        if self.problem is not None:
            raise GuestProblem(self.problem)
        try:
            run = run_guest(self.path, list(self.options))
        except NasmNotFound as error:
            pytest.skip(str(error))
        except USER_ERRORS as error:
            if self.unbuildable_is_error:
                return
            raise GuestProblem(str(error)) from None
        if not run.as_expected:
            raise GuestMismatch(run)

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        if isinstance(excinfo.value, GuestProblem):
            return f"guest {self.path.name}: could not be run\n{excinfo.value}"
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
        return self.path, 0, f"guest {self.name}"
