"""A user's device attached from every entry path (API, command line, header, pytest ini), saved and restored."""

import dataclasses
import json
import sys

import pmtimer_harness.frontends.commands.common
import pmtimer_harness.tools.runner  # noqa: F401
import pytest
from pmtimer_harness import (
    Device,
    MachineConfig,
    SnapshotError,
    build_machine,
    restore_snapshot,
    run_guest,
    take_snapshot,
)
from pmtimer_harness.core.snapshot_format import decode, encode
from pmtimer_harness.frontends.cli import main

from tests.user_counter import MicrosecondCounter

pytest_plugins = ["pytester"]

COUNTER = "tests.user_counter:MicrosecondCounter"
# Spin, zero the counter (OUT to 0x510), spin, read it (IN EAX from 0x510) and exit with its low byte:
#   mov cx, 5000 / loop $ / mov dx, 0x510 / out dx, al / mov cx, 5000 / loop $ / in eax, dx / out 0xF4, al / jmp $
READ_COUNTER = bytes.fromhex("B98813E2FEBA1005EEB98813E2FE66EDE6F4EBFE")
COUNTED = 51  # microseconds from the OUT to the IN at --insn-ns 10 (a read of the empty slot gives 0xFF)
SAVE_AT = 7000  # inside the second spin: after the counter was zeroed


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "counter.bin"
    path.write_bytes(READ_COUNTER)
    return path


def test_the_device_protocol_is_exported_at_the_top_level():
    assert Device.__name__ == "Device"


def test_a_device_by_spec_through_the_api():
    assert run_guest(READ_COUNTER, ["--insn-ns", "10"], devices=[COUNTER]).result.exit_code == COUNTED
    assert run_guest(READ_COUNTER, ["--insn-ns", "10"]).result.exit_code == 0xFF  # the empty slot


def test_a_device_with_constructor_arguments(tmp_path):
    moved = bytes.fromhex("B98813E2FEBA2005EEB98813E2FE66EDE6F4EBFE")  # the same, at port 0x520
    run = run_guest(moved, ["--insn-ns", "10", "--device", "tests.user_counter:NeedsArgument,port=0x520"])
    assert run.result.exit_code == COUNTED


def test_a_device_through_the_command_line(image, capsys):
    assert main(["run", str(image), "--insn-ns", "10", "--device", COUNTER, "--json"]) != 2
    assert json.loads(capsys.readouterr().out)["exit_code"] == COUNTED


def test_an_installed_device_through_a_guest_header(tmp_path, monkeypatch):
    installed_acme_device(tmp_path, monkeypatch)
    guest = tmp_path / "counter.asm"
    body = "".join(f"db 0x{byte:02x}\n" for byte in READ_COUNTER)
    guest.write_text(f"; harness: --insn-ns 10 --device us-counter\nbits 16\n{body}")
    assert run_guest(guest).result.exit_code == COUNTED


def test_a_guest_header_naming_a_module_s_class_runs_none_of_it(tmp_path, capsys):
    guest = tmp_path / "hostile.asm"
    guest.write_text(f"; harness: --device subprocess:Popen,args=['touch','{tmp_path / 'ran'}']\nbits 16\nhlt\n")
    assert main(["run", str(guest)]) == 2
    err = capsys.readouterr().err
    assert "a guest's header may name only an installed device" in err and err.count("\n") == 1
    assert not (tmp_path / "ran").exists()


def test_a_device_through_the_suite_command(image, capsys):
    main(["suite", str(image), "--insn-ns", "10", "--device", COUNTER, "--json", "-j", "1"])
    (row,) = json.loads(capsys.readouterr().out)
    assert row["exit_code"] == COUNTED


