"""The snapshot file format: every kind of bad input is one clear SnapshotError."""

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.snapshot import load, read_chunks
from pmtimer_harness.core.snapshot_format import Chunk, SnapshotError, decode, encode

from tests.guests import snapshot_at_start

EXIT_AFTER_A_READ = bytes.fromhex("ba0804 66ed b000 e6f4".replace(" ", ""))  # mov dx,0x408; in eax,dx; mov al,0; out


VALID = snapshot_at_start(EXIT_AFTER_A_READ)


def test_chunks_round_trip():
    chunks = [Chunk("a", 1, b"payload"), Chunk("b/c", 3, b"", optional=True)]
    assert decode(encode(chunks)) == chunks


def test_a_one_mib_machine_snapshots_to_well_under_a_mib():
    assert len(VALID) < 64 * 1024


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:10], "too short"),
        (lambda data: data[: len(data) // 2], "claims"),
        (lambda data: b"NOTSNAPS" + data[8:], "not a snapshot"),
        (lambda data: data + b"junk", "follow the last chunk"),
        (lambda data: data[:8] + struct.pack("<H", 99) + data[10:], "format version 99 is newer"),
        (lambda data: data[:10] + struct.pack("<H", 60000) + data[12:], "claims 60000 chunks"),
    ],
)
def test_damaged_files_are_refused_with_one_line(damage, message):
    with pytest.raises(SnapshotError, match=message) as refused:
        read_chunks(damage(VALID))
    assert "\n" not in str(refused.value)


def test_a_flipped_bit_fails_the_checksum():
    data = bytearray(VALID)
    data[-5] ^= 0x10  # inside the last chunk's payload
    with pytest.raises(SnapshotError, match="fails its checksum"):
        read_chunks(bytes(data))


def test_unknown_optional_chunks_are_skipped_with_a_warning_and_required_ones_refused():
    chunks = decode(VALID)
    _, warnings = read_chunks(encode([*chunks, Chunk("future/thing", 1, b"x", optional=True)]))
    assert warnings == ["skipped optional chunk 'future/thing', unknown to this harness"]
    with pytest.raises(SnapshotError, match="'future/thing' is unknown"):
        read_chunks(encode([*chunks, Chunk("future/thing", 1, b"x")]))


def test_a_chunk_version_newer_than_known_is_refused_by_name():
    chunks = [Chunk(c.name, 2, c.payload, c.optional) if c.name == "ram" else c for c in decode(VALID)]
    with pytest.raises(SnapshotError, match="chunk 'ram' is version 2"):
        read_chunks(encode(chunks))


def test_a_missing_chunk_is_named():
    chunks = [chunk for chunk in decode(VALID) if chunk.name != "time"]
    with pytest.raises(SnapshotError, match="no 'time' chunk"):
        read_chunks(encode(chunks))


def test_a_configuration_this_harness_cannot_build_is_refused():
    chunks = decode(VALID)
    bad = [Chunk("config", 1, b'{"config": {"mode": 17}}') if c.name == "config" else c for c in chunks]
    with pytest.raises(SnapshotError, match="--mode must be 16, 32 or 64"):
        load(encode(bad))


def test_ram_of_the_wrong_size_is_refused():
    chunks = decode(VALID)
    ram = Chunk("ram", 1, struct.pack("<QB", 1 << 20, 1) + zlib.compress(bytes(100)))
    with pytest.raises(SnapshotError, match="decompresses to the wrong size"):
        load(encode([ram if c.name == "ram" else c for c in chunks]))


def test_without_unicorn_s_own_context_the_registers_still_restore():
    chunks = [chunk for chunk in decode(VALID) if chunk.name != "cpu/unicorn-context"]
    result = load(encode(chunks)).run()
    assert result.verdict.value == "pass"


