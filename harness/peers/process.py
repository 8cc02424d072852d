"""Running an emulator as a child process, with bounded output and a hard deadline.

A guest inside QEMU or Bochs can print without end or never stop, and the
harness must not grow or wait with it.  Standard output (the guest's console)
is kept up to ``OUTPUT_LIMIT`` bytes and drained past that; standard error is
read line by line and handed to a ``watch`` callback, which keeps the line as
a diagnostic (only the last few are kept), drops it (a trace line it has
read), or says that the run is over (Bochs never exits by itself).
The emulator runs in its own process group, so that stopping it also stops
its children (Debian's ``bochs`` runs ``bochs-bin``), and the group is killed
at the deadline, when ``watch`` ends it, when the caller is interrupted, and
after the emulator exits (a child left behind goes with it).  A group, not
psutil's walk of the process tree: the group still holds a child whose parent
is gone, and a child started while the tree is walked.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pmtimer_harness.core.result import exit_verdict

OUTPUT_LIMIT = 1 << 20  # bytes of console kept
DIAGNOSTIC_LINES = 20  # last lines of standard error kept
CHUNK = 1 << 16
CANCEL_POLL_S = 0.1  # how soon a cancelled run stops its emulator
PR_SET_PDEATHSIG = 1  # linux/prctl.h

KEEP, DROP, STOP = "keep", "drop", "stop"
Watch = Callable[[str], str]  # a line of standard error -> KEEP, DROP or STOP


@dataclass
class PeerRun:
    """What a guest did in a peer emulator: its exit code, its console, and how the run ended."""

    exit_code: int | None  # None when the guest never wrote the exit port
    console: str
    wall_seconds: float
    timed_out: bool = False
    command: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        # An exit code the guest wrote decides, even if the emulator had to be stopped after it (Bochs).
        if self.exit_code is not None:
            return exit_verdict(self.exit_code).value
        return "timeout" if self.timed_out else "error"


@dataclass
class PeerProcess:
    returncode: int | None  # None when the harness stopped it
    output: str
    output_dropped: int  # console bytes past OUTPUT_LIMIT, read and dropped
    diagnostics: list[str] = field(default_factory=list)
    timed_out: bool = False
    stopped_by_watch: bool = False
    wall_seconds: float = 0.0


def run_watched(
    command: Sequence[str], timeout_s: float, watch: Watch, cwd: str | None = None,
    cancel: threading.Event | None = None,
) -> PeerProcess:
    """Run ``command`` to its end, to ``watch``'s word, to the deadline, or until ``cancel`` is set."""
    began = time.perf_counter()
    process = subprocess.Popen(
        list(command), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=(sys.platform != "win32"), preexec_fn=_dies_with_the_harness(),
    )
    output = bytearray()
    dropped = [0]
    diagnostics: collections.deque[str] = collections.deque(maxlen=DIAGNOSTIC_LINES)
    over = threading.Event()
    stopped_by_watch = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        while chunk := process.stdout.read1(CHUNK):
            room = OUTPUT_LIMIT - len(output)
            output.extend(chunk[:room])
            dropped[0] += max(0, len(chunk) - room)

    def read_errors() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            action = watch(line)
            if action == STOP:
                stopped_by_watch.set()
                over.set()
            elif action == KEEP:
                diagnostics.append(line)
        over.set()

    readers = [threading.Thread(target=read_output, daemon=True), threading.Thread(target=read_errors, daemon=True)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        timed_out = not _wait_for(over, timeout_s, began, cancel)
        if not timed_out and not stopped_by_watch.is_set():
            timed_out = _wait(process, timeout_s - (time.perf_counter() - began))
    finally:
        _kill(process)
        for reader in readers:
            reader.join(timeout=5)
    returncode = None if timed_out or stopped_by_watch.is_set() else process.returncode
    return PeerProcess(
        returncode, output.decode("utf-8", "replace"), dropped[0], list(diagnostics),
        timed_out=timed_out, stopped_by_watch=stopped_by_watch.is_set(), wall_seconds=time.perf_counter() - began,
    )


def _dies_with_the_harness() -> Callable[[], None] | None:
    """Linux: the emulator is sent SIGKILL if the harness dies first (None elsewhere).

    The kill in ``run_watched`` needs the harness alive: a SIGKILL, or a worker pool that kills a worker
    before it stops, would leave the emulator running a guest that may never end, in a group of its own
    that nothing else will stop (prctl(2), PR_SET_PDEATHSIG).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    harness = os.getpid()

    def apply() -> None:
        # In the child, between fork and exec: nothing may raise.
        try:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != harness:  # the harness died before the line above took hold
                os.kill(os.getpid(), signal.SIGKILL)
        except Exception:
            return

    return apply


def _wait_for(over: threading.Event, timeout_s: float, began: float, cancel: threading.Event | None) -> bool:
    """True once ``over`` is set; False at the deadline or when ``cancel`` is set (the caller was interrupted)."""
    while True:
        remaining = timeout_s - (time.perf_counter() - began)
        if remaining <= 0 or (cancel is not None and cancel.is_set()):
            return False
        if over.wait(min(remaining, CANCEL_POLL_S)):
            return True


def _wait(process: subprocess.Popen[bytes], remaining_s: float) -> bool:
    """True if the process outlived the deadline."""
    try:
        process.wait(timeout=max(remaining_s, 0.0))
    except subprocess.TimeoutExpired:
        return True
    return False


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stop the emulator and everything it started, whether or not the emulator itself has exited."""
    if sys.platform == "win32":
        # QEMU and Bochs run as one process there: the process is the tree.
        if process.poll() is None:
            process.kill()
    else:
        # The group, not the process: SIGTERM is not enough for Bochs, and its bochs-bin child may
        # outlive the bochs script that started it, holding the pipes open.  An empty group is
        # ProcessLookupError.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()
