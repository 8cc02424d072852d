; rate.asm - the PM timer counts at 3,579,545 Hz.
;
; How: read the timer, spin through a loop of a known number of instructions,
; read it again.  Under the virtual clock, time is
;     instructions x INSN_NS + port accesses x IO_NS     (nanoseconds)
; so the interval between the two reads is known exactly:
;     SPAN_NS = SPAN_INSTRUCTIONS x INSN_NS + IO_NS   (the first read's own cost)
; and the timer must advance by SPAN_NS x 3,579,545 / 10^9 ticks, within one
; tick (where the interval starts within a tick decides the rounding).
;
; Two spans are measured: 100 us, and 10 ms, long enough that a timer 720 ppm
; fast (bhyve's rounding error) is 26 ticks off.
; Under the host clock the interval is not known in advance: the guest only
; reports what it measured.

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

; MEASURE_SPAN loops - reads the timer, spins `loops` times through a loop of
; SPIN_BODY instructions, reads it again; leaves the ticks elapsed in eax.
%assign SPIN_BODY 100           ; 98 nops, dec, jnz
%macro MEASURE_SPAN 1
        in      eax, dx                 ; t0: every instruction from here on counts
        mov     ebx, eax
        mov     ecx, %1
%%spin:
        times SPIN_BODY - 2 nop
        dec     ecx
        jnz     %%spin
        in      eax, dx                 ; t1
        sub     eax, ebx
        and     eax, TIMER_MASK
%endmacro

; Instructions from t0 (included) to t1 (excluded): in, mov, mov, the loop.
%define SPAN_INSTRUCTIONS(loops) (3 + (loops) * SPIN_BODY)
%define SPAN_NS(loops)           (SPAN_INSTRUCTIONS(loops) * INSN_NS + IO_NS)
%define EXPECTED_TICKS(loops)    (SPAN_NS(loops) * PM_TMR_HZ / 1000000000)

%assign SHORT_LOOPS 1000        ; 100,003 instructions: 100 us at 1 ns each
%assign LONG_LOOPS  100000      ; 10,000,003 instructions: 10 ms

; CHECK_TICKS expected, "what" - eax within one tick of expected.
%macro CHECK_TICKS 2
        PRINT   "INFO: measured "
        PRINT_DEC eax
        PRINT   " ticks, expected "
        PRINT_DEC %1
        NEWLINE
        sub     eax, %1 - 1             ; in range when eax - (expected - 1) <= 2
        cmp     eax, 2
        CHECK   be, %2
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
