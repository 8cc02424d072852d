"""pmtimer_harness: small x86 guests under Unicorn, their IN/OUT reaching device models in plain Python.

The Python API, all from the top level::

    from pmtimer_harness import MachineConfig, run_guest

    run = run_guest("guests/my_guest.asm", MachineConfig(platform="xen"))   # or ["--platform", "xen"]
    assert run.result.verdict == "pass", run.result.console

``run_guest`` also takes an image as bytes and ``devices=[...]``, your own
device models (``Device``) attached to the port bus, as objects or as
``--device`` SPECs; ``build_machine`` gives the machine
without running it, for ``save_at``/``on_snapshot``, ``take_snapshot`` and
``restore_snapshot``.  The names are imported on first use, so ``import
pmtimer_harness`` costs almost nothing (a run from the command line starts fast).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

# The one place the version is stated: the build reads it (pyproject.toml's dynamic
# version), so the installed metadata says the same.  Read back through
# importlib.metadata it would cost every command about 40 ms of start-up.
__version__ = "0.1.0"

# name -> (module, attribute): what ``from pmtimer_harness import name`` gives.
_EXPORTS = {
    "run_guest": ("pmtimer_harness.tools.runner", "run_guest"),
    "build_machine": ("pmtimer_harness.tools.runner", "build_machine"),
    "resume_snapshot": ("pmtimer_harness.tools.runner", "resume_snapshot"),
    "GuestRun": ("pmtimer_harness.tools.runner", "GuestRun"),
    "MachineConfig": ("pmtimer_harness.core.config", "MachineConfig"),
    "ConfigError": ("pmtimer_harness.core.config", "ConfigError"),
    "Machine": ("pmtimer_harness.core.machine", "Machine"),
    "RunResult": ("pmtimer_harness.core.result", "RunResult"),
    "Report": ("pmtimer_harness.core.result", "Report"),
    "Verdict": ("pmtimer_harness.core.result", "Verdict"),
    "Device": ("pmtimer_harness.core.bus", "Device"),
    "PortAccess": ("pmtimer_harness.core.bus", "PortAccess"),
    "PortBus": ("pmtimer_harness.core.bus", "PortBus"),
    "PortWindow": ("pmtimer_harness.devices.ports", "PortWindow"),
    "MmioRegion": ("pmtimer_harness.devices.mmio", "MmioRegion"),
    "DeviceError": ("pmtimer_harness.devices.ports", "DeviceError"),
    "take_snapshot": ("pmtimer_harness.core.snapshot", "take"),
    "restore_snapshot": ("pmtimer_harness.core.snapshot", "load"),
    "SnapshotError": ("pmtimer_harness.core.snapshot_format", "SnapshotError"),
    "assemble": ("pmtimer_harness.tools.assembler", "assemble"),
    "AssemblyError": ("pmtimer_harness.tools.assembler", "AssemblyError"),
    "NasmNotFound": ("pmtimer_harness.tools.assembler", "NasmNotFound"),
    "GuestError": ("pmtimer_harness.tools.guest", "GuestError"),
    "PROFILES": ("pmtimer_harness.platform.profiles", "PROFILES"),
}

__all__ = [
    "PROFILES",
    "AssemblyError",
    "ConfigError",
    "Device",
    "DeviceError",
    "GuestError",
    "GuestRun",
    "Machine",
    "MachineConfig",
    "MmioRegion",
    "NasmNotFound",
    "PortAccess",
    "PortBus",
    "PortWindow",
    "Report",
    "RunResult",
    "SnapshotError",
    "Verdict",
    "__version__",
    "assemble",
    "build_machine",
    "restore_snapshot",
    "resume_snapshot",
    "run_guest",
    "take_snapshot",
]

if TYPE_CHECKING:
    from pmtimer_harness.core.bus import Device, PortAccess, PortBus
    from pmtimer_harness.core.config import ConfigError, MachineConfig
    from pmtimer_harness.core.machine import Machine
    from pmtimer_harness.core.result import Report, RunResult, Verdict
    from pmtimer_harness.core.snapshot import load as restore_snapshot
    from pmtimer_harness.core.snapshot import take as take_snapshot
    from pmtimer_harness.core.snapshot_format import SnapshotError
    from pmtimer_harness.devices.mmio import MmioRegion
    from pmtimer_harness.devices.ports import DeviceError, PortWindow
    from pmtimer_harness.platform.profiles import PROFILES
    from pmtimer_harness.tools.assembler import AssemblyError, NasmNotFound, assemble
    from pmtimer_harness.tools.guest import GuestError
    from pmtimer_harness.tools.runner import GuestRun, build_machine, resume_snapshot, run_guest


def __getattr__(name: str) -> object:
    # PEP 562: import what is asked for, when it is asked for.
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'pmtimer_harness' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
