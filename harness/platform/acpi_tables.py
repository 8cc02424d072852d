"""ACPI tables, placed in guest memory the way firmware would: RSDP, RSDT, XSDT, FADT, DSDT.

Layouts follow the ACPI specification (6.5): section 5.2.5.3 (RSDP), 5.2.6
(the common table header), 5.2.7 (RSDT), 5.2.8 (XSDT), 5.2.9 (FADT) and 5.2.3.2
(Generic Address Structure).  The FADT describes the devices the board built
(``FadtFacts``), as bhyve's usr.sbin/bhyve/acpi.c does for its own: the PM1a
event and control blocks, the timer's port, the SCI's line, TMR_VAL_EXT, and the
shape the platform's firmware gives the table (its revision and length, the
access sizes of its generic addresses, hardware-reduced, only X_PM_TMR_BLK
filled, or no timer at all), the SMI_CMD port and its ACPI_ENABLE and
ACPI_DISABLE values where the platform hands over in legacy mode, and whether
there is an XSDT at all (ACPI 1.0 firmware, SeaBIOS and the Bochs BIOS, give a
revision-0 RSDP and an RSDT only).  Firmware that serves both ACPI 1.0 and
later systems (Xen's hvmloader, VirtualBox) gives the RSDT its own, older
copy of the FADT and the XSDT the full one (``FadtShape.rsdt_copy_revision``).

Everything is built as bytes by pure functions; the board writes them.
"""

from __future__ import annotations

import struct

from pmtimer_harness.record import Record

OEM_ID = b"PMTHRN"
OEM_TABLE_ID = b"HARNESS "
CREATOR_ID = b"PMTH"

RSDP_ADDRESS = 0xE0000  # inside the BIOS area a guest scans (0xE0000-0xFFFFF), 16-byte aligned
RSDT_ADDRESS = 0xE0040
XSDT_ADDRESS = 0xE0080
FADT_ADDRESS = 0xE0100
DSDT_ADDRESS = 0xE0240
RSDT_FADT_ADDRESS = 0xE0280  # an older copy of the FADT for the RSDT, where the firmware writes one (116 bytes)
TABLES_END = 0xE0300

PM1_EVT_LEN = 4
PM1_CNT_LEN = 2
PM_TMR_LEN = 4
SCI_IRQ = 9

FADT_REVISION = 6
FADT_MINOR_REVISION = 5
FADT_LENGTH = 276
FADT_V1_LENGTH = 116  # ACPI 1.0: up to and including Flags
# The table's length by revision: 2 (ACPI 1.0b) adds RESET_REG, 3 (2.0) and 4 the X_ fields,
# 5 the sleep registers, 6 the hypervisor vendor identity.
FADT_LENGTHS = {1: FADT_V1_LENGTH, 2: 129, 3: 244, 4: 244, 5: 268}
FIRST_MINOR_VERSION_REVISION = 5  # FADT Minor Version, offset 131, was reserved before ACPI 5.1
TMR_VAL_EXT = 1 << 8  # FADT Flags bit 8: the timer is 32 bits wide
HW_REDUCED_ACPI = 1 << 20  # FADT Flags bit 20: no fixed hardware (no PM1 blocks)

GAS_SYSTEM_IO = 1
GAS_ACCESS_WORD = 2
GAS_ACCESS_DWORD = 3

# FADT field offsets (ACPI 6.5, table 5.9).
FADT_DSDT = 40
FADT_SCI_INT = 46
FADT_SMI_CMD = 48
FADT_ACPI_ENABLE = 52
FADT_ACPI_DISABLE = 53
FADT_PM1A_EVT_BLK = 56
FADT_PM1A_CNT_BLK = 64
FADT_PM_TMR_BLK = 76
FADT_PM1_EVT_LEN = 88
FADT_PM1_CNT_LEN = 89
FADT_PM_TMR_LEN = 91
FADT_FLAGS = 112
FADT_MINOR_VERSION = 131
FADT_X_DSDT = 140
FADT_X_PM1A_EVT_BLK = 148
FADT_X_PM1A_CNT_BLK = 172
FADT_X_PM_TMR_BLK = 208


