/* Kernel loaders: PVH and multiboot v1 on images built here, the malformed
 * images a hostile or broken kernel file can be, and a seeded mutation loop
 * that checks no input crashes the loader or writes outside the VM's RAM. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/gmem.h"
#include "vmm/boot.h"

#define MiB (1ull << 20)
#define RAM_SIZE (32 * MiB)
#define NEIGHBOUR_SIZE (2 * MiB)
#define RAM_FILL 0xcc
#define NEIGHBOUR_FILL 0x5a
#define IMG_CAP (64 * 1024)

/* --- fixture: one VM under test and a neighbour whose RAM must not move --- */

static struct arena arena;
static struct gmem gm, neighbour;

static const struct boot_memmap_entry e820[] = {
	{ 0, 0x9fc00, BOOT_E820_RAM },
	{ 0x9fc00, 0x400, BOOT_E820_RESERVED },
	{ 0xf0000, 0x10000, BOOT_E820_RESERVED },
	{ 0x100000, RAM_SIZE - 0x100000, BOOT_E820_RAM },
};
#define NR_E820 (sizeof(e820) / sizeof(e820[0]))

static int group_setup(void **state)
{
	(void)state;
	if (arena_init(&arena, 64 * MiB, 4 * MiB) < 0)
		return -1;
	if (gmem_init(&gm, &arena, 0, RAM_SIZE) < 0 ||
	    gmem_init(&neighbour, &arena, 1, NEIGHBOUR_SIZE) < 0)
		return -1;
	memset(gmem_gpa_to_ptr(&neighbour, 0, NEIGHBOUR_SIZE), NEIGHBOUR_FILL, NEIGHBOUR_SIZE);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	gmem_destroy(&neighbour);
	gmem_destroy(&gm);
	arena_destroy(&arena);
	return 0;
}

static void fill_ram(void)
{
	memset(gmem_gpa_to_ptr(&gm, 0, RAM_SIZE), RAM_FILL, RAM_SIZE);
}

static int test_setup(void **state)
{
	(void)state;
	fill_ram();
	return 0;
}

static bool filled(const struct gmem *g, uint64_t addr, uint64_t len, uint8_t v)
{
	const uint8_t *p = gmem_gpa_to_ptr(g, addr, len);

	assert_non_null(p);
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool neighbour_intact(void)
{
	return filled(&neighbour, 0, NEIGHBOUR_SIZE, NEIGHBOUR_FILL);
}

static void assert_isolated(void)
{
	assert_int_equal(arena_check_canaries(&arena), 0);
	assert_true(neighbour_intact());
}

static const uint8_t *gpa(uint64_t addr, uint64_t len)
{
	const uint8_t *p = gmem_gpa_to_ptr(&gm, addr, len);

	assert_non_null(p);
	return p;
}

static uint32_t rd32(uint64_t addr)
{
	uint32_t v;

	memcpy(&v, gpa(addr, 4), 4);
	return v;
}

static uint64_t rd64(uint64_t addr)
{
	uint64_t v;

	memcpy(&v, gpa(addr, 8), 8);
	return v;
}

static void pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 8));
}

static void default_input(struct boot_input *in, const uint8_t *img, size_t size)
{
	memset(in, 0, sizeof(*in));
	in->kernel_path = "kern.elf";
	in->image = img;
	in->image_size = size;
	in->memmap = e820;
	in->nr_memmap = NR_E820;
}

/* --- image builders --- */

static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void w64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static size_t up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* One ELF note, padded as the area alignment a requires. */
static size_t build_note(uint8_t *p, const char *name, size_t namesz, uint32_t type,
			 const void *desc, uint32_t descsz, size_t a)
{
	size_t desc_off = up(12 + namesz, a);

	memset(p, 0, up(desc_off + descsz, a));
	w32(p, (uint32_t)namesz);
	w32(p + 4, descsz);
	w32(p + 8, type);
	memcpy(p + 12, name, namesz);
	if (descsz)
		memcpy(p + desc_off, desc, descsz);
	return up(desc_off + descsz, a);
}

static size_t xen_note(uint8_t *p, uint64_t entry, uint32_t descsz)
{
	uint8_t desc[8];

	w64(desc, entry);
	return build_note(p, "Xen", 4, 18, desc, descsz, 4);
}

struct tseg {
	uint32_t type, flags;
	uint64_t paddr, vaddr, memsz, align;
	const void *data;
	size_t filesz;
	uint64_t offset;                /* out: file offset of the data */
};

struct telf {
	bool is64;
	uint16_t machine;               /* 0: the class's x86 machine */
	uint64_t entry;
	struct tseg seg[8];
	unsigned nseg;
	const void *shnote;             /* adds a SHT_NOTE section */
	size_t shnote_len;
	uint64_t phoff, shoff;          /* out */
};

/* Writes an ELF field at its ELF32 or ELF64 offset; width 0 is the class's
 * address size. */
static void put(uint8_t *p, bool is64, unsigned o32, unsigned o64, unsigned width, uint64_t v)
{
	if (width == 0)
		width = is64 ? 8 : 4;
	memcpy(p + (is64 ? o64 : o32), &v, width);
}

static size_t build_elf(struct telf *t, uint8_t *buf, size_t cap)
{
	const bool w = t->is64;
	size_t ehsize = w ? 64 : 52, phsize = w ? 56 : 32, shsize = w ? 64 : 40;
	size_t off = ehsize + t->nseg * phsize, shnote_off = 0;
	uint8_t *h = buf;

	memset(buf, 0, cap);
	memcpy(h, "\x7f" "ELF", 4);
	h[4] = w ? 2 : 1;
	h[5] = 1;
	h[6] = 1;
	w16(h + 16, 2);
	w16(h + 18, t->machine ? t->machine : (w ? 62 : 3));
	w32(h + 20, 1);
	t->phoff = ehsize;
	for (unsigned i = 0; i < t->nseg; i++) {
		struct tseg *s = &t->seg[i];
		uint8_t *ph = buf + ehsize + i * phsize;

		off = up(off, 8);
		s->offset = off;
		assert_true(off + s->filesz <= cap);
		if (s->filesz)
			memcpy(buf + off, s->data, s->filesz);
		off += s->filesz;
		put(ph, w, 0, 0, 4, s->type);
		put(ph, w, 24, 4, 4, s->flags);
		put(ph, w, 4, 8, 0, s->offset);
		put(ph, w, 8, 16, 0, s->vaddr ? s->vaddr : s->paddr);
		put(ph, w, 12, 24, 0, s->paddr);
		put(ph, w, 16, 32, 0, s->filesz);
		put(ph, w, 20, 40, 0, s->memsz);
		put(ph, w, 28, 48, 0, s->align ? s->align : 4);
	}
	if (t->shnote) {
		/* section 0 is the null section; section 1 the note */
		uint8_t *sh;

		shnote_off = off = up(off, 8);
		memcpy(buf + off, t->shnote, t->shnote_len);
		t->shoff = off = up(off + t->shnote_len, 8);
		sh = buf + off + shsize;
		put(sh, w, 4, 4, 4, 7);
		put(sh, w, 16, 24, 0, shnote_off);
		put(sh, w, 20, 32, 0, t->shnote_len);
		put(sh, w, 32, 48, 0, 4);
		off += 2 * shsize;
	}
	put(h, w, 24, 24, 0, t->entry);
	put(h, w, 28, 32, 0, ehsize);
	put(h, w, 32, 40, 0, t->shoff);
	put(h, w, 40, 52, 2, ehsize);
	put(h, w, 42, 54, 2, phsize);
	put(h, w, 44, 56, 2, t->nseg);
	put(h, w, 46, 58, 2, shsize);
	put(h, w, 48, 60, 2, t->shnote ? 2 : 0);
	assert_true(off <= cap);
	return off;
}

