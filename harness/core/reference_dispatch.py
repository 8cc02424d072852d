"""The reference path (``--dispatch reference``): the hooks written to be read, not to be fast.

This module does what ``dispatch.py`` does, the plain way, so that a reader
can follow one ``in eax, dx`` from the CPU to a device and back, and step
through it in a Python debugger::

    guest: in eax, dx
      -> Unicorn calls on_in(uc, port, width)          (an UC_HOOK_INSN hook)
      -> access_time(): instructions so far, port accesses so far -> clock -> ns
      -> PortBus.read(port, width, now_ns)             (the access rules, the routing)
      -> the device's read(port, width, now_ns)        (for 0x408: PmTimer.read)
      <- the value, which Unicorn writes into EAX

Every hook is registered with ``Uc.hook_add``, the binding's ordinary API:

- an IN hook and an OUT hook (``UC_HOOK_INSN``), which hand each access to
  the bus;
- a code hook (``UC_HOOK_CODE``), called before every instruction, which
  counts instructions one by one: the count the virtual clock needs, with no
  decoding of translation blocks;
- a block hook (``UC_HOOK_BLOCK``), called when a translation block starts:
  the check point where the machine spends the instruction budget and takes
  interrupts, at the same places the fast path does (the run's time,
  ``timekeeping.py``, says when: it keeps the counts this module advances);
- under the virtual clock, an RDTSC and an RDTSCP hook, which give the TSC of
  the virtual time at that instruction (``tsc.py``).  The binding refuses
  these two, so they alone go through the C API, as the fast path's do.

It gives the same values, verdicts and instruction counts as the fast path
under the virtual clock (``tests/test_reference_dispatch.py`` runs every
bundled guest both ways), and costs several times more per instruction and
per access (``make bench``).  Under the host clock it counts instructions
too, but applies no instruction budget, as the fast path does not.

Unicorn facts it relies on (unicorn 2.1): inside an IN/OUT hook the CPU has
not finished the instruction, so the instructions retired before the access
are the ones whose code hook ran, less the port instruction itself; with a
code hook installed, a stop takes effect before the next instruction runs
(its code hook has run, the instruction has not); a block hook that moves EIP
(an interrupt taken) means none of that block's instructions run.

Where it is not a ground truth: an instruction hooked twice in a row is
counted twice.  That is right for ``jmp $`` and each iteration of ``rep``, but
a store into its own translation block makes Unicorn abandon the block and
run the store again (QEMU's precise self-modifying code), and a stop that
falls between two runs of a one-instruction loop uncounts one that ran.
"""

from __future__ import annotations

from collections.abc import Callable

import unicorn
from pmtimer_harness.core.blocks import Instruction
from pmtimer_harness.core.bus import IN, OUT, PortAccess, PortBus
from pmtimer_harness.core.cpu import disassemble_at
from pmtimer_harness.core.dispatch import FLOATING_BUS, HLT_OPCODE, Dispatch, FailureHandler
from pmtimer_harness.core.native_hooks import NativeHooks
from pmtimer_harness.core.timekeeping import HostTime, Time
from pmtimer_harness.core.tsc import VirtualTsc
from unicorn import x86_const as x86


