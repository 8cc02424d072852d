; discovery.asm - find the PM timer through the ACPI tables, then check it.
;
; Nothing here is assembled in: the guest ignores TIMER_PORT and TIMER_WIDTH
; and learns both the way an operating system does, from the FADT (see
; include/acpi.inc): PM_TMR_BLK is the port, TMR_VAL_EXT in Flags says 32
; bits, else 24.  Then it runs the monotonic check with what it found: every
; step (now - last) mod 2^width is forward, no value has bits above the width,
; and time advances.  It passes unchanged with --timer-width 24 or 32 and with
; the timer moved (--timer-port 0x608), and in QEMU, whose SeaBIOS puts the
; tables near the top of RAM.
; expect: cloud-hypervisor=fail piix4=fail no-pm-timer=fail
; expect: qemu-microvm=fail xen-pvh=fail hyperv=fail firecracker=fail crosvm=fail acrn=fail
; expect: acrn-prelaunched=fail intel-pch-tim-dis=fail


        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"

%assign READS 5000

guest_main:
        call    find_fadt
        CHECK   nc, "the RSDP, RSDT and FADT are found and their checksums hold"
        jc      give_up

        cmp     byte [es:FADT_PM_TMR_LEN], 4
        CHECK   e, "PM_TMR_LEN is 4"

        mov     eax, [es:FADT_PM_TMR_BLK]
        mov     [timer_port], ax
        mov     dword [timer_mask], 0x00FFFFFF
        mov     dword [timer_width], 24
        test    dword [es:FADT_FLAGS], TMR_VAL_EXT
        jz      report_the_timer
        mov     dword [timer_mask], 0xFFFFFFFF
        mov     dword [timer_width], 32

report_the_timer:
        PRINT   "INFO: the FADT puts a "
        PRINT_DEC [timer_width]
        PRINT   "-bit timer at port "
        PRINT_HEX [timer_port]
        NEWLINE

read_the_timer_many_times:
        mov     dx, [timer_port]
        in      eax, dx
        mov     [first_value], eax
        mov     ebx, eax                ; ebx = the last value read
        xor     ebp, ebp                ; ebp = backward steps
        xor     edi, edi                ; edi = OR of every value
        mov     ecx, READS
.again:
        in      eax, dx
        or      edi, eax
        mov     esi, eax
        sub     esi, ebx
        and     esi, [timer_mask]       ; the step, modulo the discovered span
        mov     ebx, [timer_mask]
        shr     ebx, 1                  ; half the span, less one
        cmp     esi, ebx
        jbe     .forward
        inc     ebp
.forward:
        mov     ebx, eax
        dec     ecx
        jnz     .again

        test    ebp, ebp
        CHECK   z, "every step is forward, modulo the width the FADT gives"

        mov     eax, [timer_mask]
        not     eax
        test    edi, eax
        CHECK   z, "no value has bits set above the width the FADT gives"

        sub     ebx, [first_value]
        and     ebx, [timer_mask]
        CHECK   nz, "time advanced"
give_up:
        FINISH

timer_port:  dd 0
timer_mask:  dd 0
timer_width: dd 0
first_value: dd 0
