; fadt_and_rate_probe.asm - what a platform's FADT says of its timer, and how fast the timer runs.
;
; A probe, not a check: it prints what it finds, and tests/test_probes.py
; compares the lines with each platform's documented answer.  It finds the FADT
; as an OS does (acpi.inc), prints its revision, PM_TMR_BLK, PM_TMR_LEN, the
; Flags (TMR_VAL_EXT, HW_REDUCED_ACPI) and, in a revision-2 or later table,
; X_PM_TMR_BLK's address and bit width.  Then it measures the ticks across 1 ms
; of instructions at the port the FADT names (either field), as rate.asm does.

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"
        %include "span.inc"

%assign LOOPS 10000                     ; 1,000,003 instructions: 1 ms at 1 ns each

guest_main:
        call    find_rsdt_fadt
        jnc     .found
        PRINT   "INFO: no FADT"
        NEWLINE
        FINISH
.found:
        PRINT   "INFO: revision "
        movzx   eax, byte [es:8]
        PRINT_DEC eax
        PRINT   " PM_TMR_BLK "
        PRINT_HEX [es:FADT_PM_TMR_BLK]
        PRINT   " PM_TMR_LEN "
        movzx   eax, byte [es:FADT_PM_TMR_LEN]
        PRINT_DEC eax
        PRINT   " Flags "
        PRINT_HEX [es:FADT_FLAGS]
        NEWLINE
        mov     edx, [es:FADT_PM_TMR_BLK]
        cmp     byte [es:8], 2
        jb      .measure
        PRINT   "INFO: X_PM_TMR_BLK "
        PRINT_HEX [es:208 + 4]
        PRINT   " bits "
        movzx   eax, byte [es:208 + 1]
        PRINT_DEC eax
        NEWLINE
        test    edx, edx
        jnz     .measure
        mov     edx, [es:208 + 4]
.measure:
        test    edx, edx
        jz      .done
        MEASURE_RAW_SPAN LOOPS
        sub     eax, ebx
        PRINT   "INFO: ticks over 1 ms "
        PRINT_DEC eax
        NEWLINE
.done:
        FINISH
