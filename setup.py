"""Builds the optional C extension, pmtimer_harness.core._native (harness/core/native.c).

Everything else about the package is in pyproject.toml.  Where no C compiler
exists, or the build fails, the package installs without the extension and
runs the virtual clock's hot path in Python (core/dispatch.py); this says so
in one line.  PMTIMER_HARNESS_NO_NATIVE=1 skips the build.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = Extension(
    "pmtimer_harness.core._native", ["harness/core/native.c", "harness/core/insn_decode.c"], optional=True
)


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: the Python path is the fallback."""

    def run(self) -> None:
        if os.environ.get("PMTIMER_HARNESS_NO_NATIVE"):
            print("pmtimer-harness: PMTIMER_HARNESS_NO_NATIVE is set: installing without the C fast path")
            return
        try:
            super().run()
        except Exception as error:  # no compiler at all (DistutilsPlatformError), and the like
            self._say_fallback(error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # a compiler that failed
            self._say_fallback(error)

    @staticmethod
    def _say_fallback(error: Exception) -> None:
        print(f"pmtimer-harness: the C fast path was not built ({type(error).__name__}); the Python path will run",
              file=sys.stderr)


setup(ext_modules=[NATIVE], cmdclass={"build_ext": OptionalBuildExt})
