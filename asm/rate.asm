; rate.asm - the PM timer counts at 3,579,545 Hz.
;
; How: read the timer, spin through a loop of a known number of instructions,
; read it again (include/span.inc explains the arithmetic): the timer must
; advance by the span's virtual nanoseconds x 3,579,545 / 10^9 ticks, within one.
;
; Two spans are measured: 100 us, and 10 ms, long enough that a timer 720 ppm
; fast (bhyve's rounding error) is 26 ticks off.
; Under the host clock the interval is not known in advance: the guest only
; reports what it measured.
; expect: bhyve=fail no-pm-timer=fail
; expect: qemu-microvm=fail xen-pvh=fail firecracker=fail crosvm=fail acrn=fail
; expect: acrn-prelaunched=fail intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "span.inc"

%assign SHORT_LOOPS 1000        ; 100,003 instructions: 100 us at 1 ns each
%assign LONG_LOOPS  100000      ; 10,000,003 instructions: 10 ms

; MEASURE_SPAN loops - the ticks elapsed across the span, in EAX.
%macro MEASURE_SPAN 1
        MEASURE_RAW_SPAN %1
        sub     eax, ebx
        and     eax, TIMER_MASK
%endmacro

guest_main:
        mov     dx, TIMER_PORT
%if CLOCK_VIRTUAL
        MEASURE_SPAN SHORT_LOOPS
        CHECK_TICKS EXPECTED_TICKS(SHORT_LOOPS), "the timer advances 3579545 ticks per second over 100 us"
        MEASURE_SPAN LONG_LOOPS
        CHECK_TICKS EXPECTED_TICKS(LONG_LOOPS), "the timer advances 3579545 ticks per second over 10 ms"
%else
        MEASURE_SPAN LONG_LOOPS
        PRINT   "INFO: host clock: "
        PRINT_DEC eax
        PRINT   " ticks over 10,000,003 instructions; the rate is checked under the virtual clock"
        NEWLINE
%endif
        FINISH
