"""Helpers for tests that write a small guest of their own."""

from __future__ import annotations

import signal
from pathlib import Path

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.snapshot import take
from pmtimer_harness.tools.runner import GuestRun, run_guest

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "asm"

PRELUDE = """\
        bits 16
        org LOAD_ADDRESS
"""


def snapshot_at_start(image: bytes, config: MachineConfig | None = None) -> bytes:
    """A snapshot of a machine with ``image`` loaded at the boot address, before its first instruction."""
    machine = Machine(config or MachineConfig())
    machine.load(image)
    machine.dispatch.resync(machine.config.load_address)
    return take(machine)


def write_guest(folder: Path, body: str, header: str = "", name: str = "guest.asm") -> Path:
    path = folder / name
    path.write_text(header + PRELUDE + body)
    return path


def run_source(folder: Path, body: str, *options: str, header: str = "", **kwargs) -> GuestRun:
    return run_guest(write_guest(folder, body, header), list(options), **kwargs)


def default_ctrl_c() -> None:
    """For ``preexec_fn``: the child takes SIGINT as a terminal's Ctrl-C, whatever the test runner inherited.

    A shell starts a background job with SIGINT ignored, and children inherit
    that; Python then installs no handler of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def bundled(name: str) -> Path:
    return BUNDLED / name


# A guest as a user writes one, outside the bundled ones: the image and differential tests take it to QEMU.
FINDS_THE_TIMER = """\
; written outside the project: finds the PM timer through the FADT, and expects QEMU's (0x608, 24 bits)
        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"
        %include "fadt_timer.inc"
guest_main:
        call    find_the_timer
        cmp     dword [timer_is_32_bits], 0
        CHECK   e, "the timer is 24 bits wide"
        cmp     dx, 0x608
        CHECK   e, "the timer is at port 0x608"
        FINISH
"""


def program_pics(master_vector: int, slave_vector: int, master_mask: int, slave_mask: int) -> str:
    """ICW1-ICW4 for the 8259 pair (slave on IRQ 2, 8086 mode), then the masks: NASM text for a guest."""
    return f"""
        mov al, 0x11
        out 0x20, al
        out 0xA0, al
        mov al, {master_vector:#04x}
        out 0x21, al
        mov al, {slave_vector:#04x}
        out 0xA1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xA1, al
        mov al, 1
        out 0x21, al
        out 0xA1, al
        mov al, {master_mask:#04x}
        out 0x21, al
        mov al, {slave_mask:#04x}
        out 0xA1, al
"""