/* Shared payloads, so a test can compare guest RAM against them. */
static uint8_t text[0x3000], data2[0x100], initrd_blob[3 * 4096 + 5];
static uint8_t notes[256];

#define PVH64_ENTRY 0x100040u

/* A vmlinux-like PVH ELF64: higher-half p_vaddr, a note segment with other
 * notes before the Xen one (one with an odd name length, to test padding),
 * and an 8-byte descriptor whose high half must be ignored. */
static size_t build_pvh64(struct telf *t, uint8_t *buf, size_t cap)
{
	uint8_t buildid[20], linux_desc[4] = { 1, 2, 3, 4 };
	size_t n = 0;

	pattern(text, sizeof(text), 1);
	pattern(data2, sizeof(data2), 2);
	pattern(buildid, sizeof(buildid), 3);
	n += build_note(notes + n, "GNU", 4, 3, buildid, sizeof(buildid), 4);
	n += build_note(notes + n, "Linux", 6, 6, linux_desc, 4, 4);
	n += xen_note(notes + n, 0xdeadbeef00000000ull | PVH64_ENTRY, 8);
	memset(t, 0, sizeof(*t));
	t->is64 = true;
	t->entry = 0xffffffff81000000ull;
	t->nseg = 3;
	t->seg[0] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x100000,
		.vaddr = 0xffffffff81000000ull, .memsz = 0x5000, .data = text, .filesz = 0x3000 };
	t->seg[1] = (struct tseg){ .type = 4, .flags = 4, .paddr = 0, .vaddr = 0,
		.memsz = n, .data = notes, .filesz = n };
	t->seg[2] = (struct tseg){ .type = 1, .flags = 6, .paddr = 0x200000,
		.vaddr = 0xffffffff81100000ull, .memsz = 0x1000, .data = data2, .filesz = 0x100 };
	return build_elf(t, buf, cap);
}

#define PVH32_ENTRY 0x100010u

static size_t build_pvh32(struct telf *t, uint8_t *buf, size_t cap)
{
	size_t n;

	pattern(text, sizeof(text), 4);
	n = xen_note(notes, PVH32_ENTRY, 4);
	memset(t, 0, sizeof(*t));
	t->is64 = false;
	t->entry = 0x100000;
	t->nseg = 2;
	t->seg[0] = (struct tseg){ .type = 4, .memsz = n, .data = notes, .filesz = n };
	t->seg[1] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x100000,
		.memsz = 0x2000, .data = text, .filesz = 0x1800 };
	return build_elf(t, buf, cap);
}

#define MB_MAGIC 0x1BADB002u
#define MB_ELF_ENTRY 0x10000cu

static void mb_header(uint8_t *p, uint32_t flags)
{
	w32(p, MB_MAGIC);
	w32(p + 4, flags);
	w32(p + 8, (uint32_t)(0u - MB_MAGIC - flags));
}

/* A multiboot ELF32 kernel: the header opens its text, which is followed by
 * bss. */
static size_t build_mb_elf(struct telf *t, uint8_t *buf, size_t cap, uint32_t flags)
{
	pattern(text, sizeof(text), 5);
	mb_header(text, flags);
	memset(t, 0, sizeof(*t));
	t->is64 = false;
	t->entry = MB_ELF_ENTRY;
	t->nseg = 1;
	t->seg[0] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x100000,
		.memsz = 0x3000, .data = text, .filesz = 0x2000 };
	return build_elf(t, buf, cap);
}

#define AOUT_SIZE 0x1234u
#define AOUT_HOFF 0x40u
#define AOUT_ENTRY 0x100060u
#define AOUT_BSS_END 0x105000u

/* A flat multiboot image described by the a.out kludge (flag 16), loaded
 * whole (load_end_addr 0) at 1 MiB with bss up to AOUT_BSS_END. */
static size_t build_mb_aout(uint8_t *buf, uint32_t load_end, uint32_t bss_end)
{
	uint8_t *h = buf + AOUT_HOFF;

	pattern(buf, AOUT_SIZE, 6);
	mb_header(h, 0x10003);
	w32(h + 12, 0x100000 + AOUT_HOFF);
	w32(h + 16, 0x100000);
	w32(h + 20, load_end);
	w32(h + 24, bss_end);
	w32(h + 28, AOUT_ENTRY);
	return AOUT_SIZE;
}

/* --- valid PVH --- */

struct start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

static void read_start_info(struct start_info *si)
{
	memcpy(si, gpa(BOOT_START_INFO_GPA, sizeof(*si)), sizeof(*si));
	assert_int_equal(sizeof(*si), 56);
}

static void check_pvh_memmap(const struct boot_memmap_entry *map, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = BOOT_MEMMAP_GPA + i * 24;

		assert_int_equal(rd64(e), map[i].addr);
		assert_int_equal(rd64(e + 8), map[i].size);
		assert_int_equal(rd32(e + 16), map[i].type);
		assert_int_equal(rd32(e + 20), 0);
	}
}

static void test_pvh_elf64(void **state)
{
	static uint8_t img[IMG_CAP];
	const char *cmdline = "console=ttyS0 root=/dev/vda";
	struct boot_entry out;
	struct boot_input in;
	struct start_info si;
	struct telf t;
	char err[256] = "";
	uint64_t mod, initrd_at;

	(void)state;
	pattern(initrd_blob, sizeof(initrd_blob), 9);
	default_input(&in, img, build_pvh64(&t, img, sizeof(img)));
	in.cmdline = cmdline;
	in.initrd = initrd_blob;
	in.initrd_size = sizeof(initrd_blob);
	in.initrd_path = "/boot/initrd.img";
	in.rsdp_gpa = 0xe0000;
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_string_equal(err, "");

	assert_int_equal(out.protocol, BOOT_PVH);
	assert_int_equal(out.eip, PVH64_ENTRY);
	assert_int_equal(out.eax, 0);
	assert_int_equal(out.ebx, BOOT_START_INFO_GPA);
	assert_int_equal(out.image_low, 0x100000);
	assert_int_equal(out.image_high, 0x201000);

	/* segments by p_paddr, file bytes copied, the rest zeroed */
	assert_memory_equal(gpa(0x100000, 0x3000), text, 0x3000);
	assert_true(filled(&gm, 0x103000, 0x2000, 0));
	assert_true(filled(&gm, 0x105000, 0x1000, RAM_FILL));
	assert_memory_equal(gpa(0x200000, 0x100), data2, 0x100);
	assert_true(filled(&gm, 0x200100, 0xf00, 0));

	read_start_info(&si);
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.version, 1);
	assert_int_equal(si.flags, 0);
	assert_int_equal(si.nr_modules, 1);
	assert_int_equal(si.modlist_paddr, BOOT_MODLIST_GPA);
	assert_int_equal(si.cmdline_paddr, BOOT_CMDLINE_GPA);
	assert_int_equal(si.rsdp_paddr, 0xe0000);
	assert_int_equal(si.memmap_paddr, BOOT_MEMMAP_GPA);
	assert_int_equal(si.memmap_entries, NR_E820);
	assert_int_equal(si.reserved, 0);
	check_pvh_memmap(e820, NR_E820);
	assert_string_equal((const char *)gpa(BOOT_CMDLINE_GPA, strlen(cmdline) + 1), cmdline);

	/* module 0: page-aligned at the top of RAM below 4 GiB */
	mod = BOOT_MODLIST_GPA;
	initrd_at = (RAM_SIZE - sizeof(initrd_blob)) & ~0xfffull;
	assert_int_equal(rd64(mod), initrd_at);
	assert_int_equal(rd64(mod + 8), sizeof(initrd_blob));
	assert_int_equal(rd64(mod + 24), 0);
	assert_string_equal((const char *)gpa(rd64(mod + 16), 17), "/boot/initrd.img");
	assert_memory_equal(gpa(initrd_at, sizeof(initrd_blob)), initrd_blob, sizeof(initrd_blob));
	assert_isolated();
}

