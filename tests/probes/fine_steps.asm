; fine_steps.asm - the count moves one tick at a time.
;
; Reads the timer in a tight loop (run it with --io-ns 10: reads about 15 ns
; apart, against a tick of 279 ns) and checks that whenever two consecutive
; reads differ, they differ by exactly one tick.  A timer that follows a
; coarse clock (Bochs's simulated microseconds: 3-4 ticks a step) fails; one
; that follows 100 ns units (Hyper-V) still moves a tick at a time.
; harness: --io-ns 10

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%assign READS 20000

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     ebx, eax
        mov     ecx, READS
        xor     esi, esi                ; steps of more than one tick
.next:
        in      eax, dx
        mov     edi, eax
        sub     edi, ebx
        and     edi, TIMER_MASK
        cmp     edi, 1
        jbe     .fine
        inc     esi
.fine:
        mov     ebx, eax
        dec     ecx
        jnz     .next
        test    esi, esi
        CHECK   z, "consecutive reads differ by at most one tick"
        FINISH
