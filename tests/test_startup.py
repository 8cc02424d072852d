"""Start-up of a command: what loading its modules costs, and what it leaves behind for the run."""

import gc

import pytest
from pmtimer_harness.frontends.cli import loading_modules, main

from tests.guests import bundled


@pytest.fixture
def collections():
    """The collector's passes, counted while the test runs."""
    passes = []

    def count(phase, info):
        if phase == "start":
            passes.append(info["generation"])

    gc.callbacks.append(count)
    yield passes
    gc.callbacks.remove(count)


def cycles(count):
    """Objects the collector counts towards its next pass, as classes and functions are."""
    made = []
    for _ in range(count):
        pair = [None]
        pair[0] = pair
        made.append(pair)
    return made


def test_no_collection_runs_while_a_command_loads(collections):
    with loading_modules(for_good=False):
        loaded = cycles(50_000)  # the collector would pass over these about 70 times
        passes_while_loading = len(collections)
    assert passes_while_loading == 0
    assert gc.isenabled()
    assert len(loaded) == 50_000


def test_a_process_of_its_own_freezes_what_it_loaded():
    frozen_before = gc.get_freeze_count()
    try:
        with loading_modules(for_good=True):
            loaded = cycles(1_000)
        assert gc.get_freeze_count() >= frozen_before + len(loaded)
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_collector_the_caller_turned_off_stays_off():
    gc.disable()
    try:
        with loading_modules(for_good=False):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_main_called_in_process_freezes_nothing_and_leaves_the_collector_on(capsys):
    frozen_before = gc.get_freeze_count()
    assert main(["run", str(bundled("hello.asm"))]) == 0
    assert gc.get_freeze_count() == frozen_before
    assert gc.isenabled()
    assert "hello.asm: pass" in capsys.readouterr().out
