"""The time-stamp counter under the virtual clock: RDTSC and RDTSCP read virtual time.

Unicorn 2.1 runs RDTSC and RDTSCP natively, reading the host's TSC: a
different value on every run, unrelated to the guest's time.  Its C library
(2.1.4) calls an instruction hook before each one, and the hook's return value
1 skips the native read (unicorn: qemu/target/i386/misc_helper.c,
``helper_rdtsc``/``helper_rdtscp``); the Python binding refuses to register
such a hook (``UcIntel.hook_add`` knows IN, OUT, SYSCALL, SYSENTER and CPUID
only, and raises UC_ERR_ARG), so the harness registers it through the C API
(``native_hooks.py``).  The hook runs while the instruction executes: the
translation block goes on, and the instruction retires as any other.

``VirtualTsc.read`` gives the guest what the instruction would (Intel SDM vol.
2B, RDTSC, RDTSCP): EDX:EAX = the counter, with the upper halves of RAX and
RDX zero in 64-bit mode; RDTSCP also loads ECX with IA32_TSC_AUX, which
nothing here sets (0, as Unicorn's own RDTSCP gives).  The counter is
``VirtualClock.tsc_ticks`` of the time the dispatch gives for that
instruction, the time an IN in its place would see.  The registers are
written in one batch through the C API, called with plain addresses: the
binding's ``reg_write`` costs several times more, and so does the C function
called through the binding's prototype, which checks and converts each
argument (``make bench``, benchmarks/bench_tsc_read.py).

Under the host clock no hook is installed: RDTSC reads the host's TSC, which
runs in real time, as the timer then does.
"""

from __future__ import annotations

import ctypes

import unicorn
from pmtimer_harness.core.clock import VirtualClock
from unicorn import x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib

TSC_AUX = 0  # IA32_TSC_AUX: an operating system's choice (Linux puts the CPU number there); no guest here sets it
SKIP_NATIVE = 1  # what the hook returns: Unicorn does not read the host's TSC
LOW_32 = 0xFFFF_FFFF

# uc_reg_write_batch(uc, int *ids, void **values, int count), taking addresses as plain integers.
WRITE_BATCH = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)

# The registers RDTSC and RDTSCP write.  In 64-bit mode the whole register (a
# 32-bit write to EAX there keeps the upper half in Unicorn); in 16- and 32-bit
# modes Unicorn has no RAX.
REGISTERS = {
    64: (x86.UC_X86_REG_RAX, x86.UC_X86_REG_RDX, x86.UC_X86_REG_RCX),
    32: (x86.UC_X86_REG_EAX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_ECX),
    16: (x86.UC_X86_REG_EAX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_ECX),
}


class VirtualTsc:
    """Writes the virtual TSC into the guest's registers, as RDTSC or RDTSCP does."""

    def __init__(self, uc: unicorn.Uc, start_bits: int) -> None:
        self._values = (ctypes.c_uint64 * 3)()
        self._ids = (ctypes.c_int32 * 3)(*REGISTERS[start_bits])
        base = ctypes.addressof(self._values)
        self._pointers = (ctypes.c_void_p * 3)(*(base + 8 * index for index in range(3)))
        self._values[2] = TSC_AUX
        self._write_batch = WRITE_BATCH(ctypes.cast(uclib.uc_reg_write_batch, ctypes.c_void_p).value)
        self._arguments = (
            ctypes.cast(uc._uch, ctypes.c_void_p).value, ctypes.addressof(self._ids), ctypes.addressof(self._pointers),
        )

    def read(self, now_ns: int, aux: bool) -> int:
        """The guest's RDTSC (or RDTSCP, ``aux``) at virtual time ``now_ns``; returns what the hook returns."""
        ticks = VirtualClock.tsc_ticks(now_ns)
        values = self._values
        values[0] = ticks & LOW_32
        values[1] = ticks >> 32
        self._write_batch(*self._arguments, 3 if aux else 2)
        return SKIP_NATIVE
