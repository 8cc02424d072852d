; tsc_poll.asm - the TSC benchmark guest: READS RDTSCs in a tight loop, then exit.
; Flat 32-bit code: run with --mode 32 --load-address 0x1000.
        bits 32
        mov     ebx, READS
read_again:
        rdtsc
        dec     ebx
        jnz     read_again
        xor     eax, eax
        out     0xF4, al
