"""asm/include/report.inc, the guests' runtime: CHECK keeps registers and flags."""

from tests.guests import run_source

BODY = """
        %include "report.inc"
guest_main:
        mov     esi, 0x12345678
        stc
        CHECK   nc, "carry is clear"        ; fails, and must leave CF set
        jnc     the_flags_were_lost
        cmp     esi, 0x12345678
        jne     the_flags_were_lost
        mov     al, 0
        out     0xF4, al
the_flags_were_lost:
        mov     al, 9
        out     0xF4, al
"""


def test_check_leaves_flags_and_esi_as_they_were(tmp_path):
    run = run_source(tmp_path, BODY)
    assert "FAIL: carry is clear" in run.result.console
    assert run.result.exit_code == 0