class FadtShape(Record):
    """How a platform's firmware writes the FADT, whatever devices it describes."""

    __slots__ = (
        "revision",
        "length",
        "rsdt_copy_revision",
        "rsdt_copy_length",
        "tmr_val_ext",
        "pm_tmr_blk",
        "legacy_blocks",
        "hardware_reduced",
        "xsdt",
        "rsdt",
        "named_pm1_base",
        "named_timer_port",
        "named_timer_in_rsdt_copy_only",
        "timer_gas_without_timer",
        "x_pm1_blocks",
        "timer_access_size",
        "timer_bit_width",
        "pm1_access_size",
        "pm1_event_access_size",
        "pm1_event_bit_width",
    )

    def __init__(
        self,
        revision: int = FADT_REVISION,  # 1: the ACPI 1.0 table, 116 bytes, no X_ fields
        length: int | None = None,  # the table's length where the firmware's differs from its revision's (Bochs: 276)
        # A separate copy for the RSDT (Xen's hvmloader, VirtualBox), of this revision and length; None: one table.
        rsdt_copy_revision: int | None = None,
        rsdt_copy_length: int = FADT_V1_LENGTH,
        tmr_val_ext: bool | None = None,  # None: set exactly for a 32-bit timer
        pm_tmr_blk: bool = True,  # False: only X_PM_TMR_BLK is filled (PM_TMR_BLK and PM_TMR_LEN 0)
        # False: SMI_CMD, PM1a_EVT_BLK, PM1a_CNT_BLK and PM_TMR_BLK are 0 (their lengths kept); the X_ fields name them
        legacy_blocks: bool = True,
        hardware_reduced: bool = False,  # Flags bit 20, HW_REDUCED_ACPI
        xsdt: bool = True,  # False: a revision-0 RSDP with only the RSDT (ACPI 1.0 firmware)
        rsdt: bool = True,  # False: RsdtAddress 0, the XSDT alone (cloud-hypervisor, Firecracker, crosvm, QEMU microvm)
        # Blocks the tables name where no device answers: PM1a at this base (Xen PVH), a timer at this port
        # (an Intel PCH with ACPI_TIM_DIS), the timer only in the RSDT's copy (Xen PVH: cleared after the copy).
        named_pm1_base: int | None = None,
        named_timer_port: int | None = None,
        named_timer_in_rsdt_copy_only: bool = False,
        timer_gas_without_timer: bool = False,  # no timer, yet X_PM_TMR_BLK is an I/O GAS at address 0 (ACRN)
        x_pm1_blocks: bool = True,  # False: X_PM1a_EVT_BLK and X_PM1a_CNT_BLK left 0 (crosvm)
        timer_access_size: int = GAS_ACCESS_DWORD,  # X_PM_TMR_BLK's: 3 dword, 4 qword (Hyper-V), 0 undefined (QEMU)
        timer_bit_width: int = 32,  # X_PM_TMR_BLK's register bit width (Hyper-V Gen2: 64)
        pm1_access_size: int = GAS_ACCESS_WORD,  # X_PM1a_EVT_BLK's and X_PM1a_CNT_BLK's: 2 word, 0 undefined (QEMU)
        pm1_event_access_size: int | None = None,  # X_PM1a_EVT_BLK's, where it differs (Hyper-V Gen2: 4)
        pm1_event_bit_width: int = 8 * PM1_EVT_LEN,
    ) -> None:
        self.revision = revision
        self.length = length
        self.rsdt_copy_revision = rsdt_copy_revision
        self.rsdt_copy_length = rsdt_copy_length
        self.tmr_val_ext = tmr_val_ext
        self.pm_tmr_blk = pm_tmr_blk
        self.legacy_blocks = legacy_blocks
        self.hardware_reduced = hardware_reduced
        self.xsdt = xsdt
        self.rsdt = rsdt
        self.named_pm1_base = named_pm1_base
        self.named_timer_port = named_timer_port
        self.named_timer_in_rsdt_copy_only = named_timer_in_rsdt_copy_only
        self.timer_gas_without_timer = timer_gas_without_timer
        self.x_pm1_blocks = x_pm1_blocks
        self.timer_access_size = timer_access_size
        self.timer_bit_width = timer_bit_width
        self.pm1_access_size = pm1_access_size
        self.pm1_event_access_size = pm1_event_access_size
        self.pm1_event_bit_width = pm1_event_bit_width
        # A shape the builder cannot write is a mistake in a profile, found when it is made.
        if length is not None and not FADT_V1_LENGTH <= length <= FADT_LENGTH:
            raise ValueError(f"an FADT is {FADT_V1_LENGTH} to {FADT_LENGTH} bytes, not {length}")
        if not FADT_V1_LENGTH <= rsdt_copy_length <= TABLES_END - RSDT_FADT_ADDRESS:
            raise ValueError(f"the RSDT's copy of the FADT cannot be {rsdt_copy_length} bytes here")

    def describe(self, width: int | None) -> str:
        """The shape as the table and the docs show it; ``width`` None: the board has no timer."""
        parts = [f"revision {self.revision}"]
        if not self.xsdt:
            parts.append("RSDT only")
        elif self.rsdt_copy_revision is not None:
            parts.append(f"a {self.rsdt_copy_length}-byte revision-{self.rsdt_copy_revision} copy for the RSDT")
        if self.revision >= 3 and (self.timer_access_size, self.timer_bit_width) != (GAS_ACCESS_DWORD, 32):
            parts.append(f"X_PM_TMR_BLK {self.timer_bit_width} bits, access size {self.timer_access_size}")
        if self.hardware_reduced:
            parts.append("hardware-reduced")
        if not self.pm_tmr_blk:
            parts.append("only X_PM_TMR_BLK")
        if not self.legacy_blocks:
            parts.append("only the X_ blocks (PM_TMR_BLK, PM1a and SMI_CMD 0)")
        if not self.rsdt:
            parts.append("XSDT only (RsdtAddress 0)")
        if self.named_pm1_base is not None:
            parts.append(f"names PM1a at {self.named_pm1_base:#x}, where nothing answers")
        if self.named_timer_port is not None:
            where = "the RSDT's copy names" if self.named_timer_in_rsdt_copy_only else "names"
            parts.append(f"{where} a timer at {self.named_timer_port:#x}, where nothing answers")
        if not self.x_pm1_blocks:
            parts.append("X_PM1a blocks 0")
        ext = (width == 32) if self.tmr_val_ext is None else self.tmr_val_ext
        parts.append("TMR_VAL_EXT" if ext else "no TMR_VAL_EXT")
        if width is None:
            parts.append("no timer answers")
        return ", ".join(parts)


