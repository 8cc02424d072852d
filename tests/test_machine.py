"""The machine: time accounting, verdicts, faults, modes, determinism."""

import subprocess

import pytest
from pmtimer_harness.core.config import ConfigError, MachineConfig
from pmtimer_harness.core.machine import Machine
from pmtimer_harness.core.result import Verdict
from pmtimer_harness.tools.runner import run_guest

from tests.guests import bundled, program_pics, run_source

EXIT_0 = """
        mov al, 0
        out 0xF4, al
"""


def trace_lines(tmp_path, body, *options):
    lines = []
    run = run_source(tmp_path, body, *options, trace=lines.append)
    return run, lines


def test_a_read_after_a_loop_sees_every_instruction_of_the_loop(tmp_path):
    body = """
        mov dx, TIMER_PORT
        in eax, dx              ; instruction 2: 2 instructions before it
        mov ecx, 1000
spin:   dec ecx
        jnz spin                ; 2000 instructions
        in eax, dx              ; 2 + 1 + 1 + 2000 instructions before it
""" + EXIT_0
    run, lines = trace_lines(tmp_path, body, "--insn-ns", "1", "--io-ns", "0")
    assert run.result.verdict == Verdict.PASS
    assert "insn          1]" in lines[0]
    assert "insn       2003]" in lines[1]


def test_port_accesses_add_io_ns(tmp_path):
    body = """
        mov dx, TIMER_PORT
        in eax, dx
        in eax, dx
""" + EXIT_0
    run, lines = trace_lines(tmp_path, body, "--insn-ns", "10", "--io-ns", "500")
    assert lines[0].startswith("[          10 ns")  # 1 instruction
    assert lines[1].startswith("[         520 ns")  # 2 instructions, 1 access
    assert run.result.virtual_ns == 5 * 10 + 3 * 500


def test_same_guest_same_options_same_values(tmp_path):
    body = """
        mov dx, TIMER_PORT
        mov ecx, 500
again:  in eax, dx
        imul ebx, eax, 7
        dec ecx
        jnz again
""" + EXIT_0
    first = trace_lines(tmp_path, body)[1]
    second = trace_lines(tmp_path, body)[1]
    assert first == second and len(first) == 501


def test_first_exit_code_is_latched(tmp_path):
    run = run_source(tmp_path, "mov al, 3\n out 0xF4, al\n mov al, 0\n out 0xF4, al\n")
    assert (run.result.verdict, run.result.exit_code) == (Verdict.FAIL, 3)


def test_a_device_error_wins_over_a_later_exit(tmp_path):
    body = "mov dx, TIMER_PORT\n in ax, dx\n" + EXIT_0  # same block as the exit
    run = run_source(tmp_path, body)
    assert run.result.verdict == Verdict.ERROR
    assert run.result.exit_code is None
    assert run.result.report.access.width == 2


def test_rep_insb_reaches_the_device_once_per_element(tmp_path):
    body = """
        mov dx, TIMER_PORT
        mov di, 0x1000
        mov cx, 4
        rep insb
""" + EXIT_0
    run = run_source(tmp_path, body, "--io-semantics", "qemu")
    assert run.result.verdict == Verdict.PASS
    assert run.result.port_reads == 4


def test_error_report_names_port_size_value_address_and_instruction(tmp_path):
    run = run_source(tmp_path, "mov dx, TIMER_PORT\n mov eax, 5\n out dx, eax\n")
    report = run.result.report
    assert run.result.verdict == Verdict.ERROR
    assert (report.access.direction, report.access.port, report.access.width, report.access.value) == (
        "out", 0x408, 4, 5)
    assert report.address == 0x7C00 + 3 + 6
    assert report.instruction == "out dx, eax"
    assert report.source.startswith("guest.asm:")
    assert report.registers["eax"] == 5


def test_divide_error_is_reported_at_the_faulting_instruction(tmp_path):
    run = run_source(tmp_path, "xor cx, cx\n div cx\n")
    assert run.result.verdict == Verdict.ERROR
    assert "#DE" in run.result.report.reason
    assert run.result.report.instruction == "div cx"


def test_software_interrupt_is_explained(tmp_path):
    run = run_source(tmp_path, "int 0x10\n")
    assert run.result.verdict == Verdict.ERROR
    assert "INT 0x10" in run.result.report.reason


def test_invalid_instruction(tmp_path):
    run = run_source(tmp_path, "ud2\n")
    assert run.result.verdict == Verdict.ERROR
    assert "invalid instruction" in run.result.report.reason


def test_unmapped_memory_access(tmp_path):
    body = "bits 32\n mov eax, [0x40000000]\n"
    run = run_source(tmp_path, body, "--mode", "32", "--load-address", "0x1000")
    assert run.result.verdict == Verdict.ERROR
    assert "unmapped" in run.result.report.reason
    assert "0x40000000" in run.result.report.details


