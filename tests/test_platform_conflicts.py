"""Options and quirks that cannot all hold: explicit options win over quirks, contradictions are refused.

What ``--json`` lists as a run's options is what its board has.
"""

import json

import pytest
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.devices.pm_timer import NarrowRead, TimerWrite
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands import image as image_command

from tests.guests import bundled


@pytest.mark.parametrize(
    ("semantics", "quirk", "narrow_reads", "writes"),
    [
        ("bhyve", "narrow-reads-low-bytes", NarrowRead.REFUSE, TimerWrite.REFUSE),
        ("qemu", "narrow-reads-refused", NarrowRead.LOW_BYTES, TimerWrite.IGNORE),
        ("bhyve", "writes-ignored", NarrowRead.REFUSE, TimerWrite.REFUSE),
    ],
)
def test_io_semantics_given_explicitly_wins_over_a_quirk(semantics, quirk, narrow_reads, writes):
    board = MachineConfig(io_semantics=semantics, quirks=(quirk,)).profile()
    assert (board.narrow_reads, board.writes) == (narrow_reads, writes)


@pytest.mark.parametrize("option", [["--timer-port", "0x608"], ["--timer-width", "24"], ["--io-semantics", "qemu"]])
def test_a_timer_option_on_a_board_without_a_timer_is_a_usage_error(option, capsys):
    assert main(["run", str(bundled("hello.asm")), "--platform", "no-pm-timer", *option]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no PM timer" in error and option[0] in error


def test_a_quirk_that_removes_the_timer_refuses_a_timer_option_too():
    with pytest.raises(ConfigError, match="no PM timer: --timer-port cannot apply"):
        MachineConfig(quirks=("no-pm-timer",), timer_port=0x608)


def test_the_options_a_run_without_a_timer_lists_name_no_timer(capsys):
    assert main(["run", str(bundled("hello.asm")), "--platform", "no-pm-timer", "--json"]) == 0
    options = json.loads(capsys.readouterr().out)["options"]
    assert (options["timer_port"], options["timer_width"]) == (None, None)


@pytest.mark.parametrize(
    ("quirks", "named"),
    [
        (("narrow-reads-lanes", "narrow-reads-all-ones"), "narrow-reads-lanes and narrow-reads-all-ones"),
        (("narrow-reads-refused", "writes-ignored"), "narrow-reads-refused and writes-ignored"),
        (("bhyve-rate", "microsecond-steps"), "bhyve-rate and microsecond-steps"),
        (("tmr-sts-never", "tmr-sts-bit-23"), "tmr-sts-never and tmr-sts-bit-23"),
    ],
)
def test_two_quirks_that_set_one_property_two_ways_are_refused(quirks, named):
    with pytest.raises(ConfigError, match=f"quirks {named} set the"):
        MachineConfig(quirks=quirks)


def test_quirks_that_agree_or_repeat_are_taken_beside_two_that_differ():
    with pytest.raises(ConfigError, match="set the narrow_reads two ways"):
        MachineConfig(quirks=("narrow-reads-lanes", "writes-ignored", "narrow-reads-all-ones"))
    assert not MachineConfig(quirks=("no-pm-timer", "no-pm-timer")).profile().has_timer
    assert MachineConfig(quirks=("writes-ignored", "narrow-reads-low-bytes")).profile().writes is TimerWrite.IGNORE


@pytest.mark.parametrize(
    ("platform", "quirks"),
    [("no-pm-timer", ("tmr-sts-bit-23",)), ("acpi", ("unlatched-reads", "no-pm-timer")),
     ("no-pm-timer", ("restarts-after-restore",))],
)
def test_a_quirk_of_a_timer_the_board_does_not_have_is_refused(platform, quirks):
    with pytest.raises(ConfigError, match=r"changes the PM timer, and platform .* has none"):
        MachineConfig(platform=platform, quirks=quirks)


@pytest.mark.parametrize(
    "config",
    [{"platform": "qemu", "quirks": ("tmr-sts-bit-31",)}, {"platform": "xen", "timer_width": 24},
     {"platform": "virtualbox", "quirks": ("tmr-sts-bit-31",), "timer_width": 24}],
)
def test_tmr_sts_on_bit_31_of_a_24_bit_timer_is_refused(config):
    with pytest.raises(ConfigError, match="bit 31 and a 24-bit timer has none"):
        MachineConfig(**config)


def test_tmr_sts_on_bit_31_is_refused_only_where_the_timer_has_no_bit_31():
    with pytest.raises(ConfigError, match="bit 31"):
        MachineConfig(platform="qemu", quirks=("tmr-sts-bit-31",))
    assert MachineConfig(platform="qemu", timer_width=32, quirks=("tmr-sts-bit-31",)).profile().width == 32


def test_an_image_for_a_board_without_a_timer_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(image_command, "disk_image", lambda guest, platform: bytes(512))  # only the report is tested
    assert main(["image", str(bundled("hello.asm")), "-o", str(tmp_path / "disk.img"), "--platform",
                 "no-pm-timer"]) == 0
    out = capsys.readouterr().out
    assert "(no PM timer)" in out and "0x408" not in out
