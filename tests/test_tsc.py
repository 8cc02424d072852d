"""RDTSC and RDTSCP under the virtual clock read the virtual time, exactly and the same on every run.

The counter is ``VirtualClock.tsc_ticks`` of the time at the instruction, the
time an IN in its place would see (``harness/core/tsc.py``).  Each case that
places a TSC read somewhere a count could slip (a loop, a page end, after a
port asked the CPU to stop, over self-modifying code, in each start mode) is
also checked against the per-instruction reference count
(``tests/reference_count.py``).
"""

from __future__ import annotations

import subprocess

import pytest
from pmtimer_harness.core.blocks import Block
from pmtimer_harness.core.clock import NS_PER_S, TSC_HZ, VirtualClock
from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import InstructionTraceOptions, Machine
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.core.snapshot import load, take
from pmtimer_harness.devices.pm_timer import PM_TMR_FREQUENCY_HZ
from pmtimer_harness.tools.guest import load_guest
from pmtimer_harness.tools.runner import guest_config

from tests.guests import write_guest
from tests.reference_count import assert_counts_exact, counted_run

RESULTS = 0x600  # where the guests below store what they read


def machine_for(tmp_path, body: str, *options: str, **machine_options) -> Machine:
    path = write_guest(tmp_path, body)
    _, config = guest_config(path, list(options))
    guest = load_guest(path, config)
    machine = Machine(config, source_map=guest.source_map, **machine_options)
    machine.load(guest.image)
    return machine


def image_and_config(tmp_path, body: str, *options: str) -> tuple[bytes, MachineConfig]:
    path = write_guest(tmp_path, body)
    _, config = guest_config(path, list(options))
    return load_guest(path, config).image, config


def raw_image(tmp_path, bits: int, source: str) -> bytes:
    path = tmp_path / f"raw{bits}.asm"
    path.write_text(f"bits {bits}\norg 0x1000\n{source}")
    subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "raw.bin"), str(path)], check=True)
    return (tmp_path / "raw.bin").read_bytes()


def dwords(machine: Machine, count: int, address: int = RESULTS) -> list[int]:
    data = bytes(machine.uc.mem_read(address, 4 * count))
    return [int.from_bytes(data[4 * index : 4 * index + 4], "little") for index in range(count)]


# Two TSC reads around a port access and a stop, the values kept in memory and
# the low byte of each difference on the console.
READS = """
        out 0xE9, al                    ; access 0
        rdtsc                           ; 1 instruction, 1 access: 1 + 1000 ns
        mov [RESULTS], eax
        mov [RESULTS + 4], edx
        mov dx, TIMER_PORT
        in eax, dx                      ; access 1, after 6 instructions
        rdtscp                          ; 6 instructions, 2 accesses: 2006 ns
        mov [RESULTS + 8], eax
        mov [RESULTS + 12], ecx
        mov al, 0
        out 0xF4, al
""".replace("RESULTS", str(RESULTS))


def test_the_tsc_reads_the_virtual_time_at_the_instruction(tmp_path):
    machine = machine_for(tmp_path, READS)
    result = machine.run()
    assert result.verdict == Verdict.PASS
    assert dwords(machine, 4) == [1001, 0, 2006, 0]


def test_two_runs_read_the_same_values_and_so_does_the_reference_dispatch(tmp_path):
    runs = []
    for options in ((), (), ("--dispatch", "reference")):
        machine = machine_for(tmp_path, READS, *options)
        assert machine.run().verdict == Verdict.PASS
        runs.append(dwords(machine, 4))
    assert runs[0] == runs[1] == runs[2] == [1001, 0, 2006, 0]


def test_the_tsc_runs_at_its_stated_rate_against_the_pm_timer(tmp_path):
    # Each TSC read stands as far from a timer read: the spans cover the same virtual time.
    body = f"""
        mov dx, TIMER_PORT
        in eax, dx
        mov ebx, eax
        rdtsc
        mov esi, eax
        mov ecx, 100000
spin:   dec ecx
        jnz spin
        mov dx, TIMER_PORT              ; RDTSC wrote EDX
        in eax, dx
        mov edi, eax
        rdtsc
        mov [{RESULTS}], ebx
        mov [{RESULTS + 4}], edi
        mov [{RESULTS + 8}], esi
        mov [{RESULTS + 12}], eax
        mov al, 0
        out 0xF4, al
"""
    machine = machine_for(tmp_path, body, "--insn-ns", "3")
    assert machine.run().verdict == Verdict.PASS
    pm_before, pm_after, tsc_before, tsc_after = dwords(machine, 4)
    span_ns = (6 + 200_000) * 3 + 1000  # from one timer read to the next: 200,006 instructions, one IN
    assert tsc_after - tsc_before == span_ns * TSC_HZ // NS_PER_S
    assert abs((pm_after - pm_before) - span_ns * PM_TMR_FREQUENCY_HZ / NS_PER_S) <= 1


