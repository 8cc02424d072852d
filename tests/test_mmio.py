"""Memory-mapped registers: a device's MmioRegion, the bus's rules, the accessing instruction's place and time."""

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtimer_harness import (
    ConfigError,
    MmioRegion,
    Verdict,
    build_machine,
    restore_snapshot,
    run_guest,
    take_snapshot,
)
from pmtimer_harness.core.bus import PortAccess

from tests.guests import run_source, write_guest

BASE = 0xFEB0_0000
ON_32_BITS = ("--mode", "32", "--load-address", "0x1000")
DISPATCHES = ("native", "python", "reference")


class Registers:
    """Four-byte registers at BASE (256 bytes, 8-byte reads too); each access logged with its time."""

    name = "regs"
    state_version = 1
    windows = ()

    def __init__(self, base=BASE, length=0x100, **rules):
        self.regions = (MmioRegion(base, length, **{"read_widths": frozenset({4, 8}),
                                                     "write_widths": frozenset({4}), **rules}),)
        self.value = 0x1234
        self.log = []

    def mmio_read(self, address, width, now_ns):
        self.log.append(("read", address, width, now_ns))
        return self.value

    def mmio_write(self, address, width, value, now_ns):
        self.log.append(("write", address, width, value, now_ns))
        self.value = value

    def register_name(self, address):
        return f"REG{address - BASE:02X}"

    def state(self, now_ns):
        return {"value": self.value}

    def restore(self, state, now_ns):
        self.value = state["value"]


def run32(tmp_path, body, *options, **kwargs):
    return run_source(tmp_path, "bits 32\n mov ebx, 0xFEB00000\n" + body, *ON_32_BITS, *options, **kwargs)


def report_of(run):
    return run.result.report.format() if run.result.report else ""


# --- the Unicorn facts the MMIO path stands on (harness/core/dispatch.py) -----------------------


def _bare_cpu(*, memory_hook=False, stop_in_read=False):
    """inc ecx; inc ecx; mov eax, [BASE] at 0x1000, run on bare Unicorn; the PC each callback saw, EIP, EAX."""
    import unicorn
    from unicorn import x86_const as x86

    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, 0x2000)
    uc.mem_write(0x1000, bytes([0x41, 0x41, 0xA1, 0x00, 0x00, 0xB0, 0xFE, 0x90]))
    seen = {}

    def piece(engine, _offset, _size, _user):
        seen["callback pc"] = engine.reg_read(x86.UC_X86_REG_EIP)
        if stop_in_read:
            engine.emu_stop()
        return 0x42

    def hook(engine, _kind, _address, _size, _value, _user):
        seen["hook pc"] = engine.reg_read(x86.UC_X86_REG_EIP)

    uc.mmio_map(BASE, 0x1000, piece, None, None, None)
    if memory_hook:
        uc.hook_add(unicorn.UC_HOOK_MEM_READ, hook, None, BASE, BASE + 0xFFF)
    uc.emu_start(0x1000, 0x1008)
    return seen, uc.reg_read(x86.UC_X86_REG_EIP), uc.reg_read(x86.UC_X86_REG_EAX)


def test_unicorn_gives_an_mmio_callback_the_block_s_pc_and_a_memory_hook_the_instruction_s():
    assert _bare_cpu()[0] == {"callback pc": 0x1000}  # where the block began: stale
    assert _bare_cpu(memory_hook=True)[0] == {"hook pc": 0x1002, "callback pc": 0x1002}  # the hook first, synced


def test_unicorn_leaves_an_instruction_undone_when_a_stop_comes_during_its_mmio_access():
    _, eip, eax = _bare_cpu(stop_in_read=True)
    assert (eip, eax) == (0x1002, 0)


# --- the access, as the instruction made it -------------------------------------------------


def test_reads_and_writes_reach_the_device_with_the_instruction_s_width_and_value(tmp_path):
    regs = Registers()
    body = " mov dword [ebx+4], 0x55\n mov eax, [ebx+4]\n movq xmm0, [ebx+8]\n out 0xF4, al\n"
    run = run32(tmp_path, body, devices=[regs])
    assert run.result.exit_code == 0x55, report_of(run)
    assert [entry[:3] for entry in regs.log] == [("write", BASE + 4, 4), ("read", BASE + 4, 4), ("read", BASE + 8, 8)]


def test_a_sixteen_byte_sse_access_is_two_eight_byte_ones_as_unicorn_splits_it(tmp_path):
    regs = Registers()
    run = run32(tmp_path, " movdqu xmm0, [ebx+0x10]\n mov al, 0\n out 0xF4, al\n", devices=[regs])
    assert run.result.exit_code == 0, report_of(run)
    assert [entry[:3] for entry in regs.log] == [("read", BASE + 0x10, 8), ("read", BASE + 0x18, 8)]


