/* libFuzzer harness: the kernel loaders (PVH and multiboot v1) on hostile
 * image bytes, with the command line, initrd, memory map and ACPI pointer
 * chosen by a small header, loading into 8 MiB of guest RAM fenced by
 * canary regions.
 *
 * Input: a 4-byte header, then the image:
 *   byte 0  bits 1:0 loader (boot_load twice as often as the direct PVH and
 *           multiboot entry points), bit 2 command line, bit 3 initrd,
 *           bit 4 initrd path, bit 5 RSDP, bits 7:6 memory map variant
 *   byte 1  command line length selector
 *   byte 2  initrd size selector
 *   byte 3  error buffer length selector
 * Findings (trap) beyond sanitizer reports and canary damage:
 *  - a message past the error buffer's length, unterminated, or with a
 *    newline; a failure without a message, or a positive return;
 *  - a success whose entry point lies outside the loaded image, whose
 *    image range is empty, or whose boot information pointer (EBX) is not
 *    in guest RAM;
 *  - boot information that does not say what was asked for: PVH start info
 *    (magic, command line, ACPI pointer, memory map, module list) and the
 *    multiboot information structure (magic, command line "path args",
 *    memory map, module), with the initrd's bytes in RAM, clear of the
 *    image and of the boot information area. */
#include <errno.h>

#include "fuzz_common.h"
#include "vmm/boot.h"

#define RAM_SIZE        (8 * FZ_MiB)
#define ERR_CAP         256
#define ERR_GUARD       0xa5

static struct fz_ram R;
static bool trace;                      /* FUZZ_TRACE=1: print each outcome */
static char cmdline[8192];
static uint8_t initrd[96 * 1024];

static const struct boot_memmap_entry map_q35[] = {
	{ 0, 0x9fc00, BOOT_E820_RAM },
	{ 0x9fc00, 0x400, BOOT_E820_RESERVED },
	{ 0xe0000, 0x20000, BOOT_E820_RESERVED },
	{ 0x100000, RAM_SIZE - 0x100000, BOOT_E820_RAM },
};

/* More RAM in the map than gmem backs, split entries, ACPI data. */
static const struct boot_memmap_entry map_odd[] = {
	{ 0x100000, 0x100000, BOOT_E820_RAM },
	{ 0, 0x9f000, BOOT_E820_RAM },
	{ 0x200000, 0x100000, BOOT_E820_RAM },
	{ 0x300000, 0x1000, BOOT_E820_ACPI },
	{ 0x301000, 64 * FZ_MiB, BOOT_E820_RAM },
};

static const struct boot_memmap_entry map_tiny[] = {
	{ 0x100000, 0x10000, BOOT_E820_RAM },
};

/* 64 entries: the most either protocol accepts. */
static struct boot_memmap_entry map_full[64];

/* ---- What a successful load must have written ---- */

static const uint8_t *ram_at(uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gmem_gpa_to_ptr(&R.gmem, gpa, len);

	FZ_CHECK(p, "boot data at 0x%llx (+0x%llx) is not RAM", (unsigned long long)gpa,
		 (unsigned long long)len);
	return p;
}

static uint32_t ram32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram_at(gpa, 4), 4);
	return v;
}

static uint64_t ram64(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, ram_at(gpa, 8), 8);
	return v;
}

static void check_string(uint64_t gpa, const char *want, const char *what)
{
	size_t n = strlen(want) + 1;

	FZ_CHECK(!memcmp(ram_at(gpa, n), want, n), "%s at 0x%llx differs", what,
		 (unsigned long long)gpa);
}

/* The initrd as a module: its bytes, in RAM, clear of the image and of
 * the boot information area. */
static void check_module(const struct boot_input *in, const struct boot_entry *out,
			 uint64_t start, uint64_t size)
{
	FZ_CHECK(size == in->initrd_size, "module of %llu bytes, initrd of %zu",
		 (unsigned long long)size, in->initrd_size);
	FZ_CHECK(!memcmp(ram_at(start, size), in->initrd, size), "module bytes differ");
	FZ_CHECK(start >= out->image_high || start + size <= out->image_low,
		 "module [0x%llx +0x%llx) overlaps the image", (unsigned long long)start,
		 (unsigned long long)size);
	FZ_CHECK(start >= BOOT_INFO_END || start + size <= BOOT_INFO_BASE,
		 "module overlaps the boot information");
}

