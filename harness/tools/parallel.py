"""Jobs run side by side in worker processes, their rows given back in the jobs' order.

A job is a picklable value handed to a module-level function (``work``), the
one a serial run calls in turn; a worker is a fresh interpreter, started by
'spawn' (fork with threads alive is unsafe, and macOS and Windows spawn
anyway), that runs one job at a time and sends its row back over a pipe.
Processes, not threads: a guest's run is Python from hook to hook, and
threads would share one GIL.  At most ``processes`` workers are alive.

The pool is written here rather than taken from ``concurrent.futures``: when
one of its workers dies, ``ProcessPoolExecutor`` fails every job still to come
and cannot say which job killed it.  Here a worker that dies (``os._exit``, a
segfault in a device, the kernel's out-of-memory killer) costs its own job
alone, which becomes the row ``died`` makes, with the reason in one line, and a
fresh worker takes its place.

Ctrl-C is the parent's to take: workers start with it ignored and, on POSIX,
in a process group of their own, so a terminal's Ctrl-C reaches the parent
only.  The parent then tells each busy worker (SIGINT), where it stops the job
as it stops a serial run (a guest's run ends ``interrupted``, a differential's
peer is stopped), gathers what they send back, and ends them all.  A row that
``stops`` (an interrupted run, say) stops the pool too, as a serial run stops
after it.  An exception the job raised is raised again in the parent once the
workers are stopped, as a serial run would have raised it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:  # multiprocessing is imported only where a pool is made: a run in turn starts without it
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

Job = TypeVar("Job")
Row = TypeVar("Row")

STOP_GRACE_S = 10.0  # a worker told to stop may be stopping a peer emulator: time to answer, then it is killed
QUIT_S = 2.0  # an idle worker told to quit


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "process_cpu_count"):  # 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def run_jobs(
    work: Callable[[Job], Row],
    jobs: Sequence[Job],
    processes: int,
    *,
    died: Callable[[Job, str], Row],
    stops: Callable[[Row], bool] = lambda row: False,
    starting: Callable[[int], None] | None = None,
    finished: Callable[[int, Row], None] | None = None,
) -> list[Row]:
    """``work(job)`` for each job, ``processes`` at a time; the rows in the jobs' order.

    ``died(job, reason)`` is the row of a job whose worker died; ``starting``
    and ``finished`` are told each job's index as it starts and ends (its
    row).  With one process or one job, the jobs run in this process, in turn,
    as they always have: no pool is worth its start-up there.  Stopped early
    (a row that ``stops``, Ctrl-C), the rows are those of the jobs that ended.
    """
    if processes <= 1 or len(jobs) <= 1:
        return _in_turn(work, jobs, stops, starting, finished)
    return _Pool(work, jobs, died, stops, starting, finished).run(min(processes, len(jobs)))


def _in_turn(
    work: Callable[[Job], Row], jobs: Sequence[Job], stops: Callable[[Row], bool],
    starting: Callable[[int], None] | None, finished: Callable[[int, Row], None] | None,
) -> list[Row]:
    rows = []
    for index, job in enumerate(jobs):
        if starting is not None:
            starting(index)
        rows.append(work(job))
        if finished is not None:
            finished(index, rows[-1])
        if stops(rows[-1]):
            break
    return rows


# --- in the worker ----------------------------------------------------------

_in_job = False


def _ctrl_c(signum: int, frame: FrameType | None) -> None:
    # Between jobs there is nothing to stop; within one, Ctrl-C stops it as it stops a serial run.
    if _in_job:
        raise KeyboardInterrupt


def _serve(connection: Connection) -> None:
    """A worker's life: jobs from the parent, one at a time, until it says no more (None) or is gone."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # the terminal's Ctrl-C goes to the parent alone, which tells each worker once
    signal.signal(signal.SIGINT, _ctrl_c)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if message is None:
            return
        work, job = message
        answer = _attempt(work, job)
        try:
            connection.send(answer)
        except (EOFError, OSError):
            return
        except Exception as error:  # the row or the exception would not pickle
            connection.send(("failed", f"its result could not be sent back ({type(error).__name__}: {error})"))


def _attempt(work: Callable[[object], object], job: object) -> tuple[str, object]:
    global _in_job
    _in_job = True
    try:
        return ("row", work(job))
    except KeyboardInterrupt:
        return ("interrupted", None)
    except MemoryError:
        return ("failed", "its process ran out of memory")
    except Exception as error:
        return ("raised", error)
    finally:
        _in_job = False


# --- in the parent ----------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    connection: Connection
    index: int | None = None  # the job it runs
    told_to_stop: bool = False


def _start_worker() -> _Worker:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), name="harness-worker", daemon=True)
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        process.start()
    else:
        # Ignored from birth (a disposition survives exec): a Ctrl-C while the worker starts is no traceback there.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
    theirs.close()
    return _Worker(process, ours)


def death(exit_code: int | None) -> str:
    """Why a worker ended, in words."""
    if exit_code is not None and exit_code < 0:
        try:
            return f"the process running it was killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            pass
    return f"the process running it ended with status {exit_code} before it gave a result"


