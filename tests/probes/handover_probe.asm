; handover_probe.asm - how the firmware leaves the PM1 block, and what unaligned timer reads return.
;
; A probe: it prints, and tests/test_probes.py compares with each platform's
; documented answers.  It finds the FADT as an OS does (acpi.inc) and prints:
;   INFO: smi_cmd S acpi_enable E sci_en C pm1_sts P
; SMI_CMD and ACPI_ENABLE from the FADT, SCI_EN (PM1_CNT bit 0) and PM1_STS as
; the firmware left them; then, where there is an SMI_CMD, it writes
; ACPI_ENABLE there as an OS does and prints
;   INFO: sci_en after ACPI_ENABLE C
; Last, reads off the timer's own port, each after a 4-byte read at the port:
;   INFO: word-at-1 A word-at-3 B dword-at-1 C dword-at-2 D dword-at-3 E
; expect: error

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"

guest_main:
        call    find_fadt
        CHECK   nc, "the FADT is found"
        jc      .done
        PRINT   "INFO: smi_cmd "
        PRINT_HEX [es:FADT_SMI_CMD]
        PRINT   " acpi_enable "
        movzx   eax, byte [es:FADT_ACPI_ENABLE]
        PRINT_HEX eax
        mov     edx, [es:FADT_PM1A_CNT_BLK]
        in      ax, dx
        and     eax, 1
        PRINT   " sci_en "
        PRINT_HEX eax
        mov     edx, [es:FADT_PM1A_EVT_BLK]
        in      ax, dx
        movzx   eax, ax
        PRINT   " pm1_sts "
        PRINT_HEX eax
        NEWLINE
        mov     edx, [es:FADT_SMI_CMD]
        test    edx, edx
        jz      .unaligned
        mov     al, [es:FADT_ACPI_ENABLE]
        out     dx, al
        mov     edx, [es:FADT_PM1A_CNT_BLK]
        in      ax, dx
        and     eax, 1
        PRINT   "INFO: sci_en after ACPI_ENABLE "
        PRINT_HEX eax
        NEWLINE
.unaligned:
        mov     edx, [es:FADT_PM_TMR_BLK]
        in      eax, dx
        inc     dx
        xor     eax, eax
        in      ax, dx
        PRINT   "INFO: word-at-1 "
        PRINT_HEX eax
        add     dx, 2
        xor     eax, eax
        in      ax, dx
        PRINT   " word-at-3 "
        PRINT_HEX eax
        sub     dx, 2
        in      eax, dx
        PRINT   " dword-at-1 "
        PRINT_HEX eax
        inc     dx
        in      eax, dx
        PRINT   " dword-at-2 "
        PRINT_HEX eax
        inc     dx
        in      eax, dx
        PRINT   " dword-at-3 "
        PRINT_HEX eax
        NEWLINE
.done:
        FINISH
