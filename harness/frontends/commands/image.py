"""``image GUEST -o FILE [--platform NAME]``: a raw bootable disk for any VMM, or a USB stick."""

from __future__ import annotations

import argparse
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.peers.disk import CYLINDER, SECTOR, boot_config, cylinders, disk_image
from pmtimer_harness.tools.files import shown_name
from pmtimer_harness.tools.guest import GuestError, check_guest_path, is_source, source_dependencies
from pmtimer_harness.tools.output import refuse_inputs, shown, write_output

START_MODES = {16: "real mode", 32: "32-bit protected mode"}


def add_to(commands: argparse._SubParsersAction) -> None:
    image = commands.add_parser(
        "image", help="write a raw bootable disk image of a guest (QEMU, Bochs, VirtualBox, dd to a USB stick)",
    )
    image.add_argument("guest", help="path to a NASM (.asm) or C (.c, .S) source")
    image.add_argument("-o", "--output", required=True, metavar="FILE", help="the disk image to write")
    image.add_argument("--platform", default="qemu", metavar="NAME",
                       help="the platform the guest is assembled for (default qemu; see the platforms command)")
    image.set_defaults(handler=command_image)


def command_image(args: argparse.Namespace) -> int:
    guest = Path(args.guest)
    check_guest_path(guest)
    if not is_source(guest):
        raise GuestError(f"{shown_name(guest)}: an image holds the guest built for its platform: give its source "
                         "(.asm, .c or .S)")
    # A real machine's clock: the guest takes the paths written for real time (CLOCK_VIRTUAL 0).
    # Started where and as its header says (--load-address, --mode), as in the harness.
    platform = boot_config(guest, MachineConfig(platform=args.platform, clock="host"))
    refuse_inputs(args.output, [guest, *source_dependencies(guest, platform)])
    disk = disk_image(guest, platform)
    write_output(args.output, disk)
    count = cylinders(len(disk))
    timer = "no PM timer" if platform.timer_port is None else (
        f"timer at {platform.timer_port:#x}, {platform.timer_width} bits")
    print(f"{shown(args.output)}: {len(disk):,} bytes, {count} cylinder{'s' if count > 1 else ''} of 16 heads x "
          f"63 sectors ({count * CYLINDER} sectors of {SECTOR} bytes); {guest.name} for the {args.platform} platform "
          f"({timer}), started in {START_MODES[platform.mode]} at {platform.load_address:#x}")
    return 0
