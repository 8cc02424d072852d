"""Skip marks for tests that boot a real peer: each says why it skipped, where the peer is missing."""

from __future__ import annotations

import shutil

import pytest
from pmtimer_harness.peers.bochs import BochsUnavailable, find_bochs
from pmtimer_harness.peers.qemu import kvm_unavailable


def bochs_missing() -> str | None:
    """None if Bochs can run here, else why not."""
    try:
        find_bochs()
    except BochsUnavailable as error:
        return str(error)
    return None


needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="QEMU (qemu-system-x86_64) is not installed"
)
needs_kvm = pytest.mark.skipif(kvm_unavailable() is not None, reason=f"no KVM: {kvm_unavailable()}")
needs_bochs = pytest.mark.skipif(bochs_missing() is not None, reason=str(bochs_missing()))
