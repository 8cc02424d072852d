"""An emulator never outlives the harness that started it, even when the harness is killed outright."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.guests import write_guest
from tests.test_parallel import SPINNING, _alive, _descendants


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's; reads /proc")
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU (qemu-system-x86_64) is not installed")
def test_a_harness_killed_outright_takes_its_qemu_with_it(tmp_path):
    spinning = write_guest(tmp_path, SPINNING, name="spin.asm")
    scratch = tmp_path / "tmp"  # what the killed harness cannot remove stays here, with the test's files
    scratch.mkdir()
    harness = subprocess.Popen(
        [sys.executable, "-m", "pmtimer_harness", "qemu", str(spinning), "--machine", "pc", "--accel", "tcg",
         "--timeout", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(scratch)},
    )
    try:
        emulators: set[int] = set()
        booting_by = time.monotonic() + 30
        while not emulators and time.monotonic() < booting_by:
            time.sleep(0.1)
            emulators = _descendants(harness.pid)
        assert emulators, "QEMU never started"
        harness.send_signal(signal.SIGKILL)  # no finally, no handler: only the kernel can stop QEMU now
        harness.wait()
        gone_by = time.monotonic() + 10
        while any(_alive(pid) for pid in emulators) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in emulators)
    finally:
        harness.kill()
        harness.wait()
        for pid in emulators:
            if _alive(pid):
                subprocess.run(["kill", "-9", str(pid)], check=False)