def test_the_counter_is_64_bits_of_ticks():
    assert VirtualClock.tsc_ticks(0) == 0
    assert VirtualClock.tsc_ticks(5 * NS_PER_S) == 5 * TSC_HZ
    assert VirtualClock.tsc_ticks(1 << 70) == (1 << 70) * TSC_HZ // NS_PER_S % (1 << 64)


@pytest.mark.parametrize("bits", [32, 64])
def test_rdtscp_clears_the_upper_halves_and_loads_tsc_aux(tmp_path, bits):
    fill = "mov rax, -1\nmov rdx, -1\nmov rcx, -1" if bits == 64 else "mov eax, -1\nmov edx, -1\nmov ecx, -1"
    store = (
        "mov [0x2000], rax\nmov [0x2008], rdx\nmov [0x2010], rcx" if bits == 64
        else "mov [0x2000], eax\nmov [0x2008], edx\nmov [0x2010], ecx"
    )
    image = raw_image(tmp_path, bits, f"{fill}\nrdtscp\n{store}\nmov al, 0\nout 0xF4, al\n")
    machine = Machine(MachineConfig(mode=bits, load_address=0x1000))
    machine.load(image)
    assert machine.run().verdict == Verdict.PASS
    rax, rdx, rcx = (int.from_bytes(machine.uc.mem_read(0x2000 + 8 * index, 8), "little") for index in range(3))
    if bits == 32:
        rax, rdx, rcx = rax & 0xFFFF_FFFF, rdx & 0xFFFF_FFFF, rcx & 0xFFFF_FFFF
    assert (rax, rdx, rcx) == (3, 0, 0)  # three MOVs before it, at 1 ns each


# TSC reads where the count could slip: first in a looping block, between port
# accesses, after a port that stops the CPU (the snapshot port), last before a
# page boundary, and on through the exit.
PLACES = """
        mov bp, 40                      ; RDTSC writes EAX and EDX, RDTSCP ECX too
again:  rdtsc
        mov ebx, eax
        mov dx, TIMER_PORT
        in eax, dx
        rdtscp
        sub eax, ebx
        out 0xE9, al
        out 0xF5, al                    ; a snapshot request stops the CPU; a TSC read follows
        rdtsc
        out 0xE9, al
        dec bp
        jnz again
        jmp near last_on_the_page
        times 0x7FFE - 0x7C00 - ($ - $$) nop
last_on_the_page:
        rdtsc                           ; its last two bytes end the page
        out 0xE9, al
        mov al, 0
        out 0xF4, al
        rdtsc                           ; after the verdict, in the same block
        mov [RESULTS], eax
"""


def test_tsc_reads_keep_the_count_exact_wherever_they_stand(tmp_path):
    image, config = image_and_config(tmp_path, PLACES.replace("RESULTS", str(RESULTS)))
    run = counted_run(image, config)
    assert run.plain.result.verdict == Verdict.PASS
    assert len(run.plain.result.console) == 40 * 2 + 1
    assert_counts_exact(run)


@pytest.mark.parametrize("bits", [32, 64])
def test_tsc_reads_keep_the_count_exact_in_32_and_64_bit_mode(tmp_path, bits):
    source = """
        mov ebp, 30
again:  rdtsc
        mov ebx, eax
        mov dx, 0x408
        in eax, dx
        rdtscp
        sub eax, ebx
        out 0xE9, al
        out 0xF5, al
        rdtsc
        out 0xE9, al
        dec ebp
        jnz again
        mov al, 0
        out 0xF4, al
"""
    image = raw_image(tmp_path, bits, source)
    run = counted_run(image, MachineConfig(mode=bits, load_address=0x1000))
    assert run.plain.result.verdict == Verdict.PASS
    assert_counts_exact(run)


def read_after_a_snapshot_stop(read: str) -> str:
    """A guest that asks the snapshot port for a stop, then reads the TSC in the same block."""
    return f"""
        out 0xF5, al                    ; the snapshot port: the CPU stops to save
        {read}                          ; 1 instruction, 1 access
        mov [{RESULTS}], eax
        mov [{RESULTS + 4}], edx
        mov al, 0
        out 0xF4, al
"""


