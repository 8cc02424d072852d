"""Jobs for the worker-pool tests: module-level, so a spawned worker finds them by name."""

import ctypes
import os
import time


def twice(n: int) -> int:
    return 2 * n


def dies_on_two(n: int) -> int:
    if n == 2:
        os._exit(3)
    return n


def crashes_on_two(n: int) -> int:
    if n == 2:
        ctypes.string_at(0)  # a read of address 0: SIGSEGV, as a device's C code might
    return n


def out_of_memory_on_two(n: int) -> int:
    if n == 2:
        raise MemoryError
    return n


def refuses_two(n: int) -> int:
    if n == 2:
        raise ValueError("two is refused")
    return n


def sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def pid(_n: int) -> int:
    time.sleep(0.2)  # long enough that every worker gets a job
    return os.getpid()


def suite_row_unless_it_dies(job):
    """The suite's row, except for a guest named dies.asm, whose worker ends under it."""
    from pmtimer_harness.frontends.commands.suite import run_row

    if job.guest.name == "dies.asm":
        os._exit(3)
    return run_row(job)


class Unreadable(Exception):
    """An exception pickle sends whole but cannot make again (its constructor wants two arguments)."""

    def __init__(self, first: int, second: int) -> None:
        super().__init__(f"{first} and {second}")


def unreadable_on_two(n: int) -> int:
    if n == 2:
        raise Unreadable(1, 2)
    return n
