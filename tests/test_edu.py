"""QEMU's edu device (devices/edu.py): its registers, its factorial in virtual time, its interrupt, and its guest."""

import json

import pytest
from pmtimer_harness import ConfigError, Verdict, build_machine, restore_snapshot, run_guest, take_snapshot
from pmtimer_harness.devices.edu import (
    EDU_BASE,
    EDU_ID,
    FACT_IRQ,
    FACTORIAL,
    FACTORIAL_DELAY_NS,
    ID,
    IRQ_ACK,
    IRQ_RAISE,
    IRQ_STATUS,
    LIVENESS,
    STATUS,
    STATUS_COMPUTING,
    STATUS_IRQFACT,
    Edu,
    factorial32,
)
from pmtimer_harness.devices.ports import DeviceError
from pmtimer_harness.frontends.cli import main

from tests import faults
from tests.guests import BUNDLED, write_guest

GUEST = BUNDLED / "edu_mmio.asm"


class Line:
    """An interrupt line that remembers its level."""

    level = False

    def set(self, level):
        self.level = bool(level)


def edu(**arguments):
    device = Edu(**arguments)
    device.line = Line()
    return device


def read(device, offset, now_ns=0):
    return device.mmio_read(EDU_BASE + offset, 4, now_ns)


def write(device, offset, value, now_ns=0):
    device.mmio_write(EDU_BASE + offset, 4, value, now_ns)


# --- the registers, after edu.rst ---------------------------------------------------------


def test_id_reads_version_1_0():
    assert read(edu(), ID) == EDU_ID == 0x010000ED


def test_liveness_reads_back_the_inverse_of_the_last_write():
    device = edu()
    write(device, LIVENESS, 0x12345678)
    assert read(device, LIVENESS) == 0xEDCBA987


def test_the_factorial_is_done_delay_ns_after_the_write_and_not_a_nanosecond_before():
    device = edu()
    write(device, FACTORIAL, 10, now_ns=500)
    done = 500 + FACTORIAL_DELAY_NS
    assert read(device, STATUS, done - 1) == STATUS_COMPUTING
    assert read(device, FACTORIAL, done - 1) == 10  # the value written, until the result replaces it
    assert read(device, STATUS, done) == 0
    assert read(device, FACTORIAL, done) == 3628800


def test_a_write_while_computing_is_ignored_as_in_edu_c():
    device = edu()
    write(device, FACTORIAL, 5)
    write(device, FACTORIAL, 6, now_ns=10)
    assert read(device, FACTORIAL, FACTORIAL_DELAY_NS) == 120


def test_the_factorial_is_modulo_2_to_the_32():
    assert factorial32(13) == 6227020800 % (1 << 32)
    assert factorial32(0) == factorial32(1) == 1
    assert factorial32(40) == 0


def test_status_bit_7_raises_interrupt_1_when_done_and_the_board_hears_when():
    device = edu()
    write(device, STATUS, STATUS_IRQFACT)
    write(device, FACTORIAL, 3, now_ns=100)
    assert device.advance_to(100) == 100 + FACTORIAL_DELAY_NS and not device.line.level
    assert device.advance_to(100 + FACTORIAL_DELAY_NS) is None
    assert device.line.level and read(device, IRQ_STATUS) == FACT_IRQ
    assert read(device, STATUS) == STATUS_IRQFACT


def test_raise_ors_into_irq_status_and_acknowledge_lowers_the_line_only_at_zero():
    device = edu()
    write(device, IRQ_RAISE, 0x30)
    write(device, IRQ_RAISE, 0x01)
    assert read(device, IRQ_STATUS) == 0x31 and device.line.level
    write(device, IRQ_ACK, 0x10)
    assert read(device, IRQ_STATUS) == 0x21 and device.line.level
    write(device, IRQ_ACK, 0x21)
    assert read(device, IRQ_STATUS) == 0 and not device.line.level


def test_offsets_with_no_register_read_all_ones_and_dma_is_refused():
    device = edu()
    assert read(device, 0x0C) == 0xFFFF_FFFF
    with pytest.raises(DeviceError, match="DMA is not modelled"):
        write(device, 0x98, 1)


def test_state_round_trips_with_a_factorial_in_flight():
    device = edu()
    write(device, STATUS, STATUS_IRQFACT)
    write(device, FACTORIAL, 4, now_ns=7)
    copy = edu()
    copy.restore(json.loads(json.dumps(device.state(8))), 8)
    assert copy.advance_to(8) == 7 + FACTORIAL_DELAY_NS
    assert read(copy, FACTORIAL, 7 + FACTORIAL_DELAY_NS) == 24 and copy.line.level


