"""The timer plot: a picture from a run, or a clear message."""

import itertools
import sys

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands.common import USAGE_ERROR

from tests.guests import bundled, write_guest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_a_png_of_the_reads(tmp_path, capsys):
    picture = tmp_path / "timer.png"
    status = main(["plot", str(bundled("wrap24.asm")), "-o", str(picture)])
    assert status == 0
    assert picture.read_bytes()[:8] == PNG_SIGNATURE
    assert "wrap24.asm, verdict pass" in capsys.readouterr().out


def test_plot_json_names_the_picture_and_the_run(tmp_path, capsys):
    import json

    picture = tmp_path / "timer.svg"
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(picture), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["picture"] == str(picture) and data["verdict"] == "pass" and picture.exists()


def test_a_guest_that_never_reads_the_timer_has_nothing_to_plot(tmp_path, capsys):
    guest = write_guest(tmp_path, "mov al, 0\n out 0xF4, al\n")
    assert main(["plot", str(guest), "-o", str(tmp_path / "x.png")]) == USAGE_ERROR
    assert "never read the timer" in capsys.readouterr().err


def test_without_matplotlib_the_message_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(tmp_path / "x.png")]) == USAGE_ERROR
    assert "pip install '.[plot]'" in capsys.readouterr().err


@pytest.mark.parametrize("guest", ["overflow_irq.asm"])
def test_the_toggles_are_marked(tmp_path, guest):
    from pmtimer_harness.frontends.plot import toggle_times_ns
    from pmtimer_harness.tools.runner import run_guest

    run = run_guest(bundled(guest))
    times = toggle_times_ns(run, run.result.virtual_ns)
    assert len(times) == 4  # the four TMR_STS interrupts the guest counted


def test_a_long_poll_is_thinned_evenly_to_the_point_limit_and_says_so():
    from pmtimer_harness.core.bus import IN, PortAccess
    from pmtimer_harness.frontends.plot import TimerReads

    reads = TimerReads(port=0x408, limit=100)
    for tick in range(10_000):
        reads.observe(PortAccess(IN, 0x408, 4, tick), now_ns=tick)
        reads.observe(PortAccess(IN, 0x80, 4, 0), now_ns=tick)  # another port: never kept
    assert len(reads.times_ns) < 100
    assert reads.times_ns[0] == 0 and reads.times_ns[-1] > 9_500  # still spans the whole run
    steps = {later - earlier for earlier, later in itertools.pairwise(reads.times_ns)}
    assert steps == {reads.stride}
    assert reads.dropped() == f"10,000 timer reads, 1 in {reads.stride} drawn: {len(reads.values)} points (at most 100)"


def test_a_short_poll_keeps_every_read():
    from pmtimer_harness.core.bus import IN, PortAccess
    from pmtimer_harness.frontends.plot import TimerReads

    reads = TimerReads(port=0x408)
    for tick in range(1_000):
        reads.observe(PortAccess(IN, 0x408, 4, tick), now_ns=tick)
    assert reads.values == list(range(1_000)) and reads.dropped() is None
