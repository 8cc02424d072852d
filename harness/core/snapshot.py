"""Saving and restoring a running machine: what goes into each chunk of a snapshot.

The byte layout is ``snapshot_format.py``'s; ``docs/snapshot-format.md`` has
every field.  Chunks (all version 1):

- ``config``: the machine configuration as JSON, so a restore needs no command line;
- ``cpu``: every register a real-, protected- or long-mode guest can depend on,
  as (name, value) records, with x87/SSE state and the hidden segment caches
  (``segment_cache.py``); restoring loads control registers and descriptor
  tables before the selectors, then puts the saved caches in (or, without
  them, re-reads the hidden parts from the GDT);
- ``cpu/unicorn-context`` (optional, no longer written): Unicorn's raw context
  from older snapshots; ignored, never handed to Unicorn (a crafted one crashed
  the process); the ``cpu`` chunk now names the hidden segment caches instead;
- ``ram``: guest memory, a zlib-compressed MiB at a time (``snapshot_ram.py``);
- ``time``: instructions retired, port accesses, idle time: under the virtual
  clock the rest of the run is bit-identical to an uninterrupted one;
- ``devices/NAME``: one per device of the board, its ``state(now_ns)`` as
  JSON, at the device's own ``state_version``; an older version is brought up
  to date by the device's ``state_upgrades``.  This module knows no device's
  fields: a device added to a board needs no edit here;
- ``user-devices`` (only when the user attached some): the record of the
  user's devices, each with the SPEC it is rebuilt from (``device_specs.py``),
  its name and class, and its ``state(now_ns)`` at its ``state_version`` if
  it has them.  A restore rebuilds them from their SPECs, or takes the
  devices the caller passes, checked against the record; a device the
  caller passes that the record lacks starts from its reset state, said once.

The configuration records the platform profile and its quirks, so a restore
builds the same board.  The PM timer saves its current count and continues
from it, under either clock, except on a platform whose profile says it loses
time (bhyve's ``vpmtmr_snapshot`` saves only ``baseval``, always 0).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence

import unicorn
from pmtimer_harness.core.bus import Device
from pmtimer_harness.core.config import (
    MAX_MEMORY,
    ConfigError,
    MachineConfig,
    dispatch_from_environment,
    native_dispatch_built,
)
from pmtimer_harness.core.cpu import CONTROL_REGISTERS, GENERAL_REGISTERS_16_32, GENERAL_REGISTERS_64, SEGMENT_REGISTERS
from pmtimer_harness.core.device_specs import UserDevice, build_device, class_path, user_devices
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.segment_cache import HiddenStateError, has_hidden, read_hidden, write_hidden
from pmtimer_harness.core.snapshot_format import FORMAT_VERSION, Chunk, SnapshotError, decode, encode
from pmtimer_harness.core.snapshot_ram import ram_chunk, restore_ram
from pmtimer_harness.core.timekeeping import TimeState
from unicorn import x86_const as x86

DESCRIPTOR_TABLES = {"gdtr": x86.UC_X86_REG_GDTR, "idtr": x86.UC_X86_REG_IDTR}
SYSTEM_SEGMENTS = {"ldtr": x86.UC_X86_REG_LDTR, "tr": x86.UC_X86_REG_TR}
MMR_PARTS = ("selector", "base", "limit", "flags")
FPU_CONTROL = {  # the status word first: writing it sets TOP, which FP0..FP7 are counted from
    "fpsw": x86.UC_X86_REG_FPSW, "fpcw": x86.UC_X86_REG_FPCW, "fptag": x86.UC_X86_REG_FPTAG,
    "mxcsr": x86.UC_X86_REG_MXCSR,
}
EFER = 0xC0000080
MAX_SNAPSHOT_BYTES = MAX_MEMORY + (64 << 20)  # RAM that did not compress, and the rest
CLOCK_KINDS = {"virtual": 0, "host": 1}


# --- cpu ------------------------------------------------------------------------


def _records(values: dict[str, int]) -> bytes:
    parts = []
    for name, value in values.items():
        encoded = name.encode()
        parts.append(struct.pack("<B", len(encoded)) + encoded + struct.pack("<Q", value & (2**64 - 1)))
    return b"".join(parts)


def _read_records(payload: bytes, chunk: str) -> dict[str, int]:
    values = {}
    offset = 0
    while offset < len(payload):
        length = payload[offset]
        end = offset + 1 + length + 8
        if end > len(payload):
            raise SnapshotError(f"chunk {chunk!r} is cut short in record {len(values) + 1}")
        try:
            name = payload[offset + 1 : offset + 1 + length].decode()
        except UnicodeDecodeError:
            raise SnapshotError(f"chunk {chunk!r} has a register name that is not UTF-8") from None
        (values[name],) = struct.unpack_from("<Q", payload, offset + 1 + length)
        offset = end
    return values


def cpu_chunks(uc: unicorn.Uc, start_bits: int) -> list[Chunk]:
    general = GENERAL_REGISTERS_64 if start_bits == 64 else GENERAL_REGISTERS_16_32
    values = {name: uc.reg_read(register) for name, register in general.items()}
    values.update({name: uc.reg_read(register) for name, register in CONTROL_REGISTERS.items()})
    values.update({name: uc.reg_read(register) for name, register in SEGMENT_REGISTERS.items()})
    for name, register in DESCRIPTOR_TABLES.items():
        _, base, limit, _ = uc.reg_read(register)
        values[f"{name}.base"] = base
        values[f"{name}.limit"] = limit
    for name, register in SYSTEM_SEGMENTS.items():
        values.update(zip([f"{name}.{part}" for part in MMR_PARTS], uc.reg_read(register), strict=True))
    values["efer"] = uc.reg_read(x86.UC_X86_REG_MSR, EFER)
    values.update(_read_fpu(uc, start_bits))
    values.update(read_hidden(uc) or {})
    return [Chunk("cpu", 1, _records(values))]


def _read_fpu(uc: unicorn.Uc, start_bits: int) -> dict[str, int]:
    values = {name: uc.reg_read(register) for name, register in FPU_CONTROL.items()}
    for index in range(8):
        mantissa, exponent = uc.reg_read(getattr(x86, f"UC_X86_REG_FP{index}"))
        values[f"fp{index}.mantissa"], values[f"fp{index}.exponent"] = mantissa, exponent
    for index in range(16 if start_bits == 64 else 8):
        value = uc.reg_read(getattr(x86, f"UC_X86_REG_XMM{index}"))
        values[f"xmm{index}.low"], values[f"xmm{index}.high"] = value & (2**64 - 1), value >> 64
    return values


def _write_fpu(uc: unicorn.Uc, start_bits: int, values: dict[str, int]) -> None:
    """x87 and SSE state, where the snapshot has it (older ones do not): the status word first, it holds TOP."""
    for name, register in FPU_CONTROL.items():
        if name in values:
            uc.reg_write(register, values[name] & 0xFFFF_FFFF)
    for index in range(8):
        if f"fp{index}.mantissa" in values and f"fp{index}.exponent" in values:
            exponent = values[f"fp{index}.exponent"] & 0xFFFF
            uc.reg_write(getattr(x86, f"UC_X86_REG_FP{index}"), (values[f"fp{index}.mantissa"], exponent))
    for index in range(16 if start_bits == 64 else 8):
        if f"xmm{index}.low" in values and f"xmm{index}.high" in values:
            value = values[f"xmm{index}.high"] << 64 | values[f"xmm{index}.low"]
            uc.reg_write(getattr(x86, f"UC_X86_REG_XMM{index}"), value)


def restore_cpu(uc: unicorn.Uc, start_bits: int, chunks: dict[str, Chunk], warnings: list[str]) -> None:
    values = _read_records(chunks["cpu"].payload, "cpu")
    general = GENERAL_REGISTERS_64 if start_bits == 64 else GENERAL_REGISTERS_16_32
    missing = [name for name in [*general, *CONTROL_REGISTERS, *SEGMENT_REGISTERS] if name not in values]
    if missing:
        raise SnapshotError(f"chunk 'cpu' lacks register {missing[0]}")
    # Order matters: the mode and the descriptor tables first, so that loading
    # a selector reads the right descriptor into the hidden part.
    uc.reg_write(x86.UC_X86_REG_MSR, (EFER, values.get("efer", 0)))
    for name, register in CONTROL_REGISTERS.items():
        uc.reg_write(register, values[name])
    for name, register in DESCRIPTOR_TABLES.items():
        uc.reg_write(register, (0, values.get(f"{name}.base", 0), values.get(f"{name}.limit", 0) & 0xFFFF_FFFF, 0))
    for name, register in SYSTEM_SEGMENTS.items():
        parts = [values.get(f"{name}.{part}") for part in MMR_PARTS]
        if None not in parts:
            uc.reg_write(register, (parts[0] & 0xFFFF, parts[1], parts[2] & 0xFFFF_FFFF, parts[3] & 0xFFFF_FFFF))
    unloadable = []
    for name, register in SEGMENT_REGISTERS.items():
        if values[name] > 0xFFFF:
            raise SnapshotError(f"chunk 'cpu': selector {name} = {values[name]:#x} does not fit 16 bits")
        if uc.reg_read(register) == values[name]:
            continue  # as the machine starts: Unicorn's flat 32/64-bit segments have selector 0 and no GDT
        try:
            uc.reg_write(register, values[name])
        except unicorn.UcError:
            unloadable.append(name)
    for name, register in general.items():
        uc.reg_write(register, values[name])
    _write_fpu(uc, start_bits, values)
    exact = has_hidden(values) and _restore_hidden(uc, values, warnings)
    if unloadable and not exact:
        raise SnapshotError(
            f"chunk 'cpu': selector {unloadable[0]} = {values[unloadable[0]]:#x} cannot be loaded from the saved GDT"
        )


def _restore_hidden(uc: unicorn.Uc, values: dict[str, int], warnings: list[str]) -> bool:
    """The saved segment caches, exact; True when this Unicorn could take them."""
    try:
        if write_hidden(uc, values):
            return True
    except HiddenStateError as error:
        raise SnapshotError(f"chunk 'cpu': {error}") from None
    warnings.append(f"Unicorn {unicorn.__version__} keeps its segment caches where this harness does not look: "
                    "hidden segment state re-read from the GDT")
    return False


# --- time -----------------------------------------------------------------------

TIME = struct.Struct("<BQQQQQ")


def time_chunk(state: TimeState) -> Chunk:
    counts = (state.instructions, state.port_accesses, state.port_writes, state.idle_ns, state.now_ns)
    if max(counts) >= 1 << 64:  # --insn-ns 10^9 over 10^15 instructions gets there
        raise SnapshotError(f"virtual time {state.now_ns:,} ns is past what a snapshot holds (2^64 ns)")
    return Chunk("time", 1, TIME.pack(CLOCK_KINDS[state.clock], *counts))


def read_time(chunk: Chunk) -> TimeState:
    if len(chunk.payload) != TIME.size:
        raise SnapshotError(f"chunk 'time' is {len(chunk.payload)} bytes, expected {TIME.size}")
    kind, instructions, accesses, writes, idle_ns, now_ns = TIME.unpack(chunk.payload)
    clocks = {number: name for name, number in CLOCK_KINDS.items()}
    if kind not in clocks:
        raise SnapshotError(f"chunk 'time' names clock kind {kind}, which does not exist")
    return TimeState(clocks[kind], instructions, accesses, writes, idle_ns, now_ns)


# --- config and devices: JSON, read with care -----------------------------------


def json_chunk(name: str, value: object) -> Chunk:
    return Chunk(name, 1, json.dumps(value, sort_keys=True).encode())


def read_json(chunk: Chunk) -> dict[str, object]:
    try:
        value = json.loads(chunk.payload.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SnapshotError(f"chunk {chunk.name!r} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise SnapshotError(f"chunk {chunk.name!r} should hold a JSON object")
    return value


def field(values: dict[str, object], name: str, kind: type, chunk: str) -> object:
    value = values.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SnapshotError(f"chunk {chunk!r}: field {name!r} is missing or not {kind.__name__}")
    return value


# --- the whole machine ------------------------------------------------------------

KNOWN_CHUNKS = {"config": 1, "cpu": 1, "cpu/unicorn-context": 1, "ram": 1, "time": 1, "user-devices": 1}
REQUIRED_CHUNKS = [name for name in KNOWN_CHUNKS if name not in ("cpu/unicorn-context", "user-devices")]
USER_DEVICES = "user-devices"
DEVICE_PREFIX = "devices/"
# Older chunk versions are read through explicit steps: UPGRADES[name][version]
# turns a payload of that version into one of the next.  None exist yet for the
# machine's own chunks; devices carry theirs (``state_upgrades``).
UPGRADES: dict[str, dict[int, Callable[[bytes], bytes]]] = {}
HEX_FIELDS = ("load_address", "timer_port", "timer_start", "memory")


def take(machine: Machine) -> bytes:
    """The machine as snapshot bytes.  Call it while the CPU is stopped (``Machine.on_snapshot``)."""
    dispatch = machine.dispatch
    state = machine.time.state(dispatch.instructions_at(dispatch.read_pc()))
    now_ns = state.now_ns
    config = {
        "config": machine.config.as_dict(), "platform": machine.board.profile.name, "unicorn": unicorn.__version__,
    }
    chunks = [
        json_chunk("config", config),
        *cpu_chunks(machine.uc, machine.config.mode),
        ram_chunk(machine.uc, machine.config.memory),
        time_chunk(state),
    ]
    for device in machine.board.devices:
        payload = json.dumps(device.state(now_ns), sort_keys=True).encode()
        chunks.append(Chunk(DEVICE_PREFIX + device.name, device.state_version, payload))
    if machine.board.user_devices:
        chunks.append(json_chunk(USER_DEVICES, {"devices": [_user_record(attached, now_ns)
                                                            for attached in machine.board.user_devices]}))
    return encode(chunks)


def _user_record(attached: UserDevice, now_ns: int) -> dict[str, object]:
    device = attached.device
    record: dict[str, object] = {"spec": attached.spec, "name": device.name, "class": class_path(device)}
    if callable(getattr(device, "state", None)) and callable(getattr(device, "restore", None)):
        record["state_version"] = getattr(device, "state_version", 1)
        record["state"] = device.state(now_ns)
        try:
            json.dumps(record["state"])
        except (TypeError, ValueError) as error:
            raise SnapshotError(f"device {device.name!r}: its state() is not plain JSON values: {error}") from None
    return record


def read_chunks(data: bytes) -> tuple[dict[str, Chunk], list[str]]:
    """The chunks a restore uses, upgraded to the versions it reads; warnings for optional unknowns."""
    warnings: list[str] = []
    chunks: dict[str, Chunk] = {}
    for chunk in decode(data):
        if chunk.name.startswith(DEVICE_PREFIX):
            chunks[chunk.name] = chunk  # checked against the board's devices once it is built
            continue
        known = KNOWN_CHUNKS.get(chunk.name)
        if known is None:
            if not chunk.optional:
                raise SnapshotError(f"chunk {chunk.name!r} is unknown to this harness and not marked optional")
            warnings.append(f"skipped optional chunk {chunk.name!r}, unknown to this harness")
            continue
        chunks[chunk.name] = _upgraded(chunk, known)
    missing = [name for name in REQUIRED_CHUNKS if name not in chunks]
    if missing:
        raise SnapshotError(f"the snapshot has no {missing[0]!r} chunk")
    return chunks, warnings


def _upgraded(chunk: Chunk, known: int, upgrades: dict[int, Callable[[bytes], bytes]] | None = None) -> Chunk:
    if chunk.version > known:
        raise SnapshotError(f"chunk {chunk.name!r} is version {chunk.version}; this harness reads up to {known}")
    if upgrades is None:
        upgrades = UPGRADES.get(chunk.name, {})
    payload, version = chunk.payload, chunk.version
    while version < known:
        step = upgrades.get(version)
        if step is None:
            raise SnapshotError(f"chunk {chunk.name!r} version {version} has no upgrade to {version + 1}")
        try:
            payload = step(payload)
        except Exception as error:  # a crafted payload, or a user's step: the snapshot is refused, in one line
            raise SnapshotError(f"chunk {chunk.name!r} version {version} cannot be upgraded: "
                                f"{type(error).__name__}: {error}") from None
        version += 1
    return Chunk(chunk.name, version, payload, chunk.optional)


def read_config(chunks: dict[str, Chunk]) -> MachineConfig:
    values = field(read_json(chunks["config"]), "config", dict, "config")
    # Every dispatch gives the same run, so the one that saved is only a preference: HARNESS_DISPATCH
    # overrides it, and where the compiled path is not built the run takes the Python one.
    chosen = dispatch_from_environment()
    if chosen is not None:
        values["dispatch"] = chosen
    elif values.get("dispatch") == "native" and not native_dispatch_built():
        del values["dispatch"]
    try:
        return MachineConfig(**values)
    except TypeError as error:
        raise SnapshotError(f"chunk 'config' does not describe a machine this harness can build: {error}") from None
    except ConfigError as error:
        raise SnapshotError(f"chunk 'config': {error}") from None


def load(
    data: bytes, platform: str | None = None, *, devices: Sequence[Device | str] = (), **machine_options: object
) -> Machine:
    """A machine in the state the snapshot saved, ready to ``run()`` on.  Raises SnapshotError.

    The user's devices the snapshot records are rebuilt from their SPECs, or
    taken from ``devices`` (objects or SPECs) where one has the recorded
    name: its class must be the recorded one.  A device of ``devices`` the
    snapshot does not record starts from its reset state (a warning says so).

    ``platform`` restores onto another platform's board: the devices take their
    saved state as that platform's devices do (bhyve's timer restarts near 0).
    The guest's RAM, with the ACPI tables it found at boot, is restored as saved.
    """
    chunks, warnings = read_chunks(data)
    config = read_config(chunks)
    if platform is not None and platform != config.platform:
        config, warning = _moved_to(config, platform)
        warnings.append(warning)
    time_state = read_time(chunks["time"])
    if time_state.clock != config.clock:
        raise SnapshotError(f"chunk 'time' is for the {time_state.clock} clock, the configuration says {config.clock}")
    try:
        machine = Machine(config, **machine_options)
    except ConfigError as error:  # a configuration that passes every field's check yet builds no board
        raise SnapshotError(f"the saved machine cannot be built: {error}") from None
    machine.warnings.extend(warnings)
    try:
        restore_ram(machine.uc, config.memory, chunks["ram"])
        restore_cpu(machine.uc, config.mode, chunks, machine.warnings)
        _restore_devices(machine, chunks, time_state)
        _restore_user_devices(machine, chunks, time_state, devices)
    except (unicorn.UcError, ValueError, OverflowError, struct.error) as error:
        # Values that pass every check yet that the CPU or a device will not take.
        raise SnapshotError(f"the saved state cannot be restored: {error}") from None
    machine.time.restore(time_state)
    machine.mark_restored()
    return machine


def _moved_to(config: MachineConfig, platform: str) -> tuple[MachineConfig, str]:
    try:
        moved = config.replace(platform=platform, quirks=(), timer_port=None, timer_width=None, io_semantics=None)
    except ConfigError as error:
        raise SnapshotError(str(error)) from None
    note = f"restored on platform {platform}, saved on {config.platform}"
    if (moved.timer_port, moved.timer_width) != (config.timer_port, config.timer_width):
        note += (f"; the guest's code and tables still name the saved timer ({_timer(config)}), "
                 f"this platform's is {_timer(moved)}")
    return moved, note


def _timer(config: MachineConfig) -> str:
    if config.timer_port is None:
        return "none"
    return f"at {config.timer_port:#x}, {config.timer_width} bits"


def _restore_devices(machine: Machine, chunks: dict[str, Chunk], time_state: TimeState) -> None:
    """Each device of the board takes its chunk back, at the time the run resumes from."""
    # Host time restarts at 0 with the new machine; virtual time goes on from the saved instant.
    now_ns = 0 if time_state.clock == "host" else time_state.now_ns
    board_chunks = {DEVICE_PREFIX + device.name for device in machine.board.devices}
    left_off = {DEVICE_PREFIX + device_name for device_name in machine.board.left_off}
    for name in chunks:
        if name in left_off:  # saved where the board had it: this platform has none, so its state goes
            machine.warnings.append(f"platform {machine.board.profile.name} has no {name.removeprefix(DEVICE_PREFIX)}"
                                    ": its saved state is left out")
        elif name.startswith(DEVICE_PREFIX) and name not in board_chunks and not chunks[name].optional:
            raise SnapshotError(f"chunk {name!r}: platform {machine.board.profile.name} has no such device")
    for device in machine.board.devices:
        name = DEVICE_PREFIX + device.name
        if name not in chunks and getattr(device, "reset_if_unsaved", False):
            # A device the board gained after the snapshot was written: as at power-on.
            machine.warnings.append(
                f"the snapshot has no state for device {device.name}: it starts from its reset state")
            continue
        if name not in chunks:
            raise SnapshotError(f"the snapshot has no {name!r} chunk")
        chunk = _upgraded(chunks[name], device.state_version, getattr(device, "state_upgrades", {}))
        try:
            device.restore(read_json(chunk), now_ns)
        except (ValueError, TypeError, KeyError) as error:
            raise SnapshotError(f"chunk {name!r}: {error}") from None


def _restore_user_devices(
    machine: Machine, chunks: dict[str, Chunk], time_state: TimeState, devices: Sequence[Device | str]
) -> None:
    """The user's devices back on the bus: the record's, rebuilt or passed, then any the record lacks."""
    now_ns = 0 if time_state.clock == "host" else time_state.now_ns
    try:
        passed = user_devices(devices)
    except ConfigError as error:
        raise SnapshotError(str(error)) from None
    for record in _user_records(chunks):
        attached = _take_passed(passed, record) or _rebuilt(record)
        if "state" in record:
            _restore_user_state(attached.device, record, now_ns)
        _attach(machine, attached)
    for attached in passed:
        _attach(machine, attached)
    if passed:
        names = ", ".join(attached.device.name for attached in passed)
        machine.warnings.append(f"the snapshot has no record of device {names}: it starts from its reset state")


def _user_records(chunks: dict[str, Chunk]) -> list[dict[str, object]]:
    if USER_DEVICES not in chunks:
        return []  # saved before any user device was attached, or by a harness that did not record them
    records = field(read_json(chunks[USER_DEVICES]), "devices", list, USER_DEVICES)
    for record in records:
        if not isinstance(record, dict):
            raise SnapshotError(f"chunk {USER_DEVICES!r}: each device should be a JSON object")
        for name in ("spec", "name", "class"):
            field(record, name, str, USER_DEVICES)
    return records


def _take_passed(passed: list[UserDevice], record: dict[str, object]) -> UserDevice | None:
    """The passed device with the recorded name (taken out of ``passed``), checked to be of the recorded class."""
    for index, attached in enumerate(passed):
        if attached.device.name == record["name"]:
            if class_path(attached.device) != record["class"]:
                raise SnapshotError(f"device {record['name']!r} was saved as a {record['class']}; "
                                    f"the one given is a {class_path(attached.device)}")
            return passed.pop(index)
    return None


def _rebuilt(record: dict[str, object]) -> UserDevice:
    spec = str(record["spec"])
    target = spec.partition(",")[0].strip()
    if ":" in target:
        # A snapshot is a file like any other: what it names is not trusted to run.  An installed
        # package's device (a NAME) was declared a device by that package; a module:Class could be
        # anything importable (subprocess:Popen), so the caller must name it.
        raise SnapshotError(
            f"the snapshot's device {record['name']!r} is {target}: a snapshot does not import the code it "
            f"names; pass it to resume it (--device {target}, or devices=), or install it as a "
            "pmtimer_harness.devices entry point"
        )
    try:
        device = build_device(spec)
    except ConfigError as error:
        raise SnapshotError(f"the snapshot's device {record['name']!r} cannot be built here: {error}") from None
    if class_path(device) != record["class"] or getattr(device, "name", None) != record["name"]:
        raise SnapshotError(f"the snapshot's device {record['name']!r} ({record['class']}): {spec!r} now builds "
                            f"{class_path(device)} named {getattr(device, 'name', None)!r}")
    return UserDevice(spec, device)


def _restore_user_state(device: Device, record: dict[str, object], now_ns: int) -> None:
    name = f"device {record['name']!r}"
    version = field(record, "state_version", int, USER_DEVICES)
    state = field(record, "state", dict, USER_DEVICES)
    if not callable(getattr(device, "restore", None)):
        raise SnapshotError(f"{name} saved its state, and the one given has no restore()")
    chunk = Chunk(f"{USER_DEVICES}/{record['name']}", version, json.dumps(state).encode())
    chunk = _upgraded(chunk, getattr(device, "state_version", 1), getattr(device, "state_upgrades", {}))
    try:
        device.restore(read_json(chunk), now_ns)
    except Exception as error:  # the user's code: any failure refuses the snapshot, in one line
        raise SnapshotError(f"{name}: restore() raised {type(error).__name__}: {error}") from None


def _attach(machine: Machine, attached: UserDevice) -> None:
    try:
        machine.board.attach_user(attached)
    except ConfigError as error:
        raise SnapshotError(str(error)) from None


def summary(data: bytes) -> dict[str, object]:
    """What ``snapshot info`` shows, as plain values: format, configuration, time and chunks."""
    chunks = decode(data)
    by_name = {chunk.name: chunk for chunk in chunks}
    info: dict[str, object] = {"format": FORMAT_VERSION, "bytes": len(data)}
    if "config" in by_name:
        config = read_json(by_name["config"])
        info["unicorn"] = config.get("unicorn")
        info["config"] = field(config, "config", dict, "config")
    if "time" in by_name:
        state = read_time(by_name["time"])
        info["time"] = {
            "clock": state.clock, "instructions": state.instructions,
            "port_accesses": state.port_accesses, "now_ns": state.now_ns,
        }
    if USER_DEVICES in by_name:
        info["user_devices"] = [
            {name: record[name] for name in ("name", "spec", "class")}
            for record in _user_records({USER_DEVICES: by_name[USER_DEVICES]})
        ]
    info["chunks"] = [
        {"name": chunk.name, "version": chunk.version, "bytes": len(chunk.payload), "optional": chunk.optional}
        for chunk in chunks
    ]
    return info


def describe(data: bytes) -> str:
    """``python -m pmtimer_harness snapshot info``: header, configuration and chunks."""
    info = summary(data)
    chunks = info["chunks"]
    lines = [f"snapshot format {info['format']}, {len(chunks)} chunks, {info['bytes']:,} bytes"]
    if "config" in info:
        lines.append(f"made with Unicorn {info['unicorn'] or '?'}")
        for name, value in info["config"].items():
            shown = f"{value:#x}" if name in HEX_FIELDS and isinstance(value, int) else str(value)
            lines.append(f"  {name:<18} {shown}")
    if "time" in info:
        time = info["time"]
        lines.append(f"time: {time['clock']} clock, {time['instructions']:,} instructions, "
                     f"{time['port_accesses']:,} port accesses, {time['now_ns']:,} ns")
    for device in info.get("user_devices", []):
        lines.append(f"your device {device['name']}: {device['spec']} ({device['class']})")
    lines.append("chunks:")
    for chunk in chunks:
        note = " (optional)" if chunk["optional"] else ""
        lines.append(f"  {chunk['name']:<26} version {chunk['version']}  {chunk['bytes']:>9,} bytes{note}")
    return "\n".join(lines)
