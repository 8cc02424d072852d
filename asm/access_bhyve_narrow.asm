; access_bhyve_narrow.asm - bhyve refuses a narrow read of the timer.
;
; bhyve's vpmtmr_handler (sys/amd64/vmm/io/vpmtmr.c) handles only a 4-byte IN
; at port 0x408; any other access fails the vCPU run and bhyve exits.  The
; ports after it have no handler and read as all ones.  This guest shows both:
;   - a 4-byte read works;
;   - a 1-byte read of TIMER_PORT+1 returns 0xFF (no device there);
;   - then a 2-byte read of the timer port, which ends the run with an
;     error verdict.  Reaching the line after it is a failure.
; harness: --io-semantics bhyve
; expect: error
; expect: qemu=fail qemu-q35=fail qemu-kvm=fail qemu-q35-kvm=fail qemu-ovmf=fail qemu-microvm=fail
; expect: xen=fail xen-v0=fail xen-pvh=fail virtualbox=fail hyperv=fail hyperv-gen1=fail
; expect: cloud-hypervisor=fail firecracker=fail crosvm=fail acrn=fail acrn-prelaunched=fail
; expect: bochs=fail bochs-uefi=fail piix4=fail intel-pch=fail intel-pch-tim-dis=fail amd-fch=fail
; expect: no-pm-timer=fail
; portable: no, bhyve's access rules: QEMU accepts a narrow read

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        mov     dx, TIMER_PORT
        in      eax, dx
        PRINT   "INFO: a 4-byte read returned "
        PRINT_HEX eax
        NEWLINE

        mov     dx, TIMER_PORT + 1
        in      al, dx
        cmp     al, 0xFF
        CHECK   e, "the port after the timer has no device: it reads all ones"

        PRINT   "INFO: a 2-byte read of the timer port; bhyve would exit here"
        NEWLINE
        mov     dx, TIMER_PORT
        in      ax, dx

the_narrow_read_was_allowed:
        xor     eax, eax
        test    eax, eax
        CHECK   nz, "the 2-byte read is refused"
        FINISH
