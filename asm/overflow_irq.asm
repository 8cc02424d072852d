; overflow_irq.asm - the timer's overflow interrupt extends it to 64 bits.
;
; The ACPI specification gives TMR_STS its purpose: software counts the
; toggles of the timer's top bit to "emulate a larger timer".  This guest
; finds the timer and the PM1 registers through the FADT, routes the SCI
; (IRQ 9, the slave PIC's line 1) to vector 0x29, sets TMR_EN and sleeps in
; HLT between interrupts.  Its handler clears TMR_STS, counts the toggle and
; checks the counter: just past a multiple of 2^(width-1), with the top bit
; as that many toggles from the half the counter was in when the guest set
; TMR_EN make it (under the virtual clock the counter starts at 0; in a VMM
; whose firmware took longer than a half period to boot, in the upper half).
; After OVERFLOWS interrupts it checks that
;     extended = (half + toggles) x 2^(width-1) + (counter mod 2^(width-1))
; agrees with the counter modulo 2^width.
; Before it enables the SCI it puts the platform in ACPI mode, as an OS does
; (write ACPI_ENABLE to SMI_CMD, wait for SCI_EN), and checks SCI_EN: a
; platform that raises the SCI only in ACPI mode (VirtualBox) needs it.
; Under the virtual clock each HLT skips straight to the next toggle: four
; 24-bit toggles are 9.4 virtual seconds, four 32-bit ones 40 minutes, and
; each interrupt must come within a few ticks of its toggle.
; On a real machine's clock (the host clock, QEMU) the time an interrupt
; takes to arrive is the host's: a busy host wakes a sleeping guest late, and
; raises the SCI late (QEMU from its main-loop thread, the harness from its
; run loop).  So there the guest does not sleep: it polls, reading the timer
; and then PM1_STS, with interrupts held off between the two, and checks that
; TMR_STS was set whenever the timer read before it had passed the toggle.
; No pause can make a sound TMR_STS look late, because the status is read
; after the timer.  How late each interrupt came is shown, not judged.
; harness: --timer-width 24
; On bochs the first TMR_STS comes at count 0xFFFFFF, not at the toggle at 0x800000
; (iodev/acpi.cc resets tmr_overflow_time to 0xffffff), so the first interrupt counts two toggles as one.
; expect: bhyve=halted hyperv=halted cloud-hypervisor=halted no-pm-timer=halted
; expect: bochs=fail
; expect: qemu-microvm=halted xen-pvh=halted hyperv-gen1=halted firecracker=halted crosvm=halted
; expect: acrn=halted acrn-prelaunched=halted bochs-uefi=fail intel-pch-tim-dis=halted
; portable: not bochs, in Bochs 2.7 the overflow SCI never came, and TMR_STS was set late (a poll 18 ticks past the wrap found it clear)

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "acpi.inc"

%assign OVERFLOWS     4
%assign NEAR          64        ; ticks between a toggle and the handler's read (virtual clock)
%assign STS_SLACK     4         ; ticks: QEMU rounds the toggle's time to nanoseconds
%define SCI_VECTOR    0x29      ; slave base 0x28 + line 1 (IRQ 9)
%define PIC1_COMMAND  0x20
%define PIC1_DATA     0x21
%define PIC2_COMMAND  0xA0
%define PIC2_DATA     0xA1
%define PIC_EOI       0x20
%define TMR_STS       1
%define TMR_EN        1

guest_main:
        call    find_fadt
        CHECK   nc, "the FADT is found"
        jc      finish_here
        mov     eax, [es:FADT_PM_TMR_BLK]
        mov     [timer_port], ax
        mov     eax, [es:FADT_PM1A_EVT_BLK]
        mov     [pm1_status_port], ax
        add     ax, 2
        mov     [pm1_enable_port], ax
        cmp     word [es:FADT_SCI_INT], 9
        CHECK   e, "the SCI is on IRQ 9"
        mov     byte [top_bit], 23
        test    dword [es:FADT_FLAGS], TMR_VAL_EXT
        jz      switch_to_acpi_mode
        mov     byte [top_bit], 31

switch_to_acpi_mode:                    ; as an OS does: write ACPI_ENABLE to SMI_CMD, if there is one
        mov     eax, [es:FADT_PM1A_CNT_BLK]
        mov     [pm1_control_port], ax
        mov     edx, [es:FADT_SMI_CMD]
        test    edx, edx
        jz      .check_sci_en           ; no SMI_CMD: always in ACPI mode
        mov     dx, [pm1_control_port]
        in      ax, dx
        test    ax, 1                   ; SCI_EN
        jnz     .check_sci_en
        mov     al, [es:FADT_ACPI_ENABLE]
        mov     edx, [es:FADT_SMI_CMD]
        out     dx, al
        mov     dx, [pm1_control_port]
        mov     ecx, 100000
.wait_for_sci_en:
        in      ax, dx
        test    ax, 1
        jnz     .check_sci_en
        dec     ecx
        jnz     .wait_for_sci_en
.check_sci_en:
        mov     dx, [pm1_control_port]
        in      ax, dx
        test    ax, 1
        CHECK   nz, "the platform is in ACPI mode (SCI_EN is set)"

program_the_pics:                       ; ICW1-ICW4: vectors 0x20 and 0x28, slave on IRQ 2
        mov     al, 0x11
        out     PIC1_COMMAND, al
        out     PIC2_COMMAND, al
        mov     al, 0x20
        out     PIC1_DATA, al
        mov     al, 0x28
        out     PIC2_DATA, al
        mov     al, 0x04
        out     PIC1_DATA, al
        mov     al, 0x02
        out     PIC2_DATA, al
        mov     al, 0x01
        out     PIC1_DATA, al
        out     PIC2_DATA, al
        mov     al, 0xFB                ; master: only IRQ 2, the cascade
        out     PIC1_DATA, al
        mov     al, 0xFD                ; slave: only its line 1, IRQ 9
        out     PIC2_DATA, al

point_the_vector_at_the_handler:
        mov     word [SCI_VECTOR * 4], sci_handler
        mov     word [SCI_VECTOR * 4 + 2], 0

enable_the_overflow_interrupt:
        mov     dx, [pm1_status_port]
        mov     ax, TMR_STS             ; write 1 to clear anything stale
        out     dx, ax
        mov     dx, [timer_port]
        in      eax, dx
        call    top_bit_of_eax
        mov     [half_at_start], eax
        mov     [top_bit_at_clear], eax
        mov     [top_bit_polled], eax
        mov     dx, [pm1_enable_port]
        mov     ax, TMR_EN
        out     dx, ax
        sti

%if CLOCK_VIRTUAL
sleep_until_enough_overflows:
        hlt
        cmp     dword [toggles], OVERFLOWS
        jb      sleep_until_enough_overflows
        cli
%else
        call    poll_until_enough_overflows
%endif

check_what_the_handler_saw:
        mov     eax, [toggles]
        cmp     eax, OVERFLOWS
        CHECK   e, "the handler counted every overflow interrupt"
        cmp     dword [wrong_top_bit], 0
        CHECK   e, "each interrupt came when the top bit had just toggled"
        PRINT   "INFO: the handler read the counter "
        PRINT_DEC [earliest]
        PRINT   " to "
        PRINT_DEC [latest]
        PRINT   " ticks after the toggles"
        NEWLINE
%if CLOCK_VIRTUAL
        cmp     dword [latest], NEAR
        CHECK   b, "each interrupt came within a few ticks of the toggle"
%else
        cmp     dword [late_status], 0
        je      .no_late_status
        PRINT   "INFO: "
        PRINT_DEC [late_status]
        PRINT   " polls found TMR_STS clear after the toggle, the first after reading the timer at "
        PRINT_HEX [first_late_read]
        NEWLINE
.no_late_status:
        cmp     dword [late_status], 0
        CHECK   e, "TMR_STS was set whenever the timer read before it had passed the toggle"
%endif
        cmp     dword [spurious], 0
        CHECK   e, "every interrupt had TMR_STS set"

extend_the_counter:                     ; extended = (half + toggles) << top_bit | counter's low bits
        mov     dx, [timer_port]
        in      eax, dx
        mov     [counter_now], eax
        mov     cl, [top_bit]
        mov     ebx, 1
        shl     ebx, cl
        dec     ebx                     ; ebx = 2^top_bit - 1: the bits below the top
        and     eax, ebx
        mov     [extended_low], eax
        mov     eax, [toggles]
        add     eax, [half_at_start]
        xor     edx, edx
        shld    edx, eax, cl
        shl     eax, cl                 ; edx:eax = (half + toggles) << top_bit (cl < 32)
        or      [extended_low], eax
        mov     [extended_high], edx
        PRINT   "INFO: "
        PRINT_DEC [toggles]
        PRINT   " overflows; extended counter "
        PRINT_HEX [extended_high]
        PRINT   ":"
        PRINT_HEX [extended_low]
        PRINT   ", counter "
        PRINT_HEX [counter_now]
        NEWLINE
        mov     eax, [extended_low]
        cmp     byte [top_bit], 31
        je      compare_with_the_counter
        and     eax, 0x00FFFFFF         ; modulo 2^24
compare_with_the_counter:
        cmp     eax, [counter_now]
        CHECK   e, "the extended counter agrees with the counter modulo its width"
finish_here:
        FINISH

; sci_handler - IRQ 9.  Clears TMR_STS, counts the toggle, checks the counter.
sci_handler:
        pushad
        mov     dx, [pm1_status_port]
        in      ax, dx
        test    ax, TMR_STS
        jnz     .timer_overflowed
        inc     dword [spurious]
        jmp     .end_of_interrupt
.timer_overflowed:
        mov     ax, TMR_STS
        out     dx, ax                  ; write 1 to clear
        inc     dword [toggles]
        mov     dx, [timer_port]
        in      eax, dx
        mov     ebx, eax
        call    top_bit_of_eax
        mov     [top_bit_at_clear], eax
        mov     cl, [top_bit]
        mov     esi, [toggles]
        add     esi, [half_at_start]
        and     esi, 1                  ; what it must be after that many toggles
        cmp     eax, esi
        je      .top_bit_agrees
        inc     dword [wrong_top_bit]
.top_bit_agrees:
        mov     eax, 1
        shl     eax, cl
        dec     eax
        and     ebx, eax                ; ticks since the toggle
        cmp     ebx, [earliest]
        jae     .not_the_earliest
        mov     [earliest], ebx
.not_the_earliest:
        cmp     ebx, [latest]
        jbe     .end_of_interrupt
        mov     [latest], ebx
.end_of_interrupt:
        mov     al, PIC_EOI
        out     PIC2_COMMAND, al
        out     PIC1_COMMAND, al
        popad
        iret

%if CLOCK_VIRTUAL == 0
; poll_until_enough_overflows - instead of HLT: poll until the handler has
;   counted OVERFLOWS interrupts, or the timer's top bit has toggled
;   OVERFLOWS + 2 times without them.  Each poll reads the timer, then
;   PM1_STS: if the timer's top bit differs from the one read when TMR_STS
;   was last cleared, and by more than STS_SLACK ticks, TMR_STS must be set.
poll_until_enough_overflows:
        mov     di, [timer_port]
        mov     bp, [pm1_status_port]
.poll:
        cli                             ; no handler between the two reads
        mov     esi, [top_bit_at_clear] ; as it is for these reads: a handler may run after the STI
        mov     dx, di                  ; no memory access from here to the STI: an emulator that
        in      eax, dx                 ; stops the CPU at one (Unicorn does) stops it with IF set,
        mov     ebx, eax                ; where an interrupt can be taken
        mov     dx, bp
        in      ax, dx
        sti
        mov     ecx, eax                ; cx = PM1_STS
        mov     eax, ebx
        call    top_bit_of_eax
        cmp     eax, [top_bit_polled]
        je      .status
        mov     [top_bit_polled], eax
        inc     dword [toggles_polled]
.status:
        test    cx, TMR_STS
        jnz     .next                   ; set: the interrupt is on its way
        cmp     eax, esi
        je      .next                   ; no toggle since the last clear
        mov     cl, [top_bit]
        mov     eax, 1
        shl     eax, cl
        dec     eax
        and     eax, ebx                ; ticks since the toggle, when the timer was read
        cmp     eax, STS_SLACK
        jb      .next
        cmp     dword [late_status], 0
        jne     .counted
        mov     [first_late_read], ebx
.counted:
        inc     dword [late_status]
.next:
        cmp     dword [toggles], OVERFLOWS
        jae     .enough
        cmp     dword [toggles_polled], OVERFLOWS + 2
        jb      .poll
.enough:
        cli
        ret
%endif

; top_bit_of_eax - EAX = the counter value's top bit (bit [top_bit]), 0 or 1.
top_bit_of_eax:
        push    ecx
        mov     cl, [top_bit]
        shr     eax, cl
        and     eax, 1
        pop     ecx
        ret

timer_port:      dw 0
pm1_status_port: dw 0
pm1_enable_port: dw 0
pm1_control_port: dw 0
top_bit:         db 0
toggles:         dd 0
wrong_top_bit:   dd 0
earliest:        dd 0xFFFFFFFF  ; the fewest ticks between a toggle and the handler's read
latest:          dd 0           ; the most
spurious:        dd 0
half_at_start:   dd 0           ; the counter's top bit when the guest set TMR_EN
top_bit_at_clear: dd 0          ; the counter's top bit when TMR_STS was last cleared
top_bit_polled:  dd 0           ; the top bit at the last poll
toggles_polled:  dd 0           ; top-bit toggles the polls saw
late_status:     dd 0
first_late_read: dd 0           ; the timer as that poll read it           ; polls that found TMR_STS clear after the toggle
counter_now:     dd 0
extended_low:    dd 0
extended_high:   dd 0
