; qemu_loader.asm - the boot sector that brings a harness guest up on a PC BIOS (QEMU, Bochs, any VMM).
;
; A BIOS loads only the first 512-byte sector of a disk, at 0x7C00.  Harness
; guests are longer, and start where and as their header says (LOAD_ADDRESS:
; --load-address, START_MODE: --mode), so this sector moves itself out of the
; way, to 0x0600, reads the guest from the sectors after it with INT 13h
; function 42h (extended read, by LBA) to a buffer at 0x10000, copies it to
; LOAD_ADDRESS, and starts it as the harness does (harness/core/machine.py,
; _set_start_state):
;
;   START_MODE 16: real mode, CS:IP = 0000:LOAD_ADDRESS, DS = ES = SS = 0,
;                  SP = LOAD_ADDRESS, DL = the boot drive, as a BIOS would;
;   START_MODE 32: flat 32-bit protected mode (this sector's GDT: 4 GiB code
;                  and data segments from 0), ESP = STACK, A20 on so that
;                  addresses past 1 MiB do not wrap.
;
; STACK is LOAD_ADDRESS, as in the harness, unless the memory below the guest
; is not RAM on a PC (disk.py chooses).
;
; Interrupts stay off, as in the harness.  The copy comes after the last BIOS
; call, so the guest may overwrite the BIOS's data, but not this sector
; (disk.py refuses such a place, and places a PC has no RAM at).
; GUEST_SECTORS, LOAD_ADDRESS, START_MODE and STACK are defined on NASM's command line.

BUFFER_SEGMENT  equ 0x1000              ; the guest is read to 0x10000: 127 sectors end below 0x20000
BUFFER          equ BUFFER_SEGMENT << 4
GUEST_BYTES     equ GUEST_SECTORS * 512

        bits 16
        org 0x0600

start:                                  ; running at 0x7C00 until the jump below
        cli
        cld
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
        cli                             ; the BIOS may have let interrupts in

%if START_MODE == 16
        mov     ax, BUFFER_SEGMENT      ; LOAD_ADDRESS is below 0x10000 in real mode: below the buffer, so
        mov     ds, ax                  ; copying upwards from the first byte is right even where they overlap
        xor     si, si
        mov     ax, LOAD_ADDRESS >> 4
        mov     es, ax
        mov     di, LOAD_ADDRESS & 0xF
        mov     cx, GUEST_BYTES
        rep movsb
        xor     ax, ax
        mov     ds, ax
        mov     es, ax
        mov     sp, STACK
        mov     dl, [boot_drive]
        jmp     0:LOAD_ADDRESS

%elif START_MODE == 32
CODE_SELECTOR   equ gdt.code - gdt
DATA_SELECTOR   equ gdt.data - gdt

        in      al, 0x92                ; A20 through the fast gate (bit 1); bit 0 would reset the machine
        or      al, 2
        and     al, 0xFE
        out     0x92, al
        lgdt    [gdt_pointer]
        mov     eax, cr0
        or      al, 1                   ; CR0.PE
        mov     cr0, eax
        jmp     CODE_SELECTOR:protected

        bits 32
protected:
        mov     ax, DATA_SELECTOR
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esi, BUFFER
        mov     edi, LOAD_ADDRESS
        mov     ecx, GUEST_BYTES
  %if LOAD_ADDRESS > BUFFER
        lea     esi, [esi + ecx - 1]    ; above the buffer: copy down from the last byte, or an overlap would
        lea     edi, [edi + ecx - 1]    ; read bytes already overwritten
        std
  %endif
        rep movsb
        cld
        mov     esp, STACK
        jmp     CODE_SELECTOR:LOAD_ADDRESS

gdt:    dq      0
.code:  dq      0x00CF9A000000FFFF      ; base 0, limit 4 GiB, 32-bit code, present, ring 0
.data:  dq      0x00CF92000000FFFF      ; base 0, limit 4 GiB, writable data
gdt_pointer:
        dw      gdt_pointer - gdt - 1
        dd      gdt

        bits 16
%else
  %error "START_MODE must be 16 or 32: the loader cannot start a guest in long mode"
%endif

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
        dw      0x0000, BUFFER_SEGMENT  ; to 1000:0000
        dq      1                       ; from LBA 1, the sector after this one

        times 510 - ($ - $$) db 0
        dw      0xAA55