static void test_pvh_elf32(void **state)
{
	static uint8_t img[IMG_CAP];
	struct boot_entry out;
	struct boot_input in;
	struct start_info si;
	struct telf t;
	char err[256] = "";

	(void)state;
	default_input(&in, img, build_pvh32(&t, img, sizeof(img)));
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.protocol, BOOT_PVH);
	assert_int_equal(out.eip, PVH32_ENTRY);
	assert_int_equal(out.ebx, BOOT_START_INFO_GPA);
	assert_int_equal(out.image_low, 0x100000);
	assert_int_equal(out.image_high, 0x102000);
	assert_memory_equal(gpa(0x100000, 0x1800), text, 0x1800);
	assert_true(filled(&gm, 0x101800, 0x800, 0));

	read_start_info(&si);
	assert_int_equal(si.magic, 0x336ec578);
	assert_int_equal(si.nr_modules, 0);
	assert_int_equal(si.modlist_paddr, 0);
	assert_int_equal(si.rsdp_paddr, 0);
	assert_int_equal(si.memmap_entries, NR_E820);
	check_pvh_memmap(e820, NR_E820);
	/* no command line given: an empty string, still a valid pointer */
	assert_int_equal(si.cmdline_paddr, BOOT_CMDLINE_GPA);
	assert_int_equal(rd32(BOOT_CMDLINE_GPA) & 0xff, 0);
	/* the direct entry point gives the same result */
	fill_ram();
	assert_int_equal(boot_load_pvh(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.eip, PVH32_ENTRY);
	assert_isolated();
}

/* No PT_NOTE: the entry is found in a SHT_NOTE section instead. */
static void test_pvh_section_note(void **state)
{
	static uint8_t img[IMG_CAP];
	uint8_t note[64];
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[256] = "";
	size_t n;

	(void)state;
	pattern(text, sizeof(text), 7);
	n = xen_note(note, 0x100100, 4);
	for (int is64 = 0; is64 < 2; is64++) {
		memset(&t, 0, sizeof(t));
		t.is64 = is64;
		t.nseg = 1;
		t.seg[0] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x100000,
			.memsz = 0x1000, .data = text, .filesz = 0x1000 };
		t.shnote = note;
		t.shnote_len = n;
		default_input(&in, img, build_elf(&t, img, sizeof(img)));
		assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
		assert_int_equal(out.protocol, BOOT_PVH);
		assert_int_equal(out.eip, 0x100100);
	}
	assert_isolated();
}

/* An 8-aligned note segment pads from each note's start to 8 bytes. */
static void test_pvh_note_align8(void **state)
{
	static uint8_t img[IMG_CAP];
	uint8_t note[128], desc[8];
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[256] = "";
	size_t n = 0;

	(void)state;
	pattern(text, sizeof(text), 8);
	n += build_note(note, "Linux", 6, 6, "\1\2\3\4", 4, 8);
	w64(desc, 0x100200);
	n += build_note(note + n, "Xen", 4, 18, desc, 8, 8);
	memset(&t, 0, sizeof(t));
	t.is64 = true;
	t.nseg = 2;
	t.seg[0] = (struct tseg){ .type = 4, .memsz = n, .data = note, .filesz = n, .align = 8 };
	t.seg[1] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x100000,
		.memsz = 0x1000, .data = text, .filesz = 0x1000 };
	default_input(&in, img, build_elf(&t, img, sizeof(img)));
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.eip, 0x100200);
	assert_isolated();
}

/* The initrd keeps clear of an image that sits at the top of RAM, and of a
 * hole in the E820 map; RAM split into adjacent E820 entries still holds a
 * segment that spans them. */
static void test_pvh_initrd_placement(void **state)
{
	static uint8_t img[IMG_CAP];
	static const struct boot_memmap_entry split[] = {
		{ 0, 0x9fc00, BOOT_E820_RAM },
		{ 0x100000, 0x80000, BOOT_E820_RAM },
		{ 0x180000, 0x1800000 - 0x180000, BOOT_E820_RAM },
		{ 0x1800000, 0x100000, BOOT_E820_RESERVED },
		{ 0x1900000, RAM_SIZE - 0x1900000, BOOT_E820_RAM },
	};
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[256] = "";
	uint64_t at;

	(void)state;
	build_pvh32(&t, img, sizeof(img));
	/* text at 0x17f000 spans the 0x180000 boundary between two RAM entries */
	t.seg[1].paddr = 0x17f000;
	t.seg[1].memsz = 0x2000;
	xen_note(notes, 0x17f010, 4);
	default_input(&in, img, build_elf(&t, img, sizeof(img)));
	in.memmap = split;
	in.nr_memmap = sizeof(split) / sizeof(split[0]);
	pattern(initrd_blob, sizeof(initrd_blob), 10);
	in.initrd = initrd_blob;
	in.initrd_size = sizeof(initrd_blob);
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	at = rd64(BOOT_MODLIST_GPA);
	assert_int_equal(at, (RAM_SIZE - sizeof(initrd_blob)) & ~0xfffull);
	/* no path: the module has no command line */
	assert_int_equal(rd64(BOOT_MODLIST_GPA + 16), 0);

	/* an initrd too big for the top entry lands below the E820 hole */
	in.initrd_size = RAM_SIZE - 0x1900000 + 0x1000;
	{
		static uint8_t big[RAM_SIZE - 0x1900000 + 0x1000];

		in.initrd = big;
		fill_ram();
		assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
		at = rd64(BOOT_MODLIST_GPA);
		assert_int_equal(at, (0x1800000 - in.initrd_size) & ~0xfffull);
	}

	/* image at the top of RAM: the initrd goes below it */
	in.memmap = e820;
	in.nr_memmap = NR_E820;
	t.seg[1].paddr = RAM_SIZE - 0x2000;
	xen_note(notes, RAM_SIZE - 0x2000, 4);
	in.image_size = build_elf(&t, img, sizeof(img));
	in.initrd = initrd_blob;
	in.initrd_size = sizeof(initrd_blob);
	fill_ram();
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	at = rd64(BOOT_MODLIST_GPA);
	assert_true(at + sizeof(initrd_blob) <= RAM_SIZE - 0x2000);
	assert_int_equal(at, (RAM_SIZE - 0x2000 - sizeof(initrd_blob)) & ~0xfffull);
	assert_isolated();
}

