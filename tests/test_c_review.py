"""C guests against what a first-time user and a hostile input do: the docs' example, stale builds, compilers
that hang or talk without end, printf's conversions."""

import os
import re
import sys
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
