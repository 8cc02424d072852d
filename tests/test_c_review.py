"""C guests against what a first-time user and a hostile input do: the docs' example, stale builds, compilers
that hang or talk without end, printf's conversions."""

import ctypes
import ctypes.util
import os
import re
import sys
import time
from pathlib import Path

import pytest
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.tools import c_compiler
from pmtimer_harness.tools.guest import checked_header
from pmtimer_harness.tools.runner import run_guest

from tests.guests import REPO

try:
    c_compiler.find_compiler()
    HAS_COMPILER = True
except c_compiler.CompilerNotFound:
    HAS_COMPILER = False
pytest_plugins = ["pytester"]
pytestmark = pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler here (pip install 'pmtimer-harness[c]')")

C_BLOCK = re.compile(r"^```c\n(.*?)^```", re.MULTILINE | re.DOTALL)


def docs_c_examples() -> list[tuple[str, str]]:
    return [(page.name, block) for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
            for block in C_BLOCK.findall(page.read_text())]


def test_the_docs_show_a_c_example():
    assert docs_c_examples()  # a pattern that finds none would run none


@pytest.mark.parametrize(("page", "text"), docs_c_examples())
def test_every_c_example_in_the_docs_runs_as_written_with_the_verdicts_it_declares(tmp_path, page, text):
    guest = tmp_path / "my_guest.c"
    guest.write_text(text)
    header = checked_header(guest)  # its header lines are read as the harness reads them
    assert run_guest(guest).result.verdict is header.expect, page
    for platform, verdict in header.on_platform:
        assert run_guest(guest, ["--platform", platform]).result.verdict is verdict, f"{page}: {platform}"


SHADOWED_GUEST = """\
#include "harness.h"
int main(void)
{
#ifdef GUESTS_OWN_HARNESS_H
	report(false, "the guest's own harness.h was read");
#endif
	return report_summary();
}
"""


@pytest.mark.usefixtures("cache_dir")
def test_a_header_put_beside_the_guest_after_its_build_is_read_not_the_cached_build(tmp_path):
    guest = tmp_path / "mine.c"
    guest.write_text(SHADOWED_GUEST)
    assert run_guest(guest).result.verdict is Verdict.PASS
    library_header = REPO / "asm" / "c" / "include" / "harness.h"
    (tmp_path / "harness.h").write_text(f'#define GUESTS_OWN_HARNESS_H 1\n#include "{library_header}"\n')
    assert run_guest(guest).result.verdict is Verdict.FAIL  # every file the build read is unchanged
    (tmp_path / "harness.h").unlink()
    assert run_guest(guest).result.verdict is Verdict.PASS


