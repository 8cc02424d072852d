"""A bootable raw disk for a harness guest: the loader's sector, the guest, padding.

A BIOS loads only a disk's first sector; ``qemu_loader.asm`` is that sector
and reads the guest from the sectors after it to 0x7C00.  The disk is padded
to whole cylinders of 16 heads x 63 sectors, because firmware and emulators
see a disk through its geometry:

- SeaBIOS gives a disk on q35's AHCI controller a logical geometry of
  ``sectors / (16 x 63)`` cylinders; a disk shorter than one cylinder has
  none, and "could not read the boot disk" (seen with QEMU 7.2's SeaBIOS);
- Bochs takes the geometry from its configuration (``cylinders=C, heads=16,
  spt=63``) and wants an image of exactly that size;
- ``VBoxManage convertfromraw`` and ``dd`` to a USB stick want whole sectors.

One cylinder (504 KiB) holds the loader and the largest guest it can load.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.tools import files
from pmtimer_harness.tools.assembler import ImageTooLarge, assemble, find_nasm

LOADER = Path(__file__).resolve().parent / "qemu_loader.asm"
SECTOR = 512
HEADS = 16
SECTORS_PER_TRACK = 63
CYLINDER = HEADS * SECTORS_PER_TRACK  # sectors
MAX_GUEST_SECTORS = 127  # one INT 13h extended read


class DiskError(ValueError):
    """A guest that does not fit on the loader's disk."""


def loader_sector(guest_sectors: int) -> bytes:
    """The boot sector, assembled to read ``guest_sectors`` sectors."""
    with tempfile.TemporaryDirectory(prefix="harness-loader-") as scratch:
        output = Path(scratch) / "loader.bin"
        subprocess.run(
            [find_nasm(), "-f", "bin", f"-DGUEST_SECTORS={guest_sectors}", "-o", str(output), str(LOADER)],
            check=True, capture_output=True,
        )
        return files.read_bytes(output, SECTOR)


def disk_image(guest: Path, platform: MachineConfig) -> bytes:
    """The whole disk, with the guest assembled for ``platform``."""
    limit = MAX_GUEST_SECTORS * SECTOR
    try:
        image = assemble(guest, platform.nasm_defines(), max_image_bytes=limit).image  # refused before it is read
    except ImageTooLarge as error:
        amount = f"at least {error.size}" if error.stopped else f"{error.size}"
        raise DiskError(f"{files.shown_name(guest.name)} is {amount} bytes; the boot loader reads at most {limit}"
                        ) from None
    sectors = -(-len(image) // SECTOR)
    disk = loader_sector(sectors) + image.ljust(sectors * SECTOR, b"\0")
    return disk.ljust(cylinders(len(disk)) * CYLINDER * SECTOR, b"\0")


def cylinders(size: int) -> int:
    """Whole cylinders that hold ``size`` bytes (at least one)."""
    return max(1, -(-size // (CYLINDER * SECTOR)))