static void check_pvh(const struct boot_input *in, const struct boot_entry *out)
{
	uint64_t si = out->ebx;

	FZ_CHECK(si == BOOT_START_INFO_GPA && out->eax == 0, "PVH entry state");
	FZ_CHECK(ram32(si) == 0x336ec578u, "hvm_start_info magic 0x%x", ram32(si));
	FZ_CHECK(ram32(si + 12) == (in->initrd ? 1u : 0u), "%u modules", ram32(si + 12));
	check_string(ram64(si + 24), in->cmdline ? in->cmdline : "", "command line");
	FZ_CHECK(ram64(si + 32) == in->rsdp_gpa, "RSDP 0x%llx", (unsigned long long)ram64(si + 32));
	FZ_CHECK(ram32(si + 48) == in->nr_memmap, "%u memory map entries", ram32(si + 48));
	for (unsigned i = 0; i < in->nr_memmap; i++) {
		uint64_t e = ram64(si + 40) + i * 24;

		FZ_CHECK(ram64(e) == in->memmap[i].addr && ram64(e + 8) == in->memmap[i].size &&
			 ram32(e + 16) == in->memmap[i].type, "memory map entry %u differs", i);
	}
	if (in->initrd) {
		uint64_t mod = ram64(si + 16);

		check_module(in, out, ram64(mod), ram64(mod + 8));
		if (in->initrd_path)
			check_string(ram64(mod + 16), in->initrd_path, "module command line");
	}
}

static void check_multiboot(const struct boot_input *in, const struct boot_entry *out)
{
	static char want[8192 + 64];
	uint64_t info = out->ebx;
	uint32_t flags = ram32(info);

	FZ_CHECK(out->eax == 0x2badb002u, "multiboot EAX 0x%x", out->eax);
	FZ_CHECK((flags & 0x245) == 0x245, "multiboot info flags 0x%x", flags);
	snprintf(want, sizeof(want), "%s%s%s", in->kernel_path,
		 in->cmdline && in->cmdline[0] ? " " : "", in->cmdline ? in->cmdline : "");
	check_string(ram32(info + 16), want, "multiboot command line");
	FZ_CHECK(ram32(info + 44) == in->nr_memmap * 24, "mmap_length %u", ram32(info + 44));
	for (unsigned i = 0; i < in->nr_memmap; i++) {
		uint64_t e = ram32(info + 48) + i * 24ull;

		FZ_CHECK(ram32(e) == 20 && ram64(e + 4) == in->memmap[i].addr &&
			 ram64(e + 12) == in->memmap[i].size && ram32(e + 20) == in->memmap[i].type,
			 "multiboot memory map entry %u differs", i);
	}
	FZ_CHECK(!!(flags & 8) == !!in->initrd, "module flag");
	if (in->initrd) {
		uint64_t mods = ram32(info + 24);

		FZ_CHECK(ram32(info + 20) == 1, "%u modules", ram32(info + 20));
		check_module(in, out, ram32(mods), (uint64_t)ram32(mods + 4) - ram32(mods));
		check_string(ram32(mods + 8), in->initrd_path ? in->initrd_path : "", "module string");
	}
	FZ_CHECK(info >= out->image_high || info + 88 <= out->image_low,
		 "multiboot information overlaps the image");
}