SPEC_FADT_SHAPE = FadtShape()  # the specification's table: revision 6, each block in its legacy and X_ fields


class FadtFacts(Record):
    """What the FADT says: the devices the board built, in the shape the platform's firmware gives the table."""

    __slots__ = (
        "timer_port",
        "tmr_val_ext",
        "pm1_event_port",
        "pm1_control_port",
        "sci_irq",
        "smi_cmd",
        "acpi_enable",
        "acpi_disable",
        "shape",
    )

    def __init__(
        self,
        timer_port: int | None = 0x408,  # None: the platform has no timer
        tmr_val_ext: bool = True,
        pm1_event_port: int | None = 0x400,  # PM1a_EVT_BLK; None: no PM1 block
        pm1_control_port: int | None = 0x404,
        sci_irq: int = SCI_IRQ,
        smi_cmd: int = 0,  # 0: no SMI command port, the platform is always in ACPI mode
        acpi_enable: int = 0,
        acpi_disable: int = 0,
        shape: FadtShape = SPEC_FADT_SHAPE,
    ) -> None:
        self.timer_port = timer_port
        self.tmr_val_ext = tmr_val_ext
        self.pm1_event_port = pm1_event_port
        self.pm1_control_port = pm1_control_port
        self.sci_irq = sci_irq
        self.smi_cmd = smi_cmd
        self.acpi_enable = acpi_enable
        self.acpi_disable = acpi_disable
        self.shape = shape