def running_processes_naming(text: str) -> list[int]:
    """The live (not zombie) processes whose command line holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if text.encode() in command and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_compiler_blocked_on_a_fifo_the_guest_includes_is_stopped_with_its_children_at_the_deadline(tmp_path):
    fifo = tmp_path / "never_written"
    os.mkfifo(fifo)
    guest = tmp_path / "blocked.c"
    guest.write_text(f'#include "{fifo}"\nint main(void) {{ return 0; }}\n')
    with pytest.raises(c_compiler.CompileError, match="did not finish within 1 s"):
        run_guest(guest, ["--timeout", "1"], use_cache=False)
    assert running_processes_naming(str(guest)) == []  # gcc's cc1, clang's -cc1: not left behind


def test_warnings_before_a_compile_error_do_not_hide_it(tmp_path):
    guest = tmp_path / "noisy.c"
    warnings = "\n".join(f"int; /* {number} */" for number in range(20))  # "useless type name" each
    guest.write_text(f"{warnings}\nint main(void) {{ return undeclared_name; }}\n")
    with pytest.raises(c_compiler.CompileError, match=r"noisy\.c:21:.*undeclared_name"):
        run_guest(guest, use_cache=False)


def test_a_build_steps_messages_are_read_to_their_cap_and_no_further(tmp_path):
    talker = [sys.executable, "-c", "import sys; sys.stderr.write('warning: x\\n' * 1_000_000)"]
    status, messages = c_compiler._run_compiler(talker, tmp_path, dict(os.environ), 30)
    assert status == 0 and len(messages) == c_compiler.MAX_MESSAGE_BYTES


# (format, the C arguments, the same for the host's snprintf): every conversion, flag and size the library's
# printf takes, held to the host C library's output.
PRINTF_CASES = [
    ("%d|%i|%u", "-42, 12, 4294967295u", [ctypes.c_int(-42), ctypes.c_int(12), ctypes.c_uint(4294967295)]),
    ("%5d|%-5d|%05d|%+d|% d", "-42, -42, -42, 7, 7", [ctypes.c_int(v) for v in (-42, -42, -42, 7, 7)]),
    ("%.3d|%.0d|%8.3d|%-8.3d|%08.3d", "7, 0, -7, 7, 7", [ctypes.c_int(v) for v in (7, 0, -7, 7, 7)]),
    ("%x|%X|%#x|%#x|%#010x|%08x", "255, 255, 255, 0, 255, 0xdead",
     [ctypes.c_uint(v) for v in (255, 255, 255, 0, 255, 0xDEAD)]),
    ("%lu|%ld|%lx|%zu", "4000000000ul, -5l, 0xabcdul, (size_t)12345",
     [ctypes.c_ulong(4000000000), ctypes.c_long(-5), ctypes.c_ulong(0xABCD), ctypes.c_size_t(12345)]),
    ("%lld|%llu|%llx", "-9223372036854775807ll - 1, 18446744073709551615ull, 0x123456789abcdef0ull",
     [ctypes.c_longlong(-(1 << 63)), ctypes.c_ulonglong((1 << 64) - 1), ctypes.c_ulonglong(0x123456789ABCDEF0)]),
    ("%hhx|%hhd|%hd|%hu", "-1, 200, 70000, 70000", [ctypes.c_int(v) for v in (-1, 200, 70000, 70000)]),
    ("%s|%5s|%-5s|%.2s|%s", '"ab", "ab", "ab", "abcd", (char *)0',
     [b"ab", b"ab", b"ab", b"abcd", ctypes.c_char_p(None)]),
    ("%c|%3c|%-3c|%%|%5%", "'z', 'z', 'z'", [ctypes.c_int(ord("z"))] * 3),
]
UNSUPPORTED = [  # printed as written, taking no argument
    ('"%f|%d", 5', "%f|5"),
    ('"%o|%*d|%n", 5', "%o|%*d|%n"),
    ('"100%"', "100%"),
]


def host_printf(format_: str, arguments: list) -> str:
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    buffer = ctypes.create_string_buffer(512)
    libc.snprintf(buffer, len(buffer), format_.encode(), *arguments)
    return buffer.value.decode()


def printf_guest(folder: Path) -> Path:
    calls = [f'\tprintf("[{format_}]\\n", {c_arguments});' for format_, c_arguments, _ in PRINTF_CASES]
    calls += [f'\tputs("["); printf({arguments}); puts("]\\n");' for arguments, _ in UNSUPPORTED]
    guest = folder / "formats.c"
    guest.write_text('#include "harness.h"\nint main(void)\n{\n' + "\n".join(calls) + "\n\treturn 0;\n}\n")
    return guest


@pytest.mark.skipif(sys.platform != "linux", reason="the host C library's snprintf is the reference")
@pytest.mark.parametrize("mode", ["32", "64"])
def test_printf_prints_every_conversion_flag_and_size_as_the_host_c_library_does(tmp_path, mode):
    run = run_guest(printf_guest(tmp_path), ["--mode", mode])
    assert run.result.verdict is Verdict.PASS
    printed = re.findall(r"^\[(.*)\]$", run.result.console, re.MULTILINE)
    expected = [host_printf(format_, arguments) for format_, _, arguments in PRINTF_CASES]
    assert printed == expected + [shown for _, shown in UNSUPPORTED]


@pytest.mark.skipif(sys.platform != "linux", reason="a name of bytes that are not UTF-8: Linux's file systems")
@pytest.mark.usefixtures("cache_dir")
def test_a_guest_and_header_whose_names_are_not_utf8_build_run_and_are_cached(tmp_path, monkeypatch):
    folder = os.fsencode(tmp_path)
    with open(os.path.join(folder, b"limit\xff.h"), "w") as header:
        header.write("#define LIMIT 3\n")
    guest = os.path.join(folder, b"mine\xff.c")
    with open(guest, "wb") as source:
        source.write(b'#include "harness.h"\n#include "limit\xff.h"\n'
                     b'int main(void)\n{\n\treport(LIMIT == 3, "the limit");\n\treturn report_summary();\n}\n')
    compiles = []
    real = c_compiler._compile
    monkeypatch.setattr(c_compiler, "_compile", lambda *args: (compiles.append(args), real(*args)))
    assert run_guest(os.fsdecode(guest)).result.verdict is Verdict.PASS
    built = len(compiles)
    assert run_guest(os.fsdecode(guest)).result.verdict is Verdict.PASS
    assert len(compiles) == built  # from the cache, its dependencies named by their bytes


def test_under_pytest_a_cc_that_cannot_run_fails_the_c_guest_instead_of_skipping_it(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")  # seconds per inner run, not needed here
    monkeypatch.setenv("CC", "no-such-compiler -m32")
    pytester.makeini("[pytest]\nharness_guests =\n    guests/*.c\n")
    guests = pytester.mkdir("guests")
    (guests / "mine.c").write_text('#include "harness.h"\nint main(void) { return report_summary(); }\n')
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no-such-compiler*was not found*"])
    assert "Traceback" not in result.stdout.str()


def test_dwarf_over_its_cap_is_not_read_and_addresses_keep_their_function_names(tmp_path, monkeypatch):
    from pmtimer_harness.core.config import MachineConfig
    from pmtimer_harness.tools import elf_image

    guest = tmp_path / "mine.c"
    guest.write_text(SHADOWED_GUEST)
    built = c_compiler.build(guest, MachineConfig().nasm_defines(), 32, use_cache=False)
    main_address = elf_image.read_elf(built.elf, "mine.elf", 1 << 20).symbols["main"]
    assert elf_image.read_elf(built.elf, "mine.elf", 1 << 20).source_map.get(main_address).startswith("mine.c:")
    monkeypatch.setattr(elf_image, "MAX_DEBUG_BYTES", 100)  # pyelftools takes seconds a MiB of it
    assert elf_image.read_elf(built.elf, "mine.elf", 1 << 20).source_map.get(main_address) == "? (main)"


@pytest.mark.skipif(sys.platform == "win32", reason="process groups")
def test_a_build_step_whose_child_left_its_group_holding_the_pipe_does_not_hold_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(c_compiler, "READER_JOIN_S", 0.2)
    leaver = [sys.executable, "-c", "import subprocess; subprocess.Popen(['sleep', '3'], start_new_session=True)"]
    began = time.perf_counter()
    status, _ = c_compiler._run_compiler(leaver, tmp_path, dict(os.environ), 30)
    assert status == 0 and time.perf_counter() - began < 2  # not until the child that left ends
