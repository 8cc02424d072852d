"""The catalogue of real consumers in QEMU and Bochs: each guest boots from the disk image and means there what it
means in the harness (``pytest -m differential``).

The suite runs the consumers that need no wait for the 24-bit wrap (under 2 s on a peer) on QEMU pc and q35 and
on Bochs; ``make fuzz`` (HARNESS_FUZZ=long) runs every one of them on all three, as ``differential
asm/c/catalogue --peer qemu,bochs`` does.
"""

import os
import shutil

import pytest
from pmtimer_harness.asm import C_GUEST_DIR
from pmtimer_harness.peers.differential import Comparison, PeerSetup, compare_all

from tests.peer_marks import bochs_missing, needs_bochs, needs_qemu
from tests.test_catalogue import NO_COMPILER

pytestmark = [pytest.mark.differential,
              pytest.mark.skipif(NO_COMPILER, reason="no C compiler here (pip install 'pmtimer-harness[c]')")]

CATALOGUE = C_GUEST_DIR / "catalogue"
QUICK = ["grub_tsc_pmtimer.c", "linux_tsc_calibration.c", "xen_init_pmtimer.c"]
PEERS = {
    "pc": PeerSetup(machine="pc"), "q35": PeerSetup(machine="q35"), "bochs": PeerSetup("bochs", "i440fx", "emulated"),
}
LONG = os.environ.get("HARNESS_FUZZ") == "long"


def needs(peer: str) -> pytest.MarkDecorator:
    return needs_bochs if peer == "bochs" else needs_qemu


@pytest.fixture(scope="module")
def quick_on_peers() -> dict[tuple[str, str], Comparison]:
    """Each quick consumer on each peer this host has, three at a time: a peer's start costs most of a row."""
    setups = [setup for name, setup in PEERS.items() if not missing(name)]
    comparisons = compare_all([CATALOGUE / guest for guest in QUICK], setups, jobs=3)
    return {(comparison.guest.name, comparison.setup.label): comparison for comparison in comparisons}


def missing(peer: str) -> bool:
    return bochs_missing() is not None if peer == "bochs" else shutil.which("qemu-system-x86_64") is None


@pytest.mark.parametrize("peer", [pytest.param(name, marks=needs(name)) for name in PEERS])
@pytest.mark.parametrize("guest", QUICK)
def test_a_quick_consumer_means_the_same_on_the_peer(guest, peer, quick_on_peers):
    comparison = quick_on_peers[guest, PEERS[peer].label]
    assert comparison.agree, "\n".join(comparison.differences()) + "\n" + comparison.peer_run.console


@pytest.mark.skipif(not LONG, reason="every consumer on every peer: make fuzz (HARNESS_FUZZ=long)")
@pytest.mark.parametrize("peer", [pytest.param(name, marks=needs(name)) for name in PEERS])
def test_every_consumer_means_the_same_on_the_peer(peer):
    comparisons = compare_all(sorted(CATALOGUE.glob("*.c")), [PEERS[peer]], jobs=3)
    differing = [line for comparison in comparisons if not comparison.agree for line in comparison.differences()]
    assert not differing, "\n".join(differing)