/* --- valid multiboot --- */

static void check_mb_mmap(uint32_t info, const struct boot_memmap_entry *map, unsigned n)
{
	uint32_t mmap = rd32(info + 48);

	assert_int_equal(rd32(info + 44), n * 24);
	assert_int_equal(mmap & 7, 0);
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = mmap + i * 24;

		assert_int_equal(rd32(e), 20);
		assert_int_equal(rd64(e + 4), map[i].addr);
		assert_int_equal(rd64(e + 12), map[i].size);
		assert_int_equal(rd32(e + 20), map[i].type);
	}
}

static void test_multiboot_elf(void **state)
{
	static uint8_t img[IMG_CAP];
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[256] = "";
	uint32_t info, mods;

	(void)state;
	default_input(&in, img, build_mb_elf(&t, img, sizeof(img), 0x3));
	in.kernel_path = "/k/mb.elf";
	in.cmdline = "args here";
	pattern(initrd_blob, sizeof(initrd_blob), 11);
	in.initrd = initrd_blob;
	in.initrd_size = sizeof(initrd_blob);
	in.initrd_path = "/k/mod.bin";
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.protocol, BOOT_MULTIBOOT);
	assert_int_equal(out.eax, 0x2BADB002);
	assert_int_equal(out.eip, MB_ELF_ENTRY);
	assert_int_equal(out.image_low, 0x100000);
	assert_int_equal(out.image_high, 0x103000);
	assert_memory_equal(gpa(0x100000, 0x2000), text, 0x2000);
	assert_true(filled(&gm, 0x102000, 0x1000, 0));

	/* info block right after the page-aligned image end */
	info = out.ebx;
	assert_int_equal(info, 0x103000);
	assert_int_equal(rd32(info), (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
	assert_int_equal(rd32(info + 4), 640);
	assert_int_equal(rd32(info + 8), (RAM_SIZE - MiB) / 1024);
	assert_string_equal((const char *)gpa(rd32(info + 16), 20), "/k/mb.elf args here");
	assert_string_equal((const char *)gpa(rd32(info + 64), 7), "Warden");
	assert_int_equal(rd32(info + 20), 1);
	mods = rd32(info + 24);
	assert_true(mods > info && mods < info + 4096);
	assert_int_equal(rd32(mods) & 0xfff, 0);
	assert_true(rd32(mods) > mods);
	assert_int_equal(rd32(mods + 4), rd32(mods) + sizeof(initrd_blob));
	assert_string_equal((const char *)gpa(rd32(mods + 8), 11), "/k/mod.bin");
	assert_int_equal(rd32(mods + 12), 0);
	assert_memory_equal(gpa(rd32(mods), sizeof(initrd_blob)), initrd_blob, sizeof(initrd_blob));
	check_mb_mmap(info, e820, NR_E820);

	/* without arguments the command line is the path alone; no modules */
	in.cmdline = NULL;
	in.initrd = NULL;
	in.initrd_size = 0;
	fill_ram();
	assert_int_equal(boot_load_multiboot(&gm, &in, &out, err, sizeof(err)), 0);
	info = out.ebx;
	assert_int_equal(rd32(info) & (1u << 3), 0);
	assert_int_equal(rd32(info + 20), 0);
	assert_string_equal((const char *)gpa(rd32(info + 16), 10), "/k/mb.elf");
	assert_isolated();
}

/* A higher-half ELF64 multiboot kernel enters at the physical address of its
 * virtual e_entry; flag 2 (video) is accepted and left unmet. */
static void test_multiboot_elf64_higher_half(void **state)
{
	static uint8_t img[IMG_CAP];
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[256] = "";

	(void)state;
	pattern(text, sizeof(text), 12);
	mb_header(text, 0x7);
	memset(&t, 0, sizeof(t));
	t.is64 = true;
	t.entry = 0xffffffff80100020ull;
	t.nseg = 1;
	t.seg[0] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x200000,
		.vaddr = 0xffffffff80100000ull, .memsz = 0x1000, .data = text, .filesz = 0x1000 };
	default_input(&in, img, build_elf(&t, img, sizeof(img)));
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.protocol, BOOT_MULTIBOOT);
	assert_int_equal(out.eip, 0x200020);
	assert_int_equal(out.ebx, 0x201000);
	assert_string_equal((const char *)gpa(rd32(out.ebx + 16), 9), "kern.elf");
	assert_isolated();
}

static void test_multiboot_aout(void **state)
{
	static uint8_t img[IMG_CAP];
	struct boot_entry out;
	struct boot_input in;
	char err[256] = "";
	uint32_t info;

	(void)state;
	default_input(&in, img, build_mb_aout(img, 0, AOUT_BSS_END));
	in.kernel_path = "flat.bin";
	in.cmdline = "a=1";
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.protocol, BOOT_MULTIBOOT);
	assert_int_equal(out.eip, AOUT_ENTRY);
	assert_int_equal(out.eax, 0x2BADB002);
	assert_int_equal(out.image_low, 0x100000);
	assert_int_equal(out.image_high, AOUT_BSS_END);
	assert_memory_equal(gpa(0x100000, AOUT_SIZE), img, AOUT_SIZE);
	assert_true(filled(&gm, 0x100000 + AOUT_SIZE, AOUT_BSS_END - 0x100000 - AOUT_SIZE, 0));
	info = out.ebx;
	assert_int_equal(info, AOUT_BSS_END);
	assert_int_equal(rd32(info + 4), 640);
	assert_int_equal(rd32(info + 8), (RAM_SIZE - MiB) / 1024);
	assert_string_equal((const char *)gpa(rd32(info + 16), 13), "flat.bin a=1");
	check_mb_mmap(info, e820, NR_E820);

	/* header deeper in the file, explicit load_end_addr, no bss */
	memset(img, 0xee, 0x1000);
	{
		uint8_t *h = img + 0x100;

		mb_header(h, 0x10000);
		w32(h + 12, 0x200010);
		w32(h + 16, 0x200000);
		w32(h + 20, 0x200800);
		w32(h + 24, 0);
		w32(h + 28, 0x200010);
	}
	in.image_size = 0x1000;
	fill_ram();
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.eip, 0x200010);
	assert_int_equal(out.image_high, 0x200800);
	assert_memory_equal(gpa(0x200000, 0x800), img + 0xf0, 0x800);
	assert_true(filled(&gm, 0x200800, 0x800, RAM_FILL));
	assert_int_equal(out.ebx, 0x201000);
	assert_isolated();
}

/* An ELF carrying both a PVH note and a multiboot header boots multiboot,
 * as under QEMU. */
