"""The CMOS/RTC and COM1 as each platform gives them: built where the profile says, an empty slot where not."""

import json

import pytest
from pmtimer_harness.core.board import Board
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.platform.profiles import PROFILES
from pmtimer_harness.tools.runner import resume_snapshot, run_guest

from tests.guests import bundled, run_source, write_guest
from tests.peer_marks import needs_bochs, needs_qemu
from tests.test_uart16550 import OnIrq4

WITHOUT_AN_RTC = ("firecracker", "qemu-microvm", "xen-pvh")
WITHOUT_COM1 = ("bhyve", "xen", "xen-v0", "xen-pvh", "virtualbox", "hyperv", "cloud-hypervisor", "acrn")


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_board_builds_the_rtc_and_com1_exactly_where_the_profile_says(name):
    board = Board(MachineConfig(platform=name))
    assert (board.rtc is not None, board.uart is not None) == (name not in WITHOUT_AN_RTC, name not in WITHOUT_COM1)
    names = {device.name for device in board.devices}
    assert ("cmos-rtc" in names, "uart16550" in names) == (board.rtc is not None, board.uart is not None)


def test_firecrackers_rtc_ports_read_as_its_empty_slot_zero_and_xens_com1_as_all_ones():
    firecracker = Board(MachineConfig(platform="firecracker"))
    firecracker.bus.write(0x70, 1, 0x0A, 0)
    assert firecracker.bus.read(0x71, 1, 0) == 0  # register A would read 0x26
    assert Board(MachineConfig(platform="xen")).bus.read(0x3FD, 1, 0) == 0xFF  # an LSR would read 0x60
    assert Board(MachineConfig(platform="qemu")).bus.read(0x3FD, 1, 0) == 0x60


def test_platforms_json_gives_each_profile_rtc_and_com1_with_a_source(capsys):
    assert main(["platforms", "--json"]) == 0
    profiles = {entry["name"]: entry["properties"] for entry in json.loads(capsys.readouterr().out)}
    assert profiles["firecracker"]["rtc"]["value"].startswith("none")
    assert "legacy.rs" in profiles["firecracker"]["rtc"]["source"]
    assert profiles["qemu"]["com1"]["value"] == "16550 at 0x3F8-0x3FF, IRQ 4"
    assert "vl.c" in profiles["qemu"]["com1"]["source"]
    for properties in profiles.values():
        for name in ("rtc", "com1"):
            assert properties[name]["source"] or properties[name]["model"]


def test_platforms_name_shows_the_devices_with_their_sources(capsys):
    assert main(["platforms", "bhyve"]) == 0
    shown = capsys.readouterr().out
    assert "COM1" in shown and "pci_lpc.c" in shown and "vrtc" in shown


def test_a_snapshot_taken_with_com1_restored_where_there_is_none_drops_its_state_with_one_note(tmp_path):
    snapshot = tmp_path / "qemu.snap"
    options = ["--platform", "qemu"]
    assert run_guest(bundled("snapshot_here.asm"), options, snapshot_path=snapshot).result.verdict == "pass"
    resumed = resume_snapshot(snapshot, platform="xen").result
    notes = [warning for warning in resumed.warnings if "uart16550" in warning]
    assert notes == ["platform xen has no uart16550: its saved state is left out"]
    assert resumed.verdict != "error", resumed.report


def test_a_users_device_may_take_irq_4_where_the_platform_has_no_com1(tmp_path):
    run = run_source(tmp_path, "        mov al, 0\n        out 0xF4, al\n", "--platform", "xen", devices=[OnIrq4()])
    assert run.result.verdict == "pass"


# COM1's scratch register reads back what was written; the RTC's register A is never all ones.
# Exit code: bit 1 set if COM1 is missing, bit 0 if the RTC is.
LEGACY_PROBE = """
        xor bl, bl
        mov dx, 0x3FF
        mov al, 0x5A
        out dx, al
        in al, dx
        cmp al, 0x5A
        je com1_answers
        or bl, 2
com1_answers:
        mov al, 0x0A
        out 0x70, al
        in al, 0x71
        cmp al, 0xFF
        jne rtc_answers
        or bl, 1
rtc_answers:
        mov al, bl
        out 0xF4, al
        jmp $
"""


@needs_qemu
@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_qemu_has_the_rtc_and_com1_its_profiles_claim(tmp_path, machine):
    from pmtimer_harness.peers.qemu import run_in_qemu

    guest = write_guest(tmp_path, LEGACY_PROBE)
    profile = PROFILES["qemu" if machine == "pc" else "qemu-q35"]
    assert profile.rtc and profile.com1
    assert run_in_qemu(guest, machine=machine).exit_code == 0


@needs_bochs
def test_bochs_has_the_rtc_and_com1_its_profile_claims(tmp_path):
    from pmtimer_harness.peers.bochs import run_in_bochs

    guest = write_guest(tmp_path, LEGACY_PROBE)
    assert PROFILES["bochs"].rtc and PROFILES["bochs"].com1
    assert run_in_bochs(guest).exit_code == 0
