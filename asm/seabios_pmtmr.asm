; seabios_pmtmr.asm - read the timer the way SeaBIOS does.
;
; coreboot/seabios src/hw/timer.c: SeaBIOS reads the PM timer's low 24 bits
; and extends them to 32 with timer_adjust_bits(value, 0xFFFFFF): keep the
; last value's upper bits, and add 2^24 when the low bits went down.  A
; deadline is reached when (s32)(now - end) > 0 (timer_check).  This guest
;   - measures a 10 ms span across the 24-bit wrap with extended values;
;   - waits for a 1 ms deadline (3580 ticks) with timer_check and checks that
;     it ends within a few ticks of its end, with the extended value never
;     going backwards on the way.  Without the virtual clock a busy host can
;     stop the guest just as the deadline passes: a late deadline is waited
;     for again, up to DEADLINE_ATTEMPTS times, and the last one is judged (a
;     timer that jumps past deadlines does so every time).  A timer that
;     stands still over the span (a port nothing answers reads all ones)
;     ends the guest there, where SeaBIOS would wait for ever.
; harness: --timer-start 0xFFFF00
; expect: bhyve=fail cloud-hypervisor=fail piix4=fail no-pm-timer=skip
; expect: qemu-microvm=fail xen-pvh=fail hyperv=skip firecracker=fail crosvm=fail acrn=skip
; expect: acrn-prelaunched=fail intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"
        %include "span.inc"
%define FIND_THE_FADT find_rsdt_fadt    ; SeaBIOS follows the RSDT alone (src/fw/biostables.c find_fadt)
        %include "fadt_timer.inc"

%assign SPAN_LOOPS 100000               ; 10 ms: across the 24-bit wrap
%assign DEADLINE_TICKS 3580             ; 1 ms, as timer_calc(1) would give
%if CLOCK_VIRTUAL
%assign NEAR 16
%assign DEADLINE_ATTEMPTS 1
%else
%assign NEAR 358                        ; 100 us: a real machine takes time to notice
%assign DEADLINE_ATTEMPTS 20                ; each costs 1 ms
%endif

guest_main:
        call    find_the_timer
        call    require_a_timer_port
        in      eax, dx
        call    timer_adjust_bits       ; start the extension

elapsed_across_the_wrap:
        MEASURE_SPAN_ACROSS_THE_WRAP SPAN_LOOPS
        push    eax
        mov     eax, ebx
        call    timer_adjust_bits
        mov     ebx, eax                ; t0, extended
        pop     eax
        call    timer_adjust_bits       ; t1, extended
        PRINT   "INFO: extended values from "
        PRINT_HEX ebx
        PRINT   " to "
        PRINT_HEX eax
        NEWLINE
        sub     eax, ebx
        mov     [span_ticks], eax
        CHECK_SPAN_TICKS EXPECTED_TICKS(SPAN_LOOPS), "elapsed ticks across the wrap, extended as SeaBIOS does"
        cmp     dword [span_ticks], 0
        jne     wait_for_a_deadline
        PRINT   "INFO: the timer stands still: SeaBIOS would wait for its deadline for ever (not waited for here)"
        NEWLINE
        FINISH

wait_for_a_deadline:
        xor     ebp, ebp                ; ebp = backward steps, over every attempt
        mov     dword [attempts_left], DEADLINE_ATTEMPTS
.start:
        in      eax, dx
        call    timer_adjust_bits
        mov     ebx, eax
        add     ebx, DEADLINE_TICKS     ; end = timer_read() + ticks
        mov     edi, eax                ; the last extended value
.not_yet:
        in      eax, dx
        call    timer_adjust_bits
        cmp     eax, edi
        jae     .not_backwards
        inc     ebp
.not_backwards:
        mov     edi, eax
        mov     esi, eax
        sub     esi, ebx                ; (s32)(now - end) > 0: the deadline has passed
        jle     .not_yet
        PRINT   "INFO: the deadline passed "
        PRINT_DEC esi
        PRINT   " ticks after its end"
        NEWLINE
        cmp     esi, NEAR
        jb      .judge
        dec     dword [attempts_left]
        jz      .judge
        PRINT   "INFO: late (was the guest stopped?): waiting for another deadline"
        NEWLINE
        jmp     .start
.judge:
        cmp     esi, NEAR
        CHECK   b, "a 1 ms deadline ends within a few ticks of its end"
        test    ebp, ebp
        CHECK   z, "the extended value never goes backwards"
        FINISH

; timer_adjust_bits: EAX = the 24 low bits read, extended to 32 with the last value.
timer_adjust_bits:
        push    ebx
        and     eax, 0x00FFFFFF         ; validbits
        mov     ebx, [timer_last_value]
        and     ebx, 0xFF000000         ; the last value's upper bits
        or      eax, ebx
        cmp     eax, [timer_last_value]
        jae     .not_wrapped
        add     eax, 0x01000000         ; validbits + 1
.not_wrapped:
        mov     [timer_last_value], eax
        pop     ebx
        ret

timer_last_value: dd 0
attempts_left:    dd 0
span_ticks:       dd 0
