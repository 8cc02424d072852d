"""The board: devices from a profile, the FADT from those devices, options over the profile."""

import argparse
import struct

import pytest
from pmtimer_harness.core.board import Board
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.platform.acpi_tables import FADT_ADDRESS, FADT_V1_LENGTH, HW_REDUCED_ACPI, TMR_VAL_EXT, FadtShape
from pmtimer_harness.platform.profiles import PROFILES, PROPERTIES
from pmtimer_harness.tools.options import machine_config


def fadt_of(config):
    """The FADT the XSDT names (or the RSDT, where there is no XSDT): the full one."""
    (table,) = [entry for entry in Board(config).acpi_tables if entry.address == FADT_ADDRESS]
    return table.data


def field(data, offset, fmt="<I"):
    return struct.unpack_from(fmt, data, offset)[0]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_fadt_names_the_ports_of_the_devices_the_board_built(name):
    board = Board(MachineConfig(platform=name))
    data = fadt_of(MachineConfig(platform=name))
    legacy_timer, shape = field(data, 76), board.profile.fadt
    pm1_port = board.pm1.status_port if board.pm1 else shape.named_pm1_base or 0
    if shape.legacy_blocks:
        assert field(data, 56) == pm1_port  # PM1a_EVT_BLK
    else:
        assert field(data, 56) == 0 and field(data, 148 + 4, "<Q") == pm1_port  # only X_PM1a_EVT_BLK
    if board.timer is None:
        named = None if shape.named_timer_in_rsdt_copy_only else shape.named_timer_port
        assert legacy_timer == (named or 0)  # a timer the tables name where nothing answers, or none
        return
    assert legacy_timer in (0, board.timer.port)
    if len(data) >= 220:
        assert field(data, 208 + 4, "<Q") == board.timer.port  # X_PM_TMR_BLK's address
    assert board.bus.claimant(board.timer.port)[0] is board.timer


def test_cloud_hypervisor_fills_only_x_pm_tmr_blk_in_a_hardware_reduced_fadt():
    data = fadt_of(MachineConfig(platform="cloud-hypervisor"))
    assert (field(data, 76), data[91]) == (0, 0)  # PM_TMR_BLK, PM_TMR_LEN
    assert field(data, 208 + 4, "<Q") == 0x608
    assert field(data, 112) == TMR_VAL_EXT | HW_REDUCED_ACPI


def test_bochs_has_a_revision_1_fadt():
    data = fadt_of(MachineConfig(platform="bochs"))
    assert (len(data), data[8]) == (FADT_V1_LENGTH, 1)
    assert field(data, 76) == 0xB008 and not field(data, 112) & TMR_VAL_EXT


def test_bochs_under_uefi_sets_tmr_val_ext_on_its_24_bit_timer():
    # bochs/iodev/acpi_tables.cc sets flag bit 8 as "RTC_S4"; bit 8 is TMR_VAL_EXT, and acpi.cc counts 24 bits.
    config = MachineConfig(platform="bochs-uefi")
    data = fadt_of(config)
    assert field(data, 112) & TMR_VAL_EXT and Board(config).timer.width == 24
    assert (data[8], len(data)) == (5, 276)


def test_hyperv_names_its_blocks_only_in_the_x_fields_with_qword_access():
    data = fadt_of(MachineConfig(platform="hyperv"))  # mu_msvm Fadt.aslc
    assert (field(data, 76), data[91], field(data, 56), field(data, 48)) == (0, 4, 0, 0)
    assert data[208:212] == bytes([1, 64, 0, 4]) and field(data, 208 + 4, "<Q") == 0x408


def test_no_pm_timer_declares_none_and_claims_no_port():
    board = Board(MachineConfig(platform="no-pm-timer"))
    assert board.timer is None and board.bus.claimant(0x408) is None
    assert field(fadt_of(MachineConfig(platform="no-pm-timer")), 208 + 4, "<Q") == 0


def test_a_profile_sets_port_and_width_and_explicit_options_override_it():
    assert (MachineConfig(platform="qemu").timer_port, MachineConfig(platform="qemu").timer_width) == (0x608, 24)
    assert MachineConfig(platform="qemu", timer_width=32).profile().width == 32
    board = Board(MachineConfig(platform="qemu", io_semantics="bhyve"))
    assert board.bus.claimant(0x609) is None  # bhyve's rules: only the timer port itself


def test_a_platform_on_the_command_line_overrides_what_the_header_says_of_the_hardware():
    header = ["--timer-width", "24", "--timer-start", "0xFFFF00"]
    config = machine_config(header, argparse.Namespace(platform="xen"))
    assert (config.timer_width, config.timer_port, config.timer_start) == (32, 0xB008, 0xFFFF00)
    config = machine_config([*header, "--platform", "qemu"], argparse.Namespace(timer_width=32))
    assert (config.platform, config.timer_width) == ("qemu", 32)


