/* Boot information from either protocol, copied into the image at start-up
 * (so later use of low memory, e.g. the AP trampoline, cannot clobber it),
 * the command-line helpers and the page allocator. */
#include "priv.h"

/* Xen public/arch-x86/hvm/start_info.h */
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;          /* version >= 1 */
	uint32_t memmap_entries;        /* version >= 1 */
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

/* Multiboot v1 information structure (the fields we read). */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower;             /* KiB, flag bit 0 */
	uint32_t mem_upper;             /* KiB above 1 MiB, flag bit 0 */
	uint32_t boot_device;
	uint32_t cmdline;               /* flag bit 2 */
	uint32_t mods_count;            /* flag bit 3 */
	uint32_t mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length;           /* flag bit 6 */
	uint32_t mmap_addr;
};

struct mb_mod {
	uint32_t mod_start;
	uint32_t mod_end;
	uint32_t string;
	uint32_t reserved;
};

struct mb_mmap_entry {                  /* preceded by its own size field */
	uint32_t size;
	uint64_t addr;
	uint64_t len;
	uint32_t type;
} __attribute__((packed));

#define MB_INFO_MEM     (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS    (1u << 3)
#define MB_INFO_MMAP    (1u << 6)

#define CMDLINE_MAX 4096

static enum rt_boot_protocol protocol;
static char cmdline[CMDLINE_MAX];
static struct rt_mem_region regions[RT_MAX_MEM_REGIONS];
static unsigned nr_regions;
static struct rt_module modules[RT_MAX_MODULES];
static unsigned nr_modules;
static uint64_t rsdp;

static void copy_cmdline(uint64_t paddr)
{
	const char *s = (const char *)paddr;
	size_t i;

	if (!paddr)
		return;
	for (i = 0; i < CMDLINE_MAX - 1 && s[i]; i++)
		cmdline[i] = s[i];
	cmdline[i] = '\0';
}

static void add_region(uint64_t addr, uint64_t size, uint32_t type)
{
	if (nr_regions < RT_MAX_MEM_REGIONS && size)
		regions[nr_regions++] = (struct rt_mem_region){ addr, size, type };
}

static void add_module(uint64_t addr, uint64_t size)
{
	if (nr_modules < RT_MAX_MODULES)
		modules[nr_modules++] = (struct rt_module){ addr, size };
}

static void parse_pvh(const struct hvm_start_info *si)
{
	protocol = RT_BOOT_PVH;
	copy_cmdline(si->cmdline_paddr);
	rsdp = si->rsdp_paddr;
	const struct hvm_modlist_entry *m = (const void *)si->modlist_paddr;
	for (uint32_t i = 0; m && i < si->nr_modules; i++)
		add_module(m[i].paddr, m[i].size);
	if (si->version >= 1 && si->memmap_paddr) {
		const struct hvm_memmap_table_entry *e = (const void *)si->memmap_paddr;
		for (uint32_t i = 0; i < si->memmap_entries; i++)
			add_region(e[i].addr, e[i].size, e[i].type);
	}
}

static void parse_multiboot(const struct mb_info *mb)
{
	protocol = RT_BOOT_MULTIBOOT;
	if (mb->flags & MB_INFO_CMDLINE)
		copy_cmdline(mb->cmdline);
	if (mb->flags & MB_INFO_MODS) {
		const struct mb_mod *m = (const void *)(uint64_t)mb->mods_addr;
		for (uint32_t i = 0; i < mb->mods_count; i++)
			add_module(m[i].mod_start, m[i].mod_end - m[i].mod_start);
	}
	if (mb->flags & MB_INFO_MMAP) {
		uint64_t p = mb->mmap_addr, end = p + mb->mmap_length;
		while (p < end) {
			const struct mb_mmap_entry *e = (const void *)p;
			add_region(e->addr, e->len, e->type);
			p += e->size + 4;
		}
	} else if (mb->flags & MB_INFO_MEM) {
		add_region(0, (uint64_t)mb->mem_lower << 10, RT_MEM_RAM);
		add_region(0x100000, (uint64_t)mb->mem_upper << 10, RT_MEM_RAM);
	}
}

