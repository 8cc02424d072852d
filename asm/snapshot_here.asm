; snapshot_here.asm - save here, then restore twice and compare.
;
; The guest reads the timer, asks the harness for a snapshot (a write to port
; 0xF5; the snapshot is taken when the current block ends, which the jump
; after the OUT makes right there), then reads the timer again and prints
; both values.  Run it with a file for the snapshot, then resume that file,
; twice: each resumed run prints exactly what the first run printed after the
; snapshot, because the virtual clock, the timer and the CPU continue from the
; saved state.
;
;   python -m pmtimer_harness run asm/snapshot_here.asm --snapshot here.snap
;   python -m pmtimer_harness resume here.snap
;   python -m pmtimer_harness resume here.snap
;
; Without --snapshot the request is counted and nothing is written.
; Checks: one snapshot was requested, and the timer never went back across it.
; portable: no, port 0xF5 (snapshots) is the harness's own

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%define SNAPSHOT_PORT 0xF5

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     [before_the_snapshot], eax
        out     SNAPSHOT_PORT, al       ; save here...
        jmp     after_the_snapshot      ; ...at the end of this block
after_the_snapshot:
        in      al, SNAPSHOT_PORT
        movzx   ebx, al
        in      eax, dx
        PRINT   "INFO: timer "
        PRINT_HEX [before_the_snapshot]
        PRINT   " before the snapshot, "
        PRINT_HEX eax
        PRINT   " after; snapshots requested: "
        PRINT_DEC ebx
        NEWLINE
        cmp     eax, [before_the_snapshot]
        CHECK   ae, "the timer does not go back across the snapshot"
        cmp     ebx, 1
        CHECK   e, "one snapshot was requested"
        FINISH

before_the_snapshot: dd 0
