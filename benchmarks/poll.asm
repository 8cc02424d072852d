; poll.asm - the benchmark guest: READS timer reads in a tight loop, then exit.
; Flat 32-bit code: run with --mode 32 --load-address 0x1000.
        bits 32
        mov     dx, TIMER_PORT
        mov     ecx, READS
read_again:
        in      eax, dx
        dec     ecx
        jnz     read_again
        xor     eax, eax
        out     0xF4, al
