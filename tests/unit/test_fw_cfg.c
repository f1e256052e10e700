/* fw_cfg's legacy port interface through a real PIO bus, read the way
 * SeaBIOS reads it: 16-bit selector write, byte reads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/bus.h"
#include "devices/fw_cfg.h"

#define SEL  0x510
#define DATA 0x511
#define RAM  (512ull << 20)

struct ctx {
	struct bus pio;
	struct fw_cfg fw;
};

static struct ctx ctx;

static int setup(void **state)
{
	memset(&ctx, 0, sizeof(ctx));
	/* As the vmm sets it up. */
	if (bus_init(&ctx.pio, "pio") || fw_cfg_init(&ctx.fw) ||
	    fw_cfg_add_i64(&ctx.fw, FW_CFG_RAM_SIZE, RAM) ||
	    fw_cfg_add_i16(&ctx.fw, FW_CFG_NB_CPUS, 2) ||
	    fw_cfg_add_i16(&ctx.fw, FW_CFG_MAX_CPUS, 4) ||
	    fw_cfg_attach(&ctx.fw, &ctx.pio, FW_CFG_IO_BASE))
		return -1;
	*state = &ctx;
	return 0;
}

static int teardown(void **state)
{
	fw_cfg_destroy(&ctx.fw);
	bus_destroy(&ctx.pio);
	return 0;
}

static void select_key(struct ctx *c, uint16_t key)
{
	assert_true(bus_write(&c->pio, SEL, key, 2));
}

static void read_bytes(struct ctx *c, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t v;
	size_t i;

	for (i = 0; i < len; i++) {
		assert_true(bus_read(&c->pio, DATA, &v, 1));
		assert_true(v <= 0xff);
		p[i] = (uint8_t)v;
	}
}

