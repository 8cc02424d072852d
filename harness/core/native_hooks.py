"""Unicorn hooks registered through its C API rather than ``Uc.hook_add``.

Why: the binding wraps every callback in two extra Python frames and an
exception guard.  At one call per port access and one per translation block,
that wrapper costs more than the harness's own work (``make bench`` shows the
figures).  The harness's hot callbacks never raise (they latch errors and ask
the CPU to stop), so the guard is not needed.  This reaches into the binding's
ctypes layer (``uclib``, ``Uc._uch``), which is why pyproject pins unicorn to 2.1.x.

The C API also takes hooks the binding refuses: Unicorn 2.1.4's library calls
an instruction hook for RDTSC and RDTSCP, but the binding's ``hook_add``
raises UC_ERR_ARG for them (``tsc.py``).

The compiled fast path (``native.c``, built where a C compiler was found)
registers its hooks through the same C API; ``native_counts`` hands it the
engine and the addresses of the two functions it calls.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

import unicorn
from unicorn import x86_const as x86
from unicorn.unicorn_py3.arch.intel import HOOK_INSN_CPUID_CFUNC, HOOK_INSN_IN_CFUNC, HOOK_INSN_OUT_CFUNC
from unicorn.unicorn_py3.unicorn import HOOK_CODE_CFUNC, HOOK_MEM_ACCESS_CFUNC, uc_hook_h, uclib

try:
    from pmtimer_harness.core import _native
except ImportError:  # built without a C compiler: the Python path runs
    _native = None

InHook = Callable[[int, int, int, int], int]  # (engine, port, width, user) -> value
OutHook = Callable[[int, int, int, int, int], None]  # (engine, port, width, value, user)
TscHook = Callable[[int, int], int]  # (engine, user) -> 1 to skip the native read (the CPUID hook's shape)
BlockHook = Callable[[int, int, int, int], None]  # (engine, address, size, user)
WriteHook = Callable[[int, int, int, int, int, int], None]  # (engine, type, address, size, value, user)


class NativeHooks:
    """Keeps the C function pointers alive for as long as the CPU runs."""

    def __init__(self, uc: unicorn.Uc) -> None:
        self._uc = uc
        self._pointers: list[object] = []
        self._write_pointer: object | None = None  # one C pointer serves every write range

    def _add(self, hook_type: int, pointer: object, *extra: object, begin: int = 1, end: int = 0) -> uc_hook_h:
        # begin > end (the default): the whole address space.
        handle = uc_hook_h()
        status = uclib.uc_hook_add(
            self._uc._uch,
            ctypes.byref(handle),
            hook_type,
            ctypes.cast(pointer, ctypes.c_void_p),
            None,
            ctypes.c_uint64(begin),
            ctypes.c_uint64(end),
            *extra,
        )
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        self._pointers.append(pointer)
        return handle

    def on_in(self, callback: InHook) -> None:
        self._add(unicorn.UC_HOOK_INSN, HOOK_INSN_IN_CFUNC(callback), ctypes.c_int(x86.UC_X86_INS_IN))

    def on_out(self, callback: OutHook) -> None:
        self._add(unicorn.UC_HOOK_INSN, HOOK_INSN_OUT_CFUNC(callback), ctypes.c_int(x86.UC_X86_INS_OUT))

    def on_tsc_read(self, rdtsc: TscHook, rdtscp: TscHook) -> None:
        """Call ``rdtsc`` as each RDTSC runs and ``rdtscp`` as each RDTSCP does."""
        self._add(unicorn.UC_HOOK_INSN, HOOK_INSN_CPUID_CFUNC(rdtsc), ctypes.c_int(x86.UC_X86_INS_RDTSC))
        self._add(unicorn.UC_HOOK_INSN, HOOK_INSN_CPUID_CFUNC(rdtscp), ctypes.c_int(x86.UC_X86_INS_RDTSCP))

    def on_block(self, callback: BlockHook) -> None:
        self._add(unicorn.UC_HOOK_BLOCK, HOOK_CODE_CFUNC(callback))

    def on_write(self, callback: WriteHook, first: int, last: int) -> uc_hook_h:
        """Call ``callback`` before each guest store to an address in ``first``-``last``."""
        if self._write_pointer is None:
            self._write_pointer = HOOK_MEM_ACCESS_CFUNC(callback)
            self._pointers.append(self._write_pointer)
        return self._add(unicorn.UC_HOOK_MEM_WRITE, self._write_pointer, begin=first, end=last)

    def on_compiled(
        self, counts: object, rdtsc: TscHook, rdtscp: TscHook, block: BlockHook, read: InHook, write: OutHook
    ) -> None:
        """Register the compiled hooks of ``counts`` (``native_counts``), which call these for what they leave.

        TSC reads first, as ``on_tsc_read`` must be: Unicorn searches the hooks in order.
        """
        self._pointers.append(counts)
        _check(counts.hook_tsc(rdtsc, rdtscp))  # type: ignore[attr-defined]
        _check(counts.hook_block(block))  # type: ignore[attr-defined]
        _check(counts.hook_ports(read, write))  # type: ignore[attr-defined]

    def remove(self, handle: uc_hook_h) -> None:
        status = uclib.uc_hook_del(self._uc._uch, handle)
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)


MAX_TIME_READERS = _native.MAX_TIME_READERS if _native is not None else 0


def _check(status: int) -> None:
    if status != unicorn.UC_ERR_OK:
        raise unicorn.UcError(status)


def native_available() -> bool:
    """Whether the compiled fast path is built and agrees with this libunicorn's constants."""
    return _native is not None and (
        _native.UC_HOOK_INSN,
        _native.UC_HOOK_BLOCK,
        _native.UC_X86_INS_IN,
        _native.UC_X86_INS_OUT,
        _native.UC_X86_INS_RDTSC,
        _native.UC_X86_INS_RDTSCP,
    ) == (
        unicorn.UC_HOOK_INSN,
        unicorn.UC_HOOK_BLOCK,
        x86.UC_X86_INS_IN,
        x86.UC_X86_INS_OUT,
        x86.UC_X86_INS_RDTSC,
        x86.UC_X86_INS_RDTSCP,
    )


def native_counts(uc: unicorn.Uc, like: object = None) -> object | None:
    """A compiled ``Counts`` attached to ``uc``'s engine (``native.c``); None where there is none to use.

    ``like``: a ``timekeeping.Counts`` whose values it starts from.  Whoever
    registers its hooks must keep it alive as long as the engine: the hooks'
    user data is a pointer to it (``NativeHooks.on_compiled`` does).
    """
    if not native_available():
        return None
    counts = _native.Counts()
    for name in getattr(type(like), "__slots__", ()):
        setattr(counts, name, getattr(like, name))
    counts.attach(_address(uc._uch), _address(uclib.uc_hook_add), _address(uclib.uc_emu_stop))
    return counts


def _address(pointer: object) -> int:
    return ctypes.cast(pointer, ctypes.c_void_p).value or 0
