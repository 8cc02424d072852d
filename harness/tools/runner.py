"""Run one guest: read its header, build the machine, load, run.

One call, used by the command line, the suite, the pytest plugin and the tests
alike (``pmtimer_harness.run_guest``)::

    from pmtimer_harness import MachineConfig, run_guest
    run = run_guest("asm/rate.asm", ["--insn-ns", "2"])             # options as on the command line
    run = run_guest("asm/rate.asm", MachineConfig(timer_width=24))  # or a configuration, used as given
    run = run_guest(bytes([0xB0, 0x00, 0xE6, 0xF4]))                # or a flat binary image
    assert run.result.verdict == "pass"
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pmtimer_harness.core.bus import Device
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.machine import AccessObserver, InstructionTraceOptions, Machine
from pmtimer_harness.core.result import RunResult, Verdict
from pmtimer_harness.devices.acpi_pm1 import Pm1Registers
from pmtimer_harness.devices.pm_timer import PmTimer
from pmtimer_harness.platform.profiles import DEFAULT_PLATFORM
from pmtimer_harness.record import Record
from pmtimer_harness.tools.guest import Guest, GuestError, GuestHeader, load_guest, read_header
from pmtimer_harness.tools.options import HeaderOptionError, device_specs, machine_config, parse_header_options
from pmtimer_harness.tools.output import output_target, shown

if TYPE_CHECKING:
    from pmtimer_harness.core.device_specs import UserDevice
    from pmtimer_harness.core.machine import TraceSink

IMAGE_NAME = "<image>"  # the name a guest given as bytes goes by in results

# What watches a run while it goes (the command line's status line): made with the machine and the guest's name.
RunWatcher = Callable[[Machine, str], AbstractContextManager[object]]


class ItemProgress(Protocol):
    """What follows a run of many items (guests, cells, rows): the command line's progress line."""

    def starting(self, name: str) -> None: ...

    def finished_item(self, name: str, outcome: str, wall_seconds: float) -> None: ...


class GuestRun(Record):
    """One guest's run: the machine it ran on, the verdict its header expected, and the result."""

    __slots__ = ("guest", "config", "expect", "result", "build")
    __hash__ = None  # type: ignore[assignment]  # filled in as the run goes

    def __init__(
        self,
        guest: Path,
        config: MachineConfig,
        expect: Verdict,
        result: RunResult,
        build: dict[str, object] | None = None,  # a C guest's compiler, its version and flags
    ) -> None:
        self.guest = guest
        self.config = config
        self.expect = expect
        self.result = result
        self.build = build

    @property
    def as_expected(self) -> bool:
        return self.result.verdict == self.expect

    def as_dict(self) -> dict[str, object]:
        data = {"guest": str(self.guest), "expect": self.expect.value}
        data.update(self.result.as_dict())
        data["options"] = self.config.as_dict()
        if self.build is not None:
            data["build"] = self.build
        return data


def run_guest(
    guest: str | os.PathLike[str] | bytes,
    options: Sequence[str] | argparse.Namespace | MachineConfig = (),
    *,
    devices: Sequence[Device | str] = (),
    use_cache: bool | None = None,
    trace: TraceSink | None = None,
    instruction_trace: InstructionTraceOptions | None = None,
    timer_model: type[PmTimer] = PmTimer,
    pm1_model: type[Pm1Registers] = Pm1Registers,
    progress: RunWatcher | None = None,
    observer: AccessObserver | None = None,
    gdb_port: int | None = None,
    snapshot_path: Path | None = None,
    save_at: int | None = None,
    uart_input: bytes | None = None,
) -> GuestRun:
    """Run ``guest`` (a path to a .asm or .bin file, or a flat binary image as bytes) to its verdict.

    ``options`` are command-line style strings or a parsed namespace, laid
    over the guest's ``; harness:`` header; or a ``MachineConfig``, used
    exactly as given (the header's options are then not read; its
    ``; expect:`` line still is).  ``devices`` (``Device`` objects, or SPECs
    as ``--device`` takes them) are attached to the port bus beside the
    machine's own, after those the header and ``options`` name.  ``use_cache`` None follows ``HARNESS_NO_CACHE``.
    ``progress``, if given, watches the run (the command line's status line).
    ``uart_input`` reaches COM1's receiver from time 0, a byte a character time (``--uart-input``).
    """
    if save_at is not None and snapshot_path is None:
        raise ConfigError("--save-at needs --snapshot FILE: where to save")
    with tempfile.TemporaryDirectory(prefix="harness-gdb-") if gdb_port is not None else nullcontext() as labels:
        machine, header, guest_path, build = _prepare(
            guest, options, devices=devices, use_cache=use_cache, trace=trace, instruction_trace=instruction_trace,
            timer_model=timer_model, pm1_model=pm1_model, observer=observer, gdb_port=gdb_port,
            labels=None if labels is None else Path(labels), uart_input=uart_input,
        )
        if snapshot_path is not None:
            save_snapshots(machine, snapshot_path)
        if save_at is not None:
            machine.save_at(save_at)
        config = machine.config
        expect = header.expect_on(config.platform) if _platform_named(header, options, config) else header.expect
        result = run_machine(machine, guest_path.name, progress)
    # The labels folder is gone: gdb has read the script by now, or never will.
    if save_at is not None and machine.save_at_pending:
        ran = "" if result.instructions is None else f" after {result.instructions:,} instructions"
        result.warnings.append(f"--save-at {save_at:,}: the run ended{ran}, before it; no snapshot was written")
    return GuestRun(guest_path, config, expect, result, build)


