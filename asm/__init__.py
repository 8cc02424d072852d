"""The bundled guests (NASM and C sources), their shared includes and the C guest library, as package data."""

from pathlib import Path

BUNDLED_GUESTS_DIR = Path(__file__).resolve().parent
BUNDLED_INCLUDE_DIR = BUNDLED_GUESTS_DIR / "include"
C_GUEST_DIR = BUNDLED_GUESTS_DIR / "c"
C_LIBRARY_DIR = C_GUEST_DIR / "lib"  # compiled into every C guest, never a guest itself
C_INCLUDE_DIR = C_GUEST_DIR / "include"
