; narrow_read_probe.asm - what 1- and 2-byte reads of the timer return on a platform.
;
; A probe: it prints, and tests/test_probes.py compares with the documented
; answers.  Between a full read and the narrow ones it spins for 100 us, so
; that a narrow read of the live counter differs from one that repeats the last
; full read (an untouched I/O buffer).  Lines:
;   INFO: full F  word W  byte B  word-at-2 H  full G
; where F and G are 4-byte reads at TIMER_PORT, W a 2-byte read there, B a
; 1-byte read, H a 2-byte read at TIMER_PORT+2.  One check: the 2-byte read
; is not just the last full read's low bytes (an I/O buffer left untouched).
; harness: --timer-start 0xABCD00
; expect: error

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     esi, eax                ; F
        mov     ecx, 10000
.spin:
        dec     ecx
        jnz     .spin
        xor     eax, eax
        in      ax, dx
        mov     edi, eax                ; W
        xor     eax, eax
        in      al, dx
        mov     ebp, eax                ; B
        add     dx, 2
        xor     eax, eax
        in      ax, dx
        mov     ebx, eax                ; H
        sub     dx, 2
        PRINT   "INFO: full "
        PRINT_HEX esi
        PRINT   " word "
        PRINT_HEX edi
        PRINT   " byte "
        PRINT_HEX ebp
        PRINT   " word-at-2 "
        PRINT_HEX ebx
        in      eax, dx
        PRINT   " full "
        PRINT_HEX eax
        NEWLINE
        cmp     di, si
        CHECK   ne, "the 2-byte read is not the last full read's low bytes"
        FINISH
