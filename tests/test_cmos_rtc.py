"""The MC146818A CMOS clock at 0x70/0x71: the time of day, register C, and its periodic interrupt on IRQ 8."""

from pathlib import Path

import pytest
from pmtimer_harness.core.config import ConfigError
from pmtimer_harness.devices import cmos_rtc
from pmtimer_harness.devices.cmos_rtc import CmosRtc

from tests.guests import program_pics, run_source, write_guest
from tests.user_irq_devices import IrqButton

DAY_NS = 86_400 * 1_000_000_000
AFTERNOON_NS = DAY_NS + (13 * 3600 + 45 * 60 + 7) * 1_000_000_000  # 2000-01-02 13:45:07, a Sunday


def register(rtc: CmosRtc, index: int, now_ns: int, value: int | None = None) -> int:
    rtc.write(0x70, 1, index, now_ns)
    if value is None:
        return rtc.read(0x71, 1, now_ns)
    rtc.write(0x71, 1, value, now_ns)
    return value


def time_of_day(rtc: CmosRtc, now_ns: int) -> list[int]:
    return [register(rtc, index, now_ns) for index in (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09)]


def test_the_time_of_day_reads_in_bcd_at_reset():
    assert time_of_day(CmosRtc(), AFTERNOON_NS) == [0x07, 0x45, 0x13, 1, 0x02, 0x01, 0x00]


def test_the_time_of_day_reads_in_binary_and_12_hour_once_register_b_says_so():
    rtc = CmosRtc()
    register(rtc, 0x0B, 0, cmos_rtc.DM)  # binary, 12-hour
    assert time_of_day(rtc, AFTERNOON_NS) == [7, 45, 0x80 | 1, 1, 2, 1, 0]


def test_a_time_written_under_set_holds_and_runs_on_from_it():
    rtc = CmosRtc()
    register(rtc, 0x0B, 0, cmos_rtc.SET | cmos_rtc.HOUR_24)
    register(rtc, 0x04, 0, 0x23)
    register(rtc, 0x02, 0, 0x59)
    register(rtc, 0x00, 0, 0x59)
    assert register(rtc, 0x00, 5_000_000_000) == 0x59  # held while SET
    register(rtc, 0x0B, 5_000_000_000, cmos_rtc.HOUR_24)
    assert time_of_day(rtc, 6_000_000_000)[:5] == [0x00, 0x00, 0x00, 1, 0x02]  # midnight: Sunday the 2nd


def test_reading_register_c_clears_its_flags():
    rtc = CmosRtc()
    register(rtc, 0x0B, 0, cmos_rtc.PIE | cmos_rtc.HOUR_24)
    tick_ns = 976_563  # the first 1024 Hz tick: ceil(1e9 / 1024)
    assert register(rtc, 0x0C, tick_ns - 1) == 0
    assert register(rtc, 0x0C, tick_ns) == cmos_rtc.IRQF | cmos_rtc.PF
    assert register(rtc, 0x0C, tick_ns) == 0
    assert register(rtc, 0x0C, 1_000_000_000) == cmos_rtc.IRQF | cmos_rtc.PF | cmos_rtc.UF


def test_uip_is_set_in_the_244_us_before_each_update():
    rtc = CmosRtc()
    assert register(rtc, 0x0A, 1_000_000_000 - 244_001) == 0x26
    assert register(rtc, 0x0A, 1_000_000_000 - 244_000) == 0x26 | cmos_rtc.UIP


