; hello.asm - the smallest guest: prints a line and passes.
;
; Checks: that the console (port 0xE9) and the exit port (0xF4) work, and
; that the timer answers a read.  Start here when writing a guest of your own.

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        PRINT   "hello from a real-mode guest at "
        PRINT_HEX LOAD_ADDRESS
        NEWLINE
        mov     dx, TIMER_PORT
        in      eax, dx
        PRINT   "INFO: the PM timer reads "
        PRINT_HEX eax
        NEWLINE
        FINISH
