; two_sources.asm - exercise 2 of docs/tutorial-3.md: the RTC ticks at 1024 Hz
; (IRQ 8, vector 0x28) while one alarm of 5000 us runs (IRQ 5, vector 0x25);
; count the ticks that come before the alarm rings: 5000 / 976.5625 = 5.12, so 5.
;
; Needs the alarm of tutorial 3 attached:
;   PYTHONPATH=../my-project python -m pmtimer_harness run docs/solutions/two_sources.asm --device alarm:Alarm

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        cli
        mov     al, 0x11                ; ICW1-ICW4: master at 0x20, slave at 0x28
        out     0x20, al
        out     0xA0, al
        mov     al, 0x20
        out     0x21, al
        mov     al, 0x28
        out     0xA1, al
        mov     al, 0x04
        out     0x21, al
        mov     al, 0x02
        out     0xA1, al
        mov     al, 0x01
        out     0x21, al
        out     0xA1, al
        mov     al, 0xDB                ; the master: lines 2 (the slave) and 5 (the alarm) open
        out     0x21, al
        mov     al, 0xFE                ; the slave: line 0 (IRQ 8, the RTC) open
        out     0xA1, al
        xor     ax, ax
        mov     ds, ax
        mov     word [0x28 * 4], rtc_handler
        mov     word [0x28 * 4 + 2], 0
        mov     word [0x25 * 4], alarm_handler
        mov     word [0x25 * 4 + 2], 0

        mov     al, 0x0A                ; the RTC at 1024 Hz, PIE on
        out     0x70, al
        mov     al, 0x26
        out     0x71, al
        mov     al, 0x0B
        out     0x70, al
        mov     al, 0x42                ; PIE, 24-hour
        out     0x71, al
        mov     dx, 0x510
        mov     ax, 5000                ; the alarm, in 5000 us
        out     dx, ax
        sti
sleep:
        hlt
        cmp     byte [rung], 0
        je      sleep

        PRINT   "INFO: "
        movzx   eax, byte [ticks_at_ring]
        PRINT_DEC eax
        PRINT   " RTC ticks before the alarm rang"
        NEWLINE
        cmp     byte [ticks_at_ring], 5
        CHECK   e, "five ticks of 976.5625 us fit in 5000 us"
        FINISH

rtc_handler:
        push    ax
        inc     byte [ticks]
        mov     al, 0x0C                ; acknowledge the clock: read register C
        out     0x70, al
        in      al, 0x71
        mov     al, 0x20                ; EOI to the slave and to the master
        out     0xA0, al
        out     0x20, al
        pop     ax
        iret

alarm_handler:
        push    ax
        mov     al, [ticks]
        mov     [ticks_at_ring], al
        mov     byte [rung], 1
        mov     al, 0x20                ; EOI to the master alone
        out     0x20, al
        pop     ax
        iret

ticks:          db 0
ticks_at_ring:  db 0
rung:           db 0
