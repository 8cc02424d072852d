; wrap32.asm - a 32-bit PM timer (TMR_VAL_EXT, as bhyve's) wraps to zero
; exactly at 2^32.
;
; The counter starts 256 ticks below the wrap; the checks are in
; include/wrap_check.inc.
; harness: --timer-width 32 --timer-start 0xFFFFFF00
; portable: no, needs --timer-start and a 32-bit timer; QEMU's is 24 bits

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "wrap_check.inc"
