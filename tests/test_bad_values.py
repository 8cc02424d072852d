"""Bad values from the command line, a guest's header or a snapshot: one line, the usage status, no traceback."""

import json
import math

import pytest
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.snapshot import load
from pmtimer_harness.core.snapshot_format import Chunk, SnapshotError, decode, encode
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.commands.common import USAGE_ERROR

from tests.guests import bundled, write_guest

HELLO = str(bundled("hello.asm"))


def one_line_usage_error(capsys, argv):
    try:
        status = main(argv)
    except SystemExit as stop:  # argparse's own refusals
        status = stop.code
    err = capsys.readouterr().err
    assert status == USAGE_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["run", HELLO, "--memory", "32G"],
    ["run", HELLO, "--memory", "16G"],
    ["run", HELLO, "--timeout", "inf"],
    ["run", HELLO, "--timeout", "1e308"],
    ["run", HELLO, "--timeout", "nan"],
    ["run", HELLO, "--timeout", "-1"],
    ["run", HELLO, "--gdb", "70000"],
    ["run", HELLO, "--gdb", "-1"],
    ["run", HELLO, "--insn-ns", str(10**30)],
    ["run", HELLO, "--max-instructions", str(10**16)],
    ["run", HELLO, "--timer-width", "12"],
    ["qemu", HELLO, "--timeout", "-1"],
    ["differential", "--timeout", "inf"],
    ["tables", "--timer-port", "0x400"],  # collides with PM1: run refuses it, so tables does
    ["tables", "--memory", "32G"],
    ["no-such-command"],
])
def test_a_bad_value_is_one_line_and_the_usage_status(capsys, argv):
    one_line_usage_error(capsys, argv)


def test_a_bad_header_option_names_the_guest_file(tmp_path, capsys):
    guest = write_guest(tmp_path, "mov al, 0\n out 0xF4, al\n", header="; harness: --timer-width 12\n")
    line = one_line_usage_error(capsys, ["run", str(guest)])
    assert str(guest) in line and "--timer-width" in line


def test_qemu_refuses_a_raw_binary_rather_than_assembling_it(tmp_path, capsys):
    image = tmp_path / "guest.bin"
    image.write_bytes(bytes([0xB0, 0x00, 0xE6, 0xF4]))
    assert "give its source (.asm, .c or .S)" in one_line_usage_error(capsys, ["qemu", str(image)])


def test_qemu_refuses_binary_junk_named_like_a_source(tmp_path, capsys):
    junk = tmp_path / "junk.asm"
    junk.write_bytes(bytes(range(256)) * 4)
    assert "not a text file" in one_line_usage_error(capsys, ["qemu", str(junk)])


def test_qemu_refuses_a_guest_over_the_loader_s_size(tmp_path, capsys):
    big = write_guest(tmp_path, "times 70000 nop\n")
    assert "reads at most" in one_line_usage_error(capsys, ["qemu", str(big)])


def test_a_huge_binary_is_refused_before_it_is_read(tmp_path, capsys):
    huge = tmp_path / "huge.bin"
    with huge.open("wb") as file:
        file.truncate(3 << 30)  # sparse: 3 GiB on paper, nothing on disk
    assert "do not fit in guest RAM" in one_line_usage_error(capsys, ["run", str(huge)])


def test_a_huge_source_is_refused_before_it_is_read(tmp_path, capsys):
    huge = tmp_path / "huge.asm"
    with huge.open("wb") as file:
        file.truncate(3 << 30)
    assert "over the cap" in one_line_usage_error(capsys, ["run", str(huge)])


# --- a snapshot's configuration is JSON from a file ------------------------------

def snapshot_with_config(**changes):
    from tests.test_snapshot_format import VALID

    chunks = decode(VALID)
    config = json.loads(next(chunk for chunk in chunks if chunk.name == "config").payload)
    config["config"].update(changes)
    replaced = Chunk("config", 1, json.dumps(config).encode())  # json writes inf and nan as Infinity, NaN
    return encode([replaced if chunk.name == "config" else chunk for chunk in chunks])


@pytest.mark.parametrize("changes", [
    {"memory": 1048576.0}, {"memory": math.inf}, {"memory": 10**30}, {"memory": -4096},
    {"timeout": math.inf}, {"timeout": math.nan}, {"timeout": 1e308}, {"timeout": "60"}, {"timeout": 0},
    {"insn_ns": 1.5}, {"insn_ns": 10**30}, {"max_instructions": math.nan}, {"mode": True},
    {"strict_io": 1}, {"timer_start": 2**70}, {"load_address": 0.5},
])
def test_a_config_chunk_with_numbers_no_machine_takes_is_one_snapshot_error(changes):
    with pytest.raises(SnapshotError, match="chunk 'config'") as caught:
        load(snapshot_with_config(**changes))
    assert "\n" not in str(caught.value)


def test_the_same_checks_hold_for_the_python_api():
    with pytest.raises(ConfigError, match="memory must be a whole number"):
        MachineConfig(memory=1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("command", ["resume", "snapshot info"])
def test_a_huge_snapshot_file_is_refused_before_it_is_read(tmp_path, capsys, command):
    huge = tmp_path / "huge.snap"
    with huge.open("wb") as file:
        file.truncate(3 << 30)
    assert "more than any snapshot" in one_line_usage_error(capsys, [*command.split(), str(huge)])
