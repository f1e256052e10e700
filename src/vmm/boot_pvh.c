/* PVH boot (Xen's HVM direct boot ABI, as QEMU, Firecracker and
 * cloud-hypervisor boot a Linux vmlinux): load the ELF by physical address,
 * enter at the XEN_ELFNOTE_PHYS32_ENTRY address in 32-bit protected mode with
 * EBX pointing at struct hvm_start_info. The layouts below are the ABI of
 * xen/include/public/arch-x86/hvm/start_info.h and must not change. */
#include "vmm/boot_elf.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define HVM_START_MAGIC_VALUE 0x336ec578u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	/* version 1 */
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info ABI");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry ABI");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry ABI");
_Static_assert(BOOT_MEMMAP_GPA + BOOT_MEMMAP_MAX * sizeof(struct hvm_memmap_table_entry)
	       <= BOOT_MODLIST_GPA, "memmap table overruns the module list");
_Static_assert(BOOT_MODLIST_GPA + sizeof(struct hvm_modlist_entry) <= BOOT_MODCMDLINE_GPA,
	       "module list overruns the module command line");
_Static_assert(BOOT_START_INFO_GPA + sizeof(struct hvm_start_info) <= BOOT_MEMMAP_GPA,
	       "start info overruns the memmap table");

#define BOOT_MODCMDLINE_MAX (BOOT_CMDLINE_GPA - BOOT_MODCMDLINE_GPA - 1)

/* Highest page-aligned a with [a, a+size) inside [lo, hi) and clear of the
 * obstacles. Each retry lowers hi to the start of an obstacle that lies
 * below it, so the loop ends. */
static bool highest_fit(uint64_t lo, uint64_t hi, uint64_t size,
			const uint64_t obst[][2], unsigned nr_obst, uint64_t *at)
{
	for (;;) {
		uint64_t a;
		bool moved = false;

		if (hi < lo || hi - lo < size)
			return false;
		a = (hi - size) & ~(BOOT_PAGE_SIZE - 1);
		if (a < lo)
			return false;
		for (unsigned i = 0; i < nr_obst; i++) {
			if (boot_ranges_overlap(a, a + size, obst[i][0], obst[i][1])) {
				hi = obst[i][0];
				moved = true;
			}
		}
		if (!moved) {
			*at = a;
			return true;
		}
	}
}

/* The initrd goes as high as possible below the 32-bit PCI hole, where
 * Linux also puts it, so it stays clear of the kernel's early allocations. */
static int place_initrd(const struct gmem *g, const struct boot_input *in,
			const struct boot_image *img, uint64_t *gpa,
			char *err, size_t errlen)
{
	const uint64_t obst[2][2] = {
		{ img->low, img->high },
		{ BOOT_INFO_BASE, BOOT_INFO_END },
	};
	uint64_t size = in->initrd_size;
	bool found = false;

	for (unsigned i = 0; i < in->nr_memmap; i++) {
		const struct boot_memmap_entry *e = &in->memmap[i];
		uint64_t hi = e->addr + e->size, at;

		if (e->type != BOOT_E820_RAM || e->addr >= GMEM_LOWMEM_LIMIT)
			continue;
		if (hi > GMEM_LOWMEM_LIMIT)
			hi = GMEM_LOWMEM_LIMIT;
		if (!highest_fit(e->addr, hi, size, obst, 2, &at))
			continue;
		/* The E820 map comes from the caller; trust only what gmem backs. */
		if (!boot_ram_covers(g, in, at, size))
			continue;
		if (!found || at > *gpa) {
			*gpa = at;
			found = true;
		}
	}
	if (!found) {
		boot_err(err, errlen,
			 "%s: initrd (%zu bytes) does not fit below 4 GiB (RAM below 0x%llx, clear of the image [0x%"
			 PRIx64 "-0x%" PRIx64 ") and boot information)",
			 in->initrd_path ? in->initrd_path : "initrd", in->initrd_size,
			 GMEM_LOWMEM_LIMIT, img->low, img->high);
		return -ENOSPC;
	}
	return 0;
}

