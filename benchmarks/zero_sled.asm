; zero_sled.asm - jumps into zeroed RAM and runs it for ever: a runaway guest.
; Used by bench_runaway_memory.py.  Zeroed bytes decode as `add [bx+si], al`
; (16-bit) or `add [eax], al` (32-bit): fresh code at every step, so every
; translation block is new, and memory must stay bounded all the same.

%if START_MODE == 32
        bits 32
        org LOAD_ADDRESS
        jmp     0x200000                ; 1 MiB past the load address: zeroed RAM up to --memory
%else
        bits 16
        org LOAD_ADDRESS
        jmp     0x1000:0                ; zeroed RAM at 0x10000
%endif
