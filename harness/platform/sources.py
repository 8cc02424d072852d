"""Where each platform's behaviour comes from: the public source, named ``repo: path (function)``.

Every property of every profile (``profiles.py``) cites one of these, or is
marked a model (``model(...)``): the harness's own choice where no source
decides, said as such.  Snapshots read in 2026 unless a commit or tag is named;
``platforms --json`` and ``docs/platforms.md`` show each citation beside the
property it backs.
"""

from __future__ import annotations

MODEL = "model: "  # a source that begins so is the harness's own choice


def model(what: str) -> str:
    """A property no platform source decides: the harness's choice, and why."""
    return MODEL + what


def is_model(source: str) -> bool:
    return source.startswith(MODEL)


# --- the specification ---------------------------------------------------------------

SPEC = "ACPI specification 6.5, 4.8.3.3 (PM_TMR) and 4.8.2.1 (TMR_STS, TMR_EN)"
SPEC_RESTORE = model("the count continues from its saved value, as the specification's 'continues from where it "
                     "stopped' asks (table 4-19)")
SPEC_SCI = model("the specification's timer in ACPI mode from the start: SCI_EN reads 1, and the SCI comes when "
                 "TMR_EN and TMR_STS are set")
SPEC_FADT = model("an ACPI 6.5 FADT (revision 6) named by both the RSDT and the XSDT")

# --- bhyve (FreeBSD) ---------------------------------------------------------------------

BHYVE_TIMER = "freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c (vpmtmr_handler: a 4-byte IN only; IO_PMTMR 0x408)"
BHYVE_RATE = "freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c (vpmtmr_init: freq_sbt, 2^32/3579545 cut to 1199)"
BHYVE_SNAPSHOT = "freebsd/freebsd-src: sys/amd64/vmm/io/vpmtmr.c (vpmtmr_snapshot saves baseval, always 0)"
BHYVE_PM1 = ("freebsd/freebsd-src: usr.sbin/bhyve/amd64/pm.c (pm1_status_handler, pm1_enable_handler, "
             "pm1_control_handler: 2 bytes only, any other width ends in abort()); acpi.h (PM1A_EVT_ADDR 0x400)")
BHYVE_TMR_STS = "freebsd/freebsd-src: usr.sbin/bhyve/amd64/pm.c (nothing sets PM1_TMR_STS)"
BHYVE_TMR_EN = ("freebsd/freebsd-src: usr.sbin/bhyve/amd64/pm.c (pm1_enable_handler keeps only PM1_RTC_EN, "
                "PM1_PWRBTN_EN and PM1_GBL_EN)")
BHYVE_SCI = ("freebsd/freebsd-src: usr.sbin/bhyve/amd64/pm.c (sci_update does not look at SCI_EN; "
             "pm1_control_handler keeps it; smi_cmd_handler sets and clears it)")
BHYVE_HANDOVER = ("freebsd/freebsd-src: usr.sbin/bhyve/acpi.h (SMI_CMD 0xb2, BHYVE_ACPI_ENABLE 0xa0, "
                  "BHYVE_ACPI_DISABLE 0xa1), amd64/pm.c (pm1_control 0 at reset); tianocore/edk2: "
                  "OvmfPkg/Bhyve/AcpiPlatformDxe (installs the tables, writes no ACPI_ENABLE)")
BHYVE_FADT = ("freebsd/freebsd-src: usr.sbin/bhyve/acpi.c (build_fadt: revision 5, one table for the RSDT and "
              "the XSDT, X_PM_TMR_BLK dword, TMR_VAL_EXT)")
BHYVE_UNCLAIMED = "freebsd/freebsd-src: usr.sbin/bhyve/inout.c (default_inout: all ones unless x86.strictio)"

# --- QEMU behind SeaBIOS (pc, q35), OVMF, microvm ----------------------------------------------------

QEMU_TIMER = "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_get: the virtual clock in 24 bits; acpi_pm_tmr_write: nothing)"
QEMU_PORT = ("qemu/qemu: hw/i386/acpi-build.c (acpi_get_pm_info); coreboot/seabios: src/hw/pci.h "
             "(PORT_ACPI_PM_BASE 0x600)")