def test_instruction_budget(tmp_path):
    run = run_source(tmp_path, "spin: jmp spin\n", "--max-instructions", "10000")
    assert run.result.verdict == Verdict.TIMEOUT
    assert "instruction budget" in run.result.report.reason
    assert 10000 <= run.result.instructions <= 10001


def test_wall_clock_budget(tmp_path):
    run = run_source(tmp_path, "spin: jmp spin\n", "--timeout", "0.2", "--max-instructions", str(10**12))
    assert run.result.verdict == Verdict.TIMEOUT
    assert "wall-clock" in run.result.report.reason


def test_hlt_with_nothing_to_wait_for_halts(tmp_path):
    run = run_source(tmp_path, "nop\n cli\n hlt\n")
    assert run.result.verdict == Verdict.HALTED
    assert run.result.report.instruction == "hlt"
    assert run.result.instructions == 3


def test_strict_io_refuses_an_unclaimed_port(tmp_path):
    run = run_source(tmp_path, "in al, 0x80\n" + EXIT_0, "--strict-io")
    assert run.result.verdict == Verdict.ERROR
    assert "no device claims" in run.result.report.reason


def test_lenient_io_reads_all_ones_and_notes_the_port(tmp_path):
    body = "in al, 0x80\n cmp al, 0xFF\n setne al\n out 0xF4, al\n"
    run = run_source(tmp_path, body)
    assert run.result.verdict == Verdict.PASS
    assert any("0x0080" in warning for warning in run.result.warnings)


def test_real_mode_guest_switches_itself_to_protected_mode(tmp_path):
    body = """
        cli
        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:protected_mode
        bits 32
protected_mode:
        mov ax, 0x10
        mov ds, ax
        mov dx, TIMER_PORT
        in eax, dx
        mov al, 0
        out 0xF4, al
        align 8
gdt:    dq 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF
gdt_descriptor:
        dw 23
        dd gdt
"""
    lines = []
    run = run_source(tmp_path, body, trace=lines.append)
    assert run.result.verdict == Verdict.PASS
    assert "in eax, dx" in lines[0]  # decoded as 32-bit code: no operand-size prefix needed


def assemble_raw(tmp_path, bits, source):
    path = tmp_path / f"raw{bits}.asm"
    path.write_text(f"bits {bits}\n{source}")
    subprocess.run(["nasm", "-f", "bin", "-o", str(tmp_path / "raw.bin"), str(path)], check=True)
    return (tmp_path / "raw.bin").read_bytes()


def run_raw(image, **options):
    machine = Machine(MachineConfig(**options))
    machine.load(image)
    return machine.run()


def test_32_bit_flat_start(tmp_path):
    image = assemble_raw(tmp_path, 32, "mov esp, 0x80000\n push dword 0\n pop eax\n out 0xF4, al\n")
    result = run_raw(image, mode=32, load_address=0x100000, memory=2 << 20)
    assert result.verdict == Verdict.PASS


def test_64_bit_start(tmp_path):
    image = assemble_raw(tmp_path, 64, "mov rax, 0x100000000\n shr rax, 32\n dec al\n out 0xF4, al\n")
    result = run_raw(image, mode=64, load_address=0x1000)
    assert result.verdict == Verdict.PASS


def test_host_clock_runs_the_monotonic_guest(tmp_path):
    run = run_guest(bundled("monotonic.asm"), ["--clock", "host"])
    assert run.result.verdict == Verdict.PASS, run.result.console
    assert run.result.virtual_ns is None


def test_host_clock_counts_no_instructions_and_refuses_an_instruction_budget(tmp_path):
    run = run_source(tmp_path, EXIT_0, "--clock", "host")
    assert run.result.verdict == Verdict.PASS
    assert run.result.instructions is None
    with pytest.raises(ConfigError, match="virtual clock"):
        run_source(tmp_path, EXIT_0, "--clock", "host", "--max-instructions", "1000")


def test_host_clock_halts_and_reports_errors_at_the_instruction(tmp_path):
    halted = run_source(tmp_path, "nop\n cli\n hlt\n", "--clock", "host")
    assert halted.result.verdict == Verdict.HALTED
    assert halted.result.report.instruction == "hlt"
    refused = run_source(tmp_path, "mov dx, TIMER_PORT\n in ax, dx\n", "--clock", "host")
    assert refused.result.verdict == Verdict.ERROR
    assert refused.result.report.instruction == "in ax, dx"
    assert refused.result.report.address == 0x7C00 + 3


def test_tracing_changes_no_value_the_guest_sees(tmp_path):
    plain = run_guest(bundled("monotonic.asm")).result
    traced = run_guest(bundled("monotonic.asm"), trace=lambda line: None).result
    assert (traced.console, traced.instructions, traced.virtual_ns) == (
        plain.console, plain.instructions, plain.virtual_ns)


