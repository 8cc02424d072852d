"""The timer plot: a picture from a run, or a clear message; the reads it is drawn from keep every bad one."""

import importlib.util
import itertools
import sys

import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands.common import USAGE_ERROR

from tests.guests import bundled, write_guest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="drawing needs matplotlib (pip install '.[plot]')")


@needs_matplotlib
def test_plot_writes_a_png_of_the_reads(tmp_path, capsys):
    picture = tmp_path / "timer.png"
    status = main(["plot", str(bundled("wrap24.asm")), "-o", str(picture)])
    assert status == 0
    assert picture.read_bytes()[:8] == PNG_SIGNATURE
    assert "wrap24.asm, verdict pass" in capsys.readouterr().out


@needs_matplotlib
def test_plot_json_names_the_picture_and_the_run(tmp_path, capsys):
    import json

    picture = tmp_path / "timer.svg"
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(picture), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["picture"] == str(picture) and data["verdict"] == "pass" and picture.exists()


@needs_matplotlib
def test_a_guest_that_never_reads_the_timer_has_nothing_to_plot(tmp_path, capsys):
    guest = write_guest(tmp_path, "mov al, 0\n out 0xF4, al\n")
    assert main(["plot", str(guest), "-o", str(tmp_path / "x.png")]) == USAGE_ERROR
    assert "never read the timer" in capsys.readouterr().err


def test_without_matplotlib_the_message_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["plot", str(bundled("wrap24.asm")), "-o", str(tmp_path / "x.png")]) == USAGE_ERROR
    # -e: a plain install of the folder would replace the editable one, and edits to devices/ would do nothing
    assert "pip install -e '.[plot]'" in capsys.readouterr().err


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
    assert reads.dropped() == (f"10,000 timer reads, {len(reads.values)} points drawn: 1 in {reads.stride} ordinary "
                               "reads (at most 100), every failed read and jump")


def test_a_short_poll_keeps_every_read():
    from pmtimer_harness.core.bus import IN, PortAccess
    from pmtimer_harness.frontends.plot import TimerReads

    reads = TimerReads(port=0x408)
    for tick in range(1_000):
        reads.observe(PortAccess(IN, 0x408, 4, tick), now_ns=tick)
    assert reads.values == list(range(1_000)) and reads.dropped() is None


# --- the reads a plot is drawn from: no matplotlib needed ---------------------------------------------

def feed(reads, values, start_ns=0):
    from pmtimer_harness.core.bus import IN, PortAccess

    for index, value in enumerate(values):
        reads.observe(PortAccess(IN, reads.port, 4, value), now_ns=start_ns + index)


def kinds_at(reads):
    pairs = zip(reads.times_ns, reads.kinds, strict=True)
    return {time: kind.value for time, kind in pairs if kind.value != "ordinary"}


def test_a_piix4_run_thinned_to_a_few_points_keeps_and_marks_every_unlatched_read():
    from pmtimer_harness.frontends.plot import ReadKind, TimerReads
    from pmtimer_harness.tools.runner import guest_config, run_guest

    guest, options = bundled("monotonic.asm"), ["--platform", "piix4"]
    _, config = guest_config(guest, options)
    reads = TimerReads(config.timer_port, width=config.timer_width, limit=500)
    every_read = []

    def observe(access, now_ns):
        reads.observe(access, now_ns)
        if access.port == config.timer_port and access.width == 4:
            every_read.append((now_ns, access.value))

    run_guest(guest, options, observer=observe)
    backward = {now_ns for (_, before), (now_ns, value) in itertools.pairwise(every_read)
                if (value - before) % (1 << 24) >= 1 << 23}  # 256 ticks behind: the step wraps backwards
    assert len(backward) > 100 and len(reads.values) < len(every_read) // 10  # thinned hard, and yet:
    failed = {reads.times_ns[i] for i in reads.marked(ReadKind.FAILED)}
    assert failed == backward and reads.failed == len(backward)
    for index in reads.marked(ReadKind.FAILED):
        assert -256 < reads.steps[index] < 0  # the true step from the read before, drawn or not
        assert reads.times_ns[index + 1] in {now for now, _ in every_read} and reads.kinds[index + 1] is ReadKind.JUMP


def test_a_jump_forward_is_kept_when_the_steady_reads_around_it_are_thinned():
    from pmtimer_harness.frontends.plot import TimerReads

    reads = TimerReads(port=0x408, width=24, limit=50)
    values = [4 * n for n in range(1_000)] + [4 * n + 100_000 for n in range(1_000, 2_000)]
    feed(reads, values)
    assert kinds_at(reads) == {1_000: "jump"}
    assert reads.steps[reads.times_ns.index(1_000)] == 100_004
    assert reads.stride > 1 and reads.failed == 0


def test_a_read_of_all_ones_or_beyond_the_width_is_failed_and_a_wrap_is_not():
    from pmtimer_harness.frontends.plot import TimerReads

    reads = TimerReads(port=0x408, width=24)
    feed(reads, [0xFFFFF0, 0xFFFFF4, 0xFFFFF8, 0xFFFFFC, 0x0, 0x4, 0xFFFF_FFFF, 0x8, 0xC, 0x1000010, 0x14])
    assert kinds_at(reads) == {6: "failed", 9: "failed"}  # the read after all ones steps back from 0xFFFFFF
    assert reads.failed == 2 and reads.jumps == 0


def test_a_stepped_timers_uneven_steps_are_no_jumps():
    from pmtimer_harness.frontends.plot import TimerReads

    reads = TimerReads(port=0x408, width=32)
    feed(reads, [n * 7 // 2 for n in range(5_000)])  # steps of 3 and 4
    assert reads.jumps == reads.failed == 0 and reads.dropped() is None


def test_marked_reads_past_their_limit_are_counted_and_the_note_says_how_many_are_drawn():
    from pmtimer_harness.frontends.plot import ReadKind, TimerReads

    reads = TimerReads(port=0x408, width=24, limit=1_000, marked_limit=10)
    feed(reads, [n * 4 - (256 if n % 20 == 7 else 0) for n in range(40, 1_040)])  # 50 reads 256 ticks behind
    assert reads.failed == reads.jumps == 50  # each bad read, and the read after it jumping back
    assert [reads.times_ns[i] for i in reads.marked(ReadKind.FAILED)] == [7, 27, 47, 67, 87]  # the first five
    assert len(reads.marked(ReadKind.JUMP)) == 5
    assert reads.dropped().endswith("the first 10 of 100 failed reads and jumps")


def test_the_counter_axis_fits_the_ordinary_reads_not_a_bad_one():
    from pmtimer_harness.frontends.plot import TimerReads, ordinary_range

    reads = TimerReads(port=0x408, width=24)
    feed(reads, [0x10, 0x14, 0x18, 0x1C, 0xFFFF_FFFF, 0x20, 0x24])
    assert ordinary_range(reads) == (0x10, 0x24)


@needs_matplotlib
@pytest.mark.parametrize("view", ["both", "counter", "steps"])
def test_a_piix4_plot_counts_its_failed_reads_in_each_view(tmp_path, capsys, view):
    import json

    picture = tmp_path / "timer.png"
    status = main(["plot", str(bundled("monotonic.asm")), "--platform", "piix4", "--view", view,
                   "-o", str(picture), "--json"])
    assert status == 1 and picture.read_bytes()[:8] == PNG_SIGNATURE  # the guest's failure, drawn
    counts = json.loads(capsys.readouterr().out)["timer_reads"]
    assert counts["seen"] == counts["drawn"] == 20_001 and counts["failed"] == counts["jumps"] > 100