class AcpiTable(Record):
    """One ACPI structure as the guest finds it: its name, where it lies in guest memory, its bytes."""

    __slots__ = ("name", "address", "data")

    def __init__(self, name: str, address: int, data: bytes) -> None:
        self.name = name
        self.address = address
        self.data = data


def checksum_byte(data: bytes) -> int:
    """The byte that makes the sum of all bytes zero, modulo 256."""
    return -sum(data) & 0xFF


def with_checksum(data: bytes, offset: int) -> bytes:
    patched = bytearray(data)
    patched[offset] = 0
    patched[offset] = checksum_byte(bytes(patched))
    return bytes(patched)


def table(signature: bytes, revision: int, body: bytes) -> bytes:
    """A system description table: the 36-byte header (5.2.6), the body, a valid checksum."""
    length = 36 + len(body)
    header = struct.pack(
        "<4sIBB6s8sI4sI", signature, length, revision, 0, OEM_ID, OEM_TABLE_ID, 1, CREATOR_ID, 1
    )
    return with_checksum(header + body, 9)


def generic_address(port: int, bit_width: int, access_size: int) -> bytes:
    """A Generic Address Structure (5.2.3.2) for an I/O port register."""
    return struct.pack("<BBBBQ", GAS_SYSTEM_IO, bit_width, 0, access_size, port)


def rsdp(rsdt: int, xsdt: int | None) -> bytes:
    """Root System Description Pointer (5.2.5.3): revision 2 with two checksums, over 20 and 36 bytes;
    without an XSDT, the 20-byte revision 0 of ACPI 1.0; ``rsdt`` 0: the XSDT alone."""
    first = with_checksum(struct.pack("<8sB6sBI", b"RSD PTR ", 0, OEM_ID, 0 if xsdt is None else 2, rsdt), 8)
    if xsdt is None:
        return first
    whole = first + struct.pack("<IQB3s", 36, xsdt, 0, b"\0\0\0")
    return with_checksum(whole, 32)


