"""The Python API as a user calls it: everything from the package's top level."""

import subprocess
import sys

import pmtimer_harness
from pmtimer_harness import (
    MachineConfig,
    PortWindow,
    Verdict,
    build_machine,
    restore_snapshot,
    run_guest,
    take_snapshot,
)

from tests.guests import write_guest

# mov dx, 0x300; in al, dx; out 0xF4, al: exits with what port 0x300 reads.
READ_PORT_0x300 = bytes([0xBA, 0x00, 0x03, 0xEC, 0xE6, 0xF4])
# mov cx, 1000; here: loop here; mov al, 0; out 0xF4, al
COUNT_DOWN = bytes([0xB9, 0xE8, 0x03, 0xE2, 0xFE, 0xB0, 0x00, 0xE6, 0xF4])


class AnswerPort:
    """The smallest device a user writes: one port that reads 0x42."""

    name = "answer"
    windows = (PortWindow(0x300, 1, write_widths=frozenset()),)

    def read(self, port: int, width: int, now_ns: int) -> int:
        return 0x42

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        raise AssertionError("read-only: the bus refuses writes before they get here")

    def state(self) -> dict[str, object]:
        return {}


def test_every_exported_name_resolves_and_the_version_is_set():
    assert pmtimer_harness.__version__.count(".") == 2
    for name in pmtimer_harness.__all__:
        assert getattr(pmtimer_harness, name) is not None
    assert set(pmtimer_harness.__all__) <= set(dir(pmtimer_harness))


def test_importing_the_package_loads_no_emulator():
    code = "import sys, pmtimer_harness; print(sorted(m for m in ('unicorn', 'capstone') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_a_run_that_decodes_nothing_loads_no_decoder():
    # capstone costs start-up time; under the host clock nothing counts instructions, so nothing decodes.
    code = (
        "import sys; from pmtimer_harness import MachineConfig, run_guest; "
        f"run = run_guest({READ_PORT_0x300!r}, MachineConfig(clock='host')); "
        "print(run.result.exit_code, 'capstone' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["255", "False"], done.stderr


def test_a_config_picks_the_platform(tmp_path):
    guest = write_guest(tmp_path, "mov al, TIMER_WIDTH\n out 0xF4, al\n")
    assert run_guest(guest, MachineConfig(platform="qemu")).result.exit_code == 24
    assert run_guest(guest, MachineConfig(platform="xen")).result.exit_code == 32


def test_a_guest_from_bytes_with_a_device_of_your_own():
    run = run_guest(READ_PORT_0x300, MachineConfig(), devices=[AnswerPort()])
    assert run.result.verdict == Verdict.FAIL and run.result.exit_code == 0x42
    assert run_guest(READ_PORT_0x300).result.exit_code == 0xFF  # without it: an empty slot reads all ones


def test_take_and_restore_a_snapshot():
    machine = build_machine(COUNT_DOWN)
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
    machine.save_at(500)
    whole = machine.run()
    (snapshot,) = saved
    resumed = restore_snapshot(snapshot).run()
    assert resumed.verdict == whole.verdict == Verdict.PASS
    assert resumed.instructions == whole.instructions
