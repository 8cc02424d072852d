"""A user's device that misbehaves ends the run with a verdict that names it, the same in every process.

A device's ``read`` hands its value to Unicorn as a C integer.  Before these
checks, a ``str``, ``None`` or ``float`` made ctypes print "Exception ignored
on converting result" and leave garbage in AL, so the verdict changed from one
process to the next; an int too wide for the access was truncated silently;
and ``SystemExit`` or ``KeyboardInterrupt`` raised inside ``read`` vanished the
same way.
"""

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pmtimer_harness import PortWindow, run_guest
from pmtimer_harness.core.bus import PortBus
from pmtimer_harness.core.result import Verdict

from tests.guests import REPO

PORT = 0x510
LONG = os.environ.get("HARNESS_FUZZ") == "long"  # make fuzz: many more, and random
# Reads the device once and exits with what it read: a garbage value would show as the exit code.
READ_AND_EXIT = bytes.fromhex("ba1005" "ec" "e6f4" "f4")  # mov dx, 0x510; in al, dx; out 0xF4, al; hlt
READ_DWORD_AND_EXIT = bytes.fromhex("ba1005" "66ed" "e6f4" "f4")  # ...; in eax, dx; ...


class Returns:
    """A device whose read returns ``value`` (or raises it, if it is an exception)."""

    name = "usercounter"
    windows = (PortWindow(PORT, 4),)

    def __init__(self, value: object) -> None:
        self.value = value

    def read(self, port: int, width: int, now_ns: int) -> int:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value  # type: ignore[return-value]

    def write(self, port: int, width: int, value: int, now_ns: int) -> None:
        pass


def run_with(value: object, image: bytes = READ_AND_EXIT, *options: str):
    budget = ["--timeout", "5"] if "host" in options else ["--max-instructions", "1000"]
    return run_guest(image, [*budget, *options], devices=[Returns(value)]).result


@pytest.mark.parametrize("value", ["x", None, 1.5, b"\x01", [1], True, -1, 0x100, 1 << 70])
@pytest.mark.parametrize("clock", ["virtual", "host"])
def test_a_read_that_is_not_an_int_of_the_access_width_is_an_error_naming_device_port_and_value(value, clock):
    result = run_with(value, READ_AND_EXIT, "--clock", clock)
    assert result.verdict == Verdict.ERROR
    reason = result.report.reason
    assert "usercounter returned" in reason and "1-byte IN at port 0x0510" in reason, reason
    assert repr(value)[:20] in reason
    assert result.report.instruction == "in al, dx"


def test_an_int_that_fits_is_read_and_an_integer_type_is_taken_by_its_value():
    class Counter(int):
        pass

    assert run_with(7).exit_code == 7
    assert run_with(Counter(9)).exit_code == 9
    assert run_with(0xFFFF_FFFF, READ_DWORD_AND_EXIT).exit_code == 0xFF


def test_a_device_that_raises_system_exit_ends_the_run_with_an_error():
    result = run_with(SystemExit(3))
    assert result.verdict == Verdict.ERROR
    assert "usercounter raised SystemExit" in result.report.reason


def test_a_device_that_raises_keyboard_interrupt_interrupts_the_run_at_the_read():
    result = run_with(KeyboardInterrupt())
    assert result.verdict == Verdict.INTERRUPTED
    assert "KeyboardInterrupt in usercounter during 1-byte IN at port 0x0510" in result.report.reason
    assert result.exit_code is None  # the OUT after the read never reached the exit port


def test_the_verdict_of_a_wrong_value_is_the_same_in_every_process():
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.test_hostile_devices import run_with
        result = run_with("x")
        print(result.verdict.value, result.exit_code, result.report.reason)
    """)
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60).stdout
               for _ in range(2)}
    assert len(outputs) == 1, outputs
    assert outputs.pop().startswith("error None")


@pytest.mark.parametrize(
    "device",
    [
        type("NoName", (), {"windows": (PortWindow(PORT, 1),), "read": lambda *a: 0, "write": lambda *a: None})(),
        type("BadWindows", (), {"name": "bad", "windows": [(0x510, 1)], "read": lambda *a: 0,
                                "write": lambda *a: None})(),
        type("NoRead", (), {"name": "noread", "windows": (PortWindow(PORT, 1),), "write": lambda *a: None})(),
    ],
)
def test_a_device_not_shaped_like_one_is_a_usage_error(device):
    with pytest.raises(ValueError):
        PortBus().attach(device)
    from pmtimer_harness.core.config import ConfigError

    with pytest.raises(ConfigError):
        run_guest(READ_AND_EXIT, [], devices=[device])


@settings(max_examples=2000 if LONG else 40, deadline=None, database=None, derandomize=not LONG)
@given(value=st.one_of(
    st.integers(-(1 << 80), 1 << 80), st.floats(), st.text(max_size=4), st.none(), st.booleans(),
    st.binary(max_size=4), st.lists(st.integers(), max_size=2),
    st.sampled_from([SystemExit(1), KeyboardInterrupt(), GeneratorExit(), ValueError("bad"), RecursionError()]),
))
def test_whatever_a_device_returns_or_raises_the_run_ends_in_a_verdict_that_explains_it(value):
    result = run_with(value)
    fits = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFF
    if fits:
        assert result.verdict in (Verdict.PASS, Verdict.FAIL) and result.exit_code == value
    else:
        assert result.verdict in (Verdict.ERROR, Verdict.INTERRUPTED)
        assert "usercounter" in result.report.reason
        assert result.exit_code is None
