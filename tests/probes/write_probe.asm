; write_probe.asm - what a write to the timer does on a platform.
;
; A probe: reads the timer, writes 0 to it (a 4-byte OUT), reads it again and
; prints both reads: "INFO: before B after A".  A platform that refuses the
; write stops the guest (an error verdict); one that ignores it shows A just
; after B.  tests/test_probes.py compares with the documented answers.
; harness: --timer-start 0x123400
; expect: error

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     esi, eax
        xor     eax, eax
        out     dx, eax
        in      eax, dx
        mov     edi, eax
        PRINT   "INFO: before "
        PRINT_HEX esi
        PRINT   " after "
        PRINT_HEX edi
        NEWLINE
        FINISH