REFERENCE = load(VALID).run()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_snapshot_loads_identically_or_fails_cleanly(data):
    snapshot = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
        if kind == "flip" and snapshot:
            position = data.draw(st.integers(0, len(snapshot) - 1))
            snapshot[position] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del snapshot[data.draw(st.integers(0, len(snapshot))) :]
        elif kind == "insert":
            position = data.draw(st.integers(0, len(snapshot)))
            snapshot[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif snapshot:
            position = data.draw(st.integers(0, len(snapshot) - 1))
            snapshot[position] = data.draw(st.integers(0, 255))
    try:
        machine = load(bytes(snapshot))
    except SnapshotError as error:
        assert "\n" not in str(error)
        return
    result = machine.run()
    assert (result.verdict, result.exit_code, result.console, result.virtual_ns) == (
        REFERENCE.verdict, REFERENCE.exit_code, REFERENCE.console, REFERENCE.virtual_ns)


def test_golden_snapshots_keep_loading():
    golden = sorted((Path(__file__).parent / "data").glob("*.snap"))
    assert golden, "tests/data holds golden snapshots"
    for path in golden:
        result = load(path.read_bytes()).run()
        assert result.verdict.value == "pass", path.name


def with_unicorn_context(data: bytes, fill: int) -> bytes:
    """The snapshot with an old-style ``cpu/unicorn-context`` chunk of the right length, other contents."""
    import unicorn

    version = unicorn.__version__.encode()
    size = Machine(MachineConfig()).uc.context_save().size
    payload = bytes([len(version)]) + version + bytes([fill]) * size
    return encode([*decode(data), Chunk("cpu/unicorn-context", 1, payload, optional=True)])


@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_a_crafted_unicorn_context_never_reaches_unicorn(tmp_path, fill):
    # Handed to uc_context_restore, such a chunk killed the interpreter with SIGSEGV.
    crafted = tmp_path / "crafted.snap"
    crafted.write_bytes(with_unicorn_context(VALID, fill))
    done = subprocess.run([sys.executable, "-m", "pmtimer_harness", "resume", str(crafted)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("name", "value", "message"), [
    ("mode.cs64", 1, "not in long mode"),
    ("mode.cpl", 4, "mode.cpl is 4, at most 3"),
    ("ds.flags", 1 << 32, "exceed 32 bits"),
    ("cs", 0x10000, "does not fit 16 bits"),
])
def test_hidden_segment_state_no_cpu_could_hold_is_refused(name, value, message):
    from pmtimer_harness.core.snapshot import _read_records, _records

    chunks = decode(VALID)
    cpu = next(chunk for chunk in chunks if chunk.name == "cpu")
    values = _read_records(cpu.payload, "cpu")
    assert name in values
    values[name] = value
    crafted = [Chunk("cpu", 1, _records(values)) if chunk.name == "cpu" else chunk for chunk in chunks]
    with pytest.raises(SnapshotError, match=message):
        load(encode(crafted))


def test_ram_as_older_snapshots_hold_it_one_zlib_stream_still_loads():
    machine = load(VALID)
    memory = bytes(machine.uc.mem_read(0, 1 << 20))
    ram = Chunk("ram", 1, struct.pack("<QB", 1 << 20, 1) + zlib.compress(memory))
    result = load(encode([ram if c.name == "ram" else c for c in decode(VALID)])).run()
    assert result.verdict.value == "pass"


def peak_rss_bytes() -> int:
    """This process's peak resident set: ``ru_maxrss`` counts KiB on Linux and the BSDs, bytes on macOS."""
    resource = pytest.importorskip("resource", reason="no resource module on this OS (Windows): no getrusage")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def test_a_large_guest_ram_saves_and_restores_without_a_copy_of_it():
    from pmtimer_harness.core.snapshot_ram import ram_chunk, restore_ram

    machine = Machine(MachineConfig(memory=256 << 20))
    machine.uc.mem_write(200 << 20, b"far up")
    before = peak_rss_bytes()
    chunk = ram_chunk(machine.uc, 256 << 20)
    assert len(chunk.payload) < 4096  # 255 pieces of zeros and one with six bytes
    fresh = Machine(MachineConfig(memory=256 << 20))
    restore_ram(fresh.uc, 256 << 20, chunk)
    assert bytes(fresh.uc.mem_read(200 << 20, 6)) == b"far up"
    assert peak_rss_bytes() - before < 64 << 20  # a copy of the RAM would be 256 MiB


# --- mutations that keep every checksum valid: the reader's checks, not the CRC, must catch them ---

# A machine under small budgets, so a mutated snapshot of it ends soon too.
SMALL = snapshot_at_start(EXIT_AFTER_A_READ, MachineConfig(max_instructions=20_000, timeout=5.0))
CHUNK_NAMES = [chunk.name for chunk in decode(SMALL)]


def mutated_payload(data, payload: bytes, name: str) -> bytes:
    kind = data.draw(st.sampled_from(["replace", "truncate", "flood", "flip", "values"]), label="mutation")
    if kind == "replace":
        return data.draw(st.binary(max_size=2 * len(payload) + 16), label="payload")
    if kind == "truncate":
        return payload[: data.draw(st.integers(0, max(0, len(payload) - 1)), label="kept")]
    if kind == "flood":
        prefix = data.draw(st.integers(0, len(payload)), label="prefix")
        fill = data.draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]), label="fill")
        length = data.draw(st.sampled_from([len(payload), len(payload) + 64, max(prefix, 1) * 3]), label="length")
        return payload[:prefix] + bytes([fill]) * max(0, length - prefix)
    if kind == "flip" and payload:
        flipped = bytearray(payload)
        flipped[data.draw(st.integers(0, len(payload) - 1), label="at")] ^= 1 << data.draw(st.integers(0, 7))
        return bytes(flipped)
    if kind == "values" and name == "cpu":
        # Well-formed records with hostile values: what reaches Unicorn's register API.
        from pmtimer_harness.core.snapshot import _read_records, _records

        values = _read_records(payload, "cpu")
        for register in data.draw(st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=6), label="regs"):
            values[register] = data.draw(st.sampled_from([0, 1, 0xFFFF, 0xFFFF_FFFF, 2**63, 2**64 - 1])
                                         | st.integers(0, 2**64 - 1), label=register)
        return _records(values)
    return payload


# HARNESS_FUZZ_EXAMPLES=5000 for a long run; the default keeps make test short.
@settings(max_examples=int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(CHUNK_NAMES))
def test_a_chunk_mutated_behind_a_valid_checksum_fails_cleanly_or_runs_to_a_verdict(data, name):
    chunks = decode(SMALL)
    chunks = [Chunk(c.name, c.version, mutated_payload(data, c.payload, name), c.optional) if c.name == name else c
              for c in chunks]
    try:
        machine = load(encode(chunks))  # encode computes each CRC afresh
    except SnapshotError as error:
        assert "\n" not in str(error)
        return
    result = machine.run()  # a verdict, whatever it is: the budgets in the configuration end the run
    assert result.verdict.value in ("pass", "fail", "error", "timeout", "halted")