def fadt(facts: FadtFacts, revision: int | None = None, length: int | None = None) -> bytes:
    """The FADT; ``revision`` and ``length``: a copy cut to those (the RSDT's own, where there is one)."""
    shape = facts.shape
    if revision is None:
        revision, length = shape.revision, shape.length
    length = FADT_LENGTHS.get(revision, FADT_LENGTH) if length is None else length
    extended = length >= FADT_X_PM_TMR_BLK + 12  # the X_ fields: ACPI 2.0
    body = bytearray(FADT_LENGTH - 36)

    def put(offset: int, fmt: str, *values: int | bytes) -> None:
        struct.pack_into(fmt, body, offset - 36, *values)

    legacy = shape.legacy_blocks
    put(FADT_DSDT, "<I", DSDT_ADDRESS)
    put(FADT_SMI_CMD, "<I", facts.smi_cmd if legacy else 0)
    if legacy:
        put(FADT_ACPI_ENABLE, "<BB", facts.acpi_enable, facts.acpi_disable)
    flags = (TMR_VAL_EXT if facts.tmr_val_ext else 0) | (HW_REDUCED_ACPI if shape.hardware_reduced else 0)
    put(FADT_FLAGS, "<I", flags)
    if facts.pm1_event_port is not None and facts.pm1_control_port is not None:
        put(FADT_SCI_INT, "<H", facts.sci_irq)
        if legacy:
            put(FADT_PM1A_EVT_BLK, "<I", facts.pm1_event_port)
            put(FADT_PM1A_CNT_BLK, "<I", facts.pm1_control_port)
        put(FADT_PM1_EVT_LEN, "<B", PM1_EVT_LEN)
        put(FADT_PM1_CNT_LEN, "<B", PM1_CNT_LEN)
        if extended and shape.x_pm1_blocks:
            event_access = shape.pm1_access_size if shape.pm1_event_access_size is None else shape.pm1_event_access_size
            event = generic_address(facts.pm1_event_port, shape.pm1_event_bit_width, event_access)
            control = generic_address(facts.pm1_control_port, 8 * PM1_CNT_LEN, shape.pm1_access_size)
            put(FADT_X_PM1A_EVT_BLK, "12s", event)
            put(FADT_X_PM1A_CNT_BLK, "12s", control)
    if facts.timer_port is not None:
        if shape.pm_tmr_blk:
            put(FADT_PM_TMR_LEN, "<B", PM_TMR_LEN)
            if legacy:
                put(FADT_PM_TMR_BLK, "<I", facts.timer_port)
        if extended:
            timer = generic_address(facts.timer_port, shape.timer_bit_width, shape.timer_access_size)
            put(FADT_X_PM_TMR_BLK, "12s", timer)
    elif extended and shape.timer_gas_without_timer:
        put(FADT_X_PM_TMR_BLK, "12s", generic_address(0, shape.timer_bit_width, shape.timer_access_size))
    if extended:
        put(FADT_X_DSDT, "<Q", DSDT_ADDRESS)
    if revision >= FIRST_MINOR_VERSION_REVISION:
        put(FADT_MINOR_VERSION, "<B", FADT_MINOR_REVISION)
    return table(b"FACP", revision, bytes(body[: length - 36]))


def build_tables(facts: FadtFacts) -> list[AcpiTable]:
    """The platform's tables, each with the address it goes to."""
    shape = facts.shape
    has_rsdt = shape.rsdt or not shape.xsdt
    copy = shape.rsdt_copy_revision is not None and shape.xsdt and has_rsdt
    rsdt = table(b"RSDT", 1, struct.pack("<I", RSDT_FADT_ADDRESS if copy else FADT_ADDRESS))
    xsdt = table(b"XSDT", 1, struct.pack("<Q", FADT_ADDRESS))
    dsdt = table(b"DSDT", 2, b"")  # no AML: nothing here needs a namespace
    rsdp_table = rsdp(RSDT_ADDRESS if has_rsdt else 0, XSDT_ADDRESS if shape.xsdt else None)
    tables = [AcpiTable("RSDP", RSDP_ADDRESS, rsdp_table)]
    if has_rsdt:
        tables.append(AcpiTable("RSDT", RSDT_ADDRESS, rsdt))
    if shape.xsdt:
        tables.append(AcpiTable("XSDT", XSDT_ADDRESS, xsdt))
    tables += [AcpiTable("FACP", FADT_ADDRESS, fadt(facts)), AcpiTable("DSDT", DSDT_ADDRESS, dsdt)]
    if copy:
        copied = facts.replace(timer_port=shape.named_timer_port) if shape.named_timer_in_rsdt_copy_only else facts
        rsdt_fadt = fadt(copied, shape.rsdt_copy_revision, shape.rsdt_copy_length)
        tables.append(AcpiTable("FACP", RSDT_FADT_ADDRESS, rsdt_fadt))
    return tables


# --- reading them back, for ``python -m pmtimer_harness tables`` ----------------------------


def hexdump(data: bytes, address: int) -> list[str]:
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"  {address + offset:08x}  {chunk.hex(' '):<47}  {text}")
    return lines


def _gas(data: bytes, offset: int) -> str:
    space, width, _bit_offset, access, address = struct.unpack_from("<BBBBQ", data, offset)
    kind = {0: "memory", 1: "I/O"}.get(space, f"space {space}")
    return f"{kind} {address:#x}, {width} bits, access size {access}"