@pytest.mark.parametrize("state", [{}, {"liveness": "x", "fact": 0, "irq_on_done": False, "irq_status": 0,
                                       "done_ns": None}])
def test_a_bad_saved_state_is_refused(state):
    with pytest.raises(ValueError):
        edu().restore(state, 0)


# --- on the machine -------------------------------------------------------------------------


@pytest.mark.parametrize("dispatch", ["native", "python", "reference"])
def test_the_guest_passes_with_the_same_counts_on_every_dispatch(dispatch):
    run = run_guest(GUEST, ["--dispatch", dispatch])
    assert run.result.verdict == Verdict.PASS, run.result.console
    assert (run.result.instructions, run.result.virtual_ns) == (7222, 585222)
    assert "SUMMARY: 9 tests\n" in run.result.console


def test_the_guest_passes_under_the_host_clock():
    run = run_guest(GUEST, ["--clock", "host"])
    assert run.result.verdict == Verdict.PASS, run.result.console


def test_a_narrow_access_to_a_register_is_refused_with_edu_rst_s_rule(tmp_path):
    guest = write_guest(tmp_path, "bits 32\n mov al, [0xFEA00000]\n", header="; harness: --mode 32\n")
    run = run_guest(guest, ["--device", "edu"])
    assert run.result.verdict == Verdict.ERROR
    assert "edu.rst allows only 4-byte accesses below 0x80" in run.result.report.reason


def test_device_edu_from_the_command_line_with_its_base_and_irq(tmp_path, capsys):
    guest = write_guest(tmp_path, "bits 32\n mov eax, [0xC0000000]\n out 0xF4, al\n", header="; harness: --mode 32\n")
    assert main(["run", str(guest), "--device", "edu,base=0xC0000000,irq=10", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["exit_code"] == EDU_ID & 0xFF


def test_an_edu_over_guest_ram_is_refused_in_one_line(tmp_path, capsys):
    guest = write_guest(tmp_path, "hlt\n")
    assert main(["run", str(guest), "--device", "edu,base=0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "overlaps guest RAM" in err


def test_no_board_carries_edu_by_default():
    machine = build_machine(write_guest_text("hlt\n"))
    assert "edu" not in [device.name for device in machine.bus.devices] and not machine.board.mmio.claims


def write_guest_text(body):
    return body.encode()  # an image, assembled by nobody: the board is built all the same


@pytest.mark.parametrize("save_at", [700, 3000, 5000])
def test_a_snapshot_of_the_guest_mid_run_resumes_to_the_same_end(save_at):
    whole = run_guest(GUEST).result
    machine = build_machine(GUEST)
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
    machine.save_at(save_at)
    machine.run()
    end = restore_snapshot(saved[0]).run()
    assert (end.verdict, end.console, end.instructions, end.virtual_ns) == (
        whole.verdict, whole.console, whole.instructions, whole.virtual_ns)


# --- broken on purpose: the guest catches each fault ------------------------------------------


@pytest.mark.parametrize(("broken", "caught"), [
    (faults.EduWrongId, "FAIL: ID (0x00) reads 0x010000ed"),
    (faults.EduLivenessNotInverted, "FAIL: LIVENESS (0x04) reads back the inverse"),
    (faults.EduFactorialOneShort, "FAIL: FACTORIAL (0x08) reads 10! = 3628800"),
    (faults.EduInterruptNeverRaised, "FAIL: IRQ 11 came when the factorial was done"),
    (faults.EduAckKeepsTheLine, "FAIL: one interrupt for one factorial: the acknowledgement lowered the line"),
])
def test_the_guest_catches_a_broken_edu(tmp_path, broken, caught):
    source = GUEST.read_text().replace("; harness: --mode 32 --device edu", "; harness: --mode 32")
    guest = tmp_path / "edu_mmio.asm"
    guest.write_text(source)
    run = run_guest(guest, devices=[broken()])
    assert run.result.verdict == Verdict.FAIL, run.result.report and run.result.report.format()
    assert caught in run.result.console
    assert run_guest(guest, devices=[Edu()]).result.verdict == Verdict.PASS


def test_two_edus_on_one_base_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="overlaps edu's"):
        build_machine(GUEST, devices=[Edu()])