def build_machine(
    guest: str | os.PathLike[str] | bytes,
    options: Sequence[str] | argparse.Namespace | MachineConfig = (),
    *,
    devices: Sequence[Device | str] = (),
    use_cache: bool | None = None,
    trace: TraceSink | None = None,
    timer_model: type[PmTimer] = PmTimer,
    pm1_model: type[Pm1Registers] = Pm1Registers,
) -> Machine:
    """The machine ``run_guest`` would run, the guest loaded, not started: for ``save_at``, ``on_snapshot``, ``run``."""
    return _prepare(
        guest, options, devices=devices, use_cache=use_cache, trace=trace, timer_model=timer_model, pm1_model=pm1_model
    )[0]


def _prepare(
    guest: str | os.PathLike[str] | bytes,
    options: Sequence[str] | argparse.Namespace | MachineConfig,
    *,
    devices: Sequence[Device | str] = (),
    use_cache: bool | None = None,
    trace: TraceSink | None = None,
    instruction_trace: InstructionTraceOptions | None = None,
    timer_model: type[PmTimer] = PmTimer,
    pm1_model: type[Pm1Registers] = Pm1Registers,
    observer: AccessObserver | None = None,
    gdb_port: int | None = None,
    labels: Path | None = None,
    uart_input: bytes | None = None,
) -> tuple[Machine, GuestHeader, Path, dict[str, object] | None]:
    guest_path = Path(IMAGE_NAME) if isinstance(guest, bytes) else Path(guest)
    header, config = guest_config(None if isinstance(guest, bytes) else guest_path, options)
    loaded = _load(guest, guest_path, config, use_cache)
    if loaded.load_address is not None and loaded.load_address != config.load_address:
        config = config.replace(load_address=loaded.load_address)  # an ELF starts where it was linked
    if labels is not None and loaded.symbols:
        from pmtimer_harness.core.gdbstub import write_label_script  # sockets: only a debugging run

        script = write_label_script(loaded.symbols, labels)
        print(f"gdb: labels as convenience variables: source {script}, then e.g. break *$guest_main",
              file=sys.stderr, flush=True)
    if labels is not None and loaded.elf is not None:
        symbol_file = labels / "guest.elf"
        symbol_file.write_bytes(loaded.elf)
        print(f"gdb: the guest's functions and C lines: symbol-file {symbol_file}, then e.g. break main",
              file=sys.stderr, flush=True)
    machine = Machine(
        config,
        timer_model=timer_model,
        pm1_model=pm1_model,
        source_map=loaded.source_map,
        trace=trace,
        instruction_trace=instruction_trace,
        observer=observer,
        gdb_port=gdb_port,
        announce=lambda line: print(line, file=sys.stderr, flush=True),
    )
    for attached in [*_header_devices(header, guest_path, options), *_user_devices([*_specs_given(options), *devices])]:
        machine.board.attach_user(attached)
    if uart_input is not None:
        machine.board.give_uart_input(uart_input)
    machine.load(loaded.image)
    return machine, header, guest_path, loaded.build


def _header_devices(
    header: GuestHeader, path: Path, options: Sequence[str] | argparse.Namespace | MachineConfig
) -> list[UserDevice]:
    """The devices the guest's header names (none under a ``MachineConfig``); a wrong one names the guest."""
    if isinstance(options, MachineConfig):
        return []
    try:
        specs = device_specs(header.options, argparse.Namespace())
        for spec in specs:
            # A guest file does not choose the Python that runs: only a device an installed package
            # declared (a NAME) may come from a header; module:Class comes from the user's own side.
            if ":" in spec.partition(",")[0]:
                raise ConfigError(f"--device {spec!r}: a guest's header may name only an installed device "
                                  "(NAME); give module:Class on the command line, in harness_devices or to the API")
        return _user_devices(specs)
    except ConfigError as error:
        raise GuestError(f"{path}: its '; harness:' line: {error}") from None