static void test_detection_prefers_multiboot(void **state)
{
	static uint8_t img[IMG_CAP];
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[256] = "";

	(void)state;
	build_pvh64(&t, img, sizeof(img));
	mb_header(text, 0);
	default_input(&in, img, build_elf(&t, img, sizeof(img)));
	assert_int_equal(boot_load(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.protocol, BOOT_MULTIBOOT);
	/* e_entry is the segment's virtual start, translated to 0x100000 */
	assert_int_equal(out.eip, 0x100000);
	/* forcing PVH still works on the same image */
	fill_ram();
	assert_int_equal(boot_load_pvh(&gm, &in, &out, err, sizeof(err)), 0);
	assert_int_equal(out.eip, PVH64_ENTRY);
	assert_isolated();
}

/* The error text is cut to errlen, stays terminated, and err may be NULL. */
static void test_error_buffer(void **state)
{
	static const uint8_t junk[64] = "this is not a kernel at all";
	struct boot_entry out;
	struct boot_input in;
	char err[12];

	(void)state;
	default_input(&in, junk, sizeof(junk));
	memset(err, 'x', sizeof(err));
	assert_int_equal(boot_load(&gm, &in, &out, err, 8), -ENOEXEC);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'x');
	assert_int_equal(boot_load(&gm, &in, &out, NULL, 0), -ENOEXEC);
	assert_int_equal(boot_load(NULL, &in, &out, NULL, 0), -EINVAL);
	assert_int_equal(boot_load(&gm, NULL, &out, NULL, 0), -EINVAL);
	assert_int_equal(boot_load(&gm, &in, NULL, NULL, 0), -EINVAL);
	/* a path holding a newline cannot split the message */
	in.kernel_path = "evil\nname";
	{
		char line[256];

		assert_int_equal(boot_load(&gm, &in, &out, line, sizeof(line)), -ENOEXEC);
		assert_null(strchr(line, '\n'));
	}
}

/* --- malformed images: each is refused with an errno and one line --- */

typedef int (*loader_fn)(const struct gmem *, const struct boot_input *,
			 struct boot_entry *, char *, size_t);

struct bad_ctx {
	uint8_t img[IMG_CAP];
	struct boot_input in;
	struct telf t;
	loader_fn load;
	struct boot_memmap_entry map[80];
	char *cmdline;
	uint8_t *big;
};

static void use_pvh64(struct bad_ctx *c)
{
	default_input(&c->in, c->img, build_pvh64(&c->t, c->img, IMG_CAP));
}

static void use_mb_elf(struct bad_ctx *c, uint32_t flags)
{
	default_input(&c->in, c->img, build_mb_elf(&c->t, c->img, IMG_CAP, flags));
}

static void rebuild(struct bad_ctx *c)
{
	c->in.image_size = build_elf(&c->t, c->img, IMG_CAP);
}

/* Program header field of an ELF64 built by build_elf. */
static uint8_t *ph64(struct bad_ctx *c, unsigned i, unsigned field)
{
	return c->img + c->t.phoff + i * 56 + field;
}

static void bad_not_elf(struct bad_ctx *c)
{
	memcpy(c->img, "#!/bin/sh\necho this is a script, not a kernel\n", 47);
	default_input(&c->in, c->img, 47);
}

static void bad_filesz_gt_memsz(struct bad_ctx *c)
{
	use_pvh64(c);
	c->t.seg[0].memsz = 0x2fff;
	rebuild(c);
}

/* The caller's E820 claims more RAM than gmem backs. */
static void bad_e820_beyond_gmem(struct bad_ctx *c)
{
	use_pvh64(c);
	c->t.seg[2].paddr = 40 * MiB;
	rebuild(c);
	memcpy(c->map, e820, sizeof(e820));
	c->map[3].size = 64 * MiB;
	c->in.memmap = c->map;
}

static void bad_no_pvh_note(struct bad_ctx *c)
{
	use_pvh64(c);
	c->t.seg[1].filesz = c->t.seg[1].memsz = 36;   /* the GNU note alone */
	rebuild(c);
}

static void bad_note_desc_truncated(struct bad_ctx *c)
{
	use_pvh64(c);
	c->t.seg[1].filesz -= 4;                       /* cuts the Xen descriptor */
	rebuild(c);
}

static void bad_note_name_truncated(struct bad_ctx *c)
{
	use_pvh64(c);
	w32(c->img + c->t.seg[1].offset, 0x10000);    /* first note's namesz */
}

static void bad_note_desc_size(struct bad_ctx *c)
{
	size_t n;

	use_pvh64(c);
	n = xen_note(notes, PVH64_ENTRY, 2);
	c->t.seg[1].filesz = c->t.seg[1].memsz = n;
	rebuild(c);
}

static void bad_shdr_past_eof(struct bad_ctx *c)
{
	uint8_t note[64];
	size_t n = xen_note(note, 0x100000, 4);

	memset(&c->t, 0, sizeof(c->t));
	c->t.is64 = true;
	c->t.nseg = 1;
	c->t.seg[0] = (struct tseg){ .type = 1, .paddr = 0x100000, .memsz = 0x1000,
		.data = text, .filesz = 0x1000 };
	c->t.shnote = note;
	c->t.shnote_len = n;
	default_input(&c->in, c->img, build_elf(&c->t, c->img, IMG_CAP));
	w64(c->img + 40, c->in.image_size - 64);       /* e_shoff */
}

static void bad_shentsize(struct bad_ctx *c)
{
	bad_shdr_past_eof(c);
	w64(c->img + 40, c->t.shoff);
	w16(c->img + 58, 40);
}

static void bad_note_section_past_eof(struct bad_ctx *c)
{
	bad_shdr_past_eof(c);
	w64(c->img + 40, c->t.shoff);
	w64(c->img + c->t.shoff + 64 + 24, c->in.image_size - 8);   /* sh_offset */
}

static void bad_pvh_entry_outside(struct bad_ctx *c)
{
	use_pvh64(c);
	xen_note(notes + c->t.seg[1].filesz - 24, 0x300000, 8);
	rebuild(c);
}

static void bad_mb_checksum(struct bad_ctx *c)
{
	use_mb_elf(c, 0x3);
	w32(c->img + c->t.seg[0].offset + 8, 0x12345678);
	c->load = boot_load_multiboot;
}

static void bad_mb_checksum_detect(struct bad_ctx *c)
{
	bad_mb_checksum(c);
	c->load = boot_load;
}

static void bad_mb_unknown_flag(struct bad_ctx *c)
{
	use_mb_elf(c, 0x3 | (1u << 5));
}

static void use_aout(struct bad_ctx *c, uint32_t load_end, uint32_t bss_end)
{
	default_input(&c->in, c->img, build_mb_aout(c->img, load_end, bss_end));
}

static void bad_aout_load_end(struct bad_ctx *c)
{
	use_aout(c, 0xff000, 0);
}

static void bad_aout_header_below_load(struct bad_ctx *c)
{
	use_aout(c, 0, 0);
	w32(c->img + AOUT_HOFF + 12, 0xff000);
}

static void bad_aout_load_offset(struct bad_ctx *c)
{
	use_aout(c, 0, 0);
	w32(c->img + AOUT_HOFF + 16, 0x100000 - 0x1000);  /* starts before the file */
}

static void bad_aout_truncated(struct bad_ctx *c)
{
	use_aout(c, 0x100000 + AOUT_SIZE + 1, 0);
}

static void bad_aout_bss(struct bad_ctx *c)
{
	use_aout(c, 0x101000, 0x100800);
}

static void bad_aout_fields_truncated(struct bad_ctx *c)
{
	use_aout(c, 0, 0);
	c->in.image_size = AOUT_HOFF + 20;
}

static void bad_aout_wrap(struct bad_ctx *c)
{
	use_aout(c, 0, 0);
	w32(c->img + AOUT_HOFF + 12, 0xfffff040);
	w32(c->img + AOUT_HOFF + 16, 0xfffff000);
}

