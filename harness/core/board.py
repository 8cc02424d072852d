"""The board: the devices a platform profile calls for, on one port bus, described by ACPI tables.

A ``Board`` is what the firmware and the chipset are to a real machine.  From
the resolved profile (``platform/profiles.py``) and the machine options it builds the
devices, attaches them to the bus, and builds the ACPI tables from the devices
it built: the FADT names the timer's port, the PM1 blocks and the SCI's line
because those are the devices' own ports.  It also owns the one route an
interrupt takes here: the SCI (PM1) into IRQ 9 of the 8259 pair, each user
device's line (``core/irq_lines.py``) into the IRQ it names, and from the PIC
to whoever asks for a vector.

A user's device may also claim memory-mapped registers: the board keeps them
on its MMIO bus (``core/mmio_bus.py``), which refuses a region over the
memory the machine maps, and hands the pages claimed to the machine to map.

The board knows nothing of Unicorn: the machine asks it for a vector, for the
next timer event, and for the devices' saved state, and writes the tables into
guest memory itself.  It lives in core, beside the bus it fills and the machine
that owns it; ``platform/`` holds what it reads (the profiles, the tables' shape).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pmtimer_harness.core.bus import Device, PortBus
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.irq_lines import IrqLine
from pmtimer_harness.core.mmio_bus import MmioBus
from pmtimer_harness.devices.acpi_pm1 import ACPI_MODE, Pm1Registers, Pm1Rules
from pmtimer_harness.devices.cmos_rtc import RTC_IRQ, CmosRtc
from pmtimer_harness.devices.debug_console import DebugConsole
from pmtimer_harness.devices.debug_exit import DebugExit
from pmtimer_harness.devices.pic8259 import PicPair
from pmtimer_harness.devices.pm_timer import IoSemantics, PmTimer, StalePmTimer, TimerAccess, timer_class
from pmtimer_harness.devices.snapshot_port import SnapshotPort
from pmtimer_harness.devices.uart16550 import COM1_IRQ, Uart16550
from pmtimer_harness.platform.acpi_tables import RSDP_ADDRESS, SCI_IRQ, TABLES_END, AcpiTable, FadtFacts, build_tables
from pmtimer_harness.platform.profiles import Profile, Restore

if TYPE_CHECKING:
    from pmtimer_harness.core.device_specs import UserDevice

Notify = Callable[[], None]
MapMmio = Callable[[int, int], None]  # (address, size): pages the machine maps for a device's MMIO regions
LineMoved = Callable[[int, bool | None, str], None]  # (irq, level or None for the guest's EOI, device name)
IRQS = range(16)
WIRED_IRQS = {2: "the cascade from the slave PIC", COM1_IRQ: "COM1's", RTC_IRQ: "the RTC's", SCI_IRQ: "the SCI's"}


def _quiet() -> None:
    pass


class DeviceClockError(Exception):
    """A device's ``advance_to`` raised, or answered something other than a time: the run's error, not the harness's."""


