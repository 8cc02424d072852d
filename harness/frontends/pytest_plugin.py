"""pytest plugin: guest sources are test items, in the projects that ask for them.

Installed with the package, it is found through the ``pytest11`` entry point
(``-p no:pmtimer_harness`` turns it off).  It collects nothing until a project
says which files are guests, as pytest-mypy and pytest-flake8 check nothing
until asked: the ini option ``harness_guests`` or ``--harness-guests GLOB``
(repeatable, added to the ini's), glob patterns matched against each file's
path relative to the rootdir, ``/``-separated; ``*`` also crosses folders.
The suffix is matched in any case (``.ASM`` too), as the command line takes
it.  Files in a folder named ``include`` are never guests by a glob.  A
``.asm`` file named on the command line (``pytest loop1.asm``) is a guest
whatever the globs say, as pytest collects any test file named explicitly.
C guests (``.c``, and ``.S`` with its capital: ``.s`` is NASM's) are guests
the same way (``harness_guests = ["tests/guests/*.c"]``); the C guest
library's own sources are not.  Without a C compiler their items are
skipped as they are without NASM, saying how to install one.

A guest item runs the guest with its header's options and passes when the
verdict is the one its ``; expect:`` line names (``pass`` by default).  An
expected ``fail`` is shown as pytest shows a known failure, xfailed, with the
guest's first FAIL line as the reason; a guest expected to fail that passes
fails as ``[XPASS(strict)]``: its expectation is out of date.  A failing item
shows the guest's console, exit code and the harness's report; NASM's own
message when it rejects the source; no traceback.  Without NASM the items are
skipped, saying why, or fail with ``--harness-require-nasm``.

A guest runs with its header's options as the item ``guest.asm::guest``, and
once more on each machine its header names, one item each
(``guest.asm::guest[24bit]``, ``guest.asm::guest[xen]``): a variant's
options, or a platform profile named with the verdict expected there::

    ; variant: 24bit --timer-width 24
    ; expect: pass xen=pass bhyve=error

``--harness-platform NAME`` runs every guest and variant on NAME, as
``--platform`` on the command line overrides a header, held to the verdict
its header expects there; the items for the platforms a header names are then
deselected.  ``--harness-clock`` does the same for the clock.

Every guest item carries the ``guest`` marker: ``-m "not guest"`` runs the
rest.  Each run's verdict, expected verdict, platform and instruction count
are the item's JUnit properties.  Python tests run guests of their own through
the ``harness_run`` fixture, under the same options.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pmtimer_harness.tools.runner import GuestRun

GUESTS_INI = "harness_guests"
DEVICES_INI = "harness_devices"
GUEST_SUFFIX = ".asm"
CLOCKS = ("virtual", "host")
MARKER = "guest: an x86 guest run by pmtimer-harness (deselect with -m 'not guest')"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        GUESTS_INI, type="linelist", default=[],
        help="globs (relative to the rootdir, '*' crossing folders) of the guest sources pmtimer-harness runs "
             "as tests; none by default: a project that names none has no guest items",
    )
    parser.addini(
        DEVICES_INI, type="linelist", default=[],
        help="devices of your own on every guest's board, one SPEC a line as --device takes them: module:Class, "
             "module:Class,key=value,... or an installed device's NAME",
    )
    group = parser.getgroup("pmtimer-harness", "guests run by pmtimer-harness")
    group.addoption(
        "--harness-guests", action="append", default=[], metavar="GLOB",
        help=f"a glob of guest sources to run as tests, added to the ini option {GUESTS_INI} (repeatable); "
             "a .asm file named on the command line is a guest without one",
    )
    group.addoption(
        "--harness-platform", metavar="NAME",
        help="run every guest and variant on platform NAME, over its header's options, held to the verdict "
             "its header expects there; the items a header names for a platform of their own are deselected",
    )
    group.addoption(
        "--harness-device", action="append", default=[], metavar="SPEC",
        help=f"attach a device of your own to every guest's board, added to the ini option {DEVICES_INI} "
             "(repeatable)",
    )
    group.addoption("--harness-clock", choices=CLOCKS, help="run every guest on this clock, over its header's")
    group.addoption(
        "--harness-require-nasm", action="store_true",
        help="without NASM, fail every guest item instead of skipping it (for CI: a job without NASM is not green)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    platform = config.getoption("harness_platform")
    if platform is not None:
        from pmtimer_harness.platform.profiles import UnknownPlatform, profile

        try:
            profile(platform)
        except UnknownPlatform as error:
            raise pytest.UsageError(f"--harness-platform: {error}") from None


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    named = parent.session.isinitpath(file_path) and guest_suffix(file_path) is not None
    if named or is_guest(file_path, parent.config):
        return GuestFile.from_parent(parent, path=file_path)
    return None


def guest_suffix(path: Path) -> str | None:
    """The suffix of the guest kind ``path`` is, as patterns spell it (.asm, .c, .S); None: not a guest."""
    if path.suffix.lower() == GUEST_SUFFIX:
        return GUEST_SUFFIX
    if path.suffix == ".S":  # as written: ".s" is NASM's (tools/guest.py, C_SUFFIXES)
        return ".S"
    return ".c" if path.suffix.lower() == ".c" else None


def is_guest(path: Path, config: pytest.Config) -> bool:
    suffix = guest_suffix(path)
    if suffix is None or "include" in path.parent.parts or _in_the_c_library(path):
        return False
    try:
        relative = path.relative_to(config.rootpath).as_posix()
    except ValueError:
        relative = path.as_posix()
    # As written, and with the suffix as the patterns spell it: guests/BOOT.ASM matches *guests/*.asm.
    names = {relative, relative[: -len(path.suffix)] + suffix}
    patterns = [*config.getini(GUESTS_INI), *config.getoption("harness_guests")]
    return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in patterns)


def _in_the_c_library(path: Path) -> bool:
    """The C guest library's own sources (asm/c/lib) are compiled into every C guest, never run alone."""
    from pmtimer_harness.asm import C_LIBRARY_DIR

    return path.resolve().parent == C_LIBRARY_DIR