@pytest.mark.parametrize("dispatch", DISPATCHES)
def test_each_access_has_the_time_of_its_instruction_in_its_block(tmp_path, dispatch):
    # One block: the read is the 4th instruction, the write the 7th (0-based counts before them: 3, 6).
    regs = Registers()
    body = " inc ecx\n inc ecx\n mov eax, [ebx]\n inc ecx\n inc ecx\n mov [ebx+4], eax\n mov al, 0\n out 0xF4, al\n"
    run = run32(tmp_path, body, "--dispatch", dispatch, "--insn-ns", "10", devices=[regs])
    assert run.result.verdict == Verdict.PASS, report_of(run)
    assert regs.log == [("read", BASE, 4, 30), ("write", BASE + 4, 4, 0x1234, 60)]


def test_the_part_of_a_claimed_page_no_region_covers_reads_as_the_empty_slot(tmp_path):
    run = run32(tmp_path, " mov eax, [ebx+0x800]\n out 0xF4, al\n", devices=[Registers()])
    assert run.result.exit_code == 0xFF, report_of(run)
    assert any("unclaimed MMIO 0xfeb00800" in warning for warning in run.result.warnings)


def test_under_strict_io_the_rest_of_the_page_is_refused(tmp_path):
    run = run32(tmp_path, " mov eax, [ebx+0x800]\n out 0xF4, al\n", "--strict-io", devices=[Registers()])
    assert run.result.verdict == Verdict.ERROR
    assert "no device claims this address" in run.result.report.reason


# --- refusals and failures: one report, as for ports --------------------------------------


@pytest.mark.parametrize("dispatch", DISPATCHES)
def test_a_refused_width_ends_the_run_with_the_address_width_value_and_instruction(tmp_path, dispatch):
    regs = Registers(refusal="these registers are words")
    run = run32(tmp_path, " inc ecx\n mov word [ebx+8], 0x77\n mov al, 0\n out 0xF4, al\n", "--dispatch", dispatch,
                devices=[regs])
    report = run.result.report
    assert run.result.verdict == Verdict.ERROR
    assert report.access.describe() == "2-byte MMIO write at 0xfeb00008 value 0x0077"
    assert "refused by regs (it takes 4-byte writes" in report.reason and "these registers are words" in report.reason
    assert report.address == 0x1006 and report.instruction == "mov word ptr [ebx + 8], 0x77"
    assert run.result.instructions == 2  # mov ebx and inc ecx: the refused instruction did not retire
    assert regs.log == []  # the device never saw it
    assert "access:      2-byte MMIO write at 0xfeb00008 value 0x0077" in report.format()


def test_a_misaligned_access_is_refused(tmp_path):
    run = run32(tmp_path, " mov eax, [ebx+2]\n", devices=[Registers()])
    assert run.result.verdict == Verdict.ERROR
    assert "naturally aligned" in run.result.report.reason


def test_a_region_that_floats_other_widths_reads_all_ones_for_them(tmp_path):
    run = run32(tmp_path, " mov al, [ebx]\n out 0xF4, al\n", devices=[Registers(refuse_other_widths=False)])
    assert run.result.exit_code == 0xFF
    assert any("MMIO 0xfeb00000 of regs" in warning for warning in run.result.warnings)


@pytest.mark.parametrize(("value", "shown"), [("12", "'12' (str)"), (1 << 32, "4294967296 (int)"), (-1, "-1 (int)")])
def test_a_user_device_reading_a_wrong_value_ends_the_run_naming_device_address_and_value(tmp_path, value, shown):
    regs = Registers()
    regs.value = value
    run = run32(tmp_path, " mov eax, [ebx]\n", devices=[regs])
    assert run.result.verdict == Verdict.ERROR
    assert run.result.report.reason == (f"error: 4-byte MMIO read at 0xfeb00000: regs returned {shown}: "
                                        "a read returns an int from 0 to 0xffffffff")


READ_AND_EXIT = bytes.fromhex("a10000b0fe" "e6f4" "f4")  # mov eax, [BASE]; out 0xF4, al; hlt (32-bit code)
LONG = os.environ.get("HARNESS_FUZZ") == "long"


