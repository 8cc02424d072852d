"""Machine configuration: every option a run can take, with its default.

One frozen dataclass; the command line, a guest's ``; harness:`` header and
the Python API all end up here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pmtimer_harness.core.clock import DEFAULT_INSN_NS, DEFAULT_IO_NS
from pmtimer_harness.devices.debug_console import DEBUG_CONSOLE_PORT
from pmtimer_harness.devices.debug_exit import DEBUG_EXIT_PORT
from pmtimer_harness.devices.pm_timer import BHYVE_PM_TMR_PORT, TIMER_WIDTHS, IoSemantics

BOOT_SECTOR_ADDRESS = 0x7C00
BOOT_DRIVE = 0x80  # DL at boot: the first hard disk
PAGE = 0x1000
DEFAULT_MEMORY = 1 << 20
DEFAULT_MAX_INSTRUCTIONS = 200_000_000
DEFAULT_TIMEOUT_S = 60.0


class ConfigError(ValueError):
    """An option value the machine cannot honour."""


@dataclass(frozen=True)
class MachineConfig:
    memory: int = DEFAULT_MEMORY
    mode: int = 16
    load_address: int = BOOT_SECTOR_ADDRESS
    clock: str = "virtual"
    insn_ns: int = DEFAULT_INSN_NS
    io_ns: int = DEFAULT_IO_NS
    timer_width: int = 32
    timer_port: int = BHYVE_PM_TMR_PORT
    timer_start: int = 0
    io_semantics: str = IoSemantics.BHYVE.value
    strict_io: bool = False
    max_instructions: int | None = None  # None: DEFAULT_MAX_INSTRUCTIONS under the virtual clock
    timeout: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.memory < PAGE or self.memory % PAGE:
            raise ConfigError(f"--memory must be a positive multiple of 4 KiB, not {self.memory:#x}")
        if self.mode not in (16, 32, 64):
            raise ConfigError(f"--mode must be 16, 32 or 64, not {self.mode}")
        if not 0 <= self.load_address < self.memory:
            raise ConfigError(f"--load-address {self.load_address:#x} is outside guest RAM (0-{self.memory - 1:#x})")
        if self.mode == 16 and self.load_address > 0xFFFF:
            raise ConfigError("--mode 16 starts at CS=0, IP=load address: the load address must be below 0x10000")
        if self.clock not in ("virtual", "host"):
            raise ConfigError(f"--clock must be 'virtual' or 'host', not {self.clock!r}")
        if self.insn_ns < 0 or self.io_ns < 0:
            raise ConfigError("--insn-ns and --io-ns must be 0 or more")
        if self.timer_width not in TIMER_WIDTHS:
            raise ConfigError(f"--timer-width must be 24 or 32, not {self.timer_width}")
        if not 0 <= self.timer_start < 1 << self.timer_width:
            raise ConfigError(f"--timer-start {self.timer_start:#x} does not fit in {self.timer_width} bits")
        if not 0 <= self.timer_port <= 0xFFFC:
            raise ConfigError(f"--timer-port {self.timer_port:#x} is outside the I/O space")
        if self.timer_port in (DEBUG_CONSOLE_PORT, DEBUG_EXIT_PORT):
            raise ConfigError(f"--timer-port {self.timer_port:#x} is the debug console or exit port")
        if self.io_semantics not in [s.value for s in IoSemantics]:
            raise ConfigError(f"--io-semantics must be 'bhyve' or 'qemu', not {self.io_semantics!r}")
        if self.max_instructions is not None and self.max_instructions < 1:
            raise ConfigError("--max-instructions must be at least 1")
        if self.max_instructions is not None and self.clock == "host":
            raise ConfigError(
                "--max-instructions needs the virtual clock: the host clock does not count instructions "
                "(use --timeout)"
            )
        if not self.timeout > 0:
            raise ConfigError("--timeout must be a positive number of seconds")

    @property
    def instruction_budget(self) -> int:
        return DEFAULT_MAX_INSTRUCTIONS if self.max_instructions is None else self.max_instructions

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def nasm_defines(self) -> dict[str, int]:
        """The platform as NASM sees it: guests are assembled for the machine they run on."""
        return {
            "LOAD_ADDRESS": self.load_address,
            "START_MODE": self.mode,
            "TIMER_PORT": self.timer_port,
            "TIMER_WIDTH": self.timer_width,
            "TIMER_START": self.timer_start,
            "IO_SEMANTICS_QEMU": int(self.io_semantics == IoSemantics.QEMU.value),
            "CLOCK_VIRTUAL": int(self.clock == "virtual"),
            "INSN_NS": self.insn_ns,
            "IO_NS": self.io_ns,
        }
