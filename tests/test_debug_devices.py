from pmtimer_harness.devices.debug_console import DebugConsole
from pmtimer_harness.devices.debug_exit import DebugExit


def test_console_collects_bytes_and_identifies_itself():
    console = DebugConsole()
    for character in b"ok\n":
        console.write(0xE9, 1, character, 0)
    assert console.text == "ok\n"
    assert console.read(0xE9, 1, 0) == 0xE9
    assert console.state(0) == {"output": "ok\n"}
    again = DebugConsole()
    again.restore(console.state(0), 0)
    assert again.text == "ok\n"


def test_exit_latches_the_first_code_and_reports_it_once():
    codes = []
    device = DebugExit(on_exit=codes.append)
    device.write(0xF4, 1, 3, 0)
    device.write(0xF4, 1, 0, 0)
    assert codes == [3]
    assert device.state(0) == {"code": 3}