def describe(entry: AcpiTable) -> list[str]:
    data = entry.data
    if entry.name == "RSDP":
        _, _, oem, revision, rsdt_address = struct.unpack_from("<8sB6sBI", data)
        if revision < 2:
            return [
                f"  OEM ID {oem.decode()!r}, revision {revision}",
                f"  RSDT at {rsdt_address:#x}, no XSDT",
                f"  checksum: 20 bytes sum {sum(data[:20]) & 0xFF}",
            ]
        _, xsdt_address = struct.unpack_from("<IQ", data, 20)
        return [
            f"  OEM ID {oem.decode()!r}, revision {revision}",
            f"  RSDT at {rsdt_address:#x}, XSDT at {xsdt_address:#x}",
            f"  checksums: first 20 bytes sum {sum(data[:20]) & 0xFF}, all 36 sum {sum(data) & 0xFF}",
        ]
    signature, length, revision = struct.unpack_from("<4sIB", data)
    lines = [f"  {signature.decode()} length {length}, revision {revision}, checksum sum {sum(data) & 0xFF}"]
    if entry.name == "RSDT":
        lines += [f"  entry: {address:#x}" for (address,) in struct.iter_unpack("<I", data[36:])]
    elif entry.name == "XSDT":
        lines += [f"  entry: {address:#x}" for (address,) in struct.iter_unpack("<Q", data[36:])]
    elif entry.name == "FACP":
        (flags,) = struct.unpack_from("<I", data, FADT_FLAGS)
        timer = "1 (32-bit timer)" if flags & TMR_VAL_EXT else "0 (24-bit timer)"
        reduced = " HW_REDUCED_ACPI" if flags & HW_REDUCED_ACPI else ""
        lines += [
            f"  SCI_INT        {struct.unpack_from('<H', data, FADT_SCI_INT)[0]}",
            f"  PM1a_EVT_BLK   {struct.unpack_from('<I', data, FADT_PM1A_EVT_BLK)[0]:#x}"
            f"  (PM1_EVT_LEN {data[FADT_PM1_EVT_LEN]})",
            f"  PM1a_CNT_BLK   {struct.unpack_from('<I', data, FADT_PM1A_CNT_BLK)[0]:#x}"
            f"  (PM1_CNT_LEN {data[FADT_PM1_CNT_LEN]})",
            f"  PM_TMR_BLK     {struct.unpack_from('<I', data, FADT_PM_TMR_BLK)[0]:#x}"
            f"  (PM_TMR_LEN {data[FADT_PM_TMR_LEN]})",
            f"  Flags          {flags:#010x}  TMR_VAL_EXT={timer}{reduced}",
            f"  SMI_CMD        {struct.unpack_from('<I', data, FADT_SMI_CMD)[0]:#x}"
            f"  (ACPI_ENABLE {data[FADT_ACPI_ENABLE]:#04x}, ACPI_DISABLE {data[FADT_ACPI_DISABLE]:#04x})",
        ]
        if len(data) >= FADT_X_PM_TMR_BLK + 12:
            lines += [
                f"  X_PM_TMR_BLK   {_gas(data, FADT_X_PM_TMR_BLK)}",
                f"  X_PM1a_EVT_BLK {_gas(data, FADT_X_PM1A_EVT_BLK)}",
                f"  X_PM1a_CNT_BLK {_gas(data, FADT_X_PM1A_CNT_BLK)}",
            ]
        lines.append(f"  DSDT           {struct.unpack_from('<I', data, FADT_DSDT)[0]:#x}")
    return lines


def dump(tables: list[AcpiTable]) -> str:
    lines = []
    for entry in tables:
        lines.append(f"{entry.name} at {entry.address:#x} ({len(entry.data)} bytes)")
        lines += describe(entry)
        lines += hexdump(entry.data, entry.address)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
