/* Boot smoke test: protocol, command line, memory map; exit 0 by power-off. */
#include "rt.h"

static const char *mem_type(uint32_t t)
{
	switch (t) {
	case RT_MEM_RAM: return "ram";
	case RT_MEM_RESERVED: return "reserved";
	case RT_MEM_ACPI: return "acpi";
	case RT_MEM_NVS: return "nvs";
	default: return "other";
	}
}

int main(void)
{
	const struct rt_mem_region *r;
	unsigned n = rt_memmap(&r);

	printf("Hello from Warden guest (boot protocol: %s)\n", rt_boot_protocol_name());
	printf("cmdline: \"%s\"\n", rt_cmdline());
	for (unsigned i = 0; i < n; i++)
		printf("  mem 0x%012lx-0x%012lx %s\n", r[i].addr, r[i].addr + r[i].size - 1,
		       mem_type(r[i].type));
	printf("memory map: %u regions, %lu MiB RAM\n", n, rt_ram_total() >> 20);
	if (fw_cfg_present())
		printf("fw_cfg: %lu MiB RAM, %u cpus\n", fw_cfg_ram_size() >> 20, fw_cfg_nb_cpus());
	const struct rt_module *mods;
	unsigned nmods = rt_modules(&mods);

	for (unsigned i = 0; i < nmods; i++)
		printf("module %u: 0x%lx, %lu bytes\n", i, mods[i].addr, mods[i].size);
	printf("identity map: 0-4 GiB with %s pages\n", rt_uses_1g_pages() ? "1 GiB" : "2 MiB");
	return 0;
}
