/* acpi.c - find the FADT and the PM timer it names, as an operating system does.
 *
 * The C form of asm/include/acpi.inc and fadt_timer.inc.  The RSDP is found
 * by its signature "RSD PTR " on a 16-byte boundary in the BIOS area
 * 0xE0000-0xFFFFF, its first 20 bytes summing to 0 (ACPI 5.2.5.1).  Then:
 *   acpi_find_fadt       as an ACPI 2.0 OS (ACPICA's acpi_tb_parse_root_table,
 *                        which Linux and FreeBSD use): the FADT the XSDT names
 *                        when the RSDP has a usable XSDT, else the RSDT's;
 *   acpi_find_rsdt_fadt  as ACPI 1.0 readers (SeaBIOS): the RSDT's alone.
 * An RSDP whose RsdtAddress is 0 names only an XSDT (cloud-hypervisor,
 * Firecracker, crosvm, QEMU microvm).  Every table's checksum is checked, and
 * a table shorter than its header is refused.  In protected mode every
 * address below 4 GiB is a pointer: no unreal mode, no copy (acpi.inc needs
 * both in real mode).
 */
#include "harness.h"

#define BIOS_AREA_START 0xE0000u
#define BIOS_AREA_END 0x100000u
#define RSDP_V1_LENGTH 20
#define RSDP_REVISION 15
#define RSDP_RSDT_ADDRESS 16
#define RSDP_XSDT_ADDRESS 24
#define HEADER_LENGTH 36 /* every system description table's header */
#define TABLE_LENGTH 4
#define MAX_FADT_LENGTH 512 /* as acpi.inc's copy: a longer "FADT" is refused */

uint32_t acpi_u32(const uint8_t *table, unsigned offset)
{
	return table[offset] | table[offset + 1] << 8 | table[offset + 2] << 16 | (uint32_t)table[offset + 3] << 24;
}

static const uint8_t *at_address(uint32_t address)
{
	return (const uint8_t *)(uintptr_t)address;
}

static bool sums_to_zero(const uint8_t *bytes, uint32_t length)
{
	uint8_t sum = 0;
	while (length--)
		sum += *bytes++;
	return sum == 0;
}

static bool signature_is(const uint8_t *table, const char *signature)
{
	return memcmp(table, signature, 4) == 0;
}

/* A table with this signature, whose length covers its header and whose bytes sum to zero. */
static bool table_is_sound(const uint8_t *table, const char *signature, uint32_t longest)
{
	uint32_t length;
	if (!table || !signature_is(table, signature))
		return false;
	length = acpi_u32(table, TABLE_LENGTH);
	return length >= HEADER_LENGTH && length <= longest && sums_to_zero(table, length);
}

const uint8_t *acpi_find_rsdp(void)
{
	for (uint32_t address = BIOS_AREA_START; address < BIOS_AREA_END; address += 16) {
		const uint8_t *rsdp = at_address(address);
		if (memcmp(rsdp, "RSD PTR ", 8) == 0 && sums_to_zero(rsdp, RSDP_V1_LENGTH))
			return rsdp;
	}
	return NULL;
}

/* The FADT among a root table's entries (4 bytes each in the RSDT, 8 in the XSDT). */
static const uint8_t *fadt_in_root(const uint8_t *root, unsigned entry_bytes)
{
	uint32_t end = acpi_u32(root, TABLE_LENGTH);
	for (uint32_t entry = HEADER_LENGTH; entry + entry_bytes <= end; entry += entry_bytes) {
		if (entry_bytes == 8 && acpi_u32(root, entry + 4) != 0)
			continue; /* above 4 GiB: out of a 32-bit guest's reach */
		const uint8_t *table = at_address(acpi_u32(root, entry));
		if (table_is_sound(table, "FACP", MAX_FADT_LENGTH))
			return table;
	}
	return NULL;
}

const uint8_t *acpi_find_rsdt_fadt(void)
{
	const uint8_t *rsdp = acpi_find_rsdp();
	if (!rsdp || acpi_u32(rsdp, RSDP_RSDT_ADDRESS) == 0)
		return NULL;
	const uint8_t *rsdt = at_address(acpi_u32(rsdp, RSDP_RSDT_ADDRESS));
	return table_is_sound(rsdt, "RSDT", UINT32_MAX) ? fadt_in_root(rsdt, 4) : NULL;
}

const uint8_t *acpi_find_xsdt_fadt(void)
{
	const uint8_t *rsdp = acpi_find_rsdp();
	if (!rsdp || rsdp[RSDP_REVISION] < 2 || acpi_u32(rsdp, RSDP_XSDT_ADDRESS + 4) != 0)
		return NULL;
	uint32_t address = acpi_u32(rsdp, RSDP_XSDT_ADDRESS);
	if (address == 0)
		return NULL;
	const uint8_t *xsdt = at_address(address);
	return table_is_sound(xsdt, "XSDT", UINT32_MAX) ? fadt_in_root(xsdt, 8) : NULL;
}

const uint8_t *acpi_find_fadt(void)
{
	const uint8_t *fadt = acpi_find_xsdt_fadt();
	return fadt ? fadt : acpi_find_rsdt_fadt();
}

#define FADT_REVISION 8

struct pm_timer pm_timer_from_fadt(const uint8_t *fadt, bool prefer_x_blk)
{
	struct pm_timer timer = { 0, 24, 0x00FFFFFFu };
	timer.port = (uint16_t)acpi_u32(fadt, FADT_PM_TMR_BLK);
	if (acpi_u32(fadt, FADT_FLAGS) & TMR_VAL_EXT) {
		timer.width = 32;
		timer.mask = 0xFFFFFFFFu;
	}
	uint32_t length = acpi_u32(fadt, TABLE_LENGTH);
	if (prefer_x_blk && fadt[FADT_REVISION] >= 2 && length >= FADT_X_PM_TMR_BLK + 12 &&
	    fadt[FADT_X_PM_TMR_BLK] == GAS_SYSTEM_IO && acpi_u32(fadt, FADT_X_PM_TMR_BLK + 4) != 0)
		timer.port = (uint16_t)acpi_u32(fadt, FADT_X_PM_TMR_BLK + 4);
	return timer;
}

struct pm_timer pm_timer_require(bool prefer_x_blk)
{
	const uint8_t *fadt = acpi_find_fadt();
	if (!fadt) {
		/* A found FADT is no test: what is tested is the timer it leads to.  Only its absence is reported. */
		report(false, "the FADT is found");
		finish();
	}
	struct pm_timer timer = pm_timer_from_fadt(fadt, prefer_x_blk);
	if (timer.port == 0) {
		report_skip("the FADT names no timer port: nothing to read");
		finish();
	}
	return timer;
}
