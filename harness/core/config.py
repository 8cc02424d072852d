"""Machine configuration: every option a run can take, with its default.

One record, not changed once built; the command line, a guest's ``; harness:`` header and
the Python API all end up here.  ``platform`` names a profile
(``harness/platform/profiles.py``) and ``quirks`` lay single properties over
it; the timer's port and width, when not given, come from the profile (None
on a board without a timer), and ``io_semantics``, when given, replaces the
profile's access rules.  Explicit options are laid over the quirks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pmtimer_harness.core.clock import DEFAULT_INSN_NS, DEFAULT_IO_NS
from pmtimer_harness.devices.acpi_pm1 import BHYVE_PM1, BYTES_PM1
from pmtimer_harness.devices.debug_console import DEBUG_CONSOLE_PORT
from pmtimer_harness.devices.debug_exit import DEBUG_EXIT_PORT
from pmtimer_harness.devices.pm_timer import (
    BHYVE_PM_TMR_PORT,
    BHYVE_REFUSAL,
    TIMER_WIDTHS,
    IoSemantics,
    NarrowRead,
    TimerWrite,
)
from pmtimer_harness.record import FrozenRecord

if TYPE_CHECKING:
    from pmtimer_harness.platform.profiles import Profile

BOOT_SECTOR_ADDRESS = 0x7C00
BOOT_DRIVE = 0x80  # DL at boot: the first hard disk
PAGE = 0x1000
DEFAULT_MEMORY = 1 << 20
DEFAULT_MAX_INSTRUCTIONS = 200_000_000
DEFAULT_TIMEOUT_S = 60.0
# Caps: each value past them is a mistake, and some would cost the host dearly.
MAX_MEMORY = 1 << 30  # guest RAM is host memory once touched, and a snapshot reads all of it
MAX_TIMEOUT_S = 1e300  # "no timeout"; past about 1.8e302 s a float has no microsecond count
MAX_STEP_NS = 1_000_000_000  # --insn-ns and --io-ns: one second
MAX_INSTRUCTIONS = 10**15
WHOLE, TEXT, SWITCH = (int, "a whole number"), (str, "a string"), (bool, "true or false")
WHOLE_OR_NONE = ((int, type(None)), "a whole number or null")
FIELD_TYPES = {
    "memory": WHOLE, "mode": WHOLE, "load_address": WHOLE, "clock": TEXT, "insn_ns": WHOLE, "io_ns": WHOLE,
    "timer_width": WHOLE_OR_NONE, "timer_port": WHOLE_OR_NONE, "timer_start": WHOLE,
    "io_semantics": ((str, type(None)), "a string or null"), "strict_io": SWITCH,
    "max_instructions": WHOLE_OR_NONE, "timeout": ((int, float), "a number"), "platform": TEXT,
    "quirks": (tuple, "a list of quirk names"), "dispatch": TEXT,
}
# --dispatch: the compiled fast path (core/native_dispatch.py, where it is built), the same in Python
# (core/dispatch.py), and the reference (core/reference_dispatch.py).  "fast" is what "python" was
# called before there was a compiled path.
DISPATCHES = ("native", "python", "reference")
DISPATCH_ALIASES = {"fast": "python"}
DISPATCH_VARIABLE = "HARNESS_DISPATCH"  # a run's dispatch where neither its command line nor its guest names one


class ConfigError(ValueError):
    """An option value the machine cannot honour."""


NOT_BUILT = (
    "--dispatch native: the compiled fast path is not built in this install (no C compiler when it was "
    "installed); use --dispatch python"
)


def native_dispatch_built() -> bool:
    """Whether the compiled fast path (core/native.c) was built when the package was installed."""
    try:
        from pmtimer_harness.core import _native  # noqa: F401
    except ImportError:
        return False
    return True


def default_dispatch() -> str:
    """The compiled path where it is built, else the Python path."""
    return "native" if native_dispatch_built() else "python"


def dispatch_from_environment() -> str | None:
    """HARNESS_DISPATCH, if set: the dispatch a run takes where neither its command line nor its guest names one."""
    chosen = os.environ.get(DISPATCH_VARIABLE, "")
    if not chosen:
        return None
    if DISPATCH_ALIASES.get(chosen, chosen) not in DISPATCHES:
        raise ConfigError(f"{DISPATCH_VARIABLE} must be 'native', 'python' or 'reference', not {chosen!r}")
    return chosen


def describe_dispatch() -> str:
    """What ``-V`` says of the hot path: the dispatch a run takes by default, and whether the compiled one is built."""
    built = "the compiled fast path is built" if native_dispatch_built() else (
        "the compiled fast path is not built: no C compiler at install"
    )
    try:
        chosen = dispatch_from_environment()
    except ConfigError as error:
        return f"{error}; {built}"
    if chosen is None:
        return f"dispatch: {default_dispatch()}; {built}"
    return f"dispatch: {DISPATCH_ALIASES.get(chosen, chosen)} (from {DISPATCH_VARIABLE}); {built}"


# --io-semantics: the two access rule sets that were options before platforms were profiles.
IO_SEMANTICS_RULES: dict[str, dict[str, object]] = {
    IoSemantics.BHYVE.value: {
        "narrow_reads": NarrowRead.REFUSE, "writes": TimerWrite.REFUSE, "refusal": BHYVE_REFUSAL,
        "pm1_access": BHYVE_PM1,
    },
    IoSemantics.QEMU.value: {
        "narrow_reads": NarrowRead.LOW_BYTES, "writes": TimerWrite.IGNORE, "refusal": "",
        "pm1_access": BYTES_PM1,
    },
}


class MachineConfig(FrozenRecord):
    """Every option of a run, each with its default; the platform fills in what is left None."""

    __slots__ = (
        "memory", "mode", "load_address", "clock", "insn_ns", "io_ns", "timer_width", "timer_port", "timer_start",
        "io_semantics", "strict_io", "max_instructions", "timeout", "platform", "quirks", "dispatch",
    )

    def __init__(
        self,
        memory: int = DEFAULT_MEMORY,
        mode: int = 16,
        load_address: int = BOOT_SECTOR_ADDRESS,
        clock: str = "virtual",
        insn_ns: int = DEFAULT_INSN_NS,
        io_ns: int = DEFAULT_IO_NS,
        timer_width: int | None = None,  # None: the platform's
        timer_port: int | None = None,  # None: the platform's
        timer_start: int = 0,
        io_semantics: str | None = None,  # None: the platform's access rules
        strict_io: bool = False,
        max_instructions: int | None = None,  # None: DEFAULT_MAX_INSTRUCTIONS under the virtual clock
        timeout: float = DEFAULT_TIMEOUT_S,
        platform: str = "acpi",
        quirks: tuple[str, ...] = (),
        dispatch: str | None = None,  # None: default_dispatch(), chosen when the configuration is built
    ) -> None:
        from pmtimer_harness.platform.profiles import PlatformError  # profiles import devices only

        self.memory = memory
        self.mode = mode
        self.load_address = load_address
        self.clock = clock
        self.insn_ns = insn_ns
        self.io_ns = io_ns
        self.timer_width = timer_width
        self.timer_port = timer_port
        self.timer_start = timer_start
        self.io_semantics = io_semantics
        self.strict_io = strict_io
        self.max_instructions = max_instructions
        self.timeout = timeout
        self.platform = platform
        self.quirks = tuple(quirks) if isinstance(quirks, list) else quirks
        self.dispatch = default_dispatch() if dispatch is None else dispatch
        self._check_types()
        if self.io_semantics is not None and self.io_semantics not in IO_SEMANTICS_RULES:
            raise ConfigError(f"--io-semantics must be 'bhyve' or 'qemu', not {self.io_semantics!r}")
        try:
            resolved = self.profile()
        except PlatformError as error:
            raise ConfigError(str(error)) from None
        if resolved.has_timer:  # the platform's values, set once more while the configuration is built
            object.__setattr__(self, "timer_port", resolved.port)
            object.__setattr__(self, "timer_width", resolved.width)
        self._check()

    def profile(self) -> Profile:
        """The platform as this configuration has it: the profile, the quirks, the explicit options."""
        from pmtimer_harness.platform.profiles import resolve

        access = IO_SEMANTICS_RULES.get(self.io_semantics) if self.io_semantics else None
        return resolve(self.platform, self.quirks, port=self.timer_port, width=self.timer_width, access=access)

    def _check(self) -> None:
        if self.memory < PAGE or self.memory % PAGE:
            raise ConfigError(f"--memory must be a positive multiple of 4 KiB, not {self.memory:#x}")
        if self.memory > MAX_MEMORY:
            raise ConfigError(f"--memory {self.memory:,} bytes is over the cap of {MAX_MEMORY >> 30} GiB")
        if self.mode not in (16, 32, 64):
            raise ConfigError(f"--mode must be 16, 32 or 64, not {self.mode}")
        if not 0 <= self.load_address < self.memory:
            raise ConfigError(f"--load-address {self.load_address:#x} is outside guest RAM (0-{self.memory - 1:#x})")
        if self.mode == 16 and self.load_address > 0xFFFF:
            raise ConfigError("--mode 16 starts at CS=0, IP=load address: the load address must be below 0x10000")
        if self.clock not in ("virtual", "host"):
            raise ConfigError(f"--clock must be 'virtual' or 'host', not {self.clock!r}")
        if not (0 <= self.insn_ns <= MAX_STEP_NS and 0 <= self.io_ns <= MAX_STEP_NS):
            raise ConfigError(f"--insn-ns and --io-ns must be 0 to {MAX_STEP_NS:,} (one second)")
        if self.timer_port is not None:
            self._check_timer()
        elif not 0 <= self.timer_start < 1 << max(TIMER_WIDTHS):
            raise ConfigError(f"--timer-start {self.timer_start:#x} does not fit in {max(TIMER_WIDTHS)} bits")
        if self.max_instructions is not None and not 1 <= self.max_instructions <= MAX_INSTRUCTIONS:
            raise ConfigError(f"--max-instructions must be 1 to {MAX_INSTRUCTIONS:,}")
        if self.max_instructions is not None and self.clock == "host":
            raise ConfigError(
                "--max-instructions needs the virtual clock: the host clock does not count instructions "
                "(use --timeout)"
            )
        object.__setattr__(self, "dispatch", DISPATCH_ALIASES.get(self.dispatch, self.dispatch))  # while built
        if self.dispatch not in DISPATCHES:
            raise ConfigError(f"--dispatch must be 'native', 'python' or 'reference', not {self.dispatch!r}")
        if self.dispatch == "native" and not native_dispatch_built():
            raise ConfigError(NOT_BUILT)
        if not 0 < self.timeout <= MAX_TIMEOUT_S:  # also refuses nan
            raise ConfigError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")

    def _check_timer(self) -> None:
        if self.timer_width not in TIMER_WIDTHS:
            raise ConfigError(f"--timer-width must be 24 or 32, not {self.timer_width}")
        if not 0 <= self.timer_start < 1 << self.timer_width:
            raise ConfigError(f"--timer-start {self.timer_start:#x} does not fit in {self.timer_width} bits")
        if not 0 <= self.timer_port <= 0xFFFC:
            raise ConfigError(f"--timer-port {self.timer_port:#x} is outside the I/O space")
        if self.timer_port in (DEBUG_CONSOLE_PORT, DEBUG_EXIT_PORT):
            raise ConfigError(f"--timer-port {self.timer_port:#x} is the debug console or exit port")

    def _check_types(self) -> None:
        # A snapshot's configuration is JSON from a file: 1.5, true or "x" where a number belongs.
        for name, (kind, described) in FIELD_TYPES.items():
            value = getattr(self, name)
            if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
                raise ConfigError(f"{name} must be {described}, not {value!r}")
        if not all(isinstance(quirk, str) for quirk in self.quirks):
            raise ConfigError(f"quirks must be a list of quirk names, not {list(self.quirks)!r}")

    @property
    def instruction_budget(self) -> int:
        return DEFAULT_MAX_INSTRUCTIONS if self.max_instructions is None else self.max_instructions

    def as_dict(self) -> dict[str, object]:
        values = self.fields()
        values["quirks"] = list(self.quirks)
        return values

    def nasm_defines(self) -> dict[str, int]:
        """The platform as NASM sees it: guests are assembled for the machine they run on."""
        return {
            "LOAD_ADDRESS": self.load_address,
            "START_MODE": self.mode,
            # A board without a timer: the guest still names a port, where its reads find nothing.
            "TIMER_PORT": BHYVE_PM_TMR_PORT if self.timer_port is None else self.timer_port,
            "TIMER_WIDTH": max(TIMER_WIDTHS) if self.timer_width is None else self.timer_width,
            "TIMER_START": self.timer_start,
            "IO_SEMANTICS_QEMU": int(self.io_semantics == IoSemantics.QEMU.value),
            "HAS_PM_TIMER": int(self.profile().has_timer),
            # What Linux learns from the chipset's PCI IDs (acpi_pm_check_blacklist): the harness has no PCI bus.
            "PM_TIMER_UNLATCHED": int(self.profile().unlatched_reads),
            "CLOCK_VIRTUAL": int(self.clock == "virtual"),
            "INSN_NS": self.insn_ns,
            "IO_NS": self.io_ns,
        }
