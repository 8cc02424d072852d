; poll_boot.asm - the end-to-end benchmark guest: READS timer reads, then exit 0.
; Real mode, boot-sector convention: runs in the harness and, unchanged, in QEMU.
; READS is defined by the benchmark (a file that defines it and includes this one).

        bits 16
        org LOAD_ADDRESS
        mov     dx, TIMER_PORT
        mov     ecx, READS
read_again:
        in      eax, dx
        dec     ecx
        jnz     read_again
        mov     al, 0
        out     0xF4, al