class Returns(Registers):
    """mmio_read returns ``value``, or raises it if it is an exception."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def mmio_read(self, address, width, now_ns):
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


@settings(max_examples=2000 if LONG else 30, deadline=None, database=None, derandomize=not LONG)
@given(value=st.one_of(
    st.integers(-(1 << 40), 1 << 40), st.floats(), st.text(max_size=4), st.none(), st.booleans(),
    st.sampled_from([SystemExit(1), KeyboardInterrupt(), ValueError("bad"), RecursionError()]),
))
def test_whatever_mmio_read_returns_or_raises_the_run_ends_in_a_verdict_that_explains_it(value):
    result = run_guest(READ_AND_EXIT, list(ON_32_BITS), devices=[Returns(value)]).result
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFF_FFFF:
        assert result.exit_code == value & 0xFF
    else:
        assert result.verdict in (Verdict.ERROR, Verdict.INTERRUPTED) and "regs" in result.report.reason
        assert result.report.access.describe() == "4-byte MMIO read at 0xfeb00000"


def test_a_device_whose_regions_cannot_be_read_is_refused_in_one_line(tmp_path):
    class Hostile(Registers):
        def __init__(self):
            self.log = []

        @property
        def regions(self):
            raise RuntimeError("no")

    with pytest.raises(ConfigError, match="regions must be a sequence of MmioRegion"):
        build_machine(write_guest(tmp_path, "hlt\n"), devices=[Hostile()])


class Raising(Registers):
    def mmio_read(self, address, width, now_ns):
        raise ZeroDivisionError("the model divided by zero")


def test_an_exception_in_mmio_read_is_an_error_verdict_with_the_device_s_traceback(tmp_path):
    run = run32(tmp_path, " inc ecx\n mov eax, [ebx+4]\n", devices=[Raising()])
    report = run.result.report
    assert run.result.verdict == Verdict.ERROR
    assert report.reason == "error: regs raised ZeroDivisionError: the model divided by zero"
    assert report.address == 0x1006 and "mov eax" in report.instruction
    assert "device traceback:" in report.details
    assert run.result.instructions == 2


def test_regions_that_overlap_guest_ram_or_the_acpi_tables_or_another_device_are_refused_at_attach(tmp_path):
    guest = write_guest(tmp_path, "hlt\n")
    with pytest.raises(ConfigError, match="overlaps guest RAM"):
        build_machine(guest, devices=[Registers(base=0x80000)])
    with pytest.raises(ConfigError, match="overlaps the ACPI tables"):
        build_machine(guest, devices=[Registers(base=0xE0000)])
    with pytest.raises(ConfigError, match=r"overlaps regs's 0xfeb00000-0xfeb000ff"):
        build_machine(guest, devices=[Registers(), Registers(base=BASE + 0x80)])
    build_machine(guest, devices=[Registers(), Registers(base=BASE + 0x100)])  # one page, two devices: fine


def test_a_region_of_a_terabyte_is_mapped_at_once_and_pages_two_devices_share_once(tmp_path):
    guest = write_guest(tmp_path, "hlt\n")
    machine = build_machine(guest, devices=[Registers(base=1 << 32, length=1 << 40)])
    assert machine.board.mmio.mapped == [(1 << 32, (1 << 32) + (1 << 40))]  # (first, end)
    machine = build_machine(guest, devices=[Registers(length=0x1800), Registers(base=BASE + 0x1800, length=0x1000)])
    assert machine.board.mmio.mapped == [(BASE, BASE + 0x2000), (BASE + 0x2000, BASE + 0x3000)]


def test_a_region_needs_mmio_read_and_mmio_write(tmp_path):
    class Half(Registers):
        mmio_write = None

    with pytest.raises(ConfigError, match="has MMIO regions and no mmio_write"):
        build_machine(write_guest(tmp_path, "hlt\n"), devices=[Half()])


def test_a_region_is_data_checked_when_made():
    with pytest.raises(ValueError, match="1, 2, 4 or 8 bytes"):
        MmioRegion(BASE, 4, read_widths=frozenset({3}))
    with pytest.raises(ValueError, match="physical space"):
        MmioRegion(1 << 52, 4)
    with pytest.raises(ValueError, match="whole numbers"):
        MmioRegion(4e9, 4)  # a float would reach Unicorn's ctypes and fail there


def test_code_in_a_claimed_page_does_not_run(tmp_path):
    run = run32(tmp_path, " jmp ebx\n", devices=[Registers()])
    assert run.result.verdict == Verdict.ERROR and "non-executable" in run.result.report.reason


def test_a_descriptor_table_in_a_claimed_page_ends_the_run_in_one_report(tmp_path):
    # The GDT is read with no instruction's access (for CS's descriptor): not modelled, and said so.
    body = " lgdt [gdtr]\n mov ax, 0x10\n mov ds, ax\n hlt\ngdtr: dw 0x17\n dd 0xFEB00000\n"
    run = run32(tmp_path, body, devices=[Registers()])
    assert run.result.verdict == Verdict.ERROR
    assert run.result.report.reason == ("error: 4-byte MMIO read at 0xfeb00000: no instruction made this access "
                                        "(a page table or descriptor table there?): not modelled")


# --- the trace ----------------------------------------------------------------------------


def test_the_trace_shows_mmio_accesses_like_port_accesses(tmp_path):
    lines = []
    run = run32(tmp_path, " mov dword [ebx+4], 7\n mov eax, [ebx+4]\n out 0xF4, al\n", "--insn-ns", "10",
                devices=[Registers()], trace=lines.append)
    assert run.result.exit_code == 7
    assert lines[0].startswith("[          10 ns  insn          1] WR  0xfeb00004/4 <- 0x00000007  REG04 write")
    assert "at 0x00001005  mov dword ptr [ebx + 4], 7" in lines[0]
    assert lines[1].startswith("[          20 ns  insn          2] RD  0xfeb00004/4 -> 0x00000007  REG04 read")


# --- stops: exact counts, and no access seen twice -------------------------------------------


class ExitRegister(Registers):
    """A write to BASE ends the run with that exit code, through the board's debug-exit device."""

    exit = None

    def mmio_write(self, address, width, value, now_ns):
        self.exit.write(0xF4, 1, value, now_ns)


