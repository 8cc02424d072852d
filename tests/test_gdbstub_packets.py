"""The GDB stub answers whatever a debugger (or anything else on the port) sends, and never dies of it."""

import pytest


@pytest.mark.parametrize("packet", [b"pzz", b"P99=0", b"P=", b"Pzz=00", b"m0,zz", b"mzz", b"M0,1:zz", b"Z0,zz,1",
                                    b"qRcmd,zz", b"p", b"m"])
def test_a_malformed_packet_gets_an_error_reply_and_the_stub_goes_on(packet):
    from pmtimer_harness.core.cpu import new_cpu
    from pmtimer_harness.core.gdbstub import GdbStub

    uc = new_cpu(16)
    uc.mem_map(0, 0x1000)
    stub = GdbStub(uc, 0, lambda command: "", lambda line: None)
    try:
        reply, resume = stub.reply(packet)
        assert reply.startswith(b"E") and not resume
        assert stub.reply(b"p8")[0] == b"00000000"  # still answering
    finally:
        stub.finished(None)


def test_a_huge_memory_read_is_answered_with_what_fits_in_a_packet():
    from pmtimer_harness.core.cpu import new_cpu
    from pmtimer_harness.core.gdbstub import MAX_READ, PACKET_SIZE, GdbStub

    uc = new_cpu(16)
    uc.mem_map(0, 0x10000)
    stub = GdbStub(uc, 0, lambda command: "", lambda line: None)
    try:
        reply, resume = stub.reply(b"m0,7fffffffffff")
        assert not resume and len(reply) == 2 * MAX_READ < PACKET_SIZE
        assert stub.reply(b"m10000,7fffffffffff") == (b"E14", False)  # past RAM: an error, not a crash
    finally:
        stub.finished(None)