QEMU_TMR_STS = "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_calc_overflow_time: bit 23; acpi_pm1_evt_get_sts)"
QEMU_FIRST_TMR_STS = (
    "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_reset leaves overflow_time 0, so acpi_pm1_evt_get_sts sets TMR_STS "
    "at once); real QEMU 7.2 pc and q35, TCG and KVM, read PM1_STS 0x0001 at hand-over"
)
QEMU_TMR_EN = "qemu/qemu: hw/acpi/core.c (acpi_pm1_evt_write_en keeps what is written)"
QEMU_SCI = "qemu/qemu: hw/acpi/core.c (acpi_update_sci: no SCI_EN term; acpi_pm1_cnt_write keeps SCI_EN)"
QEMU_PM1_ACCESS = model(
    "QEMU's memory core takes 1- to 4-byte accesses to the event block and splits them into its 2-byte registers "
    "(qemu/qemu: hw/acpi/core.c acpi_pm_evt_ops); not checked against a peer"
)
QEMU_RESTORE = "qemu/qemu: hw/acpi/core.c (the count derives from QEMU_CLOCK_VIRTUAL, which a snapshot keeps)"
QEMU_UNCLAIMED = "qemu/qemu: softmmu/ioport.c (unassigned_io_read: all ones)"
QEMU_FADT_PC = (
    "qemu/qemu: hw/i386/acpi-build.c (acpi_get_pm_info: PIIX4 FADT revision 1, 'w2k requires FADT(rev1)'); "
    "SeaBIOS: revision-0 RSDP, RSDT only"
)
QEMU_FADT_Q35 = (
    "qemu/qemu: hw/i386/acpi-build.c (acpi_get_pm_info: ICH9 FADT revision 3), hw/acpi/aml-build.c (build_fadt: "
    "X_PM_TMR_BLK from AcpiFadtData.pm_tmr, access size 0); SeaBIOS: revision-0 RSDP, RSDT only"
)
QEMU_LEGACY_PC = (
    "qemu/qemu: hw/i386/acpi-build.c (init_common_fadt_data: SMI_CMD 0xB2 when SMM is on, as under TCG), "
    "hw/acpi/piix4.c (apm_ctrl_changed: ACPI_ENABLE 0xF1, ACPI_DISABLE 0xF0), hw/acpi/core.c (acpi_pm1_cnt_update)"
)
QEMU_LEGACY_Q35 = (
    "qemu/qemu: hw/i386/acpi-build.c (init_common_fadt_data: SMI_CMD 0xB2 when SMM is on, as under TCG), "
    "hw/isa/lpc_ich9.c (ich9_apm_ctrl_changed: ICH9_APM_ACPI_ENABLE 0x2, ICH9_APM_ACPI_DISABLE 0x3)"
)
QEMU_ACPI_ONLY = (
    "qemu/qemu: hw/i386/acpi-build.c (init_common_fadt_data: SMI_CMD 0 without SMM), hw/acpi/core.c "
    "(acpi_pm1_cnt_reset: SCI_EN set when acpi_only); real QEMU 7.2 under KVM here: SMI_CMD 0, SCI_EN 1"
)
QEMU_NARROW_TCG = (
    "qemu/qemu: hw/acpi/core.c (acpi_pm_tmr_ops: impl.min_access_size 4, valid.min_access_size 1; "
    "acpi_pm_tmr_read ignores the offset), softmmu/memory.c (memory_region_access_valid rejects an unaligned "
    "access, memory_region_dispatch_read reads it as unassigned: 0); real QEMU 7.2 TCG agrees"
)
QEMU_NARROW_KVM = (
    "qemu/qemu: accel/kvm/kvm-all.c (kvm_handle_io), softmmu/physmem.c (flatview_read_continue, "
    "memory_access_size: an unaligned read split into aligned pieces; past the timer, unassigned_io_ops 0xFF); "
    "real QEMU 7.2 under KVM agrees"
)
OVMF_PORT = "tianocore/edk2: OvmfPkg/Include/OvmfPlatforms.h (PIIX4_PMBA_VALUE 0xB000)"
OVMF_AS_QEMU = model("QEMU's own behaviour under TCG, with the hand-over and the RSDT/XSDT OVMF gives not checked "
                     "against a peer (QEMU's tables reach the guest through OVMF's AcpiTableDxe)")