def session_options(config: pytest.Config) -> list[str]:
    """The machine options the pytest command line lays over every guest's header."""
    options = []
    if config.getoption("harness_platform") is not None:
        options += ["--platform", config.getoption("harness_platform")]
    if config.getoption("harness_clock") is not None:
        options += ["--clock", config.getoption("harness_clock")]
    for spec in [*config.getini(DEVICES_INI), *config.getoption("harness_device")]:
        options += ["--device", spec]
    return options


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("harness_platform")
    if chosen is None:
        return
    # Each guest and variant already runs on the chosen platform: its own platform items would repeat it or leave it.
    deselected = [item for item in items if isinstance(item, GuestItem) and item.platform is not None]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not (isinstance(item, GuestItem) and item.platform is not None)]


class GuestFile(pytest.File):
    def collect(self):  # type: ignore[no-untyped-def]
        from pmtimer_harness.core.result import Verdict
        from pmtimer_harness.tools.guest import GuestError, check_options, read_header

        try:
            header = read_header(self.path)
            check_options(self.path, header)
        except GuestError as error:
            yield GuestItem.from_parent(self, name=self.path.stem, problem=str(error))
            return
        forced = session_options(self.config)
        chosen = self.config.getoption("harness_platform")
        # As the matrix counts it: a guest that cannot even be built for a platform is an error there.
        unbuildable_is_error = chosen is not None and header.expect_on(chosen) is Verdict.ERROR
        yield GuestItem.from_parent(
            self, name=self.path.stem, options=tuple(forced), unbuildable_is_error=unbuildable_is_error,
        )
        for name, options in header.variants:
            yield GuestItem.from_parent(
                self, name=f"{self.path.stem}[{name}]", options=(*options, *forced),
                unbuildable_is_error=unbuildable_is_error,
            )
        for platform, verdict in header.on_platform:
            yield GuestItem.from_parent(
                self, name=f"{self.path.stem}[{platform}]", options=("--platform", platform, *forced),
                unbuildable_is_error=verdict is Verdict.ERROR, platform=platform,
            )


class GuestProblem(Exception):
    """The guest could not be run (NASM's message, a bad header or option): shown as it is."""


class GuestMismatch(Exception):
    def __init__(self, run: GuestRun) -> None:
        super().__init__(run.guest.name)
        self.run = run