class Board:
    def __init__(
        self,
        config: MachineConfig,
        *,
        on_exit: Callable[[int], None] = lambda code: None,
        on_snapshot_request: Notify = _quiet,
        on_interrupt_change: Notify = _quiet,
        on_irq_line: LineMoved = lambda irq, level, device: None,
        map_mmio: MapMmio = lambda address, size: None,
        timer_model: type[PmTimer] = PmTimer,
        pm1_model: type[Pm1Registers] = Pm1Registers,
    ) -> None:
        self._on_interrupt_change = on_interrupt_change
        self._on_irq_line = on_irq_line
        self._map_mmio = map_mmio
        self.profile: Profile = config.profile()
        profile = self.profile
        self.console = DebugConsole()
        self.exit = DebugExit(on_exit=on_exit)
        self.pic = PicPair(on_change=on_interrupt_change, on_eoi=self._ended)
        self.snapshot_port = SnapshotPort(on_request=on_snapshot_request)
        # The CMOS/RTC and COM1 where the platform has them (``Profile.rtc``, ``Profile.com1``); where it has
        # not, their ports are the platform's empty slots.  COM1's bytes join the 0xE9 console's.
        self.rtc: CmosRtc | None = CmosRtc() if profile.rtc else None
        self.uart: Uart16550 | None = Uart16550(on_transmit=self.console.put) if profile.com1 else None
        # Their names, where left off: a snapshot from a board that had them drops their state (``snapshot.py``).
        self.left_off = tuple(name for name, present in ((CmosRtc.name, profile.rtc), (Uart16550.name, profile.com1))
                              if not present)
        self.timer: PmTimer | None = None
        self.pm1: Pm1Registers | None = None
        semantics = IoSemantics(config.io_semantics or IoSemantics.BHYVE.value)
        if profile.port is not None:
            if timer_model is PmTimer:
                timer_model = timer_class(profile.time_base, profile.narrow_reads, profile.unlatched_reads)
            access = TimerAccess(profile.narrow_reads, profile.writes, profile.refusal)
            self.timer = timer_model(
                port=profile.port, width=profile.width, start=config.timer_start, semantics=semantics,
                access=access, time_base=profile.time_base,
                restarts_on_restore=profile.restore is Restore.RESTARTS,
            )
        if profile.pm1_base is not None:
            rules = Pm1Rules(profile.tmr_sts, profile.sci, profile.pm1_access, profile.first_tmr_sts,
                             profile.handover, profile.tmr_en)
            self.pm1 = pm1_model(
                self.timer, profile.pm1_base, profile.pm1_base + 4, semantics,
                on_change=on_interrupt_change, rules=rules,
            )
        self.devices: list[Device] = [
            device for device in (self.console, self.exit, self.timer, self.pm1, self.pic, self.snapshot_port,
                           self.uart, self.rtc)
            if device is not None
        ]  # in this order: a device restores after those it reads (PM1 after the timer)
        self.bus = PortBus(config.strict_io, profile.unclaimed_ports, io_observer=self._io_observer())
        try:
            for device in self.devices:
                self.bus.attach(device, checked=False)  # the harness's own: proven by their tests
        except ValueError as error:
            raise ConfigError(f"platform {profile.name}: {error}") from None
        self.acpi_tables: list[AcpiTable] = build_tables(self.fadt_facts())
        # The memory the machine maps itself, which no device's MMIO region may cover (the tables first: named so).
        reserved = [(0, config.memory, "guest RAM")]
        if config.memory >= TABLES_END:
            reserved.insert(0, (RSDP_ADDRESS, TABLES_END, "the ACPI tables"))
        self.mmio = MmioBus(config.strict_io, profile.unclaimed_ports, reserved)
        # The user's devices, each with the SPEC a snapshot records (``core/device_specs.py``).
        self.user_devices: list[UserDevice] = []
        self.irq_devices: dict[int, Device] = {}  # IRQ n: the device driving it (COM1's, the user's)
        if self.uart is not None:
            self.irq_devices[self.uart.irq] = self.uart
            self.uart.connect_irq(IrqLine(self.uart.irq, self._drive_line, self.pic.line_level))
        if hasattr(self.rtc, "connect_irq"):  # a clock without interrupts (tutorial 2's) leaves IRQ 8 unwired
            self.irq_devices[RTC_IRQ] = self.rtc
            self.rtc.connect_irq(IrqLine(RTC_IRQ, self._drive_line, self.pic.line_level))

    def give_uart_input(self, data: bytes) -> None:
        """The user's input for COM1's receiver, arriving from time 0 at the line's rate (``Uart16550.give_input``)."""
        if self.uart is None:
            raise ConfigError(f"--uart-input: platform {self.profile.name} has no COM1 for it to reach "
                              "(python -m pmtimer_harness platforms NAME shows which have one)")
        try:
            self.uart.give_input(data)
        except ValueError as error:
            raise ConfigError(f"--uart-input: {error}") from None

    def attach_user(self, attached: UserDevice) -> None:
        """Put a user's device on the buses, checked; a device a bus refuses is a ConfigError naming its SPEC."""
        try:
            self.bus.attach(attached.device)
            pages = self.mmio.attach(attached.device)
        except ValueError as error:
            raise ConfigError(f"--device {attached.spec!r}: {error}") from None
        for address, size in pages:
            self._map_mmio(address, size)
        irq = getattr(attached.device, "irq", None)
        if irq is not None:
            self._wire_irq(attached, irq)
        self.user_devices.append(attached)

    def _wire_irq(self, attached: UserDevice, irq: object) -> None:
        """Give the device the line it asks for: IRQ ``irq``, free, and a ``connect_irq`` to take it."""
        device, where = attached.device, f"--device {attached.spec!r}"
        if not isinstance(irq, int) or isinstance(irq, bool) or irq not in IRQS:
            raise ConfigError(f"{where}: irq {irq!r} is not an IRQ of the PIC pair (0 to 15)")
        if irq in WIRED_IRQS and irq not in self._free_lines():
            raise ConfigError(f"{where}: IRQ {irq} is {WIRED_IRQS[irq]} line")
        if irq in self.irq_devices:
            raise ConfigError(f"{where}: IRQ {irq} is {self.irq_devices[irq].name}'s already (lines are not shared)")
        connect = getattr(device, "connect_irq", None)
        if not callable(connect):
            raise ConfigError(f"{where}: the device names irq {irq} but has no connect_irq(line) to take it")
        trigger = getattr(device, "irq_trigger", "edge")
        if trigger not in ("edge", "level"):
            raise ConfigError(f"{where}: irq_trigger {trigger!r} is neither 'edge' nor 'level'")
        if trigger == "level":
            self.pic.set_level_triggered(irq)
        self.irq_devices[irq] = device
        try:
            connect(IrqLine(irq, self._drive_line, self.pic.line_level))
        except Exception as error:  # the user's code: refused in one line, as a constructor that raises is
            del self.irq_devices[irq]
            raise ConfigError(f"{where}: connect_irq raised {type(error).__name__}: {error}") from None

    def _free_lines(self) -> set[int]:
        """The lines of the board's devices this platform leaves off: a user's device may take them."""
        return {irq for irq, present in ((COM1_IRQ, self.profile.com1), (RTC_IRQ, self.profile.rtc)) if not present}

    def _drive_line(self, irq: int, level: bool) -> None:
        self.pic.set_irq(irq, level)
        self._on_irq_line(irq, level, self.irq_devices[irq].name)
        self._on_interrupt_change()

    def _ended(self, irq: int) -> None:
        if irq in self.irq_devices:
            self._on_irq_line(irq, None, self.irq_devices[irq].name)

    def irq_name(self, irq: int) -> str:
        """Who drives IRQ ``irq``, for the trace."""
        return "SCI" if irq == SCI_IRQ else self.irq_devices[irq].name if irq in self.irq_devices else "unwired"

    def _io_observer(self) -> Callable[[int, int], None] | None:
        """A timer that keeps the VMM's shared I/O buffer sees every access, to any port."""
        return self.timer.saw_io if isinstance(self.timer, StalePmTimer) else None

    def fadt_facts(self) -> FadtFacts:
        """What the FADT says: read from the devices built, in the firmware's shape."""
        shape, timer, pm1 = self.profile.fadt, self.timer, self.pm1
        width = timer.width if timer is not None else 32
        handover = pm1.rules.handover if pm1 is not None else ACPI_MODE
        pm1_base = pm1.status_port if pm1 is not None else shape.named_pm1_base
        named_timer = None if shape.named_timer_in_rsdt_copy_only else shape.named_timer_port
        return FadtFacts(
            timer_port=timer.port if timer is not None else named_timer,
            tmr_val_ext=(timer is not None and width == 32) if shape.tmr_val_ext is None else shape.tmr_val_ext,
            pm1_event_port=pm1_base,
            pm1_control_port=None if pm1_base is None else pm1_base + 4,
            sci_irq=SCI_IRQ,
            smi_cmd=handover.smi_cmd,
            acpi_enable=handover.acpi_enable,
            acpi_disable=handover.acpi_disable,
            shape=shape,
        )

    # --- interrupts: the SCI and the user's lines through the PIC --------------------

    def pending_vector(self, now_ns: int) -> int | None:
        """Bring every line up to date at ``now_ns``; the vector the PIC would deliver, if any."""
        self.pic.set_irq(SCI_IRQ, self.pm1 is not None and self.pm1.sci_asserted(now_ns))
        self._clocked_events(now_ns)
        return self.pic.pending_vector()

    def acknowledge(self) -> tuple[int, int] | None:
        """The CPU takes the pending interrupt: its IRQ and vector."""
        return self.pic.acknowledge_irq()

    def next_event_ns(self, now_ns: int) -> int | None:
        """When an interrupt may next come by itself (a timer event), or None if none can."""
        events = self._clocked_events(now_ns)
        # A toggle while TMR_STS is set changes nothing: the SCI already stands, or waits for the guest.
        if self.pm1 is not None and self.pm1.tmr_en and not self.pm1.tmr_sts(now_ns):
            toggle_ns = self.pm1.next_toggle_ns(now_ns)
            if toggle_ns is not None:
                events.append(toggle_ns)
        return min(events, default=None)

    def _clocked_events(self, now_ns: int) -> list[int]:
        """Each line-driving device with a clock (``advance_to``) acts on what is due: when its next event is."""
        events = []
        for device in self.irq_devices.values():
            advance_to = getattr(device, "advance_to", None)
            if advance_to is None:
                continue
            try:
                event_ns = advance_to(now_ns)
            except Exception as error:
                raise DeviceClockError(
                    f"{device.name} raised {type(error).__name__} in advance_to({now_ns}): {error}"
                ) from error
            if event_ns is None:
                continue
            if not isinstance(event_ns, int) or isinstance(event_ns, bool):
                given = f"{device.name}'s advance_to({now_ns}) gave {event_ns!r}"
                raise DeviceClockError(f"{given}, not a time in ns or None")
            events.append(max(event_ns, now_ns + 1))  # always after now: time goes on
        return events

    # --- for people: gdb's ``monitor timer`` ---------------------------------------

    def describe_timer(self, now_ns: int) -> str:
        timer, pm1 = self.timer, self.pm1
        if timer is None:
            return f"no PM timer on platform {self.profile.name}, time {now_ns} ns\n"
        line = f"PM_TMR {timer.counter(now_ns):#010x} ({timer.width}-bit, port {timer.port:#x}), "
        if pm1 is None:
            line += "no PM1 block, "
        else:
            line += f"TMR_STS {int(pm1.tmr_sts(now_ns))}, TMR_EN {int(pm1.tmr_en)}, "
        return line + f"time {now_ns} ns\n"
