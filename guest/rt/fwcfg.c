/* QEMU fw_cfg, legacy port interface: 16-bit selector at 0x510, data bytes
 * at 0x511, little-endian items. */
#include "priv.h"

void fw_cfg_read(uint16_t selector, void *buf, size_t len)
{
	uint8_t *p = buf;

	outw(FW_CFG_PORT_SEL, selector);
	for (size_t i = 0; i < len; i++)
		p[i] = inb(FW_CFG_PORT_DATA);
}

bool fw_cfg_present(void)
{
	static int present = -1;

	if (present < 0) {
		char sig[4];
		fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof(sig));
		present = !memcmp(sig, "QEMU", 4);
	}
	return present;
}

unsigned fw_cfg_nb_cpus(void)
{
	uint8_t b[2];

	if (!fw_cfg_present())
		return 0;
	fw_cfg_read(FW_CFG_NB_CPUS, b, sizeof(b));
	return b[0] | (unsigned)b[1] << 8;
}

uint64_t fw_cfg_ram_size(void)
{
	uint8_t b[8];
	uint64_t v = 0;

	if (!fw_cfg_present())
		return 0;
	fw_cfg_read(FW_CFG_RAM_SIZE, b, sizeof(b));
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}
