; access_qemu.asm - narrow reads and writes at the timer port, QEMU's way.
;
; QEMU (hw/acpi/core.c, acpi_pm_tmr_ops) accepts 1-, 2- and 4-byte reads
; anywhere in the timer's four ports and returns the low-order bytes of the
; counter; writes are ignored.  Checks:
;   - the counter moves at all (a port nothing answers reads a constant, which
;     every check below would take for a counter standing still);
;   - a 2-byte and a 1-byte read return the low bytes of the counter: each
;     lies between the full reads just before and just after it;
;   - a 2-byte read at TIMER_PORT+2 returns the low 16 bits too, not bits 16-31
;     (a 16-bit comparison: an 8-bit one can match the wrong byte by chance);
;   - a write of zero neither resets nor changes the counter.
; The start value is far from zero so that a reset would show, and its bytes
; differ, so that a read of the wrong byte lane would show.
; harness: --io-semantics qemu --timer-start 0xABCD00
; expect: acpi=error bhyve=error xen=fail virtualbox=fail hyperv=fail
; expect: bochs=fail
; expect: xen-v0=fail hyperv-gen1=fail cloud-hypervisor=fail bochs-uefi=fail
; expect: qemu-microvm=fail xen-pvh=fail firecracker=fail crosvm=fail acrn=fail
; expect: acrn-prelaunched=fail piix4=fail intel-pch-tim-dis=fail no-pm-timer=fail
; portable: not bochs, narrow reads there give all ones, which pass or fail these checks by chance

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%assign MOVE_LOOPS 3000
%if CLOCK_VIRTUAL
%assign NEAR 64
%assign WRITE_ATTEMPTS 1
%else
%assign NEAR 3580                       ; 1 ms: a busy host may stop the guest between the reads
%assign WRITE_ATTEMPTS 10               ; and then the write is tried again (a reset is seen every time)
%endif

; CHECK_NARROW_READ register, mask, port, "what"
;   A full read, the narrow `in register, dx` at port, a full read: the narrow
;   value minus the first full value, in the narrow width, may not exceed the
;   ticks between the two full reads.
%macro CHECK_NARROW_READ 4
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     ebx, eax
        mov     dx, %3
        xor     eax, eax
        in      %1, dx
        mov     esi, eax
        mov     dx, TIMER_PORT
        in      eax, dx
        sub     eax, ebx
        sub     esi, ebx
        and     esi, %2
        cmp     esi, eax
        CHECK   be, %4
%endmacro

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     ebx, eax
        mov     ecx, MOVE_LOOPS         ; a few microseconds: two reads back to back may see one tick
.let_it_move:
        dec     ecx
        jnz     .let_it_move
        in      eax, dx
        cmp     eax, ebx
        CHECK   ne, "the counter moves between two reads"  ; a port nothing answers would pass the rest
        CHECK_NARROW_READ ax, 0xFFFF, TIMER_PORT, "a 2-byte read returns the low 16 bits of the counter"
        CHECK_NARROW_READ al, 0xFF, TIMER_PORT, "a 1-byte read returns the low 8 bits of the counter"
        CHECK_NARROW_READ ax, 0xFFFF, TIMER_PORT + 2, "a 2-byte read at the third port returns the low 16 bits too"

write_zero_to_the_timer:
        mov     dword [attempts_left], WRITE_ATTEMPTS
.again:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     ebx, eax
        xor     eax, eax
        out     dx, eax
        in      eax, dx
        PRINT   "INFO: before the write "
        PRINT_HEX ebx
        PRINT   ", after "
        PRINT_HEX eax
        NEWLINE
        sub     eax, ebx
        cmp     eax, NEAR
        jb      .judge
        dec     dword [attempts_left]
        jnz     .again
.judge:
        cmp     eax, NEAR
        CHECK   b, "a write neither resets nor changes the counter"
        FINISH

attempts_left: dd 0