def _user_devices(devices: Sequence[Device | str]) -> list[UserDevice]:
    """The devices, each with the SPEC a snapshot records; a run that attaches none does not load their module."""
    if not devices:
        return []
    from pmtimer_harness.core.device_specs import user_devices

    return user_devices(devices)


def _specs_given(options: Sequence[str] | argparse.Namespace | MachineConfig) -> list[str]:
    """The ``--device`` SPECs of the options; a ``MachineConfig`` names none."""
    if isinstance(options, MachineConfig):
        return []
    if not isinstance(options, argparse.Namespace):
        options = parse_header_options(options)
    return device_specs((), options)


def _platform_named(
    header: GuestHeader, options: Sequence[str] | argparse.Namespace | MachineConfig, config: MachineConfig
) -> bool:
    """Whether the run names its platform: only then does a guest's ``; expect: PLATFORM=...`` apply.

    A guest whose header asks for hardware (``--timer-width 24``) runs on that
    hardware by default, and is held to its plain ``; expect:`` there.
    """
    if config.platform != DEFAULT_PLATFORM or "--platform" in header.options:
        return True
    if isinstance(options, argparse.Namespace):
        return "platform" in vars(options)
    return not isinstance(options, MachineConfig) and "--platform" in options


def guest_config(
    path: str | Path | None, options: Sequence[str] | argparse.Namespace | MachineConfig = ()
) -> tuple[GuestHeader, MachineConfig]:
    """The guest's header and the machine it runs on: its header's options under ``options``.

    A ``MachineConfig`` is taken as it is; ``path`` None is an image without a header.
    """
    header = GuestHeader() if path is None else read_header(Path(path))
    if isinstance(options, MachineConfig):
        return header, options
    if not isinstance(options, argparse.Namespace):
        options = parse_header_options(options)
    try:
        return header, machine_config(header.options, options)
    except HeaderOptionError as error:
        raise GuestError(f"{path}: its '; harness:' line: {error}") from None


def _load(guest: str | os.PathLike[str] | bytes, path: Path, config: MachineConfig, use_cache: bool | None) -> Guest:
    if not isinstance(guest, bytes):
        return load_guest(path, config, use_cache=use_cache)
    if not guest:
        raise GuestError("the guest image is empty")
    return Guest(path, bytes(guest), {}, {})


def resume_snapshot(
    path: str | Path,
    *,
    trace: TraceSink | None = None,
    instruction_trace: InstructionTraceOptions | None = None,
    progress: RunWatcher | None = None,
    snapshot_path: Path | None = None,
    platform: str | None = None,
    devices: Sequence[Device | str] = (),
) -> GuestRun:
    """Restore the machine a snapshot saved (on ``platform``, if given) and run it to its end.

    The user's devices it records are rebuilt, or taken from ``devices`` (see ``restore_snapshot``).
    """
    from pmtimer_harness.core.snapshot import load  # snapshot imports the machine module
    from pmtimer_harness.core.snapshot_format import SnapshotError  # only a resume reads snapshots
    from pmtimer_harness.tools.snapshot_file import read_snapshot_file

    snapshot = Path(path)
    data = read_snapshot_file(snapshot)
    try:
        machine = load(data, platform, devices=devices, trace=trace, instruction_trace=instruction_trace)
    except SnapshotError as error:
        raise SnapshotError(f"{snapshot}: {error}") from None
    if snapshot_path is not None:
        save_snapshots(machine, snapshot_path)
    return GuestRun(snapshot, machine.config, Verdict.PASS, run_machine(machine, snapshot.name, progress))


def save_snapshots(machine: Machine, path: Path) -> None:
    """Save each snapshot the run asks for to ``path``, saying so; refuse a path no snapshot may go to now."""
    output_target(path)  # a directory or a device is refused before the run, not at the save point
    machine.on_snapshot = lambda stopped: save_snapshot(stopped, path)


def save_snapshot(machine: Machine, path: Path) -> None:
    from pmtimer_harness.tools.snapshot_file import write_snapshot_file  # only a run that saves writes them

    write_snapshot_file(machine, path)
    at = machine.dispatch.instructions_at(machine.dispatch.read_pc())
    when = "" if at is None else f" at {at:,} instructions"
    # Said as it happens, on standard error like the gdb lines: not one of the run's warnings.
    print(f"harness: note: snapshot written to {shown(path)}{when}", file=sys.stderr, flush=True)


def run_machine(machine: Machine, name: str, progress: RunWatcher | None = None) -> RunResult:
    """Run the machine, watched by ``progress`` if given."""
    with nullcontext() if progress is None else progress(machine, name):
        result = machine.run()
    result.warnings[:0] = machine.warnings
    return result