class _Pool(Generic[Job, Row]):
    def __init__(
        self, work: Callable[[Job], Row], jobs: Sequence[Job], died: Callable[[Job, str], Row],
        stops: Callable[[Row], bool], starting: Callable[[int], None] | None,
        finished: Callable[[int, Row], None] | None,
    ) -> None:
        self.work, self.jobs, self.died, self.stops = work, jobs, died, stops
        self.starting, self.finished = starting, finished
        self.pending = deque(range(len(jobs)))
        self.workers: list[_Worker | None] = []
        self.rows: dict[int, Row] = {}
        self.stopping = False  # no job starts any more
        self.interrupted = False  # Ctrl-C, here or in a worker
        self.raised: BaseException | None = None
        self.deadline: float | None = None  # for the busy workers, once told to stop

    def run(self, size: int) -> list[Row]:
        self.workers = [None] * size
        try:
            self._go()
        finally:
            self._close()
        if self.raised is not None:
            raise self.raised
        if self.interrupted and not any(self.stops(row) for row in self.rows.values()):
            raise KeyboardInterrupt  # no row says so: the caller says it, as after a serial run's Ctrl-C
        return [self.rows[index] for index in sorted(self.rows)]

    def _busy(self) -> list[_Worker]:
        return [worker for worker in self.workers if worker is not None and worker.index is not None]

    def _go(self) -> None:
        from multiprocessing.connection import wait

        while True:
            try:
                if not self.stopping:
                    self._hand_out()
                busy = self._busy()
                if not busy:
                    return
                timeout = None if self.deadline is None else self.deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    return  # the workers still busy are killed on closing
                ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout)
                if ready:
                    self._collect(busy)
            except KeyboardInterrupt:
                if self.interrupted:
                    self.deadline = time.monotonic()  # a second Ctrl-C: no more waiting
                    return
                self.interrupted = True
                self._stop()

    def _hand_out(self) -> None:
        for slot, worker in enumerate(self.workers):
            if not self.pending:
                return
            if worker is not None and worker.index is not None:
                continue
            if worker is None:
                worker = self.workers[slot] = _start_worker()
            index = self.pending.popleft()
            try:
                worker.connection.send((self.work, self.jobs[index]))
            except OSError:  # it died idle: its replacement takes the job
                self.pending.appendleft(index)
                self._retire(slot)
                continue
            worker.index = index
            if self.starting is not None:
                self.starting(index)

    def _collect(self, busy: list[_Worker]) -> None:
        for worker in busy:
            answer = None
            if worker.connection.poll():
                try:
                    answer = worker.connection.recv()
                except (EOFError, OSError):
                    answer = None
                except Exception as error:  # sent whole, but it would not unpickle here
                    answer = ("failed", f"its result could not be read back ({type(error).__name__}: {error})")
            if answer is not None:
                self._answered(worker, answer)
            elif not worker.process.is_alive():
                self._died(worker)

    def _answered(self, worker: _Worker, answer: tuple[str, object]) -> None:
        index, (kind, value) = worker.index, answer
        worker.index = None
        assert index is not None
        if kind == "row":
            self._record(index, value)  # type: ignore[arg-type]  # work's row, pickled and back
        elif kind == "failed":
            self._record(index, self.died(self.jobs[index], str(value)))
        elif kind == "raised":
            self.raised = self.raised or value  # type: ignore[assignment]
            self._stop()
        else:  # interrupted outside a guest's run, which has no row to show for it
            self.interrupted = True
            self._stop()

    def _died(self, worker: _Worker) -> None:
        index = worker.index
        worker.process.join(QUIT_S)
        reason = death(worker.process.exitcode)
        self._retire(self._slot(worker))
        if index is not None and not worker.told_to_stop:
            self._record(index, self.died(self.jobs[index], reason))

    def _record(self, index: int, row: Row) -> None:
        self.rows[index] = row
        if self.finished is not None:
            self.finished(index, row)
        if self.stops(row):
            self._stop()

    def _stop(self) -> None:
        """No more jobs start; each busy worker is told to stop its job, then to quit."""
        self.stopping = True
        if self.deadline is None:
            self.deadline = time.monotonic() + STOP_GRACE_S
        for worker in self._busy():
            if worker.told_to_stop:
                continue
            worker.told_to_stop = True
            try:
                if os.name == "posix":
                    os.kill(worker.process.pid, signal.SIGINT)  # type: ignore[arg-type]  # started: it has a pid
                else:
                    worker.process.terminate()  # no SIGINT for one process there
                worker.connection.send(None)  # read once its job has answered
            except OSError:
                pass  # it has ended: its sentinel says so

    def _retire(self, slot: int) -> None:
        worker = self.workers[slot]
        self.workers[slot] = None
        if worker is None:
            return
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.connection.close()

    def _close(self) -> None:
        """Every worker ended: the idle told to quit; the busy told to stop, given what is left of
        their grace (none after a second Ctrl-C), then killed."""
        self._stop()  # a no-op for those told already; here after an error of the parent's, the first word
        alive = [worker for worker in self.workers if worker is not None]
        for worker in alive:
            if worker.index is None:
                with contextlib.suppress(OSError):  # it has ended already
                    worker.connection.send(None)
        assert self.deadline is not None
        quit_by = min(self.deadline, time.monotonic() + QUIT_S) if not self._busy() else self.deadline
        try:
            for worker in alive:
                worker.process.join(max(quit_by - time.monotonic(), 0))
        except KeyboardInterrupt:
            pass  # one more Ctrl-C: wait no longer
        for worker in alive:
            self._retire(self._slot(worker))

    def _slot(self, worker: _Worker) -> int:
        return next(slot for slot, there in enumerate(self.workers) if there is worker)