@pytest.mark.parametrize("read", ["rdtsc", "rdtscp"])
def test_a_stop_asked_for_before_a_tsc_read_in_its_block_waits_for_the_block_end(tmp_path, read):
    # With a stop request pending, Unicorn's RDTSC helper stops looking for a
    # hook at the first one it meets and reads the host's TSC.  Taking the
    # stop at the block's end instead keeps the read virtual.
    machine = machine_for(tmp_path, read_after_a_snapshot_stop(read))
    assert machine.run().verdict == Verdict.PASS
    assert dwords(machine, 2) == [1001, 0]


def test_without_the_wait_the_host_tsc_leaks_through(tmp_path, monkeypatch):
    # The fault the rule above prevents, made on purpose.  (An RDTSC escapes it
    # here: its hook is the first Unicorn meets.  An RDTSCP's comes second.)
    monkeypatch.setattr(Block, "reads_tsc_after", lambda self, index: False)
    machine = machine_for(tmp_path, read_after_a_snapshot_stop("rdtscp"))
    assert machine.run().verdict == Verdict.PASS
    assert dwords(machine, 2) != [1001, 0]


SELF_MODIFYING = """
        mov cx, 6
        nop                             ; an aligned store: Unicorn misses some unaligned ones into code
again:  xor word [target], 0x310F ^ 0x9090  ; rdtsc <-> nop; nop, each time round
        mov eax, 0x55
target: rdtsc
        out 0xE9, al
        dec cx
        jnz again
        mov al, 0
        out 0xF4, al
"""


def test_code_that_overwrites_an_rdtsc_is_counted_and_read_as_it_now_is(tmp_path):
    image, config = image_and_config(tmp_path, SELF_MODIFYING)
    run = counted_run(image, config)
    assert run.plain.result.verdict == Verdict.PASS
    console = run.plain.result.console
    assert console[0::2] == "\x55" * 3  # the NOPs leave EAX alone
    assert all(value != "\x55" for value in console[1::2])  # the RDTSCs do not
    assert_counts_exact(run)


def test_the_tsc_continues_across_a_snapshot(tmp_path):
    body = f"""
        mov cx, 200
again:  rdtsc
        out 0xE9, al
        mov dx, TIMER_PORT
        in eax, dx
        dec cx
        jnz again
        rdtscp
        mov [{RESULTS}], eax
        mov al, 0
        out 0xF4, al
"""
    whole_machine = machine_for(tmp_path, body)
    whole = whole_machine.run()
    for save_at in (1, 333, 800):
        machine = machine_for(tmp_path, body)
        saved: list[bytes] = []
        machine.on_snapshot = lambda stopped, saved=saved: saved.append(take(stopped))
        machine.save_at(save_at)
        assert machine.run().console == whole.console
        resumed_machine = load(saved[0])
        resumed = resumed_machine.run()
        assert (resumed.verdict, resumed.instructions, resumed.virtual_ns) == (
            whole.verdict, whole.instructions, whole.virtual_ns)
        assert whole.console.endswith(resumed.console)
        assert dwords(resumed_machine, 1) == dwords(whole_machine, 1)


def test_the_instruction_trace_shows_what_an_rdtsc_wrote(tmp_path):
    lines: list[str] = []
    machine = machine_for(tmp_path, READS, trace=lines.append, instruction_trace=InstructionTraceOptions())
    assert machine.run().verdict == Verdict.PASS
    rdtscp = next(index for index, line in enumerate(lines) if "rdtscp" in line.split(";")[0])
    assert lines[rdtscp + 1].split() == ["eax=0x7d6", "edx=0x0"]  # 2006; ECX was 0 already


def test_a_tsc_read_the_block_accounting_cannot_place_ends_the_run_with_an_error(tmp_path):
    # Unicorn ran a TSC read the block's decoding does not show: its time is unknown.
    machine = machine_for(tmp_path, READS)
    machine.dispatch.hooked_index = ()
    machine.dispatch.on_rdtsc(0, 0)
    result = machine.run()
    assert result.verdict == Verdict.ERROR
    assert "could not be placed in its block" in result.report.reason


def test_under_the_host_clock_rdtsc_runs_natively(tmp_path):
    machine = machine_for(tmp_path, READS, "--clock", "host")
    assert machine.run().verdict == Verdict.PASS
    assert dwords(machine, 1) != [1001]  # the host's counter, not the virtual one
