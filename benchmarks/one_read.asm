; one_read.asm - the smallest useful guest: one timer read, then exit 0.
; The start-up benchmark (bench_startup.py) runs it as a process.

        bits 16
        org LOAD_ADDRESS

        mov     dx, TIMER_PORT
        in      eax, dx
        mov     al, 0
        out     0xF4, al
        hlt