static void bad_mb_flat_no_kludge(struct bad_ctx *c)
{
	use_aout(c, 0, 0);
	mb_header(c->img + AOUT_HOFF, 0x3);
}

static void bad_mb_header_past_8k(struct bad_ctx *c)
{
	memset(c->img, 0, 0x3000);
	mb_header(c->img + 8192, 0x10000);
	default_input(&c->in, c->img, 0x3000);
}

static void bad_mb_no_header(struct bad_ctx *c)
{
	use_pvh64(c);
	c->load = boot_load_multiboot;
}

static void fill_cmdline(struct bad_ctx *c, size_t len)
{
	c->cmdline = malloc(len + 1);
	assert_non_null(c->cmdline);
	memset(c->cmdline, 'a', len);
	c->cmdline[len] = '\0';
}

static void bad_cmdline_too_long(struct bad_ctx *c)
{
	use_pvh64(c);
	fill_cmdline(c, BOOT_CMDLINE_MAX + 1);
	c->in.cmdline = c->cmdline;
}

static void bad_mb_cmdline_too_long(struct bad_ctx *c)
{
	use_mb_elf(c, 0);
	fill_cmdline(c, BOOT_CMDLINE_MAX + 1);
	c->in.cmdline = c->cmdline;
}

static void bad_initrd_path_too_long(struct bad_ctx *c)
{
	use_pvh64(c);
	fill_cmdline(c, 3000);
	c->in.initrd = initrd_blob;
	c->in.initrd_size = sizeof(initrd_blob);
	c->in.initrd_path = c->cmdline;
}

static void bad_initrd_too_big(struct bad_ctx *c)
{
	use_pvh64(c);
	c->big = calloc(1, 31 * MiB);
	assert_non_null(c->big);
	c->in.initrd = c->big;
	c->in.initrd_size = 31 * MiB;
	c->in.initrd_path = "huge.img";
}

static void bad_mb_initrd_too_big(struct bad_ctx *c)
{
	bad_initrd_too_big(c);
	use_mb_elf(c, 0);
	c->in.initrd = c->big;
	c->in.initrd_size = 31 * MiB;
}

static void bad_initrd_empty(struct bad_ctx *c)
{
	use_pvh64(c);
	c->in.initrd = initrd_blob;
	c->in.initrd_size = 0;
}

static void bad_mb_entry_4g(struct bad_ctx *c)
{
	pattern(text, sizeof(text), 13);
	mb_header(text, 0);
	memset(&c->t, 0, sizeof(c->t));
	c->t.is64 = true;
	c->t.entry = 0x100000010ull;
	c->t.nseg = 1;
	c->t.seg[0] = (struct tseg){ .type = 1, .flags = 5, .paddr = 0x100000,
		.memsz = 0x1000, .data = text, .filesz = 0x1000 };
	default_input(&c->in, c->img, build_elf(&c->t, c->img, IMG_CAP));
}

static void bad_mb_entry_outside(struct bad_ctx *c)
{
	use_mb_elf(c, 0);
	c->t.entry = 0x300000;
	rebuild(c);
}

/* An image ending just below the boot information area would put the
 * multiboot information on top of it. */
static void bad_mb_info_over_boot_info(struct bad_ctx *c)
{
	use_mb_elf(c, 0);
	c->t.seg[0].paddr = 0x2000;
	c->t.seg[0].memsz = 0x3f00;
	c->t.entry = 0x200c;
	rebuild(c);
}

static void bad_mb_info_no_room(struct bad_ctx *c)
{
	use_mb_elf(c, 0);
	c->t.seg[0].paddr = RAM_SIZE - 0x3000;
	c->t.entry = RAM_SIZE - 0x3000;
	rebuild(c);
}

static void bad_addr_wrap(struct bad_ctx *c)
{
	use_pvh64(c);
	c->t.seg[2].paddr = 0xfffffffffffff000ull;
	c->t.seg[2].memsz = 0x2000;
	rebuild(c);
}

static void bad_elf32_wrap(struct bad_ctx *c)
{
	default_input(&c->in, c->img, build_pvh32(&c->t, c->img, IMG_CAP));
	c->t.seg[1].paddr = 0xfffff000;
	rebuild(c);
}

static void bad_bzimage(struct bad_ctx *c)
{
	memset(c->img, 0, 0x1000);
	memcpy(c->img + 0x202, "HdrS", 4);
	default_input(&c->in, c->img, 0x1000);
}

static void bad_no_load_segments(struct bad_ctx *c)
{
	use_pvh64(c);
	w32(ph64(c, 0, 0), 0x6474e551);                /* PT_GNU_STACK */
	w32(ph64(c, 2, 0), 0x6474e551);
}

static void bad_zero_sized_segments(struct bad_ctx *c)
{
	use_pvh64(c);
	c->t.seg[0].filesz = c->t.seg[0].memsz = 0;
	c->t.seg[2].filesz = c->t.seg[2].memsz = 0;
	rebuild(c);
}

static void bad_too_many_memmap(struct bad_ctx *c)
{
	use_pvh64(c);
	for (unsigned i = 0; i < 65; i++)
		c->map[i] = (struct boot_memmap_entry){ i * 0x80000ull, 0x80000, BOOT_E820_RAM };
	c->in.memmap = c->map;
	c->in.nr_memmap = 65;
}

static void bad_image_null(struct bad_ctx *c)
{
	use_pvh64(c);
	c->in.image = NULL;
}

static void bad_initrd_null(struct bad_ctx *c)
{
	use_pvh64(c);
	c->in.initrd_size = 4096;
}

static void bad_no_memmap(struct bad_ctx *c)
{
	use_pvh64(c);
	c->in.memmap = NULL;
}

static void bad_memmap_wrap(struct bad_ctx *c)
{
	use_pvh64(c);
	memcpy(c->map, e820, sizeof(e820));
	c->map[1].addr = 0xfffffffffffff000ull;
	c->map[1].size = 0x2000;
	c->in.memmap = c->map;
}

static void bad_boot_info_not_ram(struct bad_ctx *c)
{
	use_pvh64(c);
	memcpy(c->map, e820, sizeof(e820));
	c->map[0] = (struct boot_memmap_entry){ 0, 0x9fc00, BOOT_E820_RESERVED };
	c->in.memmap = c->map;
}

/* A case either builds its input, or (build NULL) patches the PVH ELF64
 * image: moves segment 2, overwrites len bytes at off, truncates the file. */
struct bad_case {
	const char *name;
	void (*build)(struct bad_ctx *c);
	int expect;
	const char *needle;
	uint64_t seg2_paddr;
	unsigned off, len;
	uint64_t val;
	bool truncate;
	size_t size;
};

#define BAD(fn, e, s) { .name = #fn, .build = fn, .expect = e, .needle = s }
#define MOVE2(nm, p, e, s) { .name = nm, .expect = e, .needle = s, .seg2_paddr = p }
#define PATCH(nm, o, l, v, e, s) \
	{ .name = nm, .expect = e, .needle = s, .off = o, .len = l, .val = v }
#define TRUNC(nm, sz, e, s) { .name = nm, .expect = e, .needle = s, .truncate = true, .size = sz }

