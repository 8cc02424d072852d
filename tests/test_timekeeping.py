"""The run's time (``core/timekeeping.py``): its counts, its schedule under each clock, its saved state."""

from pmtimer_harness.core.config import MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.timekeeping import Counts, TimeState

# mov al, 0xFF / out 0x21, al (a PIC mask write: the machine asks for a check point) / jmp $+2 (the block
# ends: the check point is taken) / mov al, 0 / out 0xF4, al
MASK_THEN_EXIT_0 = bytes([0xB0, 0xFF, 0xE6, 0x21, 0xEB, 0x00, 0xB0, 0x00, 0xE6, 0xF4])


def test_the_counts_are_plain_slots_with_the_names_the_hooks_read():
    # A compiled type with the same member names may stand in for Counts: the names are the contract.
    assert set(Counts.__slots__) == {"retired", "port_accesses", "port_writes", "idle_ns", "next_check", "insn_ns",
                                     "io_ns"}
    assert not hasattr(Counts(), "__dict__")


def test_the_reference_path_under_the_host_clock_spends_no_instruction_budget():
    machine = Machine(MachineConfig(clock="host", dispatch="reference"))
    machine.load(MASK_THEN_EXIT_0)
    machine.time.counts.retired = machine.config.instruction_budget  # as if the guest had run that long
    result = machine.run()
    assert result.verdict.value == "pass", result.report


def test_the_saved_state_gives_back_the_counts_and_the_time_they_make():
    machine = Machine(MachineConfig(insn_ns=3, io_ns=500))
    counts = machine.time.counts
    counts.port_accesses, counts.port_writes, counts.idle_ns = 4, 1, 70
    state = machine.time.state(10)
    assert state == TimeState("virtual", 10, 4, 1, 70, 10 * 3 + 4 * 500 + 70)
    restored = Machine(MachineConfig(insn_ns=3, io_ns=500))
    restored.time.restore(state)
    assert restored.time.time_at(10) == state.now_ns
    assert restored.time.counts.next_check == 0  # interrupts are looked at before the first block
