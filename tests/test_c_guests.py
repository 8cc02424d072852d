"""C guests: compiled for the run's platform, run like NASM guests, named at their C lines."""

import importlib.util
import json
import shutil
import sys

import pytest
from pmtimer_harness.core.machine import InstructionTraceOptions
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.frontends.cli import main
from pmtimer_harness.frontends.matrix import run_cell
from pmtimer_harness.platform.profiles import PROFILES
from pmtimer_harness.tools import c_compiler
from pmtimer_harness.tools.runner import run_guest

from tests.guests import bundled

pytest_plugins = ["pytester"]

try:
    COMPILER = c_compiler.find_compiler()
except c_compiler.CompilerNotFound as error:
    COMPILER = None
    NO_COMPILER = str(error)
pytestmark = pytest.mark.skipif(COMPILER is None, reason="no C compiler here (pip install 'pmtimer-harness[c]')")
HAS_ZIGLANG = importlib.util.find_spec("ziglang") is not None

PASSING_GUEST = """\
#include "harness.h"
#include "limits.h"
int main(void)
{
	report(LIMIT == 3, "the header's limit is 3");
	return report_summary();
}
"""

FAULTING_GUEST = """\
#include "harness.h"

static void __attribute__((noinline)) poke(volatile uint32_t *where)
{
	*where = 1;
}

int main(void)
{
	poke((volatile uint32_t *)0xFFFFFFF0u);
	return report_summary();
}
"""


def user_guest(folder, text=PASSING_GUEST, name="mine.c", limit=3):
    """A guest of the user's own, with a header of their own beside it."""
    (folder / "limits.h").write_text(f"#define LIMIT {limit}\n")
    guest = folder / name
    guest.write_text(text)
    return guest


def test_hello_timer_passes_and_its_record_names_the_compiler_and_flags():
    record = run_guest(bundled("c/hello_timer.c"), ["--platform", "qemu"]).as_dict()
    assert record["verdict"] == "pass" and "SUMMARY: 2 tests" in record["console"]
    build = record["build"]
    assert build["compiler"] and build["version"] == COMPILER.version
    assert "-O2" in build["compile_flags"] and "-DTIMER_PORT=1544" in build["compile_flags"]  # qemu: 0x608
    assert "-Wl,-T,guest.ld" in build["link_flags"]
    assert record["options"]["mode"] == 32


def test_a_nasm_guests_record_has_no_build():
    assert "build" not in run_guest(bundled("hello.asm")).as_dict()


def test_a_compile_error_is_an_error_row_with_the_compilers_message(tmp_path, capsys):
    guest = tmp_path / "broken.c"
    guest.write_text('#include "harness.h"\nint main(void)\n{\n\treturn undeclared_name;\n}\n')
    status = main(["suite", str(guest), "--json"])
    out, err = capsys.readouterr()
    (row,) = json.loads(out)
    assert status != 0 and row["verdict"] == "error"
    assert "broken.c:4" in row["error"] and "undeclared_name" in row["error"]
    assert "Traceback" not in out + err


def test_a_compile_error_in_run_is_one_message_and_status_2(tmp_path, capsys):
    guest = tmp_path / "broken.c"
    guest.write_text("int main(void) { return }\n")
    assert main(["run", str(guest)]) == 2
    err = capsys.readouterr().err
    assert "broken.c:1" in err and "error" in err and "Traceback" not in err


def test_a_fault_is_reported_at_its_c_line_and_function(tmp_path):
    run = run_guest(user_guest(tmp_path, FAULTING_GUEST))
    report = run.result.report
    assert run.result.verdict is Verdict.ERROR
    assert report.source.startswith("mine.c:5 (poke") and "*where = 1;" in report.source


def test_the_instruction_trace_shows_the_c_line_and_the_function(tmp_path):
    lines = []
    run_guest(user_guest(tmp_path), trace=lines.append, instruction_trace=InstructionTraceOptions(limit=400))
    assert any("; start.S:" in line and "(_start" in line for line in lines)
    assert any("; mine.c:" in line and "(main" in line for line in lines)


def test_a_header_beside_the_guest_decides_its_verdict(tmp_path):
    guest = user_guest(tmp_path)
    assert run_guest(guest).result.verdict is Verdict.PASS
    user_guest(tmp_path, limit=4)
    assert run_guest(guest).result.verdict is Verdict.FAIL


