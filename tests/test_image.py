"""``image``: a raw bootable disk for any VMM, booted here in QEMU ``pc`` and ``q35``."""


import pytest
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.peers.disk import CYLINDER, SECTOR
from pmtimer_harness.peers.qemu import boot_in_qemu

from tests.guests import FINDS_THE_TIMER, write_guest
from tests.peer_marks import needs_qemu


@pytest.fixture
def image(tmp_path):
    guest = tmp_path / "finds_the_timer.asm"
    guest.write_text(FINDS_THE_TIMER)
    disk = tmp_path / "disk.img"
    assert main(["image", str(guest), "-o", str(disk)]) == 0
    return disk


def test_the_image_is_whole_cylinders_with_a_boot_sector(image):
    data = image.read_bytes()
    assert len(data) % (CYLINDER * SECTOR) == 0
    assert data[510:512] == b"\x55\xaa"


@needs_qemu
@pytest.mark.differential
@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_the_image_boots_in_qemu_and_finds_its_timer(image, machine):
    run = boot_in_qemu(image, machine, "tcg", timeout_s=30)
    assert run.verdict == "pass", run.console + "\n".join(run.notes)
    assert "PASS: the timer is at port 0x608" in run.console


def test_the_platform_decides_how_the_guest_is_assembled(tmp_path, capsys):
    guest = write_guest(tmp_path, "hlt\n")
    assert main(["image", str(guest), "-o", str(tmp_path / "bochs.img"), "--platform", "bochs"]) == 0
    assert "timer at 0xb008, 24 bits" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "body", "options", "message"), [
    ("raw.bin", None, [], "give its source (.asm, .c or .S)"),
    ("guest.asm", "hlt\n", ["--platform", "nowhere"], "no platform 'nowhere'"),
    ("huge.asm", "times 70000 db 0\n", [], "the boot loader reads at most 65024"),
])
def test_what_cannot_be_an_image_gets_one_line(tmp_path, capsys, name, body, options, message):
    if body is None:
        guest = tmp_path / name
        guest.write_bytes(b"\xf4")
    else:
        guest = write_guest(tmp_path, body, name=name)
    assert main(["image", str(guest), "-o", str(tmp_path / "out.img"), *options]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "out.img").exists()