MICROVM_FADT = ("qemu/qemu: hw/i386/acpi-microvm.c (acpi_build_microvm: FADT revision 5, HW_REDUCED_ACPI, no "
                "pm_tmr; RSDP revision 2 with no RSDT)")
MICROVM_NO_TIMER = "qemu/qemu: hw/i386/acpi-microvm.c (no PM timer, no PM1 block: a GED in their place)"

# --- Xen -----------------------------------------------------------------------------------

XEN_TIMER = "xen-project/xen: xen/arch/x86/hvm/pmtimer.c (handle_pmt_io: a 4-byte read only, else ~0; writes dropped)"
XEN_RATE = ("xen-project/xen: xen/arch/x86/hvm/pmtimer.c (pmtimer_init: scale = (FREQUENCE_PMTIMER << 32) / "
            "SYSTEM_TIME_HZ)")
XEN_TMR_STS = "xen-project/xen: xen/arch/x86/hvm/pmtimer.c (pmt_update_time: TMR_VAL_MSB 0x80000000; pmtimer_reset)"
XEN_TMR_EN = "xen-project/xen: xen/arch/x86/hvm/pmtimer.c (handle_evt_io stores PM1a_EN byte by byte)"
XEN_SCI = ("xen-project/xen: xen/arch/x86/hvm/pmtimer.c (pmt_update_sci: pm1a_en & pm1a_sts, no SCI_EN); "
           "PM1a_CNT is QEMU's PIIX4 register")
XEN_HANDOVER = ("xen-project/xen: tools/firmware/hvmloader/hvmloader.c (acpi_enable_sci: SCI_EN set before the OS "
                "runs); tools/libacpi/static_tables.c (no SMI_CMD)")
XEN_PM1_ACCESS = ("xen-project/xen: xen/arch/x86/hvm/pmtimer.c (handle_evt_io: any width, byte by byte over "
                  "PM1a_STS and PM1a_EN); PM1a_CNT is QEMU's register, taken the same way here (a model)")
XEN_PORTS = "xen-project/xen: xen/include/public/hvm/ioreq.h (ACPI_PM1A_EVT_BLK_ADDRESS_V1 0xb000, timer at + 8)"
XEN_PORTS_V0 = ("xen-project/xen: xen/include/public/hvm/ioreq.h (ACPI_PM1A_EVT_BLK_ADDRESS_V0 0x1f40, "
                "ACPI_PM_TMR_BLK_ADDRESS_V0 0x1f48: kept by guests migrated from Xen 4.0 or older)")
XEN_RESTORE = "xen-project/xen: xen/arch/x86/hvm/pmtimer.c (acpi_save brings the count up to date, acpi_load goes on)"
XEN_UNCLAIMED = "xen-project/xen: xen/arch/x86/hvm/emulate.c (null_read: ~0 where no ioreq server claims the ports)"
XEN_FADT = ("xen-project/xen: tools/libacpi/build.c (acpi_build_tables: a revision-4 FADT for the XSDT, a 116-byte "
            "revision-1 copy fadt_10 for the RSDT), static_tables.c (X_ GAS access size bytes left 0)")
XEN_FADT_V0 = ("xen-project/xen: tag 4.0.0-rc9, tools/firmware/hvmloader/acpi/static_tables.c and build.c (the "
               "same shape, the timer at 0x1f48)")
XEN_V0_HANDOVER = model("as Xen today: PM1a_CNT belonged to qemu-traditional, which no longer exists to read")
XEN_PVH_FADT = ("xen-project/xen: tools/libs/light/libxl_x86_acpi.c (init_acpi_config: revision 5, no "
                "ACPI_HAS_PMTIMER), tools/libacpi/build.c (the timer fields cleared after the revision-1 copy was "
                "taken; PM1a blocks and TMR_VAL_EXT left)")
XEN_PVH_PORTS = ("xen-project/xen: tools/libs/light/libxl_x86.c (emulation flags XEN_X86_EMU_LAPIC only: no vPM), "
                 "xen/arch/x86/hvm/emulate.c (null_read)")

