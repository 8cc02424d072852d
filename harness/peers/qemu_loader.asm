; qemu_loader.asm - the boot sector that brings a harness guest up under QEMU.
;
; A BIOS loads only the first 512-byte sector of a disk, at 0x7C00.  Harness
; guests are longer and expect to be loaded whole at 0x7C00 (LOAD_ADDRESS), so
; this sector moves itself out of the way, to 0x0600, reads the guest from
; the sectors after it with INT 13h function 42h (extended read, by LBA) to
; 0x7C00, and jumps there with DL = the boot drive, as a BIOS would.
; GUEST_SECTORS is defined on NASM's command line.

        bits 16
        org 0x0600

start:                                  ; running at 0x7C00 until the jump below
        cli
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     sp, 0x7C00
        mov     si, 0x7C00
        mov     di, 0x0600
        mov     cx, 256
        rep movsw
        jmp     0:relocated

relocated:
        mov     [boot_drive], dl
        mov     si, disk_address_packet
        mov     ah, 0x42
        int     0x13
        jc      the_disk_read_failed
        mov     dl, [boot_drive]
        jmp     0:0x7C00

the_disk_read_failed:
        mov     al, 'L'
        out     0xE9, al
        mov     al, 0x7F                ; exit code 127: the loader failed
        out     0xF4, al
        hlt

boot_drive: db 0
disk_address_packet:
        db      0x10, 0                 ; packet size, reserved
        dw      GUEST_SECTORS           ; sectors to read
        dw      0x7C00, 0x0000          ; to 0000:7C00
        dq      1                       ; from LBA 1, the sector after this one

        times 510 - ($ - $$) db 0
        dw      0xAA55
