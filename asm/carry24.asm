; carry24.asm - a 32-bit PM timer does not wrap at 2^24: it carries into bit 24.
;
; A 32-bit timer (TMR_VAL_EXT) that still wrapped at 24 bits would break
; FreeBSD, which masks with 0xFFFFFFFF when the flag is set.  The counter
; starts 256 ticks below 2^24; the guest reads until bit 24 is set, and checks:
;   - no value on the way is smaller than the one before it;
;   - bit 24 becomes set within CARRY_READS reads;
;   - the first value with bit 24 set is 2^24 plus a few ticks.
; harness: --timer-width 32 --timer-start 0xFFFF00
; portable: no, needs --timer-start and a 32-bit timer; QEMU's is 24 bits
; expect: qemu=fail qemu-q35=fail qemu-kvm=fail qemu-q35-kvm=fail qemu-ovmf=fail bochs=fail piix4=fail
; expect: intel-pch=fail
; expect: no-pm-timer=fail
; expect: qemu-microvm=fail xen-pvh=fail firecracker=fail crosvm=fail acrn=fail
; expect: acrn-prelaunched=fail bochs-uefi=fail intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

%assign NEAR        64
%assign CARRY_READS 10000
%assign BIT_24      1 << 24

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        mov     ebx, eax                ; ebx = the last value read
        xor     ebp, ebp                ; ebp = decreases seen
        mov     ecx, CARRY_READS

read_until_bit_24_is_set:
        in      eax, dx
        cmp     eax, ebx
        jae     no_decrease
        inc     ebp
no_decrease:
        mov     ebx, eax
        test    eax, BIT_24
        jnz     bit_24_is_set
        dec     ecx
        jnz     read_until_bit_24_is_set

bit_24_is_set:
        PRINT   "INFO: reached "
        PRINT_HEX ebx
        PRINT   " with "
        PRINT_DEC ebp
        PRINT   " decreases"
        NEWLINE

        test    ebp, ebp
        CHECK   z, "the counter never decreases across 2^24"

        test    ecx, ecx
        CHECK   nz, "bit 24 becomes set"

        sub     ebx, BIT_24
        cmp     ebx, NEAR
        CHECK   b, "the first value past 2^24 is 2^24 plus a few ticks"
        FINISH
