"""Which dispatch a run takes: --dispatch, a guest's header, HARNESS_DISPATCH, and the fallback where the
compiled fast path is not built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pmtimer_harness.core import config as config_module
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.dispatch import VirtualDispatch
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.native_dispatch import NativeDispatch
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.tools.runner import resume_snapshot, run_guest

from tests.guests import bundled, write_guest

PASSING = "        mov al, 0\n        out 0xF4, al\n"


@pytest.fixture
def not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    unbuild(monkeypatch)


def unbuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where no C compiler was found at install: the extension does not import."""
    import pmtimer_harness.core

    monkeypatch.delattr(pmtimer_harness.core, "_native", raising=False)
    monkeypatch.setitem(sys.modules, "pmtimer_harness.core._native", None)
    monkeypatch.delenv("HARNESS_DISPATCH", raising=False)


@pytest.mark.usefixtures("not_built")
def test_without_the_extension_runs_take_the_python_path() -> None:
    assert MachineConfig().dispatch == "python"
    machine = Machine(MachineConfig())
    assert type(machine.dispatch) is VirtualDispatch
    assert run_guest(bundled("hello.asm"), []).result.verdict.value == "pass"


@pytest.mark.usefixtures("not_built")
def test_without_the_extension_asking_for_it_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="not built"):
        MachineConfig(dispatch="native")
    assert main(["run", str(write_guest(tmp_path, PASSING)), "--dispatch", "native"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "the compiled fast path is not built" in error


@pytest.mark.usefixtures("not_built")
def test_without_the_extension_version_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["-V"])
    assert "(dispatch: python; the compiled fast path is not built: no C compiler at install)" in (
        capsys.readouterr().out
    )


@pytest.mark.skipif(not config_module.native_dispatch_built(), reason="the C extension is not built here")
@pytest.mark.parametrize(("variable", "dispatch", "kind"), [
    ("python", "python", VirtualDispatch), ("fast", "python", VirtualDispatch), ("native", "native", NativeDispatch),
])
def test_harness_dispatch_chooses_where_the_run_names_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, dispatch: str, kind: type
) -> None:
    monkeypatch.setenv("HARNESS_DISPATCH", variable)
    run = run_guest(write_guest(tmp_path, PASSING), [])
    assert run.config.dispatch == dispatch
    assert type(Machine(run.config).dispatch) is kind


def test_the_command_line_and_the_header_win_over_harness_dispatch(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_DISPATCH", "reference")
    guest = write_guest(tmp_path, PASSING)
    assert run_guest(guest, ["--dispatch", "python"]).config.dispatch == "python"
    headed = write_guest(tmp_path, PASSING, "; harness: --dispatch fast\n", name="headed.asm")
    assert run_guest(headed, []).config.dispatch == "python"


def test_a_harness_dispatch_that_names_no_dispatch_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HARNESS_DISPATCH", "quick")
    assert main(["run", str(write_guest(tmp_path, PASSING))]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "HARNESS_DISPATCH must be 'native', 'python' or 'reference', not 'quick'" in error


def test_a_snapshot_saved_on_the_compiled_path_resumes_where_it_is_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = tmp_path / "machine.snap"
    whole = run_guest(bundled("monotonic.asm"), ["--dispatch", "native"])
    run_guest(bundled("monotonic.asm"), ["--dispatch", "native"], snapshot_path=snapshot, save_at=1000)
    unbuild(monkeypatch)
    resumed = resume_snapshot(snapshot)
    assert resumed.config.dispatch == "python"
    assert resumed.result.verdict == whole.result.verdict
    assert resumed.result.instructions == whole.result.instructions
