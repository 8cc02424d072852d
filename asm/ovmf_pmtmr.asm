; ovmf_pmtmr.asm - wait the way OVMF's timer library does.
;
; tianocore/edk2 OvmfPkg/Library/AcpiTimerLib/AcpiTimerLib.c
; (InternalAcpiDelay): a delay of D ticks is cut into D >> 22 whole chunks of
; 2^22 ticks and a first chunk of D mod 2^22; for each, the target is now +
; chunk, and the loop spins until bit 23 of (target - now) is set, that is
; until now has passed the target.  Comparing one bit of a 32-bit difference
; works for a 24-bit and a 32-bit counter alike, across the wrap, as long as
; a chunk stays under 2^22 ticks.  OVMF knows the timer's port from the
; chipset (PMBA in PCI configuration; BaseAcpiTimerLibBhyve.c hard-codes
; 0x408), not from the FADT: the harness has no PCI bus and gives it as
; TIMER_PORT.  This guest
;   - waits 1 ms (3580 ticks) and checks that the timer moved that far, and
;     not much further;
;   - waits 10 ms (35795 ticks) starting 256 ticks below the 24-bit wrap and
;     checks the same across the wrap, measured modulo 2^24.
; Where the platform has no timer, OVMF's first delay would spin for ever on
; all-ones reads: the guest says so in a failed check instead.
; On a real machine's clock (the host clock, QEMU, Bochs) the counter starts
; wherever it is, so the guest first waits until it is just below the wrap,
; and a busy host may stop the guest between two reads of a delay, which
; then ends late.  There each delay must wait at least its ticks, from its
; own first read to the read that ended it, and the timer's last step, across
; the target, must be as long as the time the TSC saw pass (include/tsc.inc):
; a delay ended late by a pause passes, one ended late by a timer that jumps
; does not.
; harness: --timer-start 0xFFFF00
; expect: no-pm-timer=fail
; expect: qemu-microvm=fail xen-pvh=fail firecracker=fail crosvm=fail acrn=fail
; expect: acrn-prelaunched=fail intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%define BIT22 (1 << 22)
%define BIT23 (1 << 23)
%if CLOCK_VIRTUAL
%assign LATE 16                         ; ticks past the target a reader may see
%else
%include "tsc.inc"
%endif

; WAIT_AND_CHECK ticks, "what"
;   Virtual clock: EBX = a read before, the delay, EAX = a read after; the
;   ticks between them are the delay's, give or take LATE.
;   Real clock: EBX = the delay's first read, EAX = the read that ended it;
;   at least the delay's ticks between them, and a last step the TSC saw.
%macro WAIT_AND_CHECK 2
%if CLOCK_VIRTUAL
        in      eax, dx
        mov     ebx, eax
        mov     eax, %1
        call    internal_acpi_delay
        in      eax, dx
%else
        mov     eax, %1
        call    internal_acpi_delay
        push    eax
        call    judge_the_step          ; CF: the timer stepped over the target on its own
        setc    [jumped_over_the_target]
        pop     eax
%endif
        sub     eax, ebx
        and     eax, 0x00FFFFFF         ; OVMF treats the timer as 24 bits
        PRINT   "INFO: waited "
        PRINT_DEC eax
        PRINT   " ticks for "
        PRINT_DEC %1
        NEWLINE
        sub     eax, %1
%if CLOCK_VIRTUAL
        cmp     eax, LATE
        CHECK   be, %2
%else
        cmp     eax, 0x00800000         ; negative (an early end) reads above 2^23, masked
        jae     %%judged
        cmp     byte [jumped_over_the_target], 0
        jne     %%judged
        cmp     eax, eax                ; ZF: on time, or late by a pause
%%judged:
        CHECK   e, %2
%endif
%endmacro

guest_main:
        mov     dx, TIMER_PORT
        mov     eax, HAS_PM_TIMER
        test    eax, eax
        CHECK   nz, "the platform has a PM timer"
        jz      .done
%if CLOCK_VIRTUAL == 0
        call    calibrate_the_tsc
.wait_until_near_the_wrap:              ; 4.6 ms below it: the 10 ms delay crosses it
        in      eax, dx
        and     eax, 0x00FFFFFF
        cmp     eax, 0x00FFC000
        jb      .wait_until_near_the_wrap
%endif
        WAIT_AND_CHECK 35795, "a 10 ms delay across the 24-bit wrap waits 35795 ticks"
        WAIT_AND_CHECK 3580, "a 1 ms delay waits 3580 ticks"
.done:
        FINISH

; internal_acpi_delay: wait EAX ticks, as InternalAcpiDelay does.  DX = the port.
;   On a real clock each read is timed (include/tsc.inc), and it returns
;   EBX = the first chunk's first read, EAX = the read that ended the delay.
internal_acpi_delay:
%if CLOCK_VIRTUAL
        push    ebx
%endif
        push    ecx
        push    esi
        push    edi
        mov     esi, eax
        shr     esi, 22                 ; Times = Delay >> 22
        and     eax, BIT22 - 1          ; Delay &= BIT22 - 1
        mov     ecx, eax
        mov     edi, 0xFFFFFFFF         ; no chunk read yet
.chunk:
%if CLOCK_VIRTUAL
        in      eax, dx
%else
        call    read_the_timer_timed
        cmp     edi, 0xFFFFFFFF
        jne     .not_the_first
        mov     [delay_began], eax
.not_the_first:
%endif
        mov     edi, eax                ; the last read
        add     eax, ecx                ; Ticks = InternalAcpiGetTimerTick () + Delay
        mov     ebx, eax
        mov     ecx, BIT22              ; Delay = BIT22
.spin:
%if CLOCK_VIRTUAL
        in      eax, dx
%else
        mov     eax, edi
        call    keep_the_timed_read
        call    read_the_timer_timed
%endif
        mov     edi, eax
        neg     eax
        add     eax, ebx                ; Ticks - InternalAcpiGetTimerTick ()
        test    eax, BIT23
        jz      .spin
        sub     esi, 1                  ; while (Times-- > 0)
        jnc     .chunk
        mov     eax, edi
        pop     edi
        pop     esi
        pop     ecx
%if CLOCK_VIRTUAL
        pop     ebx
%else
        mov     ebx, [delay_began]
%endif
        ret

delay_began:            dd 0
jumped_over_the_target: db 0