# --- VirtualBox --------------------------------------------------------------------------------

VBOX = "VirtualBox/virtualbox: src/VBox/Devices/PC/DevACPI.cpp"
VBOX_TIMER = (VBOX + " (acpiPMTmrRead: `if (cb != 4) return VERR_IOM_IOPORT_UNUSED`; one port registered), "
              "src/VBox/VMM/VMMAll/IOMAll.cpp (IOMIOPortRead: unused reads all ones)")
VBOX_WRITES = "VirtualBox/virtualbox: src/VBox/VMM/VMMR3/IOMR3IoPort.cpp (a NULL OUT callback: iomR3IOPortDummyNewOut)"
VBOX_WIDTH = VBOX + " (PM_TMR_32BIT: TMR_VAL_MASK 0xffffffff)"
VBOX_TMR_STS = VBOX + " (acpiPmTimerUpdate: TMR_VAL_MSB 0x80000000; acpiR3Reset clears pm1a_sts and the count)"
VBOX_TMR_EN = VBOX + " (acpiR3PM1aEnWrite keeps TMR_EN)"
VBOX_SCI = VBOX + " (pm1a_level: SCI_EN & PM1a_EN & PM1a_STS)"
VBOX_HANDOVER = (VBOX + " (SMI_CMD 0x442e, ACPI_ENABLE 0xa1, ACPI_DISABLE 0xa0; acpiR3SmiWrite; acpiR3Reset clears "
                 "pm1a_ctl); no write of ACPI_ENABLE found in its BIOS")
VBOX_PM1 = (VBOX + " (acpiR3Pm1aStsRead and siblings: 2-byte reads, else VERR_IOM_IOPORT_UNUSED; writes 2 or 4 bytes "
            "cut to 16 bits), src/VBox/VMM/VMMR3/PDMDevHlp.cpp (pdmR3DevHlp_DBGFStopV goes on without a debugger)")
VBOX_PORTS = VBOX + " (PM_PORT_BASE 0x4000, PM_TMR_OFFSET 0x08; acpiR3Reset puts the base back)"
VBOX_RESTORE = VBOX + " (g_AcpiSavedStateFields8, acpiR3LoadState: the count goes on from the saved clock)"
VBOX_FADT = (VBOX + " (acpiR3SetupFadt: revision 4, 244 bytes for the XSDT; the RSDT's copy cut to 116 bytes, "
             "revision 4 kept)")
VBOX_RATE = VBOX + " (acpiPmTimerUpdate: TMCLOCK_VIRTUAL_SYNC nanoseconds times 3579545 / 10^9)"

# --- Hyper-V (OpenVMM's model of its PM device; mu_msvm, the Gen2 firmware) --------------------------

HYPERV_PM = "microsoft/openvmm: vm/devices/chipset/src/pm/mod.rs"
HYPERV_TIMER = HYPERV_PM + " (io_read: the register holding the first byte, shifted; read_dynamic: 32-bit count)"
HYPERV_WRITES = HYPERV_PM + " (write_dynamic: timer writes ignored)"
HYPERV_TMR_STS = HYPERV_PM + " (the timer never sets STATUS)"
HYPERV_TMR_EN = HYPERV_PM + " (write_dynamic: RESUME_ENABLE keeps TMR_EN)"
HYPERV_SCI = HYPERV_PM + " (check_interrupt_assertion: no SCI_EN term; write_dynamic keeps CONTROL)"
HYPERV_GEN2_HANDOVER = HYPERV_PM + " (enable_acpi_mode and reset: CONTROL_SCI_ENABLE_MASK); mu_msvm FADT: SMI_CMD 0"
HYPERV_GEN1_HANDOVER = ("microsoft/openvmm: vm/devices/chipset_legacy/src/piix4_pm/mod.rs (write_static: 0xE1 to "
                        "port 0xB2 enables ACPI, SCI_EN and TMR_EN, 0x1E disables it), vm/devices/chipset/src/pm/"
                        "mod.rs (PmState::new: control 0)")