class ReferenceDispatch(Dispatch):
    """One Python call per instruction, per block and per port access; every count kept in plain sight.

    ``counts.retired`` is the instructions whose code hook has run.
    """

    def __init__(
        self,
        uc: unicorn.Uc,
        bus: PortBus,
        start_bits: int,
        on_failure: FailureHandler,
        time: Time,
        on_check: Callable[[int], bool],
    ) -> None:
        super().__init__(uc, bus, start_bits, on_failure, time)
        self.last_address = -1  # the instruction whose code hook ran last, and its size
        self.last_size = 0
        self.on_check = on_check
        # Under the host clock RDTSC stays native.
        self.tsc = None if isinstance(time, HostTime) else VirtualTsc(uc, start_bits)

    def install(self, hooks: NativeHooks) -> None:
        if self.tsc is not None:
            hooks.on_tsc_read(self.on_rdtsc, self.on_rdtscp)
        # Otherwise the fast path's C function pointers are not used: the binding's own hook_add instead.
        self.uc.hook_add(unicorn.UC_HOOK_INSN, self.on_in, None, 1, 0, x86.UC_X86_INS_IN)
        self.uc.hook_add(unicorn.UC_HOOK_INSN, self.on_out, None, 1, 0, x86.UC_X86_INS_OUT)
        self.uc.hook_add(unicorn.UC_HOOK_CODE, self.on_instruction)
        self.uc.hook_add(unicorn.UC_HOOK_BLOCK, self.on_block)

    # --- the hooks ----------------------------------------------------------

    def on_instruction(self, _uc: unicorn.Uc, address: int, size: int, _user: object) -> None:
        """Before each instruction: count it."""
        self.counts.retired += 1
        self.last_address = address
        self.last_size = size

    def on_block(self, _uc: unicorn.Uc, address: int, _size: int, _user: object) -> None:
        """A translation block starts: every instruction so far has retired.  Time for a check point?"""
        counts, time = self.counts, self.time
        due = counts.retired >= counts.next_check or time.time_at(counts.retired) >= time.due_ns
        if due and self.on_check(address):
            return  # the CPU went to an interrupt handler: this block does not run

    def on_in(self, _uc: unicorn.Uc, port: int, width: int, _user: object) -> int:
        if self.stopped:
            return FLOATING_BUS[width]  # the run has ended: no device sees another access
        now_ns = self.access_time()
        try:
            value = self.bus.read(port, width, now_ns)
        except BaseException as error:  # whatever a device raises goes to the machine (dispatch.py)
            self.on_failure(PortAccess(IN, port, width), error)
            return FLOATING_BUS[width]
        if self.on_trace is not None:
            self.on_trace(PortAccess(IN, port, width, value), now_ns)
        self.counts.port_accesses += 1
        return value

    def on_out(self, _uc: unicorn.Uc, port: int, width: int, value: int, _user: object) -> None:
        if self.stopped:
            return
        now_ns = self.access_time()
        try:
            self.bus.write(port, width, value, now_ns)
        except BaseException as error:  # whatever a device raises goes to the machine (dispatch.py)
            self.on_failure(PortAccess(OUT, port, width, value), error)
            return
        if self.on_trace is not None:
            self.on_trace(PortAccess(OUT, port, width, value), now_ns)
        self.counts.port_accesses += 1
        self.counts.port_writes += 1

    def on_rdtsc(self, _engine: int, _user: int) -> int:
        return self.read_tsc(aux=False)

    def on_rdtscp(self, _engine: int, _user: int) -> int:
        return self.read_tsc(aux=True)

    def read_tsc(self, aux: bool) -> int:
        # The instruction has started, as a port instruction in access_time.
        assert self.tsc is not None  # installed under the virtual clock only
        return self.tsc.read(self.time.time_at(self.counts.retired - 1), aux)

    # --- counting and time ---------------------------------------------------

    def access_time(self) -> int:
        # The port instruction has started, not retired: it is not counted in its own time.
        return self.time.time_at(self.counts.retired - 1)

    def instructions_at_access(self) -> int | None:
        return self.counts.retired - 1

    def instructions_at(self, pc: int) -> int | None:
        """Instructions retired with the CPU standing at ``pc``.

        If the last instruction whose code hook ran is the one at ``pc``, the
        CPU stopped before running it (a stop takes effect right after the hook).
        """
        if pc == self.last_address:
            return self.counts.retired - 1
        return self.counts.retired

    def place_mmio(self, pc: int) -> int | None:
        # The memory hook runs inside the instruction, after its code hook counted it.
        return self.counts.retired - 1

    def current_instruction(self) -> Instruction | None:
        text = disassemble_at(self.uc, self.last_address, self.start_bits)
        return Instruction(self.last_address, self.last_size, text)

    def halted_at(self, pc: int) -> int | None:
        """The HLT's address, if the last instruction was a HLT and the CPU stands just past it."""
        if pc != self.last_address + self.last_size:
            return None
        if self.uc.mem_read(self.last_address, 1)[0] != HLT_OPCODE:
            return None
        return self.last_address

    def settle(self, pc: int, faulted: bool, last_traced: int | None) -> None:
        """``emu_start`` returned with the CPU at ``pc``: if it stopped before the hooked instruction, uncount it."""
        self.counts.retired = self.instructions_at(pc)
        if pc == self.last_address:
            self.last_address = -1

    def resync(self, pc: int) -> None:
        """The CPU stopped at ``pc`` and will resume there: its code hook will run again, so uncount it."""
        self.counts.retired = self.instructions_at(pc)
        self.last_address = -1
        self.last_size = 0
