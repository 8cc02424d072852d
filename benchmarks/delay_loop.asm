; delay_loop.asm - a firmware delay loop: ITERATIONS turns of dec/jnz, then exit.
; Flat 32-bit code: run with --mode 32 --load-address 0x1000.
        bits 32
        mov     ecx, ITERATIONS
again:
        dec     ecx
        jnz     again
        xor     eax, eax
        out     0xF4, al