static const struct bad_case bad_cases[] = {
	BAD(bad_not_elf, -ENOEXEC, "not an ELF image"),
	TRUNC("bad_empty", 0, -ENOEXEC, "empty image"),
	TRUNC("bad_trunc_ehdr", 40, -ENOEXEC, "truncated: ELF header"),
	TRUNC("bad_trunc_phdrs", 64 + 56 + 10, -ENOEXEC,
	      "truncated: program header table past end of file"),
	PATCH("bad_seg_past_eof", 64 + 8, 8, 0x3200, -ENOEXEC, "segment 0 data"),      /* p_offset */
	BAD(bad_filesz_gt_memsz, -ENOEXEC, "exceeds p_memsz"),
	MOVE2("bad_outside_ram", 64 * MiB, -EINVAL,
	      "segment 2 [0x4000000-0x4001000) is outside guest RAM"),
	MOVE2("bad_e820_hole", 0xa0000, -EINVAL, "outside guest RAM"),
	BAD(bad_e820_beyond_gmem, -EINVAL, "outside guest RAM"),
	MOVE2("bad_overlap", 0x104000, -ENOEXEC, "segment 2 overlaps segment 0 at 0x104000"),
	MOVE2("bad_boot_info_overlap", 0x7000, -EINVAL,
	      "overlaps boot information at 0x6000-0x8000"),
	BAD(bad_no_pvh_note, -ENOEXEC,
	    "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) and no multiboot header"),
	BAD(bad_note_desc_truncated, -ENOEXEC, "note descriptor"),
	BAD(bad_note_name_truncated, -ENOEXEC, "note name"),
	BAD(bad_note_desc_size, -ENOEXEC, "2-byte descriptor"),
	PATCH("bad_note_segment_past_eof", 64 + 56 + 8, 8, 0x4000, -ENOEXEC, "note segment 1"),
	BAD(bad_shdr_past_eof, -ENOEXEC, "section header table past end of file"),
	BAD(bad_shentsize, -ENOEXEC, "e_shentsize 40"),
	BAD(bad_note_section_past_eof, -ENOEXEC, "note section 1"),
	BAD(bad_pvh_entry_outside, -ENOEXEC, "PVH entry 0x300000 is outside"),
	BAD(bad_mb_checksum, -ENOEXEC, "bad checksum"),
	BAD(bad_mb_checksum_detect, -ENOEXEC, "has a bad checksum"),
	BAD(bad_mb_unknown_flag, -ENOEXEC, "unknown required bits 0x20"),
	BAD(bad_aout_load_end, -ENOEXEC, "load_end_addr 0xff000 is not above load_addr 0x100000"),
	BAD(bad_aout_header_below_load, -ENOEXEC, "header_addr 0xff000 is below load_addr"),
	BAD(bad_aout_load_offset, -ENOEXEC, "before the header"),
	BAD(bad_aout_truncated, -ENOEXEC, "truncated: a.out kludge loads"),
	BAD(bad_aout_bss, -ENOEXEC, "bss_end_addr 0x100800"),
	BAD(bad_aout_fields_truncated, -ENOEXEC, "a.out kludge fields"),
	BAD(bad_aout_wrap, -ENOEXEC, "wraps around"),
	BAD(bad_mb_flat_no_kludge, -ENOEXEC, "no a.out kludge"),
	BAD(bad_mb_header_past_8k, -ENOEXEC, "not an ELF image and no multiboot header"),
	BAD(bad_mb_no_header, -ENOEXEC, "no multiboot header in the first 8 KiB"),
	BAD(bad_cmdline_too_long, -E2BIG, "command line is 4096 bytes"),
	BAD(bad_mb_cmdline_too_long, -E2BIG, "command line is 4096 bytes"),
	BAD(bad_initrd_path_too_long, -E2BIG, "initrd path"),
	BAD(bad_initrd_too_big, -ENOSPC, "initrd (32505856 bytes) does not fit below 4 GiB"),
	BAD(bad_mb_initrd_too_big, -ENOSPC, "do not fit in guest RAM"),
	BAD(bad_initrd_empty, -EINVAL, "initrd is empty"),
	BAD(bad_mb_entry_4g, -ENOEXEC, "entry point 0x100000010 is above 4 GiB"),
	BAD(bad_mb_entry_outside, -ENOEXEC, "outside the loaded image"),
	BAD(bad_mb_info_over_boot_info, -ENOSPC, "would overlap boot information"),
	BAD(bad_mb_info_no_room, -ENOSPC, "do not fit in guest RAM"),
	PATCH("bad_phnum_absurd", 56, 2, 60000, -ENOEXEC, "e_phnum 60000 is absurd"),
	PATCH("bad_phnum_zero", 56, 2, 0, -ENOEXEC, "no program headers"),
	PATCH("bad_phentsize", 54, 2, 32, -ENOEXEC, "e_phentsize 32"),
	PATCH("bad_phoff_wrap", 32, 8, 0xffffffffffffff00ull, -ENOEXEC,
	      "program header table past end of file"),
	BAD(bad_addr_wrap, -ENOEXEC, "wraps around the address space"),
	BAD(bad_elf32_wrap, -ENOEXEC, "wraps around the address space"),
	BAD(bad_bzimage, -ENOEXEC, "bzImage"),
	PATCH("bad_machine", 18, 2, 183, -ENOEXEC, "machine 183"),
	PATCH("bad_big_endian", 5, 1, 2, -ENOEXEC, "not little-endian"),
	PATCH("bad_class", 4, 1, 3, -ENOEXEC, "unknown ELF class 3"),
	PATCH("bad_not_exec", 16, 2, 1, -ENOEXEC, "not an executable"),
	BAD(bad_no_load_segments, -ENOEXEC, "no loadable segments"),
	BAD(bad_zero_sized_segments, -ENOEXEC, "no loadable segments"),
	BAD(bad_too_many_memmap, -E2BIG, "65 entries"),
	BAD(bad_image_null, -EINVAL, "no image data"),
	BAD(bad_initrd_null, -EINVAL, "initrd of 4096 bytes without data"),
	BAD(bad_no_memmap, -EINVAL, "no memory map"),
	BAD(bad_memmap_wrap, -EINVAL, "memory map entry 1"),
	BAD(bad_boot_info_not_ram, -EINVAL, "boot information area"),
};
#define NR_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static void run_bad_case(void **state)
{
	const struct bad_case *bc = *state;
	static struct bad_ctx c;
	struct boot_entry out;
	char err[512];
	int ret;

	memset(&c, 0, sizeof(c));
	c.load = boot_load;
	if (bc->build) {
		bc->build(&c);
	} else {
		use_pvh64(&c);
		if (bc->seg2_paddr) {
			c.t.seg[2].paddr = bc->seg2_paddr;
			rebuild(&c);
		}
		memcpy(c.img + bc->off, &bc->val, bc->len);
		if (bc->truncate)
			c.in.image_size = bc->size;
	}
	memset(err, 0, sizeof(err));
	ret = c.load(&gm, &c.in, &out, err, sizeof(err));
	print_message("  %-28s %-8s %s\n", bc->name, strerror(-ret), err);
	assert_int_equal(ret, bc->expect);
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	if (!strstr(err, bc->needle))
		fail_msg("%s: message \"%s\" lacks \"%s\"", bc->name, err, bc->needle);
	free(c.cmdline);
	free(c.big);
	assert_isolated();
}

