"""A bootable raw disk for a harness guest: the loader's sector, the guest, padding.

The guest is a NASM source, or a C guest: its ELF's one block of segments,
from its load address, is what the loader copies, and its start-up code
(``asm/c/lib/start.S``) takes over from the loader's 32-bit start.

A BIOS loads only a disk's first sector; ``qemu_loader.asm`` is that sector:
it reads the guest from the sectors after it and starts it where and as the
guest's header says (``--load-address``, ``--mode 16`` or ``32``), as the
harness does.  A place the loader cannot use is refused with the reason: a
64-bit start (long mode needs page tables the loader does not build), the
loader's own sector, the PC's memory hole from the EBDA to 1 MiB, and past
16 MiB (the peers have 32 MiB, and their firmware keeps its tables at the
top).  The stack starts at the load address, as in the harness, except for a
guest in the first 64 KiB past 1 MiB: below it a PC has ROM, so its stack
starts at the top of conventional memory instead.  The disk is padded
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
from pmtimer_harness.tools.assembler import ImageTooLarge, find_nasm
from pmtimer_harness.tools.guest import GuestError, built_image, read_header
from pmtimer_harness.tools.options import HeaderOptionError, parse_header_options

LOADER = Path(__file__).resolve().parent / "qemu_loader.asm"
SECTOR = 512
HEADS = 16
SECTORS_PER_TRACK = 63
CYLINDER = HEADS * SECTORS_PER_TRACK  # sectors
MAX_GUEST_SECTORS = 127  # one INT 13h extended read
START_MODES = (16, 32)  # what qemu_loader.asm can start a guest in
START_FIELDS = ("mode", "load_address", "memory")  # what a guest's header says of its start
LOADER_END = 0x800  # the vectors, the BIOS data, and the loader's sector, moved to 0x600
CONVENTIONAL_END = 0x9FC00  # the EBDA, video memory and the ROMs from here to 1 MiB
HIGH_MEMORY = 0x100000
PEER_MEMORY_END = 16 << 20
STACK_ROOM = 0x10000  # below a guest this close past 1 MiB, the stack would run into the ROM


class DiskError(ValueError):
    """A guest that does not fit on the loader's disk."""


def loader_sector(guest_sectors: int, config: MachineConfig) -> bytes:
    """The boot sector, assembled to read ``guest_sectors`` sectors and start them as ``config`` says."""
    defines = {
        "GUEST_SECTORS": guest_sectors, "LOAD_ADDRESS": config.load_address, "START_MODE": config.mode,
        "STACK": initial_stack(config.load_address),
    }
    with tempfile.TemporaryDirectory(prefix="harness-loader-") as scratch:
        output = Path(scratch) / "loader.bin"
        subprocess.run(
            [find_nasm(), "-f", "bin", *(f"-D{name}={value}" for name, value in defines.items()),
             "-o", str(output), str(LOADER)],
            check=True, capture_output=True,
        )
        return files.read_bytes(output, SECTOR)


def initial_stack(load_address: int) -> int:
    """Where the loader starts the stack: the load address, as the harness does, where RAM lies below it."""
    if HIGH_MEMORY <= load_address < HIGH_MEMORY + STACK_ROOM:
        return CONVENTIONAL_END
    return load_address


def boot_config(guest: Path, platform: MachineConfig) -> MachineConfig:
    """``platform`` with the start the guest's header asks for: its mode, load address and RAM."""
    header = read_header(guest)
    try:
        chosen = vars(parse_header_options(header.options))
    except HeaderOptionError as error:
        raise GuestError(f"{guest}: its '; harness:' line: {error}") from None
    return platform.replace(**{name: chosen[name] for name in START_FIELDS if name in chosen})


def check_start(guest: Path, config: MachineConfig, size: int) -> None:
    """Refuse, with the reason, a start the loader cannot give a guest of ``size`` bytes."""
    name = files.shown_name(guest.name)
    if config.mode not in START_MODES:
        raise DiskError(f"{name} starts in {config.mode}-bit mode (--mode {config.mode}); the boot loader starts "
                        "a guest in 16-bit real mode or 32-bit protected mode: run it in the harness")
    first, last = config.load_address, config.load_address + size - 1
    place = f"{name} at {first:#x}-{last:#x}"
    if first < LOADER_END:
        raise DiskError(f"{place}: below {LOADER_END:#x} are the interrupt vectors, the BIOS data and the boot "
                        "loader; load it higher")
    if first < HIGH_MEMORY and last >= CONVENTIONAL_END:
        raise DiskError(f"{place} reaches into {CONVENTIONAL_END:#x}-{HIGH_MEMORY - 1:#x}, where a PC has the EBDA, "
                        "video memory and ROM; load it below or at 1 MiB and above")
    if last >= PEER_MEMORY_END:
        raise DiskError(f"{place} ends past {PEER_MEMORY_END >> 20} MiB: the peers have 32 MiB, with their "
                        "firmware's tables at the top")


def disk_image(guest: Path, platform: MachineConfig) -> bytes:
    """The whole disk: the guest assembled for ``platform``, started as its header asks."""
    config, image = placed_image(guest, platform)
    sectors = -(-len(image) // SECTOR)
    disk = loader_sector(sectors, config) + image.ljust(sectors * SECTOR, b"\0")
    return disk.ljust(cylinders(len(disk)) * CYLINDER * SECTOR, b"\0")


def boot_refusal(guest: Path, platform: MachineConfig) -> str | None:
    """None if the loader can start ``guest`` assembled for ``platform``, else why not."""
    try:
        placed_image(guest, platform)
    except DiskError as error:
        return str(error)
    return None


def placed_image(guest: Path, platform: MachineConfig) -> tuple[MachineConfig, bytes]:
    """The guest's start and its image, assembled for ``platform``; a start the loader cannot give is refused."""
    config = boot_config(guest, platform)
    check_start(guest, config, SECTOR)  # before NASM runs: the mode alone may refuse it
    limit = MAX_GUEST_SECTORS * SECTOR
    try:
        image = built_image(guest, config, limit)  # NASM's refused before it is read
    except ImageTooLarge as error:
        amount = f"at least {error.size}" if error.stopped else f"{error.size}"
        raise DiskError(f"{files.shown_name(guest.name)} is {amount} bytes; the boot loader reads at most {limit}"
                        ) from None
    check_start(guest, config, -(-len(image) // SECTOR) * SECTOR)  # the loader copies whole sectors
    return config, image


def cylinders(size: int) -> int:
    """Whole cylinders that hold ``size`` bytes (at least one)."""
    return max(1, -(-size // (CYLINDER * SECTOR)))