static int write_boot_info(const struct gmem *g, const struct boot_input *in,
			   uint64_t initrd_gpa, char *err, size_t errlen)
{
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC_VALUE,
		.version = 1,
		.cmdline_paddr = BOOT_CMDLINE_GPA,
		.rsdp_paddr = in->rsdp_gpa,
		.memmap_paddr = BOOT_MEMMAP_GPA,
		.memmap_entries = in->nr_memmap,
	};
	int ret;

	ret = boot_write_string(g, BOOT_CMDLINE_GPA, in->cmdline ? in->cmdline : "",
				"command line", err, errlen);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < in->nr_memmap; i++) {
		struct hvm_memmap_table_entry me = {
			.addr = in->memmap[i].addr,
			.size = in->memmap[i].size,
			.type = in->memmap[i].type,
		};

		ret = gmem_write(g, BOOT_MEMMAP_GPA + i * sizeof(me), &me, sizeof(me));
		if (ret < 0)
			goto fail;
	}
	if (in->initrd) {
		struct hvm_modlist_entry mod = {
			.paddr = initrd_gpa,
			.size = in->initrd_size,
			.cmdline_paddr = in->initrd_path ? BOOT_MODCMDLINE_GPA : 0,
		};

		ret = gmem_write(g, initrd_gpa, in->initrd, in->initrd_size);
		if (ret < 0) {
			boot_err(err, errlen, "%s: writing initrd at 0x%" PRIx64 " failed (%s)",
				 in->initrd_path ? in->initrd_path : "initrd", initrd_gpa,
				 strerror(-ret));
			return ret;
		}
		if (in->initrd_path) {
			ret = boot_write_string(g, BOOT_MODCMDLINE_GPA, in->initrd_path,
						"module command line", err, errlen);
			if (ret < 0)
				return ret;
		}
		ret = gmem_write(g, BOOT_MODLIST_GPA, &mod, sizeof(mod));
		if (ret < 0)
			goto fail;
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_MODLIST_GPA;
	}
	/* Last, so a guest never sees a start_info pointing at unwritten data. */
	ret = gmem_write(g, BOOT_START_INFO_GPA, &si, sizeof(si));
	if (ret < 0)
		goto fail;
	return 0;
fail:
	boot_err(err, errlen, "boot: writing PVH boot information at 0x%llx-0x%llx failed (%s)",
		 BOOT_INFO_BASE, BOOT_INFO_END, strerror(-ret));
	return ret;
}

int boot_load_pvh(const struct gmem *g, const struct boot_input *in,
		  struct boot_entry *out, char *err, size_t errlen)
{
	struct boot_image img;
	struct elf_file ef;
	const uint8_t *desc;
	const char *name;
	uint64_t initrd_gpa = 0;
	uint32_t descsz, entry;
	size_t len;
	int ret;

	ret = boot_check_input(g, in, out, err, errlen);
	if (ret < 0)
		return ret;
	name = boot_kernel_name(in);
	ret = elf_open(&ef, in->image, in->image_size, name, err, errlen);
	if (ret < 0)
		return ret;
	ret = elf_find_note(&ef, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz, err, errlen);
	if (ret == -ENOENT) {
		boot_err(err, errlen, "%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)", name);
		return -ENOEXEC;
	}
	if (ret < 0)
		return ret;
	if (descsz != 4 && descsz != 8) {
		boot_err(err, errlen,
			 "%s: PVH entry note has a %u-byte descriptor, expected 4 or 8", name, descsz);
		return -ENOEXEC;
	}
	/* Little-endian; an 8-byte descriptor carries the address in its low half. */
	entry = (uint32_t)desc[0] | (uint32_t)desc[1] << 8 | (uint32_t)desc[2] << 16 |
		(uint32_t)desc[3] << 24;

	ret = elf_collect_segments(&ef, &img, err, errlen);
	if (ret < 0)
		return ret;
	ret = boot_check_image(g, in, &img, err, errlen);
	if (ret < 0)
		return ret;
	if (!boot_image_contains(&img, entry)) {
		boot_err(err, errlen, "%s: PVH entry 0x%x is outside the loaded segments [0x%"
			 PRIx64 "-0x%" PRIx64 ")", name, entry, img.low, img.high);
		return -ENOEXEC;
	}
	len = in->cmdline ? strlen(in->cmdline) : 0;
	if (len > BOOT_CMDLINE_MAX) {
		boot_err(err, errlen, "boot: command line is %zu bytes, at most %u",
			 len, BOOT_CMDLINE_MAX);
		return -E2BIG;
	}
	if (!boot_ram_covers(g, in, BOOT_INFO_BASE, BOOT_INFO_END - BOOT_INFO_BASE)) {
		boot_err(err, errlen, "boot: boot information area 0x%llx-0x%llx is not guest RAM",
			 BOOT_INFO_BASE, BOOT_INFO_END);
		return -EINVAL;
	}
	if (in->initrd) {
		len = in->initrd_path ? strlen(in->initrd_path) : 0;
		if (len > BOOT_MODCMDLINE_MAX) {
			boot_err(err, errlen, "boot: initrd path is %zu bytes, the module command line holds %llu",
				 len, BOOT_MODCMDLINE_MAX);
			return -E2BIG;
		}
		ret = place_initrd(g, in, &img, &initrd_gpa, err, errlen);
		if (ret < 0)
			return ret;
	}

	ret = boot_write_image(g, in, &img, err, errlen);
	if (ret < 0)
		return ret;
	ret = write_boot_info(g, in, initrd_gpa, err, errlen);
	if (ret < 0)
		return ret;

	out->protocol = BOOT_PVH;
	out->eip = entry;
	out->eax = 0;
	out->ebx = BOOT_START_INFO_GPA;
	out->image_low = img.low;
	out->image_high = img.high;
	return 0;
}
