; flood.asm - prints without end: the console capture must stay bounded.
; Used by bench_flood_memory.py; it never exits by itself.

        bits 16
        org LOAD_ADDRESS
        mov     al, 'x'
again:  out     0xE9, al
        jmp     again
