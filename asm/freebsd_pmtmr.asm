; freebsd_pmtmr.asm - read the timer the way FreeBSD does.
;
; freebsd/freebsd-src sys/dev/acpica/acpi_timer.c: the timecounter's mask is
; 0xFFFFFFFF when the FADT sets TMR_VAL_EXT, else 0x00FFFFFF, and elapsed
; time is (now - last) & mask.  So FreeBSD trusts the FADT: a 32-bit timer
; that wrapped at 24 bits would lose 2^24 ticks, which Linux, always masking
; to 24 bits, would never notice.  This guest takes the mask from the FADT,
; measures a 10 ms span across 2^24 (the counter starts 256 ticks below it)
; and checks the elapsed ticks; then checks, over many reads, that every step
; is forward modulo that mask.  Like acpi_timer_identify it skips a timer
; whose PM_TMR_LEN is 0, and reads the port from X_PM_TMR_BLK (ACPICA's FADT
; conversion prefers the X_ field where it is set).
; harness: --timer-start 0xFFFF00
; expect: bhyve=fail cloud-hypervisor=skip piix4=fail no-pm-timer=skip
; expect: qemu-microvm=skip xen-pvh=skip firecracker=skip crosvm=skip acrn=skip
; expect: acrn-prelaunched=skip bochs-uefi=fail intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"
        %include "span.inc"
        %include "fadt_timer.inc"

%assign SPAN_LOOPS 100000               ; 10 ms: across 2^24
%assign READS 5000

guest_main:
        call    find_the_timer
        cmp     byte [es:FADT_PM_TMR_LEN], 0
        je      .no_timer_length
        call    prefer_x_pm_tmr_blk
        jmp     .port_chosen
.no_timer_length:
        xor     dx, dx                  ; FreeBSD takes no timer from it
.port_chosen:
        call    require_a_timer_port
        mov     dword [tc_counter_mask], 0x00FFFFFF
        cmp     dword [timer_is_32_bits], 0
        je      elapsed_across_2_to_the_24
        mov     dword [tc_counter_mask], 0xFFFFFFFF

elapsed_across_2_to_the_24:
        MEASURE_SPAN_ACROSS_THE_WRAP SPAN_LOOPS
        PRINT   "INFO: mask "
        PRINT_HEX [tc_counter_mask]
        PRINT   "; the span runs from "
        PRINT_HEX ebx
        PRINT   " to "
        PRINT_HEX eax
        NEWLINE
        sub     eax, ebx
        and     eax, [tc_counter_mask]
        CHECK_SPAN_TICKS EXPECTED_TICKS(SPAN_LOOPS), "elapsed ticks across 2^24, masked as TMR_VAL_EXT says"

every_step_forward_modulo_the_mask:
        in      eax, dx
        mov     ebx, eax
        xor     ebp, ebp                ; ebp = backward steps
        mov     ecx, READS
.again:
        in      eax, dx
        mov     esi, eax
        sub     esi, ebx
        and     esi, [tc_counter_mask]
        mov     edi, [tc_counter_mask]
        shr     edi, 1
        cmp     esi, edi
        jbe     .forward
        inc     ebp
.forward:
        mov     ebx, eax
        dec     ecx
        jnz     .again
        test    ebp, ebp
        CHECK   z, "every step is forward modulo the timecounter's mask"
        FINISH

tc_counter_mask: dd 0