HYPERV_PM1_ACCESS = HYPERV_PM + " (one 0x37-port region, any width; io_read shifts the first byte's register)"
HYPERV_RATE = HYPERV_PM + " (read_dynamic: now.as_100ns() * 3_579_545 / 10_000_000)"
HYPERV_RESTORE = "microsoft/openvmm: vm/vmcore/src/vmtime.rs (VM time is saved; the count follows it)"
HYPERV_UNCLAIMED = "microsoft/openvmm: vm/devices/missing_dev/src/lib.rs (MissingDev::io_read fills !0)"
HYPERV_GEN2_FADT = ("microsoft/mu_msvm: MsvmPkg/AcpiTables/Fadt.aslc (ACPI 6.2 FADT: every 32-bit block field 0, "
                    "X_PM_TMR_BLK 0x408 64 bits QWORD, X_PM1a_EVT_BLK QWORD, TMR_VAL_EXT), "
                    "MsvmPkg/Include/PowerManagementInterface.h (base 0x400)")
HYPERV_GEN1_PORT = model("0x408, OpenVMM's DEFAULT_DYN_BASE 0x400 + 8 ('the legacy Hyper-V implementation'): the "
                         "PCAT BIOS that programs the PIIX4 base is not public")
HYPERV_GEN1_FADT = model("the harness's default FADT: the PCAT BIOS that writes Hyper-V Gen1's FADT is not public")

# --- cloud-hypervisor, Firecracker, crosvm --------------------------------------------------------

CLOUD_HV_TIMER = ("cloud-hypervisor/cloud-hypervisor: devices/src/acpi.rs (AcpiPmTimerDevice::read: any offset, 4 "
                  "bytes only, else the data left as KVM gave it), torvalds/linux: arch/x86/kvm/x86.c "
                  "(emulator_pio_in_out zeroes pio_data before an IN exit)")
CLOUD_HV_WRITES = "cloud-hypervisor/cloud-hypervisor: vm-device/src/bus.rs (BusDevice::write: the default does nothing)"
CLOUD_HV_RESTORE = ("cloud-hypervisor/cloud-hypervisor: devices/src/acpi.rs (AcpiPmTimerDevice is not Migratable: "
                    "a restored VM starts a new one)")
CLOUD_HV_FADT = ("cloud-hypervisor/cloud-hypervisor: vmm/src/acpi.rs (create_facp_table: revision 6, HW_REDUCED_ACPI "
                 "and TMR_VAL_EXT, only X_PM_TMR_BLK 0x608 dword; Rsdp::new: no RSDT)")
CLOUD_HV_NO_PM1 = "cloud-hypervisor/cloud-hypervisor: vmm/src/acpi.rs (no PM1 block, but for nested Hyper-V)"
CLOUD_HV_UNCLAIMED = "cloud-hypervisor/cloud-hypervisor: vmm/src/vm.rs (pio_read: data.fill(0xff), since v53.0)"
FIRECRACKER_FADT = ("firecracker-microvm/firecracker: src/vmm/src/acpi/mod.rs (build_fadt), "
                    "src/acpi-tables/src/fadt.rs (revision 6, HW_REDUCED_ACPI, no timer), rsdp.rs (no RSDT)")
FIRECRACKER_UNCLAIMED = ("firecracker-microvm/firecracker: src/vmm/src/arch/x86_64/vcpu.rs (run_arch_emulation: "
                         "data.fill(0) before the bus read)")
CROSVM_FADT = ("google/crosvm: x86_64/src/acpi.rs (create_facp_table, write_facp_overrides: revision 6, not "
               "hardware-reduced, PM_TMR_BLK 0 'not supported', SMI_CMD 0); acpi_tables rsdp.rs (no RSDT)")
CROSVM_PM1 = ("google/crosvm: devices/src/acpi.rs (ACPIPMResource: 1- or 2-byte accesses, wider ones refused and "
              "zero-filled; PM1_EN stores every bit; control 0 at start)")
CROSVM_SCI = model("no source says whether crosvm's SCI looks at SCI_EN; no timer raises it here anyway")
CROSVM_PORT = model("0x600, crosvm's PM base without an I/O allocator (x86_64/src/lib.rs); with one it comes from "
                    "the region at 0xC000")