static uint64_t read_le(struct ctx *c, uint16_t key, unsigned n)
{
	uint8_t b[8];
	uint64_t v = 0;
	unsigned i;

	select_key(c, key);
	read_bytes(c, b, n);
	for (i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_signature_and_id(void **state)
{
	struct ctx *c = *state;
	char sig[6];
	uint64_t v;

	select_key(c, FW_CFG_SIGNATURE);
	read_bytes(c, sig, 6);
	assert_memory_equal(sig, "QEMU\0\0", 6);     /* past the end: 0 */
	/* Traditional interface only: no DMA bit, so firmware never looks
	 * for the DMA port. */
	assert_int_equal(read_le(c, FW_CFG_ID, 4), FW_CFG_VERSION);
	/* A byte read of the selector port reads data too (QEMU's combined
	 * region), advancing the same offset. */
	select_key(c, FW_CFG_SIGNATURE);
	assert_true(bus_read(&c->pio, SEL, &v, 1));
	assert_int_equal(v, 'Q');
	assert_true(bus_read(&c->pio, DATA, &v, 1));
	assert_int_equal(v, 'E');
	/* The write-channel bit selects the same item (writes are ignored). */
	select_key(c, FW_CFG_WRITE_CHANNEL | FW_CFG_SIGNATURE);
	assert_true(bus_read(&c->pio, DATA, &v, 1));
	assert_int_equal(v, 'Q');
}

static void test_machine_items(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(read_le(c, FW_CFG_RAM_SIZE, 8), RAM);
	assert_int_equal(read_le(c, FW_CFG_NB_CPUS, 2), 2);
	assert_int_equal(read_le(c, FW_CFG_MAX_CPUS, 2), 4);
	/* Reading on past the end keeps returning 0. */
	assert_int_equal(read_le(c, FW_CFG_NB_CPUS, 8), 2);
}

static void test_unknown_selector(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(read_le(c, 0x0010, 8), 0);
	assert_int_equal(read_le(c, 0x3fff, 8), 0);
	assert_int_equal(read_le(c, FW_CFG_FILE_FIRST, 8), 0);   /* no files yet */
	assert_int_equal(read_le(c, FW_CFG_ARCH_LOCAL | 3, 8), 0);
}

static void test_reselect_rewinds(void **state)
{
	struct ctx *c = *state;
	uint8_t b[3];

	select_key(c, FW_CFG_SIGNATURE);
	read_bytes(c, b, 3);
	select_key(c, FW_CFG_SIGNATURE);
	read_bytes(c, b, 3);
	assert_memory_equal(b, "QEM", 3);
}

static void test_file_dir(void **state)
{
	struct ctx *c = *state;
	const char boot[] = "\x01\x02\x03";
	uint8_t tables[300], hdr[4], e[64], got[300];
	unsigned i;

	for (i = 0; i < sizeof(tables); i++)
		tables[i] = (uint8_t)i;
	/* Added out of order: the directory is sorted by name, as QEMU's. */
	assert_int_equal(fw_cfg_add_file(&c->fw, "etc/table-loader", boot, 3), 0);
	assert_int_equal(fw_cfg_add_file(&c->fw, "etc/acpi/tables", tables, sizeof(tables)), 0);
	assert_int_equal(fw_cfg_add_file(&c->fw, "bootorder", NULL, 0), 0);

	select_key(c, FW_CFG_FILE_DIR);
	read_bytes(c, hdr, 4);
	assert_int_equal(be32(hdr), 3);
	read_bytes(c, e, 64);               /* bootorder */
	assert_int_equal(be32(e), 0);
	assert_int_equal(e[4] << 8 | e[5], FW_CFG_FILE_FIRST);
	assert_int_equal(e[6] << 8 | e[7], 0);
	assert_string_equal((char *)e + 8, "bootorder");
	read_bytes(c, e, 64);               /* etc/acpi/tables */
	assert_int_equal(be32(e), sizeof(tables));
	assert_int_equal(e[4] << 8 | e[5], FW_CFG_FILE_FIRST + 1);
	assert_string_equal((char *)e + 8, "etc/acpi/tables");
	for (i = 8 + strlen("etc/acpi/tables"); i < 64; i++)
		assert_int_equal(e[i], 0);  /* names are NUL-padded */
	read_bytes(c, e, 64);               /* etc/table-loader */
	assert_int_equal(be32(e), 3);
	assert_int_equal(e[4] << 8 | e[5], FW_CFG_FILE_FIRST + 2);
	assert_string_equal((char *)e + 8, "etc/table-loader");
	read_bytes(c, e, 4);                /* the directory is exactly that long */
	assert_int_equal(be32(e), 0);

	select_key(c, FW_CFG_FILE_FIRST + 1);
	read_bytes(c, got, sizeof(got));
	assert_memory_equal(got, tables, sizeof(tables));
	read_bytes(c, got, 2);
	assert_int_equal(got[0] | got[1], 0);
	assert_int_equal(read_le(c, FW_CFG_FILE_FIRST + 2, 4), 0x030201);
	assert_int_equal(read_le(c, FW_CFG_FILE_FIRST + 3, 4), 0);
	assert_int_equal(c->fw.nr_files, 3);
}

static void test_add_errors(void **state)
{
	struct ctx *c = *state;
	char longname[FW_CFG_MAX_FILE_PATH + 1];
	uint8_t x = 1;

	assert_int_equal(fw_cfg_add_file(&c->fw, "etc/x", &x, 1), 0);
	assert_int_equal(fw_cfg_add_file(&c->fw, "etc/x", &x, 1), -EEXIST);
	memset(longname, 'a', sizeof(longname));
	longname[FW_CFG_MAX_FILE_PATH] = 0;          /* 56 characters: no room for NUL */
	assert_int_equal(fw_cfg_add_file(&c->fw, longname, &x, 1), -ENAMETOOLONG);
	longname[FW_CFG_MAX_FILE_PATH - 1] = 0;      /* 55 characters fit */
	assert_int_equal(fw_cfg_add_file(&c->fw, longname, &x, 1), 0);
	assert_int_equal(fw_cfg_add_file(&c->fw, "", &x, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(&c->fw, NULL, &x, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(&c->fw, "etc/y", NULL, 4), -EINVAL);

	assert_int_equal(fw_cfg_add_bytes(&c->fw, FW_CFG_SIGNATURE, "XXXX", 4), -EEXIST);
	assert_int_equal(fw_cfg_add_bytes(&c->fw, FW_CFG_FILE_DIR, &x, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(&c->fw, FW_CFG_FILE_FIRST, &x, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(&c->fw, FW_CFG_WRITE_CHANNEL | 0x10, &x, 1), -EINVAL);
	assert_int_equal(fw_cfg_add_bytes(&c->fw, FW_CFG_ARCH_LOCAL | 0x20, &x, 1), -EINVAL);
	/* An arch-local key (x86: 0x8003 is the e820 table). */
	assert_int_equal(fw_cfg_add_bytes(&c->fw, FW_CFG_ARCH_LOCAL | 3, "\x11\x22", 2), 0);
	assert_int_equal(read_le(c, FW_CFG_ARCH_LOCAL | 3, 2), 0x2211);
	assert_int_equal(read_le(c, 3, 8), RAM);     /* not the same item as key 3 */
}

static void test_file_limit(void **state)
{
	struct ctx *c = *state;
	char name[32];
	unsigned i;
	uint8_t hdr[4];

	for (i = 0; i < FW_CFG_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "f/%04u", i);
		assert_int_equal(fw_cfg_add_file(&c->fw, name, &i, sizeof(i)), 0);
	}
	assert_int_equal(fw_cfg_add_file(&c->fw, "f/last", &i, sizeof(i)), -ENOSPC);
	select_key(c, FW_CFG_FILE_DIR);
	read_bytes(c, hdr, 4);
	assert_int_equal(be32(hdr), FW_CFG_MAX_FILES);
	assert_int_equal(read_le(c, FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES - 1, 4),
			 FW_CFG_MAX_FILES - 1);
}

static void test_invalid_accesses(void **state)
{
	struct ctx *c = *state;
	uint64_t v = 0x1234;

	select_key(c, FW_CFG_SIGNATURE);
	/* Only byte reads are defined: wider reads return 0, consume nothing. */
	assert_true(bus_read(&c->pio, DATA, &v, 2));
	assert_int_equal(v, 0);
	assert_true(bus_read(&c->pio, SEL, &v, 4));
	assert_int_equal(v, 0);
	/* Byte writes are data writes: no-ops, also at the selector port. */
	assert_true(bus_write(&c->pio, DATA, 0x55, 1));
	assert_true(bus_write(&c->pio, SEL, FW_CFG_RAM_SIZE, 1));
	/* 32-bit writes and 16-bit writes at the data port select nothing. */
	assert_true(bus_write(&c->pio, SEL, FW_CFG_RAM_SIZE, 4));
	assert_true(bus_write(&c->pio, DATA, FW_CFG_RAM_SIZE, 2));
	assert_true(bus_read(&c->pio, DATA, &v, 1));
	assert_int_equal(v, 'Q');
	/* The DMA port is not claimed. */
	assert_false(bus_read(&c->pio, 0x514, &v, 4));
}

static void test_reset_and_save_load(void **state)
{
	struct ctx *c = *state;
	struct fw_cfg copy;
	uint8_t buf[64], b[2];
	const char blob[] = "hello, firmware";
	uint64_t v;
	int n;

	assert_int_equal(fw_cfg_add_file(&c->fw, "etc/blob", blob, sizeof(blob)), 0);
	select_key(c, FW_CFG_FILE_FIRST);
	read_bytes(c, b, 2);
	n = fw_cfg_save(&c->fw, NULL, 0);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	assert_int_equal(fw_cfg_save(&c->fw, buf, 2), -ENOSPC);
	assert_int_equal(fw_cfg_save(&c->fw, buf, sizeof(buf)), n);

	/* The destination rebuilds the same items, then takes the cursor. */
	assert_int_equal(fw_cfg_init(&copy), 0);
	assert_int_equal(fw_cfg_add_file(&copy, "etc/blob", blob, sizeof(blob)), 0);
	assert_int_equal(fw_cfg_load(&copy, buf, (size_t)n), 0);
	assert_int_equal(copy.cur_offset, 2);
	buf[0] ^= 0x20;
	assert_int_equal(fw_cfg_load(&copy, buf, (size_t)n), -EINVAL);
	fw_cfg_destroy(&copy);

	read_bytes(c, b, 1);
	assert_int_equal(b[0], 'l');
	fw_cfg_reset(&c->fw);
	assert_true(bus_read(&c->pio, DATA, &v, 1));
	assert_int_equal(v, 'Q');
}

static void test_destroy_uninitialized(void **state)
{
	struct fw_cfg f;

	(void)state;
	memset(&f, 0, sizeof(f));
	fw_cfg_destroy(&f);
	assert_int_equal(fw_cfg_init(&f), 0);
	/* Host-endian add_bytes, as the vmm does it, equals the LE helper. */
	uint64_t ram = 0x123456789ull;

	assert_int_equal(fw_cfg_add_bytes(&f, FW_CFG_RAM_SIZE, &ram, sizeof(ram)), 0);
	assert_int_equal(fw_cfg_add_i64(&f, FW_CFG_RAM_SIZE, ram), -EEXIST);
	assert_memory_equal(f.fixed[f.nr_fixed - 1].data, "\x89\x67\x45\x23\x01\0\0\0", 8);
	fw_cfg_destroy(&f);
	fw_cfg_destroy(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_machine_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_selector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reselect_rewinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_save_load, setup, teardown),
		cmocka_unit_test(test_destroy_uninitialized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