typedef int (*loader_fn)(const struct gmem *, const struct boot_input *, struct boot_entry *,
			 char *, size_t);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_quiet_logs();
	trace = getenv("FUZZ_TRACE");
	fz_ram_init(&R, RAM_SIZE);
	for (size_t i = 0; i < sizeof(cmdline) - 1; i++)
		cmdline[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i * 7 + (i >> 9));
	for (unsigned i = 0; i < 64; i++)
		map_full[i] = (struct boot_memmap_entry){ i * 0x20000ull, 0x20000,
			i == 5 ? BOOT_E820_RESERVED : BOOT_E820_RAM };
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const loader_fn loaders[4] = { boot_load, boot_load, boot_load_pvh,
					      boot_load_multiboot };
	static const size_t cmd_lens[8] = { 0, 1, 13, 200, 4094, 4095, 4096, 8000 };
	static const size_t rd_sizes[8] = { 0, 1, 4096, 4097, 12345, 65536, 96 * 1024, 3 };
	static const size_t err_lens[4] = { 0, 1, 16, 200 };
	static char err[ERR_CAP];
	struct boot_input in;
	struct boot_entry out;
	size_t errlen;
	uint8_t b0, b1, b2, b3;
	char saved = 0;
	int ret;

	if (size < 4)
		return 0;
	b0 = data[0];
	b1 = data[1];
	b2 = data[2];
	b3 = data[3];
	memset(&in, 0, sizeof(in));
	in.kernel_path = "fuzz.elf";
	/* The image is its own allocation of exactly its size, so ASan sees a
	 * read one byte past it. */
	in.image_size = size - 4;
	in.image = in.image_size ? data + 4 : NULL;
	switch (b0 >> 6) {
	case 0: in.memmap = map_q35; in.nr_memmap = 4; break;
	case 1: in.memmap = map_odd; in.nr_memmap = 5; break;
	case 2: in.memmap = map_tiny; in.nr_memmap = 1; break;
	default: in.memmap = map_full; in.nr_memmap = 64; break;
	}
	if (b0 & 4) {
		size_t n = cmd_lens[b1 & 7];

		saved = cmdline[n];
		cmdline[n] = '\0';
		in.cmdline = cmdline;
	}
	if (b0 & 8) {
		/* Stamped per input, so bytes an earlier input left in RAM
		 * never pass for this one's module. */
		memset(initrd, (int)(size ^ b2), 16);
		memset(initrd + sizeof(initrd) - 16, (int)(size >> 8), 16);
		in.initrd = initrd;
		in.initrd_size = rd_sizes[b2 & 7];
		if (b0 & 16)
			in.initrd_path = b2 & 8 ? cmdline + sizeof(cmdline) - 300 : "initrd.img";
	}
	if (b0 & 32)
		in.rsdp_gpa = 0xe0000;
	errlen = err_lens[b3 & 3];
	memset(err, ERR_GUARD, sizeof(err));
	if (errlen)
		err[0] = '\0';

	ret = loaders[b0 & 3](&R.gmem, &in, &out, errlen ? err : NULL, errlen);

	if (trace)
		fprintf(fz_err(), "loader %u: %d (%s) protocol %d eip 0x%x ebx 0x%x image [0x%llx, 0x%llx)\n",
			b0 & 3, ret, errlen ? err : "", ret ? 0 : out.protocol, ret ? 0 : out.eip,
			ret ? 0 : out.ebx, ret ? 0ull : (unsigned long long)out.image_low,
			ret ? 0ull : (unsigned long long)out.image_high);
	for (size_t i = errlen; i < sizeof(err); i++)
		FZ_CHECK((uint8_t)err[i] == ERR_GUARD, "message written past errlen %zu", errlen);
	if (errlen) {
		FZ_CHECK(memchr(err, '\0', errlen), "message not terminated");
		FZ_CHECK(!strchr(err, '\n'), "message with a newline: %s", err);
	}
	if (ret == 0) {
		FZ_CHECK(out.image_low < out.image_high, "empty image range");
		FZ_CHECK(out.eip >= out.image_low && out.eip < out.image_high,
			 "entry 0x%x outside the image [0x%llx, 0x%llx)", out.eip,
			 (unsigned long long)out.image_low, (unsigned long long)out.image_high);
		FZ_CHECK(gmem_gpa_to_ptr(&R.gmem, out.ebx, 4), "boot information at 0x%x is not RAM",
			 out.ebx);
		FZ_CHECK(out.protocol == BOOT_PVH || out.protocol == BOOT_MULTIBOOT, "protocol %d",
			 out.protocol);
		if (out.protocol == BOOT_PVH)
			check_pvh(&in, &out);
		else
			check_multiboot(&in, &out);
	} else {
		FZ_CHECK(ret < 0, "positive return %d", ret);
		FZ_CHECK(errlen < 2 || err[0], "failure %d without a message", ret);
	}
	if (in.cmdline)
		cmdline[cmd_lens[b1 & 7]] = saved;
	fz_ram_check(&R);
	return 0;
}