CROSVM_UNCLAIMED = "google/crosvm: devices/src/bus.rs (Bus::read: data.fill(0))"

# --- ACRN ------------------------------------------------------------------------------------

ACRN_POST_FADT = ("projectacrn/acrn-hypervisor: devicemodel/hw/platform/acpi/acpi.c (basl_fwrite_fadt: revision 5, "
                  "PM_TMR_BLK 0 since 2019, X_PM_TMR_BLK an I/O dword at 0, TMR_VAL_EXT)")
ACRN_POST_PM1 = ("projectacrn/acrn-hypervisor: devicemodel/arch/x86/pm.c (pm1 handlers: 2 bytes, else -1), "
                 "devicemodel/core/main.c (vmexit_inout: an unhandled read gives ~0 and the VM goes on)")
ACRN_POST_TMR_EN = "projectacrn/acrn-hypervisor: devicemodel/arch/x86/pm.c (pm1_enable_handler keeps RTC/PWRBTN/GBL)"
ACRN_POST_SCI = "projectacrn/acrn-hypervisor: devicemodel/arch/x86/pm.c (sci_update returns while SCI_EN is clear)"
ACRN_POST_HANDOVER = ("projectacrn/acrn-hypervisor: devicemodel/include/acpi.h (SMI_CMD 0xb2, ACPI_ENABLE 0xa0, "
                      "ACPI_DISABLE 0xa1), devicemodel/arch/x86/pm.c (pm1_control 0 at start)")
ACRN_POST_PORTS = "projectacrn/acrn-hypervisor: devicemodel/include/acpi.h (PM1A_EVT_ADDR 0x400, PM1A_CNT 0x404)"
ACRN_UNCLAIMED = "projectacrn/acrn-hypervisor: devicemodel/core/inout.c (default_inout: all ones)"
ACRN_PRE_FADT = ("projectacrn/acrn-hypervisor: misc/config_tools/acpi_template/template/facp.asl (revision 5, "
                 "hardware-reduced, no PM block), hypervisor/arch/x86/configs/vacpi.c (build_vrsdp: no RSDT)")
ACRN_PRE_UNCLAIMED = "projectacrn/acrn-hypervisor: hypervisor/dm/io_req.c (pio_default_read: all ones)"

# --- Bochs -----------------------------------------------------------------------------------

BOCHS = "bochs-emu/Bochs: bochs/iodev/acpi.cc"
BOCHS_TIMER = BOCHS + " (get_pmtmr: 24 bits of simulated microseconds)"
BOCHS_BIOS = "bochs-emu/Bochs: bios/rombios32.c (acpi_bios_init: PM base 0xb000, a revision-1 FADT, RSDT only)"
BOCHS_NARROW = (BOCHS + " (acpi_pm_iomask: the timer takes only a dword at its own port; every other read there is "
                "unhandled, all ones); real Bochs 2.7 agrees")
BOCHS_SCI = BOCHS + " (pm_update_sci: pmsts & pmen, no SCI_EN term)"
BOCHS_FIRST_TMR_STS = BOCHS + " (reset: tmr_overflow_time = 0xffffff; get_pmsts)"
BOCHS_LEGACY = (
    "bochs-emu/Bochs: bios/rombios32.c (FADT smi_cmd 0xB2, acpi_enable 0xF1, acpi_disable 0xF0), bochs/iodev/acpi.cc "
    "(generate_smi sets and clears SCI_EN; reset leaves pmcntrl 0); real Bochs 2.7 agrees"
)
BOCHS_PM1_ACCESS = model("Bochs's PM1 registers take 1- and 2-byte accesses (not checked against a peer)")
BOCHS_UNCLAIMED = "bochs-emu/Bochs: bochs/iodev/devices.cc (read_handler_default: all ones)"
BOCHS_UEFI_FADT = ("bochs-emu/Bochs: bochs/iodev/acpi_tables.cc (build_fadt, 3.1-dev: revision 5, flag bit 8 set "
                   "as 'RTC_S4' is TMR_VAL_EXT, on the 24-bit timer of acpi.cc get_pmtmr); tianocore/edk2 "
                   "AcpiTableDxe republishes them with an RSDT and an XSDT naming one FADT")
