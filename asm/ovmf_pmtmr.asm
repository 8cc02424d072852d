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
; harness: --timer-start 0xFFFF00
; expect: no-pm-timer=fail
; portable: no, its late bound is a few ticks: a host-clock run that the host preempts between two reads is late

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%define BIT22 (1 << 22)
%define BIT23 (1 << 23)
%if CLOCK_VIRTUAL
%assign LATE 16                         ; ticks past the target a reader may see
%else
%assign LATE 358                        ; 100 us: a real machine takes time to notice
%endif

; WAIT_AND_CHECK ticks, "what": EBX = a read before, the delay, EAX = a read after.
%macro WAIT_AND_CHECK 2
        in      eax, dx
        mov     ebx, eax
        mov     eax, %1
        call    internal_acpi_delay
        in      eax, dx
        sub     eax, ebx
        and     eax, 0x00FFFFFF         ; OVMF treats the timer as 24 bits
        PRINT   "INFO: waited "
        PRINT_DEC eax
        PRINT   " ticks for "
        PRINT_DEC %1
        NEWLINE
        sub     eax, %1
        cmp     eax, LATE
        CHECK   be, %2
%endmacro

guest_main:
        mov     dx, TIMER_PORT
        mov     eax, HAS_PM_TIMER
        test    eax, eax
        CHECK   nz, "the platform has a PM timer"
        jz      .done
        WAIT_AND_CHECK 35795, "a 10 ms delay across the 24-bit wrap waits 35795 ticks"
        WAIT_AND_CHECK 3580, "a 1 ms delay waits 3580 ticks"
.done:
        FINISH

; internal_acpi_delay: wait EAX ticks, as InternalAcpiDelay does.  DX = the port.
internal_acpi_delay:
        push    ebx
        push    ecx
        push    esi
        mov     esi, eax
        shr     esi, 22                 ; Times = Delay >> 22
        and     eax, BIT22 - 1          ; Delay &= BIT22 - 1
        mov     ecx, eax
.chunk:
        in      eax, dx
        add     eax, ecx                ; Ticks = InternalAcpiGetTimerTick () + Delay
        mov     ebx, eax
        mov     ecx, BIT22              ; Delay = BIT22
.spin:
        in      eax, dx
        neg     eax
        add     eax, ebx                ; Ticks - InternalAcpiGetTimerTick ()
        test    eax, BIT23
        jz      .spin
        sub     esi, 1                  ; while (Times-- > 0)
        jnc     .chunk
        pop     esi
        pop     ecx
        pop     ebx
        ret
