; monotonic.asm - the PM timer never steps backwards, and time advances.
;
; Checks, over READS back-to-back reads of the timer port:
;   - every step (now - last) mod 2^TIMER_WIDTH is a forward step, that is
;     smaller than half the counter's span (2^(TIMER_WIDTH-1)); a counter
;     that went backwards by one tick would show a step of 2^TIMER_WIDTH - 1;
;   - no value has bits set above TIMER_WIDTH (for a 24-bit timer);
;   - the last value is later than the first: time advanced.
; This is what Linux's clocksource code relies on: elapsed = (now - last) & mask.
; Works for either width: run it with --timer-width 24 as well.
; expect: piix4=fail no-pm-timer=fail
; expect: qemu-microvm=fail xen-pvh=fail firecracker=fail crosvm=fail acrn=fail
; expect: acrn-prelaunched=fail intel-pch-tim-dis=fail


        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%assign READS 20000

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     [first_value], eax
        mov     ebx, eax                ; ebx = the last value read
        xor     ebp, ebp                ; ebp = backward steps seen
        xor     edi, edi                ; edi = OR of every value read
        mov     ecx, READS

read_the_timer_again:
        in      eax, dx
        or      edi, eax
        mov     esi, eax
        sub     esi, ebx
        and     esi, TIMER_MASK         ; esi = the step, modulo the counter's span
        cmp     esi, TIMER_HALF_SPAN
        jb      the_step_was_forward
        inc     ebp
the_step_was_forward:
        mov     ebx, eax
        dec     ecx
        jnz     read_the_timer_again

report_what_was_seen:
        PRINT   "INFO: "
        PRINT_DEC READS
        PRINT   " reads from "
        PRINT_HEX [first_value]
        PRINT   " to "
        PRINT_HEX ebx
        PRINT   ", "
        PRINT_DEC ebp
        PRINT   " backward steps"
        NEWLINE

        test    ebp, ebp
        CHECK   z, "every step between two reads is forward"

%if TIMER_WIDTH < 32                    ; a 32-bit register has no bits above 32
        test    edi, ~TIMER_MASK
        CHECK   z, "no value has bits set above the timer width"
%endif

        sub     ebx, [first_value]
        and     ebx, TIMER_MASK
        CHECK   nz, "time advanced between the first and the last read"
        FINISH

first_value: dd 0
