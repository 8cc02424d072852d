"""SIGTERM and SIGHUP end a command-line run as Ctrl-C does: peers stopped, temporary folders removed.

Python's default for either signal is to die at once, with no ``finally``
run: a peer emulator (in a session of its own, which the signal never
reaches) would spin on, and the run's temporary folders would stay.  The
command line, and only it (a library user's handlers are theirs), takes each
as the Ctrl-C the process would have got: the SIGINT handler in force runs
with the signal's number, so a running guest stops with the verdict
``interrupted``, and anywhere else the command gets ``KeyboardInterrupt``
and unwinds.  The exit status then names the signal, 128 + its number, as a
shell reports a program the signal ended: 143 for SIGTERM, 129 for SIGHUP.
A signal the parent set to be ignored (``nohup``) stays ignored.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

# Windows has SIGTERM (raised only by the process itself) and no SIGHUP.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []  # the stop signals that came, first first


@contextmanager
def taken_as_ctrl_c() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP interrupt as Ctrl-C does; the handlers before are restored after."""
    _received.clear()
    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    ctrl_c = signal.getsignal(signal.SIGINT)
    if not callable(ctrl_c):  # SIGINT ignored (a background job) or left to the system: nothing to hand on to
        raise KeyboardInterrupt
    ctrl_c(signum, frame)  # Python's own raises KeyboardInterrupt; a running guest's stops the run


def received() -> int | None:
    """The stop signal that interrupted the command, if one did (None: Ctrl-C, or nothing)."""
    return _received[0] if _received else None


def interrupted() -> str:
    """The one line's words for the interruption: which signal, unless it was Ctrl-C."""
    signum = received()
    return "interrupted" if signum is None else f"interrupted by {signal.Signals(signum).name}"


def signalled_status(status: int, interrupted_status: int) -> int:
    """``status``, or 128 + the stop signal's number when the command was interrupted by one."""
    signum = received()
    return 128 + signum if status == interrupted_status and signum is not None else status