class GuestItem(pytest.Item):
    def __init__(  # type: ignore[no-untyped-def]
        self, *, options: tuple[str, ...] = (), problem: str | None = None, unbuildable_is_error: bool = False,
        platform: str | None = None, **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.options = options
        self.problem = problem
        self.unbuildable_is_error = unbuildable_is_error
        self.platform = platform  # the platform the header names for this item, None for the guest and its variants
        self.add_marker("guest")

    def runtest(self) -> None:
        # Imported here: a project that only has the plugin installed pays nothing for it.
        from pmtimer_harness.core.result import Verdict
        from pmtimer_harness.frontends.commands.common import USER_ERRORS
        from pmtimer_harness.tools.assembler import NasmNotFound
        from pmtimer_harness.tools.runner import run_guest

        if self.problem is not None:
            raise GuestProblem(self.problem)
        try:
            run = run_guest(self.path, list(self.options))
        except NasmNotFound as error:
            without_nasm(self.config, error)
        except USER_ERRORS as error:
            if self.unbuildable_is_error:
                self.user_properties.append(("verdict", "error"))
                return
            raise GuestProblem(str(error)) from None
        record_run(self, run)
        if not run.as_expected:
            raise GuestMismatch(run)
        if run.expect is Verdict.FAIL:
            pytest.xfail(failure_reason(run))
        if run.expect is Verdict.SKIP:
            pytest.skip(skip_reason(run))

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        if isinstance(excinfo.value, GuestProblem):
            return f"guest {self.path.name}: could not be run\n{excinfo.value}"
        if not isinstance(excinfo.value, GuestMismatch):
            return super().repr_failure(excinfo, style)
        run = excinfo.value.run
        result = run.result
        # A known failure that is gone, worded as pytest words a strict xfail that passed.
        stale = "[XPASS(strict)] " if run.expect.value == "fail" and result.verdict.value == "pass" else ""
        lines = [
            f"{stale}guest {run.guest.name}: expected {run.expect.value}, got {result.verdict.value}"
            f" (exit code {result.exit_code})",
            "--- console ---",
            result.console.rstrip() or "(nothing)",
        ]
        if result.report is not None:
            lines += ["--- report ---", result.report.format()]
        return "\n".join(lines)

    def reportinfo(self):  # type: ignore[no-untyped-def]
        return self.path, 0, f"guest {self.name}"


def without_nasm(config: pytest.Config, error: Exception) -> None:
    """No NASM or C compiler: skip, saying why; or, asked to require it, fail.  A ``$CC`` that names a
    compiler that cannot run fails: the user chose that one, and skipping would hide their mistake."""
    if getattr(error, "configured", False):
        pytest.fail(str(error), pytrace=False)
    if config.getoption("harness_require_nasm"):
        pytest.fail(f"{error} (--harness-require-nasm)", pytrace=False)
    pytest.skip(str(error))


def failure_reason(run: GuestRun) -> str:
    """Why an expected failure failed, in the guest's words: its first FAIL line, else its exit code."""
    failures = [line for line in run.result.console.splitlines() if line.startswith(("FAIL:", "XPASS:"))]
    if not failures:
        return f"expected fail, got fail (exit code {run.result.exit_code})"
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"expected fail: {failures[0]}{more}"


def skip_reason(run: GuestRun) -> str:
    """Why the guest did not apply here, in its words: its first SKIP line."""
    skips = [line for line in run.result.console.splitlines() if line.startswith("SKIP:")]
    return skips[0] if skips else "every test was skipped"


def record_run(item: pytest.Item, run: GuestRun) -> None:
    """The run as JUnit properties of the item (``--junitxml``): what a CI dashboard shows beside the outcome."""
    item.user_properties += [
        ("verdict", run.result.verdict.value),
        ("expect", run.expect.value),
        ("platform", run.config.platform),
    ]
    if run.result.instructions is not None:
        item.user_properties.append(("instructions", run.result.instructions))


@pytest.fixture
def harness_run(request: pytest.FixtureRequest) -> Callable[..., GuestRun]:
    """Run a guest of the test's own: ``harness_run(guest, options=(), **keywords)`` is ``run_guest``'s call.

    Option strings (a list, or one string as a header line writes them) go
    over the pytest command line's ``--harness-platform`` and
    ``--harness-clock``, which go over the guest's header; a ``MachineConfig``
    is used as given.  Each run is recorded in the JUnit
    properties; without NASM the test is skipped (failed with
    ``--harness-require-nasm``).  The verdict is the test's to check.
    """
    from pmtimer_harness.core.config import MachineConfig
    from pmtimer_harness.tools.assembler import NasmNotFound
    from pmtimer_harness.tools.runner import run_guest

    def run(
        guest: str | Path | bytes, options: str | Sequence[str] | MachineConfig = (), **keywords: object
    ) -> GuestRun:
        if isinstance(options, str):
            options = shlex.split(options)
        if not isinstance(options, MachineConfig):
            options = [*session_options(request.config), *options]
        try:
            done = run_guest(guest, options, **keywords)  # type: ignore[arg-type]
        except NasmNotFound as error:
            without_nasm(request.config, error)
        record_run(request.node, done)
        return done

    return run