void rt_bootinfo_parse(uint32_t magic, uint32_t info)
{
	if (magic == RT_MB_BOOT_MAGIC)
		parse_multiboot((const void *)(uint64_t)info);
	else if (info && *(const volatile uint32_t *)(uint64_t)info == RT_PVH_MAGIC)
		parse_pvh((const void *)(uint64_t)info);
	if (nr_regions == 0) {
		/* No map from the loader: assume RAM from 1 MiB to fw_cfg's size. */
		uint64_t ram = fw_cfg_ram_size();
		if (ram > 0x100000)
			add_region(0x100000, (ram < RT_MMIO_START ? ram : RT_MMIO_START) - 0x100000, RT_MEM_RAM);
	}
}

enum rt_boot_protocol rt_boot_protocol(void) { return protocol; }

const char *rt_boot_protocol_name(void)
{
	return protocol == RT_BOOT_PVH ? "pvh" : protocol == RT_BOOT_MULTIBOOT ? "multiboot" : "unknown";
}

const char *rt_cmdline(void) { return cmdline; }
uint64_t rt_rsdp(void) { return rsdp; }
bool rt_uses_1g_pages(void) { return rt_boot_1g_pages != 0; }

unsigned rt_memmap(const struct rt_mem_region **r)
{
	*r = regions;
	return nr_regions;
}

uint64_t rt_ram_total(void)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < nr_regions; i++)
		if (regions[i].type == RT_MEM_RAM)
			total += regions[i].size;
	return total;
}

unsigned rt_modules(const struct rt_module **m)
{
	*m = modules;
	return nr_modules;
}

/* ---- command line ---- */

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Returns the value of the word "key=value" / "key", or NULL. */
static const char *find_key(const char *key, size_t *vlen)
{
	size_t klen = strlen(key);
	const char *p = cmdline;

	while (*p) {
		while (is_space(*p))
			p++;
		const char *w = p;
		while (*p && !is_space(*p))
			p++;
		if ((size_t)(p - w) >= klen && !strncmp(w, key, klen)) {
			if (w + klen == p) {
				*vlen = 0;
				return p;
			}
			if (w[klen] == '=') {
				*vlen = (size_t)(p - (w + klen + 1));
				return w + klen + 1;
			}
		}
	}
	return NULL;
}

int rt_cmdline_get(const char *key, char *buf, size_t len)
{
	size_t vlen;
	const char *v = find_key(key, &vlen);

	if (!v)
		return -1;
	if (len) {
		size_t n = vlen < len - 1 ? vlen : len - 1;
		memcpy(buf, v, n);
		buf[n] = '\0';
	}
	return (int)vlen;
}

bool rt_cmdline_has(const char *key)
{
	size_t vlen;

	return find_key(key, &vlen) != NULL;
}

bool rt_cmdline_u64(const char *key, uint64_t *val)
{
	char buf[32];
	const char *end;

	if (rt_cmdline_get(key, buf, sizeof(buf)) <= 0)
		return false;
	*val = rt_strtou64(buf, &end, 0);
	return end != buf && *end == '\0';
}

/* ---- page allocator: bump pointer through the RAM region holding _end ---- */

static rt_spinlock_t alloc_lock;
static uint64_t alloc_next, alloc_limit;

static void alloc_init(void)
{
	uint64_t start = (uint64_t)_end;

	for (unsigned i = 0; i < nr_regions; i++) {
		const struct rt_mem_region *r = &regions[i];
		if (r->type == RT_MEM_RAM && r->addr <= start && start < r->addr + r->size) {
			alloc_next = start;
			alloc_limit = r->addr + r->size;
		}
	}
	if (alloc_limit > RT_MMIO_START)
		alloc_limit = RT_MMIO_START;
}

uint64_t rt_alloc(uint64_t size, uint64_t align)
{
	uint64_t a = 0;

	if (align < 16)
		align = 16;
	rt_spin_lock(&alloc_lock);
	if (!alloc_limit)
		alloc_init();
	for (uint64_t p = (alloc_next + align - 1) & ~(align - 1); p + size <= alloc_limit;) {
		bool clash = false;
		for (unsigned i = 0; i < nr_modules; i++) {
			const struct rt_module *m = &modules[i];
			if (p < m->addr + m->size && m->addr < p + size) {
				p = (m->addr + m->size + align - 1) & ~(align - 1);
				clash = true;
			}
		}
		if (!clash) {
			a = p;
			alloc_next = p + size;
			break;
		}
	}
	rt_spin_unlock(&alloc_lock);
	return a;
}
