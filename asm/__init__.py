"""The bundled guests (NASM sources) and their shared includes, installed as package data."""

from pathlib import Path

BUNDLED_GUESTS_DIR = Path(__file__).resolve().parent
BUNDLED_INCLUDE_DIR = BUNDLED_GUESTS_DIR / "include"