@pytest.mark.parametrize("dispatch", DISPATCHES)
def test_a_device_that_ends_the_run_from_an_mmio_write_counts_exactly_the_instructions_retired(tmp_path, dispatch):
    device = ExitRegister()
    machine = build_machine(write_guest(tmp_path, "bits 32\n mov ebx, 0xFEB00000\n inc ecx\n inc ecx\n"
                                                  " mov dword [ebx], 3\n inc ecx\n jmp $\n"),
                            [*ON_32_BITS, "--dispatch", dispatch], devices=[device])
    device.exit = machine.board.exit
    result = machine.run()
    assert (result.verdict, result.exit_code, result.instructions) == (Verdict.FAIL, 3, 4)


class PulsingRegisters(Registers):
    """Each write pulses IRQ 5: under the host clock the CPU stops at once for the line."""

    irq = 5
    line = None

    def connect_irq(self, line):
        self.line = line

    def mmio_write(self, address, width, value, now_ns):
        super().mmio_write(address, width, value, now_ns)
        self.line.pulse()


@pytest.mark.parametrize("clock", ["host", "virtual"])
def test_a_write_that_asks_for_a_stop_reaches_the_device_once(tmp_path, clock):
    # A stop made during the access would leave the instruction undone, to run again: it waits for the next access.
    regs = PulsingRegisters()
    body = " mov ecx, 20\nagain: add [ebx], ecx\n dec ecx\n jnz again\n mov al, 0\n out 0xF4, al\n"
    run = run32(tmp_path, body, "--clock", clock, devices=[regs])
    assert run.result.verdict == Verdict.PASS, report_of(run)
    assert [entry[0] for entry in regs.log] == ["read", "write"] * 20
    written = [entry[3] for entry in regs.log if entry[0] == "write"]
    assert written == [0x1234 + sum(range(ecx, 21)) for ecx in range(20, 0, -1)]


@pytest.mark.parametrize("dispatch", ["native", "python"])
def test_an_mmio_read_after_a_stop_requested_in_its_block_reaches_the_device_once(tmp_path, dispatch):
    # The snapshot port asks for a stop; the read later in the block is left undone, and runs after it.
    regs = Registers()
    run = run32(tmp_path, " out 0xF5, al\n mov eax, [ebx]\n mov al, 0\n out 0xF4, al\n", "--dispatch", dispatch,
                devices=[regs])
    assert run.result.verdict == Verdict.PASS, report_of(run)
    assert [entry[0] for entry in regs.log] == ["read"]


# --- snapshots ----------------------------------------------------------------------------


LOOP = """bits 32
        mov ebx, 0xFEB00000
        mov ecx, 300
again:  mov eax, [ebx]
        add eax, ecx
        mov [ebx], eax
        dec ecx
        jnz again
        mov eax, [ebx]
        out 0xF4, al
"""


@pytest.mark.parametrize("dispatch", ["native", "reference"])
def test_a_snapshot_mid_run_resumes_to_the_same_end_as_the_whole_run(tmp_path, dispatch):
    guest = write_guest(tmp_path, LOOP)
    options = [*ON_32_BITS, "--dispatch", dispatch]
    whole = build_machine(guest, options, devices=[Registers()]).run()
    machine = build_machine(guest, options, devices=[Registers()])
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
    machine.save_at(700)
    machine.run()
    mine = Registers()
    resumed = restore_snapshot(saved[0], devices=[mine]).run()
    assert (resumed.exit_code, resumed.instructions, resumed.virtual_ns) == (
        whole.exit_code, whole.instructions, whole.virtual_ns)
    assert mine.log and all(entry[3] > 0 for entry in mine.log if entry[0] == "read")


def test_a_port_access_is_still_a_port_access():
    assert PortAccess("in", 0x408, 4).describe() == "4-byte IN at port 0x0408"
