; linux_pmtmr.asm - read the timer the way Linux does.
;
; torvalds/linux drivers/clocksource/acpi_pm.c and include/linux/acpi_pmtmr.h:
; Linux takes the port from the FADT (arch/x86/kernel/acpi/boot.c,
; acpi_parse_fadt: X_PM_TMR_BLK in a revision-2 or later FADT when it is an I/O
; address, else PM_TMR_BLK), ignores TMR_VAL_EXT and always masks to 24 bits
; (ACPI_PM_MASK); elapsed time is (now - last) & mask.  This guest
;   - measures a 10 ms span across the 24-bit wrap (the counter starts 256
;     ticks below it) and checks the masked elapsed ticks;
;   - runs the boot-time consistency check of init_acpi_pm_clocksource: a
;     later read may be smaller than an earlier one only just after a wrap
;     (below 0xFFF); without the virtual clock a host that stops the guest
;     for a millisecond across the wrap breaks that rule with a step that is
;     forward modulo 2^24, so such a pair is read again, up to
;     CONSISTENCY_ATTEMPTS times; a step back modulo 2^24 is never excused;
;   - reads through acpi_pm_read_verified, which reads three times and retries
;     while the middle value is out of order: the values it returns never step
;     back.  Linux needs it on chipsets whose reads are not latched (PIIX4
;     before revision 3), which it knows by their PCI IDs
;     (acpi_pm_check_blacklist); the harness has no PCI bus and says so with
;     PM_TIMER_UNLATCHED.  On any other chipset a sound timer never needs a
;     retry, and the guest checks that too.
; It passes at both widths: a 32-bit counter carrying into bit 24 looks like a
; wrap once masked.
; harness: --timer-start 0xFFFF00
; expect: bhyve=fail no-pm-timer=skip
; expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
; expect: acrn-prelaunched=skip intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"
        %include "span.inc"
        %include "fadt_timer.inc"

%define ACPI_PM_MASK 0x00FFFFFF
%assign MONOTONICITY_CHECKS 10
%assign READ_CHECKS 10000
%assign VERIFIED_READS 1000
%assign SPAN_LOOPS 100000               ; 10 ms: across the wrap
%if CLOCK_VIRTUAL
%assign CONSISTENCY_ATTEMPTS 1
%else
%assign CONSISTENCY_ATTEMPTS 10
%endif

guest_main:
        call    find_the_timer
        call    prefer_x_pm_tmr_blk
        call    require_a_timer_port

elapsed_across_the_wrap:
        MEASURE_SPAN_ACROSS_THE_WRAP SPAN_LOOPS
        PRINT   "INFO: the span runs from "
        PRINT_HEX ebx
        PRINT   " to "
        PRINT_HEX eax
        NEWLINE
        sub     eax, ebx
        and     eax, ACPI_PM_MASK       ; clocksource_delta: (now - last) & mask
        CHECK_SPAN_TICKS EXPECTED_TICKS(SPAN_LOOPS), "elapsed ticks across the 24-bit wrap, masked as Linux does"

boot_time_consistency_check:
        xor     ebp, ebp                ; ebp = inconsistencies seen
        mov     esi, MONOTONICITY_CHECKS
.next_check:
        mov     edi, CONSISTENCY_ATTEMPTS
.measure:
        in      eax, dx
        and     eax, ACPI_PM_MASK
        mov     ebx, eax                ; value1
        mov     ecx, READ_CHECKS
.read_again:
        in      eax, dx
        and     eax, ACPI_PM_MASK       ; value2
        cmp     eax, ebx
        je      .same_value
        ja      .consistent             ; later and larger
        cmp     eax, 0xFFF
        jb      .consistent             ; smaller, but only just past a wrap
%if CLOCK_VIRTUAL == 0
        sub     eax, ebx
        and     eax, ACPI_PM_MASK
        cmp     eax, 0x00800000
        jae     .inconsistent           ; a step back, modulo 2^24 too
        dec     edi
        jnz     .measure                ; forward across the wrap: stopped there? read the pair again
%endif
.inconsistent:
        inc     ebp
        jmp     .consistent
.same_value:
        dec     ecx
        jnz     .read_again
        inc     ebp                     ; the timer did not move in READ_CHECKS reads
.consistent:
        dec     esi
        jnz     .next_check
        test    ebp, ebp
        CHECK   z, "the boot-time consistency check of init_acpi_pm_clocksource passes"

verified_reads:
        mov     esi, VERIFIED_READS
        xor     ebp, ebp                ; ebp = retries
        xor     edi, edi                ; edi = steps back
        call    acpi_pm_read_verified
        mov     ebx, eax                ; the last value returned
.next_read:
        call    acpi_pm_read_verified
        push    eax
        sub     eax, ebx
        and     eax, ACPI_PM_MASK       ; (now - last) & mask: a step back is near 2^24
        cmp     eax, 1 << 23
        jb      .forward
        inc     edi
.forward:
        pop     ebx
        dec     esi
        jnz     .next_read
        PRINT   "INFO: acpi_pm_read_verified read again "
        PRINT_DEC ebp
        PRINT   " times in "
        PRINT_DEC VERIFIED_READS
        PRINT   " reads"
        NEWLINE
        test    edi, edi
        CHECK   z, "acpi_pm_read_verified never returns a value behind the one before"
%if PM_TIMER_UNLATCHED == 0
        test    ebp, ebp
        CHECK   z, "acpi_pm_read_verified never needs to read again"
%endif

        FINISH

; acpi_pm_read_verified: EAX = the middle of three reads with no inversion;
; EBP counts the retries.
acpi_pm_read_verified:
        push    ebx
        push    ecx
.read_three:
        in      eax, dx
        and     eax, ACPI_PM_MASK
        mov     ebx, eax                ; v1
        in      eax, dx
        and     eax, ACPI_PM_MASK
        mov     ecx, eax                ; v2
        in      eax, dx
        and     eax, ACPI_PM_MASK       ; v3
        ; retry when (v1 > v2 && v1 < v3) || (v2 > v3 && v2 < v1) || (v3 > v1 && v3 < v2)
        cmp     ebx, ecx
        jbe     .second_rule
        cmp     ebx, eax
        jb      .retry
.second_rule:
        cmp     ecx, eax
        jbe     .third_rule
        cmp     ecx, ebx
        jb      .retry
.third_rule:
        cmp     eax, ebx
        jbe     .in_order
        cmp     eax, ecx
        jb      .retry
.in_order:
        mov     eax, ecx
        pop     ecx
        pop     ebx
        ret
.retry:
        inc     ebp
        jmp     .read_three