@pytest.mark.parametrize(("spec", "says"), [
    ("no_such_module_here:Thing", "cannot import no_such_module_here: No module named"),
    ("tests.user_counter:Missing", "has no Missing"),
    ("tests.user_counter:NOT_A_CLASS", "is a int, not a class"),
    ("tests.user_counter:Broken", "building it raised RuntimeError: no such hardware"),
    ("tests.user_counter:NoWindows", "windows must be a sequence of PortWindow"),
    ("tests.user_counter:NeedsArgument", "building it raised TypeError"),
    ("tests.user_counter:NeedsArgument,port=__import__('os')", "is not a Python literal"),
    ("tests.user_counter:NeedsArgument,0x520", "arguments are key=value"),
    ("no_such_installed_device", "no installed package offers a device named"),
    (":Thing", "give module:Class"),
])
def test_each_device_mistake_is_one_line_and_the_usage_status(image, capsys, spec, says):
    assert main(["run", str(image), "--device", spec]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_wrong_device_stops_the_suite_before_any_guest(image, capsys):
    assert main(["suite", str(image), "--device", "tests.user_counter:Broken"]) == 2
    assert "no such hardware" in capsys.readouterr().err


def _split_run(devices):
    machine = build_machine(READ_COUNTER, ["--insn-ns", "10"], devices=devices)
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
    machine.save_at(SAVE_AT)
    whole = machine.run()
    (snapshot,) = saved
    return whole, snapshot


def _without_wall_time(result):
    return {name: value for name, value in result.as_dict().items() if name != "wall_seconds"}


def test_a_snapshot_with_a_user_device_resumes_to_the_same_end_bit_for_bit():
    whole, snapshot = _split_run([COUNTER])
    resumed = restore_snapshot(snapshot, devices=[COUNTER])  # built afresh, its state from the record
    assert [type(attached.device) for attached in resumed.board.user_devices] == [MicrosecondCounter]
    end = resumed.run()
    assert end.exit_code == COUNTED and not end.warnings
    assert _without_wall_time(end) == _without_wall_time(whole)


def test_a_restore_takes_the_device_the_caller_passes_with_its_saved_state():
    whole, snapshot = _split_run([MicrosecondCounter()])
    mine = MicrosecondCounter()
    end = restore_snapshot(snapshot, devices=[mine]).run()
    assert end.exit_code == whole.exit_code == COUNTED and mine.zero_ns > 0


def test_the_resume_command_takes_the_device_again(image, tmp_path, capsys):
    saved = tmp_path / "counter.snap"
    main(["run", str(image), "--insn-ns", "10", "--device", COUNTER, "--snapshot", str(saved),
          "--save-at", str(SAVE_AT)])
    capsys.readouterr()
    assert main(["resume", str(saved)]) == 2  # the snapshot names module:Class: it is not imported on its word
    err = capsys.readouterr().err
    assert f"a snapshot does not import the code it names; pass it to resume it (--device {COUNTER}" in err
    assert err.count("\n") == 1
    main(["resume", str(saved), "--device", COUNTER, "--json"])
    assert json.loads(capsys.readouterr().out)["exit_code"] == COUNTED


def test_a_crafted_snapshot_naming_any_class_runs_none_of_it(tmp_path, capsys):
    _, snapshot = _split_run([COUNTER])
    chunks = decode(snapshot)
    for index, chunk in enumerate(chunks):
        if chunk.name == "user-devices":
            record = json.loads(chunk.payload)
            record["devices"][0]["spec"] = f"subprocess:Popen,args=['touch', '{tmp_path / 'ran'}']"
            chunks[index] = dataclasses.replace(chunk, payload=json.dumps(record).encode())
    crafted = tmp_path / "crafted.snap"
    crafted.write_bytes(encode(chunks))
    assert main(["resume", str(crafted)]) == 2
    assert "is subprocess:Popen: a snapshot does not import the code it names" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists()


def test_an_installed_device_is_rebuilt_from_the_snapshot_s_record(tmp_path, monkeypatch):
    installed_acme_device(tmp_path, monkeypatch)
    whole, snapshot = _split_run(["us-counter"])
    resumed = restore_snapshot(snapshot)
    assert _without_wall_time(resumed.run()) == _without_wall_time(whole)


def test_a_snapshot_naming_an_installed_device_that_is_gone_is_refused(tmp_path, monkeypatch, capsys):
    installed_acme_device(tmp_path, monkeypatch)
    _, snapshot = _split_run(["us-counter"])
    monkeypatch.undo()
    sys.modules.pop("acme_devices", None)
    with pytest.raises(SnapshotError, match=r"device 'us-counter' cannot be built here: .*no installed package"):
        restore_snapshot(snapshot)
    saved = tmp_path / "gone.snap"
    saved.write_bytes(snapshot)
    assert main(["resume", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "cannot be built here" in err and err.count("\n") == 1


def test_a_restore_refuses_a_device_of_another_class_under_the_recorded_name():
    _, snapshot = _split_run([COUNTER])
    with pytest.raises(SnapshotError, match=r"was saved as a tests\.user_counter:MicrosecondCounter"):
        restore_snapshot(snapshot, devices=["tests.user_counter:NeedsArgument,port=0x510"])


def test_a_device_the_snapshot_does_not_record_starts_from_reset_said_once():
    _, snapshot = _split_run([])
    machine = restore_snapshot(snapshot, devices=[COUNTER])
    # Its OUT came before the snapshot, to an empty slot: from its reset state it counts from time 0.
    assert machine.run().exit_code != COUNTED
    assert sum("no record of device us-counter" in warning for warning in machine.warnings) == 1


def test_an_api_config_attaches_only_the_devices_passed():
    run = run_guest(READ_COUNTER, MachineConfig(insn_ns=10), devices=[MicrosecondCounter()])
    assert run.result.exit_code == COUNTED


COUNTERS_GUEST = """bits 16
        mov dx, 0x510                   ; the ini's counter
        in eax, dx
        cmp eax, 0xFFFFFFFF             ; all ones: the empty slot, no counter there
        je missing
        mov dx, 0x520                   ; the command line's
        in eax, dx
        cmp eax, 0xFFFFFFFF
        je missing
        mov al, 0
        out 0xF4, al
missing:
        mov al, 1
        out 0xF4, al
"""


def test_devices_through_the_pytest_plugin_s_ini_and_command_line(pytester):
    pytester.makefile(".asm", counters=COUNTERS_GUEST)
    pytester.makeini(f"[pytest]\nharness_guests =\n    *.asm\nharness_devices =\n    {COUNTER}\n")
    result = pytester.runpytest("-p", "no:randomly", "--harness-device", "tests.user_counter:NeedsArgument,port=0x520")
    result.assert_outcomes(passed=1)


def installed_acme_device(root, monkeypatch):
    """What pip leaves in site-packages for a package declaring
    ``[project.entry-points."pmtimer_harness.devices"] us-counter = "acme_devices:Counter"``."""
    (root / "acme_devices.py").write_text("from tests.user_counter import MicrosecondCounter as Counter\n")
    metadata = root / "acme_devices-1.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-devices\nVersion: 1.0\n")
    (metadata / "entry_points.txt").write_text("[pmtimer_harness.devices]\nus-counter = acme_devices:Counter\n")
    monkeypatch.syspath_prepend(str(root))


def test_an_installed_package_offers_a_device_by_name(tmp_path, monkeypatch):
    installed_acme_device(tmp_path, monkeypatch)
    assert run_guest(READ_COUNTER, ["--insn-ns", "10", "--device", "us-counter"]).result.exit_code == COUNTED
    assert run_guest(READ_COUNTER, ["--insn-ns", "10", "--device", "us-counter,port=0x510"]).result.exit_code == COUNTED


def test_a_device_through_the_matrix_command(image, capsys):
    main(["matrix", str(image), "--platforms", "acpi", "--insn-ns", "10", "--device", COUNTER, "--json", "-j", "1"])
    (cell,) = json.loads(capsys.readouterr().out)
    assert cell["exit_code"] == COUNTED


def test_tables_runs_no_guest_and_takes_no_device(capsys):
    with pytest.raises(SystemExit):
        main(["tables", "--device", COUNTER])
    assert "unrecognized arguments: --device" in capsys.readouterr().err


def test_a_wrong_device_in_a_header_names_the_guest(tmp_path, capsys):
    guest = tmp_path / "wrong.asm"
    guest.write_text("; harness: --device no_such_installed_device\nbits 16\nhlt\n")
    assert main(["run", str(guest)]) == 2
    err = capsys.readouterr().err
    assert "wrong.asm: its '; harness:' line: --device" in err and "no installed package offers" in err
    assert err.count("\n") == 1


def test_snapshot_info_names_the_user_s_devices(tmp_path, capsys):
    _, snapshot = _split_run([COUNTER])
    saved = tmp_path / "counter.snap"
    saved.write_bytes(snapshot)
    assert main(["snapshot", "info", str(saved)]) == 0
    assert f"your device us-counter: {COUNTER} (tests.user_counter:MicrosecondCounter)" in capsys.readouterr().out
