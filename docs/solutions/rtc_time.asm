; rtc_time.asm - exercise 3 of docs/tutorial-2.md: print the CMOS clock's time as HH:MM:SS.
;
; Needs the clock the tutorial attaches (devices/my_rtc.py at ports 0x70/0x71), which starts at 12:34:56.
; Each register holds two BCD digits: printed as hex, 0x34 reads "34".

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%macro RTC_READ 1                       ; AL = the clock's register %1
        mov     al, %1
        out     0x70, al
        in      al, 0x71
%endmacro

guest_main:
        PRINT   "INFO: the time is "
        RTC_READ 0x04                   ; hours
        call    print_bcd
        PRINT   ":"
        RTC_READ 0x02                   ; minutes
        call    print_bcd
        PRINT   ":"
        RTC_READ 0x00                   ; seconds
        call    print_bcd
        NEWLINE
        FINISH

; print_bcd - AL holds two BCD digits: print them.
print_bcd:
        mov     ah, al
        shr     al, 4
        add     al, '0'
        out     CONSOLE_PORT, al
        mov     al, ah
        and     al, 0x0F
        add     al, '0'
        out     CONSOLE_PORT, al
        ret