BOCHS_UEFI_AS_LEGACY = model("as Bochs with its legacy BIOS: what OVMF leaves at hand-over is not established")

# --- real chipsets -----------------------------------------------------------------------------

LINUX_PIIX4 = "torvalds/linux: drivers/clocksource/acpi_pm.c (acpi_pm_read_verified; PIIX4 8086:7113 rev < 3)"
PIIX4_SHAPE = model(
    "PIIX4's unlatched reads (torvalds/linux: drivers/clocksource/acpi_pm.c, a 3 ns window in every 69.8 ns); "
    "their shape, 256 ticks behind and chosen by a hash of the read's number, is this harness's"
)
CHIPSET_PORTS = model("the specification's timer at bhyve's layout: no PIIX4 source places it")
CHIPSET_NARROW = model("a chipset register decodes 1-, 2- and 4-byte reads to its low-order bytes")
CHIPSET_RESTORE = model("a chipset has no snapshot; the harness's continues")
INTEL_PCH = ("coreboot/coreboot: src/soc/intel/alderlake/acpi.c (soc_fill_fadt: pm_tmr_blk = pmbase + PM1_TMR, "
             "0x1808), src/soc/intel/common/block/acpi/acpi.c (no TMR_VAL_EXT: a 24-bit timer), "
             "src/acpi/acpi.c (FADT revision 6)")
INTEL_PCH_TIM_DIS = ("coreboot/coreboot: src/soc/intel/alderlake/pmc.c (ACPI_TIM_DIS set without "
                     "USE_PM_ACPI_TIMER), src/soc/intel/alderlake/acpi.c (soc_fill_fadt names the timer all the same)")
INTEL_PCH_NO_TMR_STS = ("coreboot/coreboot: src/soc/intel/common/block/pmc/Kconfig (USE_PM_ACPI_TIMER: 'software "
                        "requiring TMR_STS ... will not work'), src/soc/intel/common/block/cpu/pm_timer_emulation.c")
INTEL_PCH_DISABLED_READS = model(
    "a disabled timer's port reads all ones, as public Linux boot logs show ('PM-Timer failed consistency check "
    "(0xffffff)'); coreboot may turn on the CPU's microcode emulation of it instead "
    "(src/soc/intel/common/block/cpu/pm_timer_emulation.c), which is not modelled"
)
AMD_FCH = ("coreboot/coreboot: src/soc/amd/picasso/include/soc/iomap.h (ACPI_IO_BASE 0x400, the timer at 0x408 on "
           "Picasso and later), src/soc/amd/picasso/acpi.c (acpi_fill_fadt: pm_tmr_len 4, ACPI_FADT_32BIT_TIMER)")
XEN_FADT_FIX = "xen-project/xen: commit f325d2477e (acpi_parse_fadt trusts TMR_VAL_EXT, not the register's bit width)"

# --- the CMOS/RTC at 0x70/0x71 (IRQ 8) and COM1's 16550 at 0x3F8 (IRQ 4), as each platform gives them by default ---

PC_RTC = model("the PC/AT's MC146818 at 0x70/0x71: every PC chipset since the AT has one (PIIX4, Intel's PCH and "
               "AMD's FCH each include it)")
PC_COM1 = model("a PC board's COM1 at 0x3F8 on IRQ 4: on real boards it is the Super I/O's, not the chipset's, "
                "and most have one")
BHYVE_RTC = "freebsd/freebsd-src: sys/amd64/vmm/vmm.c (vm_init: vrtc_init for every VM), sys/amd64/vmm/io/vrtc.c"
BHYVE_COM1 = ("freebsd/freebsd-src: usr.sbin/bhyve/amd64/pci_lpc.c (lpc_uart_softc: COM1 exists only when "
              "configured, -l com1,...)")
QEMU_RTC = "qemu/qemu: hw/i386/pc.c (pc_basic_device_init: mc146818_rtc_init), hw/isa/lpc_ich9.c (q35's RTC)"
QEMU_COM1 = ("qemu/qemu: hw/i386/pc.c (pc_basic_device_init: serial_hds_isa_init), system/vl.c (default_serial: "
             "one serial port unless -nodefaults)")
