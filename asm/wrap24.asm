; wrap24.asm - a 24-bit PM timer wraps to zero exactly at 2^24.
;
; The ACPI timer is 24 bits wide unless the FADT sets TMR_VAL_EXT; QEMU's is.
; The counter starts 256 ticks below the wrap (in QEMU the guest waits for
; it to get there); the checks are in include/wrap_check.inc.
; harness: --timer-width 24 --timer-start 0xFFFF00
; expect: acpi=fail bhyve=fail xen=fail virtualbox=fail hyperv=fail cloud-hypervisor=fail piix4=fail
; expect: amd-fch=fail no-pm-timer=fail
; expect: qemu-microvm=fail xen-v0=fail xen-pvh=fail hyperv-gen1=fail firecracker=fail crosvm=fail
; expect: acrn=fail acrn-prelaunched=fail intel-pch-tim-dis=fail

        bits 16
        org LOAD_ADDRESS
        %include "report.inc"
        %include "wrap_check.inc"