/* --- seeded mutation loop --- */

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const uint64_t interesting[] = {
	0, 1, 2, 4, 7, 8, 0x18, 0x38, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000,
	0x6000, 0x7fff, 0x8000, 0x9fc00, 0xa0000, 0xfffff, 0x100000, 0x1fff000,
	0x2000000, 0x7fffffff, 0x80000000, 0xafffffff, 0xb0000000, 0xfffff000,
	0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
	0xfffffffffffff000ull, 0xffffffffffffffffull,
};
#define NR_INTERESTING (sizeof(interesting) / sizeof(interesting[0]))

static uint64_t pick_value(size_t size)
{
	switch (rnd() % 4) {
	case 0:
		return size + (rnd() % 16) - 8;
	case 1:
		return rnd();
	default:
		return interesting[rnd() % NR_INTERESTING];
	}
}

/* Rewrites one a.out kludge or flags field and fixes the checksum, so the
 * mutation reaches the code behind the checksum test. */
static void mutate_mb_header(uint8_t *buf, size_t size)
{
	size_t lim = size < 8192 ? size : 8192;

	for (size_t off = 0; off + 32 <= lim; off += 4) {
		uint32_t v, flags;

		memcpy(&v, buf + off, 4);
		if (v != MB_MAGIC)
			continue;
		if (rnd() % 3 == 0) {
			flags = (uint32_t)rnd() & (rnd() % 2 ? 0x10007 : 0xffffffff);
			w32(buf + off + 4, flags);
		} else {
			w32(buf + off + 12 + 4 * (rnd() % 5), (uint32_t)pick_value(size));
		}
		memcpy(&flags, buf + off + 4, 4);
		w32(buf + off + 8, (uint32_t)(0u - MB_MAGIC - flags));
		return;
	}
}

static void mutate(uint8_t *buf, size_t *size, size_t cap)
{
	size_t head = *size < 512 ? *size : 512;

	if (*size == 0)
		return;
	switch (rnd() % 8) {
	case 0:
		buf[rnd() % *size] ^= (uint8_t)(1u << (rnd() % 8));
		break;
	case 1:
		buf[rnd() % head] = (uint8_t)rnd();
		break;
	case 2:
		if (head >= 4)
			w32(buf + (rnd() % (head / 4)) * 4, (uint32_t)pick_value(*size));
		break;
	case 3:
		if (head >= 8)
			w64(buf + (rnd() % (head / 8)) * 8, pick_value(*size));
		break;
	case 4:
		*size = rnd() % (*size + 1);
		break;
	case 5:
		*size += rnd() % 64;
		if (*size > cap)
			*size = cap;
		break;
	default:
		mutate_mb_header(buf, *size);
		break;
	}
}

static void test_mutation_loop(void **state)
{
	static uint8_t bases[4][IMG_CAP], buf[IMG_CAP + 64];
	static const loader_fn loaders[] = { boot_load, boot_load, boot_load_pvh, boot_load_multiboot };
	size_t base_size[4];
	unsigned iters = 20000, ok = 0, refused = 0;
	uint64_t seed = 0x5eed5eedull;
	struct boot_entry out;
	struct boot_input in;
	struct telf t;
	char err[160];
	const char *env;

	(void)state;
	if ((env = getenv("BOOT_FUZZ_SEED")))
		seed = strtoull(env, NULL, 0);
	if ((env = getenv("BOOT_FUZZ_ITERS")))
		iters = (unsigned)strtoul(env, NULL, 0);
	rng = seed ? seed : 1;
	pattern(initrd_blob, sizeof(initrd_blob), 14);
	base_size[0] = build_pvh64(&t, bases[0], IMG_CAP);
	base_size[1] = build_pvh32(&t, bases[1], IMG_CAP);
	base_size[2] = build_mb_elf(&t, bases[2], IMG_CAP, 0x3);
	base_size[3] = build_mb_aout(bases[3], 0, AOUT_BSS_END);

	for (unsigned i = 0; i < iters; i++) {
		unsigned b = rnd() % 4, n = 1 + rnd() % 3;
		size_t size = base_size[b];
		int ret;

		memset(buf, 0, sizeof(buf));
		memcpy(buf, bases[b], size);
		for (unsigned m = 0; m < n; m++)
			mutate(buf, &size, IMG_CAP);
		default_input(&in, buf, size);
		if (rnd() % 2) {
			in.initrd = initrd_blob;
			in.initrd_size = sizeof(initrd_blob);
			in.initrd_path = "initrd";
		}
		in.cmdline = rnd() % 2 ? "console=ttyS0" : NULL;
		memset(err, 0xa5, sizeof(err));
		err[0] = '\0';
		ret = loaders[rnd() % 4](&gm, &in, &out, err, 128);
		/* the message stays inside errlen, terminated, on one line */
		for (size_t k = 128; k < sizeof(err); k++)
			assert_int_equal((uint8_t)err[k], 0xa5);
		assert_non_null(memchr(err, '\0', 128));
		if (ret == 0) {
			ok++;
			assert_true(out.image_low < out.image_high);
			assert_true(out.eip >= out.image_low && out.eip < out.image_high);
			assert_non_null(gmem_gpa_to_ptr(&gm, out.ebx, 4));
		} else {
			refused++;
			if (ret > 0 || err[0] == '\0' || strchr(err, '\n'))
				fail_msg("seed 0x%llx iteration %u: ret %d, message \"%s\"",
					 (unsigned long long)seed, i, ret, err);
		}
		if (i % 512 == 0 && (arena_check_canaries(&arena) || !neighbour_intact()))
			fail_msg("seed 0x%llx iteration %u: write outside the VM's RAM",
				 (unsigned long long)seed, i);
	}
	print_message("  mutation loop: seed 0x%llx, %u images, %u loaded, %u refused\n",
		      (unsigned long long)seed, iters, ok, refused);
	/* the loop must exercise the loaders' far side, not just the parsers */
	assert_true(ok > iters / 50);
	assert_isolated();
}

int main(void)
{
	/* room for the fixed tests below, then the malformed cases */
	static struct CMUnitTest tests[16 + NR_BAD] = {
		cmocka_unit_test_setup(test_pvh_elf64, test_setup),
		cmocka_unit_test_setup(test_pvh_elf32, test_setup),
		cmocka_unit_test_setup(test_pvh_section_note, test_setup),
		cmocka_unit_test_setup(test_pvh_note_align8, test_setup),
		cmocka_unit_test_setup(test_pvh_initrd_placement, test_setup),
		cmocka_unit_test_setup(test_multiboot_elf, test_setup),
		cmocka_unit_test_setup(test_multiboot_elf64_higher_half, test_setup),
		cmocka_unit_test_setup(test_multiboot_aout, test_setup),
		cmocka_unit_test_setup(test_detection_prefers_multiboot, test_setup),
		cmocka_unit_test_setup(test_error_buffer, test_setup),
		cmocka_unit_test_setup(test_mutation_loop, test_setup),
	};
	size_t n = 0;

	while (tests[n].test_func)
		n++;
	/* one cmocka test per malformed image, named after its case */
	for (size_t i = 0; i < NR_BAD; i++)
		tests[n++] = (struct CMUnitTest){
			.name = bad_cases[i].name,
			.test_func = run_bad_case,
			.setup_func = test_setup,
			.initial_state = (void *)&bad_cases[i],
		};
	return _cmocka_run_group_tests("boot", tests, n, group_setup, group_teardown);
}