def test_unknown_platforms_and_quirks_are_config_errors():
    with pytest.raises(ConfigError, match="no platform 'vmware'"):
        MachineConfig(platform="vmware")
    with pytest.raises(ConfigError, match="no quirk 'fast'"):
        MachineConfig(quirks=("fast",))


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_property_of_every_profile_has_a_source(name):
    profile = PROFILES[name]
    assert profile.summary
    for prop in PROPERTIES:
        assert profile.sources.get(prop), f"{name}.{prop} has no source"


def test_the_revision_1_quirk_gives_any_platform_an_acpi_1_fadt():
    data = fadt_of(MachineConfig(platform="xen", quirks=("fadt-revision-1",)))
    assert (len(data), data[8], field(data, 76)) == (FADT_V1_LENGTH, 1, 0xB008)


def test_a_stale_narrow_read_finds_the_last_port_access_of_any_port():
    # The narrow-reads-stale model: a VMM that leaves its I/O buffer as the last access left it.
    board = Board(MachineConfig(platform="cloud-hypervisor", quirks=("narrow-reads-stale",)))
    port = board.timer.port
    count = board.bus.read(port, 4, 1_000_000)
    assert board.bus.read(port, 2, 2_000_000) == count & 0xFFFF
    board.bus.write(0xE9, 1, ord("A"), 2_000_000)  # a console byte, to another device
    assert board.bus.read(port, 2, 3_000_000) == (count & 0xFF00) | ord("A")
    board.bus.read(0x80, 1, 3_000_000)  # an unclaimed port: all ones
    assert board.bus.read(port, 1, 4_000_000) == 0xFF


def test_pm1_accesses_each_platform_shapes_as_its_source_says():
    # OpenVMM io_read: the register that holds the first byte, shifted; bytes past it read 0.
    hyperv = Board(MachineConfig(platform="hyperv"))
    hyperv.bus.write(0x404, 2, 1, 0)
    assert (hyperv.bus.read(0x404, 4, 0), hyperv.bus.read(0x405, 2, 0)) == (0x00000001, 0x0000)
    # VirtualBox registers each PM1 register as one port: the next one reads as nothing there, all ones.
    vbox = Board(MachineConfig(platform="virtualbox"))
    assert (vbox.bus.read(0x4001, 2, 0), vbox.bus.read(0x4000, 1, 0)) == (0xFFFF, 0xFF)
    # crosvm refuses an access across two registers and zero-fills it; a write there reaches neither.
    crosvm = Board(MachineConfig(platform="crosvm"))
    crosvm.bus.write(0x602, 2, 1, 0)
    assert crosvm.bus.read(0x601, 2, 0) == 0
    crosvm.bus.write(0x601, 2, 0, 0)
    assert crosvm.bus.read(0x602, 2, 0) == 1


def test_sci_en_changes_as_each_platforms_hand_over_allows():
    acrn = Board(MachineConfig(platform="acrn"))  # acrn-dm pm.c: only smi_cmd_handler sets SCI_EN
    acrn.bus.write(0x404, 2, 1, 0)
    assert acrn.bus.read(0x404, 2, 0) == 0
    acrn.bus.write(0xB2, 1, 0xA0, 0)
    assert acrn.bus.read(0x404, 2, 0) == 1
    gen1 = Board(MachineConfig(platform="hyperv-gen1"))  # pcat_facp_acpi_enable sets SCI_EN and TMR_EN
    gen1.bus.write(0xB2, 1, 0xE1, 0)
    assert (gen1.bus.read(0x404, 2, 0), gen1.bus.read(0x402, 2, 0)) == (1, 1)


def test_a_snapshot_restored_where_tmr_en_is_dropped_or_no_timer_sets_tmr_sts_raises_no_sci():
    saved = {"tmr_en": True, "tmr_sts": True, "sci_en": True}
    for platform in ("bhyve", "acrn"):
        board = Board(MachineConfig(platform=platform))
        board.pm1.restore(saved, 0)
        assert not board.pm1.sci_asserted(0), platform
    acrn = Board(MachineConfig(platform="acrn"))
    acrn.pm1.restore(saved, 0)
    assert acrn.bus.read(0x400, 2, 0) == 0  # no timer: no TMR_STS to carry over


def test_a_fadt_shape_the_builder_cannot_write_is_refused_when_made():
    with pytest.raises(ValueError, match="bytes"):
        FadtShape(length=400)
    with pytest.raises(ValueError, match="copy"):
        FadtShape(rsdt_copy_length=200)
