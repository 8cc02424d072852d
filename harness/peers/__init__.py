"""Real machines to compare against: the same guests booted in QEMU."""