MICROVM_RTC = ("qemu/qemu: hw/i386/microvm.c (microvm_devices_init: rtc=auto builds the MC146818 only without KVM, "
               "and microvm runs under KVM)")
MICROVM_COM1 = "qemu/qemu: hw/i386/microvm.c (microvm_machine_initfn: isa_serial = true; serial_hds_isa_init)"
XEN_RTC = "xen-project/xen: xen/arch/x86/hvm/rtc.c (the HVM guest's RTC, emulated in Xen: XEN_X86_EMU_RTC)"
XEN_COM1 = ("xen-project/xen: tools/libs/light/libxl_dm.c (qemu-xen starts with -nodefaults; -serial only for "
            "xl.cfg's serial=)")
XEN_PVH_DEVICES = ("xen-project/xen: tools/libs/light/libxl_x86.c (PVH emulation flags XEN_X86_EMU_LAPIC only: no "
                   "RTC), no device model for a serial port")
VBOX_RTC = "VirtualBox/virtualbox: src/VBox/Devices/PC/DevRTC.cpp (mc146818, on every VM)"
VBOX_COM1 = ("VirtualBox/virtualbox: src/VBox/Main/src-client/ConsoleImpl2.cpp (a serial device only for a port "
             "enabled in the VM's settings; none is by default)")
HYPERV_RTC = "microsoft/openvmm: vm/devices/chipset/src/cmos_rtc.rs (the MC146818 at 0x70, IRQ 8)"
HYPERV_GEN2_COM1 = model("Hyper-V generation 2 gives a COM port only when one is set up (Set-VMComPort); "
                         "OpenVMM's 16550s come from the VM's configuration")
HYPERV_GEN1_COM1 = model("Hyper-V generation 1 lists COM 1 and COM 2 among every VM's hardware, connected or not; "
                         "its PCAT firmware is not public")
CLOUD_HV_DEVICES = ("cloud-hypervisor/cloud-hypervisor: docs/device_model.md (RTC/CMOS always enabled; the serial "
                    "port disabled by default, enabled by --serial), devices/src/legacy/cmos.rs")
FIRECRACKER_DEVICES = ("firecracker-microvm/firecracker: src/vmm/src/device_manager/legacy.rs (PortIODeviceManager: "
                       "the serial port at 0x3f8 on GSI 4 and the i8042, no CMOS; its RTC, rtc_pl031, is aarch64's)")
CROSVM_RTC = "google/crosvm: x86_64/src/lib.rs (setup_legacy_cmos_device: the CMOS/RTC at 0x70)"
CROSVM_COM1 = ("google/crosvm: arch/src/serial.rs (set_default_serial_parameters: COM1 a stdout console unless "
               "configured otherwise, COM2-4 sinks)")
ACRN_POST_RTC = "projectacrn/acrn-hypervisor: devicemodel/core/main.c (vm_init_vdevs: vrtc_init)"
ACRN_POST_COM1 = model("not configured: a post-launched VM has COM1 only from its launch line (the device model's "
                       "LPC, -l com1: projectacrn/acrn-hypervisor devicemodel/hw/pci/lpc.c) or from its scenario "
                       "(the hypervisor's vuart[0]: hypervisor/arch/x86/guest/vm.c create_vm, init_legacy_vuarts)")
ACRN_PRE_RTC = ("projectacrn/acrn-hypervisor: hypervisor/arch/x86/guest/vm.c (create_vm: vrtc_init when the VM is "
                "not post-launched)")
ACRN_PRE_COM1 = ("projectacrn/acrn-hypervisor: hypervisor/arch/x86/guest/vm.c (create_vm: init_legacy_vuarts from "
                 "the scenario's vuart[0], COM1 at 0x3F8 on IRQ 4 as the shipped scenarios set it)")
BOCHS_RTC = "bochs-emu/Bochs: bochs/iodev/cmos.cc (always built in)"
BOCHS_COM1 = ("bochs-emu/Bochs: bochs/iodev/serial.cc (serial_init_options: 'only enable the first by default', "
              "COM1 at 0x3f8, IRQ 4)")
