; segments.asm - exercise 1 of docs/tutorial-2.md: one byte, three segment:offset addresses.
;
; Linear address = segment x 16 + offset, so 0000:7C00, 07C0:0000 and
; 0700:0C00 all name the byte at 0x7C00: the first byte of this image (the
; `jmp guest_main` that report.inc starts with, opcode 0xE9).

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        xor     ax, ax
        mov     es, ax
        mov     bl, [es:LOAD_ADDRESS]           ; 0000:7C00
        mov     ax, LOAD_ADDRESS >> 4
        mov     es, ax
        mov     bh, [es:0]                      ; 07C0:0000
        cmp     bl, bh
        CHECK   e, "0000:7C00 and 07C0:0000 are the same byte"
        mov     ax, 0x0700
        mov     es, ax
        mov     cl, [es:LOAD_ADDRESS - 0x7000]  ; 0700:0C00
        cmp     bl, cl
        CHECK   e, "0700:0C00 is that byte too"
        cmp     bl, 0xE9
        CHECK   e, "it is the image's first byte, the jmp that report.inc starts with"
        FINISH