def test_rate_guest_follows_the_clock_options():
    run = run_guest(bundled("rate.asm"), ["--insn-ns", "3", "--io-ns", "77"])
    assert run.result.verdict == Verdict.PASS, run.result.console


def test_rep_outsb_writes_a_string_to_the_console(tmp_path):
    body = """
        mov si, text
        mov cx, 3
        mov dx, 0xE9
        rep outsb
""" + EXIT_0 + """
text:   db "abc"
"""
    run = run_source(tmp_path, body)
    assert run.result.verdict == Verdict.PASS
    assert run.result.console == "abc"
    assert run.result.port_writes == 4


# ICW1-ICW4 for both PICs (vectors 0x20 and 0x28), then only IRQ 9 unmasked.
PIC_SETUP = program_pics(0x20, 0x28, 0xFB, 0xFD)

PROTECTED_MODE_SCI = """
        cli
""" + PIC_SETUP + """        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:protected_mode
        bits 32
protected_mode:
        mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov esp, 0x7000
        lidt [idt_descriptor]
        mov dx, 0x402
        mov ax, 1
        out dx, ax              ; TMR_EN
        sti
        hlt
        mov al, [flags_in_handler]
        out 0xF4, al            ; exit code: IF as the handler saw it, 2 = never ran
handler:
        pushfd
        pop eax
        shr eax, 9
        and al, 1
        mov [flags_in_handler], al
        mov dx, 0x400
        mov ax, 1
        out dx, ax              ; clear TMR_STS
        mov al, 0x20
        out 0xA0, al
        out 0x20, al
        iretd
flags_in_handler: db 2
        align 8
gdt:    dq 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF
gdt_descriptor:
        dw 23
        dd gdt
idt:    times 0x29 dq 0
        dw handler, 0x08
        db 0, GATE_TYPE
        dw 0
idt_descriptor:
        dw 0x2A * 8 - 1
        dd idt
"""


@pytest.mark.parametrize(("gate_type", "flags_in_handler"), [("0x8E", 0), ("0x8F", 1)])
def test_protected_mode_delivery_through_interrupt_and_trap_gates(tmp_path, gate_type, flags_in_handler):
    body = f"%define GATE_TYPE {gate_type}\n" + PROTECTED_MODE_SCI
    run = run_source(tmp_path, body, "--timer-width", "24")
    # An interrupt gate clears IF (exit code 0), a trap gate leaves it set (exit code 1).
    assert run.result.exit_code == flags_in_handler, run.result.report
    assert run.result.virtual_ns > 2_000_000_000  # the HLT slept until bit 23 toggled (2.34 s)


def test_an_interrupt_with_no_idt_gate_is_an_error(tmp_path):
    body = "%define GATE_TYPE 0x00\n" + PROTECTED_MODE_SCI
    run = run_source(tmp_path, body, "--timer-width", "24")
    assert run.result.verdict == Verdict.ERROR
    assert "not present" in run.result.report.reason


def test_hlt_with_interrupts_off_halts_even_with_tmr_en(tmp_path):
    body = "mov dx, 0x402\n mov ax, 1\n out dx, ax\n cli\n hlt\n"
    run = run_source(tmp_path, body)
    assert run.result.verdict == Verdict.HALTED


REAL_MODE_SPIN_UNTIL_SCI = """
        cli
""" + PIC_SETUP + """        mov word [0x29 * 4], handler
        mov word [0x29 * 4 + 2], 0
        mov dx, 0x402
        mov ax, 1
        out dx, ax              ; TMR_EN
        sti
spin:   cmp byte [taken], 0     ; no HLT: the interrupt must arrive while the CPU runs
        je spin
        mov al, 0
        out 0xF4, al
handler:
        mov byte [taken], 1
        mov dx, 0x400
        mov ax, 1
        out dx, ax
        mov al, 0x20
        out 0xA0, al
        out 0x20, al
        iret
taken:  db 0
"""


@pytest.mark.parametrize("clock", ["virtual", "host"])
def test_an_interrupt_arrives_while_the_cpu_spins(tmp_path, clock):
    options = ["--clock", clock, "--timer-width", "24", "--timer-start", "0x7FFF00", "--timeout", "10"]
    run = run_source(tmp_path, REAL_MODE_SPIN_UNTIL_SCI, *options)
    assert run.result.verdict == Verdict.PASS, run.result.report


def test_interrupts_are_deterministic_under_the_virtual_clock():
    first, second = [], []
    run_guest(bundled("overflow_irq.asm"), trace=first.append)
    run_guest(bundled("overflow_irq.asm"), trace=second.append)
    assert first == second
    assert sum("IRQ 9 (SCI) -> vector 0x29" in line for line in first) == 4
