"""The ACPI tables in guest memory, read back by an independent reader.

The reader below knows only the ACPI specification (6.5): it scans the BIOS
area for the RSDP, checks every checksum, follows the RSDT and the XSDT to the
FADT and decodes the fields by their offsets in table 5.9.  It shares no code
with harness/platform/acpi_tables.py.
"""

import struct

import pytest
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.machine import Machine


def memory_of(**options):
    machine = Machine(MachineConfig(**options))
    return bytes(machine.uc.mem_read(0, 0x100000))


def find_rsdp(memory):
    for address in range(0xE0000, 0x100000, 16):
        if memory[address : address + 8] == b"RSD PTR ":
            return address
    raise AssertionError("no RSDP in 0xE0000-0xFFFFF")


def sums_to_zero(data):
    return sum(data) % 256 == 0


def read_table(memory, address):
    length = struct.unpack_from("<I", memory, address + 4)[0]
    data = memory[address : address + length]
    assert sums_to_zero(data), f"bad checksum in {data[:4]!r}"
    return data


def read_fadt(memory):
    rsdp_at = find_rsdp(memory)
    rsdp = memory[rsdp_at : rsdp_at + 36]
    assert sums_to_zero(rsdp[:20]) and sums_to_zero(rsdp)
    assert rsdp[15] == 2 and struct.unpack_from("<I", rsdp, 20)[0] == 36
    rsdt = read_table(memory, struct.unpack_from("<I", rsdp, 16)[0])
    xsdt = read_table(memory, struct.unpack_from("<Q", rsdp, 24)[0])
    assert rsdt[:4] == b"RSDT" and xsdt[:4] == b"XSDT"
    from_rsdt = [read_table(memory, a) for (a,) in struct.iter_unpack("<I", rsdt[36:])]
    from_xsdt = [read_table(memory, a) for (a,) in struct.iter_unpack("<Q", xsdt[36:])]
    (fadt,) = [t for t in from_rsdt if t[:4] == b"FACP"]
    assert [t for t in from_xsdt if t[:4] == b"FACP"] == [fadt]
    return fadt


def gas(fadt, offset):
    return struct.unpack_from("<BBBBQ", fadt, offset)


@pytest.mark.parametrize(("width", "port"), [(32, 0x408), (24, 0x408), (32, 0x608)])
def test_fadt_describes_the_configured_timer(width, port):
    memory = memory_of(timer_width=width, timer_port=port)
    fadt = read_fadt(memory)
    assert struct.unpack_from("<I", fadt, 76)[0] == port  # PM_TMR_BLK
    assert fadt[91] == 4  # PM_TMR_LEN
    flags = struct.unpack_from("<I", fadt, 112)[0]
    assert bool(flags & (1 << 8)) == (width == 32)  # TMR_VAL_EXT
    assert gas(fadt, 208) == (1, 32, 0, 3, port)  # X_PM_TMR_BLK: I/O, 32 bits, dword access


def test_fadt_describes_the_pm1_blocks_and_the_sci():
    fadt = read_fadt(memory_of())
    assert struct.unpack_from("<H", fadt, 46)[0] == 9  # SCI_INT
    assert struct.unpack_from("<I", fadt, 56)[0] == 0x400  # PM1a_EVT_BLK
    assert struct.unpack_from("<I", fadt, 64)[0] == 0x404  # PM1a_CNT_BLK
    assert (fadt[88], fadt[89]) == (4, 2)  # PM1_EVT_LEN, PM1_CNT_LEN
    assert gas(fadt, 148)[4] == 0x400 and gas(fadt, 172)[4] == 0x404
    dsdt_at = struct.unpack_from("<I", fadt, 40)[0]
    assert struct.unpack_from("<Q", fadt, 140)[0] == dsdt_at
    assert read_table(memory_of(), dsdt_at)[:4] == b"DSDT"


def test_no_tables_when_ram_does_not_reach_the_bios_area():
    machine = Machine(MachineConfig(memory=640 << 10))
    assert machine.acpi_tables == []


def test_a_guest_over_the_tables_is_refused():
    machine = Machine(MachineConfig(mode=32, load_address=0xD0000))
    with pytest.raises(ConfigError, match="overlaps the ACPI tables"):
        machine.load(bytes(0x20000))
