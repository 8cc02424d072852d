"""Guests as pytest items: a failing guest shows its console, exit code and report."""

import pytest

from tests.guests import PRELUDE

pytest_plugins = ["pytester"]

FAILING_GUEST = PRELUDE + """
        mov al, 'x'
        out 0xE9, al
        mov al, 9
        out 0xF4, al
"""

ERROR_GUEST = PRELUDE + """
        mov dx, TIMER_PORT
        in ax, dx
"""


@pytest.fixture
def guest_dir(pytester):
    pytester.makefile(".asm", failing=FAILING_GUEST, refused=ERROR_GUEST)
    pytester.makefile(".asm", expected_error="; expect: error\n" + ERROR_GUEST)
    return pytester


def test_each_guest_is_an_item_and_failures_explain_themselves(guest_dir):
    result = guest_dir.runpytest("-p", "pmtimer_harness.frontends.pytest_plugin")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*guest failing.asm: expected pass, got fail (exit code 9)*",
        "x",
        "*guest refused.asm: expected pass, got error*",
        "*2-byte IN at port 0x0408*",
        "*in ax, dx*",
    ])