# The PIC at the BIOS's bases: IRQ 8 is the slave's line 0, vector 0x70; the master passes IRQ 2, the cascade.
SETUP = """
        cli
""" + program_pics(0x08, 0x70, 0xFB, 0xFE) + """
        mov word [0x70 * 4], irq8
        mov word [0x70 * 4 + 2], 0
"""
# The handler reads C (which re-arms the line), counts periodic ticks and updates, and ends the interrupt on both PICs.
HANDLER = """
irq8:   push ax
        mov al, 0x0C
        out 0x70, al
        in al, 0x71
        test al, 0x40
        jz .no_tick
        inc word [ticks]
.no_tick:
        test al, 0x10
        jz .eoi
        inc byte [updates]
.eoi:   mov al, 0x20
        out 0xA0, al
        out 0x20, al
        pop ax
        iret
ticks:   dw 0
updates: db 0
"""
# PIE and UIE at the rate register A gives: count the ticks up to the first update, one second from time 0;
# exit with ticks - 1000 (24 at 1024 Hz).
def one_second(reg_a: int = cmos_rtc.RESET_A) -> str:
    return SETUP + f"""
        mov al, 0x0A
        out 0x70, al
        mov al, {reg_a:#x}
        out 0x71, al
        mov al, 0x0B
        out 0x70, al
        mov al, 0x52                    ; PIE, UIE, 24-hour
        out 0x71, al
        sti
idle:   hlt
        cmp byte [updates], 1
        jb idle
        mov ax, [ticks]
        sub ax, 1000
        out 0xF4, al
        jmp $
""" + HANDLER


def test_a_guest_counts_1024_periodic_interrupts_in_one_second(tmp_path):
    run = run_source(tmp_path, one_second())
    assert run.result.exit_code == 24, run.result.report and run.result.report.format()
    assert 1_000_000_000 <= run.result.virtual_ns < 1_000_100_000


def test_a_rate_off_by_one_fails_the_guests_count(tmp_path, monkeypatch):
    monkeypatch.setattr(cmos_rtc, "periodic_hz", lambda reg_a: 65536 >> (reg_a & cmos_rtc.RS) + 1)
    assert run_source(tmp_path, one_second(), use_cache=False).result.exit_code == (512 - 1000) & 0xFF


def test_hlt_wakes_at_the_first_periodic_tick(tmp_path):
    body = SETUP + """
        mov al, 0x0B
        out 0x70, al
        mov al, 0x42                    ; PIE, 24-hour
        out 0x71, al
        sti
        hlt
        mov ax, [ticks]
        out 0xF4, al
        jmp $
""" + HANDLER
    run = run_source(tmp_path, body, "--insn-ns", "10")
    assert run.result.exit_code == 1
    assert 976_563 <= run.result.virtual_ns < 976_563 + 10_000  # the tick, then the handler's few port accesses


def test_a_snapshot_between_ticks_resumes_to_the_same_end(tmp_path):
    from pmtimer_harness import build_machine, restore_snapshot, take_snapshot

    machine = build_machine(write_guest(tmp_path, one_second(0x2C)), [])  # RS 12: 16 Hz
    saved = []
    machine.on_snapshot = lambda stopped: saved.append(take_snapshot(stopped))
    machine.save_at(60)  # some ticks in, before the first update
    whole = machine.run()
    (snapshot,) = saved
    end = restore_snapshot(snapshot).run()
    keep = ("verdict", "exit_code", "instructions", "virtual_ns", "console")
    assert whole.exit_code == (16 - 1000) & 0xFF
    assert [getattr(end, name) for name in keep] == [getattr(whole, name) for name in keep]


def test_a_snapshot_from_before_the_clock_loads_with_the_clock_at_reset():
    from pmtimer_harness import restore_snapshot

    golden = Path(__file__).parent / "data" / "monotonic-at-50000.snap"
    machine = restore_snapshot(golden.read_bytes())
    notes = [note for note in machine.warnings if "cmos-rtc" in note]
    assert notes == ["the snapshot has no state for device cmos-rtc: it starts from its reset state"]
    assert machine.board.rtc.cmos[cmos_rtc.REG_A] == cmos_rtc.RESET_A


def test_a_users_device_cannot_take_the_clocks_irq_8(tmp_path):
    device = IrqButton()
    device.irq = 8
    with pytest.raises(ConfigError, match="IRQ 8 is the RTC's line"):
        run_source(tmp_path, "        jmp $\n", devices=[device])


def test_a_saved_setting_centuries_away_is_refused_as_a_bad_value():
    rtc = CmosRtc()
    state = rtc.state(0) | {"offset_s": 10**20}
    with pytest.raises(ValueError, match="more than a century"):
        rtc.restore(state, 0)
