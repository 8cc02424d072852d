; access_bhyve_write.asm - bhyve refuses a write to the timer port.
;
; The PM timer is read-only (ACPI 4.8.3.3).  bhyve's vpmtmr_handler returns
; an error for any OUT, which fails the vCPU run; QEMU ignores the write (see
; access_qemu.asm).  This guest writes to the port and expects the run to end
; with an error verdict; reaching the line after the write is a failure.
; harness: --io-semantics bhyve
; expect: error
; expect: qemu=fail qemu-q35=fail qemu-kvm=fail qemu-q35-kvm=fail qemu-ovmf=fail qemu-microvm=fail
; expect: xen=fail xen-v0=fail xen-pvh=fail virtualbox=fail hyperv=fail hyperv-gen1=fail
; expect: cloud-hypervisor=fail firecracker=fail crosvm=fail acrn=fail acrn-prelaunched=fail
; expect: bochs=fail bochs-uefi=fail piix4=fail intel-pch=fail intel-pch-tim-dis=fail amd-fch=fail
; expect: no-pm-timer=fail
; portable: no, bhyve's access rules: QEMU ignores the write

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"

guest_main:
        PRINT   "INFO: a 4-byte write to the timer port; bhyve would exit here"
        NEWLINE
        mov     dx, TIMER_PORT
        xor     eax, eax
        out     dx, eax

the_write_was_allowed:
        xor     eax, eax
        test    eax, eax
        CHECK   nz, "the write is refused"
        FINISH