@pytest.mark.usefixtures("cache_dir")
def test_the_cache_rebuilds_when_an_included_header_changes_and_not_for_other_files(tmp_path, monkeypatch):
    guest = user_guest(tmp_path)
    compiles = []
    real = c_compiler._compile
    monkeypatch.setattr(c_compiler, "_compile", lambda *args: (compiles.append(args), real(*args)))
    run_guest(guest)
    built = len(compiles)
    (tmp_path / "unrelated.h").write_text("#define OTHER 1\n")
    assert run_guest(guest).result.verdict is Verdict.PASS
    assert len(compiles) == built  # from the cache
    (tmp_path / "limits.h").write_text("#define LIMIT 5\n")
    assert run_guest(guest).result.verdict is Verdict.FAIL
    assert len(compiles) > built


def test_cc_naming_a_compiler_that_does_not_exist_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert main(["run", str(user_guest(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-cc" in err and "CC" in err


def test_a_c_guest_starts_only_in_32_or_64_bit_mode(tmp_path, capsys):
    assert main(["run", str(user_guest(tmp_path)), "--mode", "16"]) == 2
    assert "--mode 32 or --mode 64" in capsys.readouterr().err


def test_a_64_bit_c_guest_runs(tmp_path):
    run = run_guest(user_guest(tmp_path), ["--mode", "64"])
    assert run.result.verdict is Verdict.PASS and "-mno-red-zone" in run.build["compile_flags"]


@pytest.mark.skipif(not HAS_ZIGLANG, reason="the ziglang package is not installed (pip install 'pmtimer-harness[c]')")
def test_with_no_compiler_on_path_the_pip_installed_clang_builds_the_guest(tmp_path, monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert shutil.which("gcc") is None and shutil.which("clang") is None
    run = run_guest(user_guest(tmp_path), use_cache=False)
    assert run.result.verdict is Verdict.PASS
    assert run.build["compiler"].startswith(sys.executable) and "ziglang" in run.build["compiler"]


def checks(console):
    return [line for line in console.splitlines() if line.split(":")[0] in ("PASS", "FAIL", "SKIP", "XFAIL")]


def test_linux_pmtmr_in_c_agrees_with_the_nasm_guest_on_every_platform():
    for platform in PROFILES:
        nasm = run_cell(bundled("linux_pmtmr.asm"), platform)
        c = run_cell(bundled("c/linux_pmtmr.c"), platform)
        assert (c.verdict, checks(c.console)) == (nasm.verdict, checks(nasm.console)), platform
        assert not c.unmet, platform


def test_a_projects_c_guests_are_pytest_items_and_a_compile_error_is_one_failure(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")  # seconds per inner run, not needed here
    pytester.makeini("[pytest]\nharness_guests =\n    tests/guests/*.c\n")
    guests = pytester.mkdir("tests") / "guests"
    guests.mkdir()
    user_guest(guests)
    (guests / "broken.c").write_text("int main(void) { return missing; }\n")
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*broken.c:1:*missing*"])
    assert "Traceback" not in result.stdout.str()


def test_a_c_guests_header_lines_are_nasm_guests_with_slashes(tmp_path):
    from pmtimer_harness.peers.portable import portability
    from pmtimer_harness.tools.guest import read_header

    guest = tmp_path / "headed.c"
    guest.write_text("// harness: --timer-start 5\n// expect: fail bhyve=error\n// variant: w24 --timer-width 24\n"
                     "// portable: not bochs, its own reason\nint main(void) { return 0; }\n")
    header = read_header(guest)
    assert header.options == ("--mode", "32", "--timer-start", "5")
    assert header.expect is Verdict.FAIL and header.expect_on("bhyve") is Verdict.ERROR
    assert header.variants == (("w24", ("--timer-width", "24")),)
    assert portability(guest, "bochs") == "its own reason" and portability(guest, "qemu") is None


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
def test_gdb_breaks_at_a_c_function_and_shows_its_line(tmp_path):
    import re
    import subprocess

    from tests.guests import REPO

    guest = user_guest(tmp_path)
    harness = subprocess.Popen([sys.executable, "-m", "harness", "run", str(guest), "--gdb", "0"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [harness.stderr.readline() for _ in range(3)]
        symbols = re.search(r"symbol-file (\S+),", "".join(lines)).group(1)
        port = re.search(r"localhost:(\d+)", "".join(lines)).group(1)
        commands = ["set architecture i386", f"symbol-file {symbols}", f"target remote localhost:{port}",
                    "break main", "continue", "info line *$pc", "continue"]
        gdb = subprocess.run(["gdb", "-nx", "-batch", *[part for command in commands for part in ("-ex", command)]],
                             capture_output=True, text=True, timeout=60)
        harness.communicate(timeout=60)
    finally:
        harness.kill()
    output = gdb.stdout + gdb.stderr
    assert re.search(r"Breakpoint 1, .*main \(\) at \S*mine\.c:5", output), output
    assert "_start () at" in output and "start.S:" in output


BROKEN_GUEST = '#include "harness.h"\nint main(void)\n{\n\treturn undeclared_counter;\n}\n'


@pytest.mark.parametrize("compiler", ["system", "pip"])
def test_an_installed_package_runs_a_projects_c_guest_under_pytest_suite_and_the_api(installed_python, tmp_path,
                                                                                      compiler):
    """The must-show of C guests, with the system's compiler and with none on PATH but pip's clang."""
    import os
    import subprocess

    if compiler == "pip" and not HAS_ZIGLANG:
        pytest.skip("the ziglang package is not installed (pip install 'pmtimer-harness[c]')")
    project = tmp_path / "project"
    guests = project / "tests" / "guests"
    guests.mkdir(parents=True)
    guest = user_guest(guests)
    (project / "pytest.ini").write_text("[pytest]\nharness_guests =\n    tests/guests/*.c\n")
    env = {key: value for key, value in os.environ.items() if key not in ("CC", "PYTHONPATH", "PYTEST_ADDOPTS")}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "cache")
    if compiler == "pip":
        env["PATH"] = str(tmp_path / "no-compilers-here")

    def run(*arguments):
        return subprocess.run([str(installed_python), *arguments], cwd=project, env=env, capture_output=True,
                              text=True, timeout=180)

    api = ("from pmtimer_harness import run_guest; run = run_guest('tests/guests/mine.c'); "
           "print(run.result.verdict.value, run.build['compiler'])")
    verdict, used = run("-c", api).stdout.split(maxsplit=1)
    assert verdict == "pass" and ("ziglang" in used) == (compiler == "pip"), used
    suite = run("-m", "pmtimer_harness", "suite", "tests/guests")
    assert suite.returncode == 0 and "mine.c" in suite.stdout and "pass" in suite.stdout, suite.stdout + suite.stderr

    user_guest(guests, limit=4)  # the user's own header changes the verdict
    (guests / "broken.c").write_text(BROKEN_GUEST)
    tests = run("-m", "pytest", "-q", "-p", "no:hypothesispytest", "-p", "no:cacheprovider")
    assert tests.returncode == 1 and "2 failed" in tests.stdout and guest.exists(), tests.stdout + tests.stderr
    assert "the header's limit is 3" in tests.stdout  # the failed check, as the guest reported it
    assert "undeclared_counter" in tests.stdout and "Traceback" not in tests.stdout + tests.stderr


def test_an_assembly_guest_through_the_c_preprocessor_gets_the_defines(tmp_path):
    guest = tmp_path / "width.S"  # the capital S: ".s" is NASM's
    guest.write_text("\t.text\n\t.globl main\nmain:\n\tmovl $TIMER_WIDTH - 24, %eax\n\tret\n")
    assert run_guest(guest, ["--timer-width", "24"]).result.verdict is Verdict.PASS
    assert run_guest(guest, ["--timer-width", "32"]).result.exit_code == 8


def test_with_no_compiler_at_all_the_error_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(c_compiler.importlib.util, "find_spec", lambda name: None)
    assert main(["run", str(user_guest(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'pmtimer-harness[c]'" in err and "apt-get install gcc" in err


def test_a_refused_read_through_an_inlined_function_names_the_guests_own_line(tmp_path):
    guest = tmp_path / "narrow.c"
    guest.write_text('#include "harness.h"\n\nint main(void)\n{\n\tuint16_t low = inw(TIMER_PORT);\n'
                     '\treport(low != 0xFFFF, "a narrow read answers");\n\treturn report_summary();\n}\n')
    report = run_guest(guest, ["--platform", "bhyve"]).result.report
    assert report.source.startswith("narrow.c:5 (main+") and "inw(TIMER_PORT)" in report.source
    assert report.source.endswith("[inw: harness.h:52]")
