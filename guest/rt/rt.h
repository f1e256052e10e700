/* Warden test-guest runtime: the whole API a program in guest/progs/ sees.
 * A program defines `int main(void)`; it is called in ring 0 on CPU 0 once
 * the runtime is up. Returning 0 powers the machine off (ACPI S5), any other
 * value leaves through the debug-exit port (guest_exit). See
 * docs/guest-runtime.md, including the ring-0/ring-3 rule: ring-0 code is
 * emulated (slow) on the development hosts, so hot loops go through
 * run_in_ring3(). */
#ifndef GUEST_RT_RT_H
#define GUEST_RT_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "io.h"
#include "layout.h"

#define RT_NORETURN __attribute__((noreturn))
#define RT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

int main(void);

/* ---- exit ---- */
/* Exit codes the runtime itself uses (the process status is code*2+1). */
#define RT_EXIT_EXCEPTION_BASE 0x40  /* + vector: unhandled CPU exception */
#define RT_EXIT_PANIC          0x7d  /* rt_panic(): runtime/program assertion */
#define RT_EXIT_POWEROFF_FAIL  0x7e  /* ACPI S5 write did not stop the machine */

#define RT_DEBUG_EXIT_PORT 0xf4
#define RT_ACPI_PM_BASE    0x600      /* q35 PMBASE as SeaBIOS programs it */
#define RT_ACPI_PM1A_CNT   (RT_ACPI_PM_BASE + 4)
#define RT_ACPI_PM_TMR     (RT_ACPI_PM_BASE + 8)

/* Writes code to the isa-debug-exit port: the VMM exits with (code<<1)|1.
 * Without such a device the runtime triple-faults (a crash, never 0). */
RT_NORETURN void guest_exit(uint32_t code);
/* ACPI S5 (PM1a_CNT = SLP_EN|SLP_TYP 0): the VMM exits with 0. If the write
 * does not stop the machine, guest_exit(RT_EXIT_POWEROFF_FAIL). */
RT_NORETURN void guest_poweroff(void);
/* Prints "PANIC: ..." and guest_exit(RT_EXIT_PANIC). */
RT_NORETURN RT_PRINTF(1, 2) void rt_panic(const char *fmt, ...);
/* Triple fault on purpose (zero-limit IDT + int3). Ring 0 only. */
RT_NORETURN void rt_triple_fault(void);
/* cli; hlt forever. Ring 0 only. */
RT_NORETURN void rt_halt_forever(void);

#define RT_ASSERT(c) do { if (!(c)) rt_panic("%s:%d: assertion '%s' failed", __FILE__, __LINE__, #c); } while (0)

/* ---- console: COM1 16550 at 0x3f8, polled; safe in ring 0 and ring 3 ---- */
int printf(const char *fmt, ...) RT_PRINTF(1, 2);
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t len, const char *fmt, ...) RT_PRINTF(3, 4);
int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
int puts(const char *s);        /* appends a newline, like libc */
int putchar(int c);

/* ---- boot information (either protocol), copied at start-up ---- */
enum rt_boot_protocol { RT_BOOT_UNKNOWN = 0, RT_BOOT_PVH = 1, RT_BOOT_MULTIBOOT = 2 };
enum rt_boot_protocol rt_boot_protocol(void);
const char *rt_boot_protocol_name(void);   /* "pvh", "multiboot", "unknown" */

/* The command line as the loader passed it ("" when none). Multiboot loaders
 * (QEMU, Warden) put the kernel path first. */
const char *rt_cmdline(void);
/* Finds the word "key=value" (or a bare "key") on the command line.
 * rt_cmdline_get copies the value (truncated to len-1) and returns its
 * length, or -1 when key is absent; a bare key has the value "". */
int rt_cmdline_get(const char *key, char *buf, size_t len);
bool rt_cmdline_has(const char *key);
/* Parses the value as an unsigned number (decimal, 0x hex); false if absent
 * or malformed. */
bool rt_cmdline_u64(const char *key, uint64_t *val);

#define RT_MEM_RAM      1   /* E820 types */
#define RT_MEM_RESERVED 2
#define RT_MEM_ACPI     3
#define RT_MEM_NVS      4
struct rt_mem_region {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};
#define RT_MAX_MEM_REGIONS 64
unsigned rt_memmap(const struct rt_mem_region **regions);
uint64_t rt_ram_total(void);    /* sum of RT_MEM_RAM regions */
uint64_t rt_rsdp(void);         /* ACPI RSDP (PVH only), 0 if unknown */

/* The identity map of the low 4 GiB uses 1 GiB pages (CPUID pdpe1gb), else
 * 2 MiB pages. */
bool rt_uses_1g_pages(void);

struct rt_module {
	uint64_t addr;
	uint64_t size;
};
#define RT_MAX_MODULES 8
unsigned rt_modules(const struct rt_module **mods);

/* Physical pages from the RAM after the image (identity-mapped, U bit),
 * skipping boot modules; not zeroed. align is a power of two. Returns 0
 * when out of memory. Bump allocator, no free; any CPU, any ring. */
uint64_t rt_alloc(uint64_t size, uint64_t align);

/* ---- strings (freestanding) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* Sorts n 64-bit values ascending, in place (heapsort, no allocation). */
void sort_u64(uint64_t *a, size_t n);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* strtoull-like: base 0 accepts 0x.. hex and decimal; *end past the digits. */
uint64_t rt_strtou64(const char *s, const char **end, int base);

/* ---- PCI configuration space through CF8/CFC ---- */
#define RT_PCI_BDF(b, d, f) ((uint16_t)(((b) << 8) | ((d) << 3) | (f)))
uint8_t  pci_read8(uint16_t bdf, uint16_t off);
uint16_t pci_read16(uint16_t bdf, uint16_t off);
uint32_t pci_read32(uint16_t bdf, uint16_t off);
void pci_write8(uint16_t bdf, uint16_t off, uint8_t v);
void pci_write16(uint16_t bdf, uint16_t off, uint16_t v);
void pci_write32(uint16_t bdf, uint16_t off, uint32_t v);
/* First function on bus 0..max_bus with this vendor/device id; returns its
 * BDF or -1. */
int pci_find(uint16_t vendor, uint16_t device, unsigned max_bus);
/* The nth (0-based) function on bus 0..max_bus whose 24-bit class code
 * (class, subclass, prog-if) is class_code; its BDF or -1. */
int pci_find_class(uint32_t class_code, unsigned nth, unsigned max_bus);
/* Offset of the first capability with this id in the standard list, 0 if
 * none (the walk is bounded: a looping list ends it). */
uint8_t pci_find_cap(uint16_t bdf, uint8_t cap_id);
/* COMMAND register: sets then clears the given bits. */
#define RT_PCI_COMMAND        0x04
#define RT_PCI_CMD_IO         0x0001
#define RT_PCI_CMD_MEMORY     0x0002
#define RT_PCI_CMD_MASTER     0x0004
#define RT_PCI_CMD_INTX_OFF   0x0400
void pci_command(uint16_t bdf, uint16_t set, uint16_t clear);

struct rt_pci_bar {
	uint64_t addr;                  /* as programmed (0: unassigned) */
	uint64_t size;                  /* 0: BAR not implemented */
	bool io, mem64, prefetch;
};
/* Decodes BAR idx (0..5) of a type-0 function and sizes it (all-ones
 * probe with decode briefly off, then restored). A 64-bit BAR uses idx and
 * idx+1. 0, or -1 when idx is the upper half of a 64-bit BAR or invalid. */
int pci_bar_probe(uint16_t bdf, unsigned idx, struct rt_pci_bar *bar);
/* pci_bar_probe, and for a memory BAR that is unassigned or above 4 GiB
 * (the runtime maps only the low 4 GiB) a new place in the 32-bit MMIO
 * window from pci_mmio_free; enables memory decode. 0 or -1. */
int pci_bar_map(uint16_t bdf, unsigned idx, struct rt_pci_bar *bar);
/* A naturally aligned address in [0xc0000000, 0xfec00000) that no memory
 * BAR of any function on bus 0 decodes (BAR bar of function bdf excluded,
 * pass bar = -1 to exclude nothing); 0 if none. */
uint64_t pci_mmio_free(uint64_t size, int bdf, int bar);

/* MSI-X: the table lives in one of the function's BARs, which must already
 * be mapped (pci_bar_map). Message address 0xfee00000 | apic_id << 12,
 * data = vector (fixed, edge). */
#define RT_PCI_CAP_MSIX 0x11
struct rt_pci_msix {
	uint16_t bdf;
	uint8_t cap;                    /* capability offset */
	unsigned nvec;
	uint64_t table, pba;            /* addresses */
};
int pci_msix_init(uint16_t bdf, struct rt_pci_msix *m);   /* 0, or -1: no usable MSI-X */
void pci_msix_set(const struct rt_pci_msix *m, unsigned entry, uint32_t apic_id, unsigned vector,
		  bool masked);
/* Any message: e.g. an interrupt-remapping (remappable-format) address. */
void pci_msix_set_msg(const struct rt_pci_msix *m, unsigned entry, uint64_t addr, uint32_t data,
		      bool masked);
/* MSI-X Enable with Function Mask clear (and INTx disabled), or off. */
void pci_msix_enable(const struct rt_pci_msix *m, bool on);

/* ---- Warden statistics port (paravirtual; absent under QEMU) ----
 * A 32-bit write of a counter id to 0xff0 latches a snapshot; 32-bit reads
 * of 0xff4 / 0xff8 return its low / high half. Id 0 reads the signature
 * "WRDN"; anything else there means no stats port (QEMU: all ones). */
#define WSTATS_PORT_SELECT   0xff0
#define WSTATS_PORT_LO       0xff4
#define WSTATS_PORT_HI       0xff8
#define WSTATS_SIGNATURE     0x4e445257u   /* "WRDN" little-endian */
enum wstats_id {
	WSTATS_ID_SIGNATURE = 0,
	WSTATS_EXITS = 1,               /* userspace VM exits, all vCPUs */
	WSTATS_PIO_EXITS = 2,
	WSTATS_MMIO_EXITS = 3,
	WSTATS_MSIS = 4,                /* MSIs the VMM sent from its own threads */
	WSTATS_IOMMU_FAULTS = 5,
	WSTATS_GUEST_ERRORS = 6,
};
/* One raw query (write + two reads: itself three port exits). */
uint64_t wstats_query(unsigned id);
/* The signature matched (checked once, cached). */
bool wstats_present(void);
/* What one query adds to counter id, measured once per id as the smallest
 * difference of two back-to-back queries (three tries). */
uint64_t wstats_overhead(unsigned id);
/* A measured interval: wstats_begin, the workload, wstats_end, which gives
 * the counter's increase minus the cost of the queries themselves. Both
 * return false when the port is absent. */
struct wstats_span {
	unsigned id;
	uint64_t start;
};
bool wstats_begin(struct wstats_span *s, unsigned id);
bool wstats_end(const struct wstats_span *s, uint64_t *delta);

/* ---- fw_cfg (QEMU-compatible, selector port 0x510, data 0x511) ---- */
#define FW_CFG_PORT_SEL   0x510
#define FW_CFG_PORT_DATA  0x511
#define FW_CFG_SIGNATURE  0x0000
#define FW_CFG_RAM_SIZE   0x0003
#define FW_CFG_NB_CPUS    0x0005
bool fw_cfg_present(void);      /* signature reads "QEMU" */
void fw_cfg_read(uint16_t selector, void *buf, size_t len);
unsigned fw_cfg_nb_cpus(void);  /* 0 without fw_cfg */
uint64_t fw_cfg_ram_size(void); /* 0 without fw_cfg */

/* ---- time ---- */
/* TSC frequency: CPUID 0x40000010 EAX (kHz) when the hypervisor range reaches
 * it and it is non-zero, else calibrated once (about 25 ms) against the ACPI
 * PM timer. Computed on first use, from either ring. */
uint64_t tsc_hz(void);
const char *tsc_hz_source(void);  /* "cpuid-40000010", "pm-timer", "none" */
uint64_t tsc_to_ns(uint64_t ticks);
uint64_t now_ns(void);            /* since TSC reset */
uint64_t rt_entry_tsc(void);      /* TSC at the image's first instruction */
void udelay(uint64_t us);
void mdelay(uint64_t ms);

/* ---- rings ---- */
/* Runs fn(arg) in ring 3 on this CPU's ring-3 stack and returns its value.
 * Ring-3 code may use port I/O (the TSS I/O bitmap allows every port; IOPL
 * is 3 too, but PVM hosts ignore it), printf, MMIO and all of RAM, but not
 * privileged instructions (hlt, lidt, mov crN, wrmsr, and on PVM cli/sti).
 * An exception in ring 3 is reported and exits like one in ring 0. Called
 * from ring 3 it just calls fn. Not re-entrant from an interrupt handler
 * that interrupted ring-3 code (rt_panic). */
long run_in_ring3(long (*fn)(void *), void *arg);

/* ---- interrupts: vectors 32..254 (0xff is the LAPIC spurious vector) ---- */
#define RT_LAPIC_BASE 0xfee00000ull
#define RT_IOAPIC_BASE 0xfec00000ull
typedef void (*irq_handler_t)(unsigned vector);
/* Installs fn for vector (ring-0 gate). The stub calls fn, then writes the
 * LAPIC EOI. A vector nobody registered is not present in the IDT: it shows
 * up as #NP with the vector in the error code. Returns 0 or -1 for a
 * vector the runtime owns or out of range. */
int irq_register(unsigned vector, irq_handler_t fn);
void lapic_enable(void);        /* SVR: software enable, spurious vector 0xff */
void lapic_eoi(void);
uint32_t lapic_id(void);
/* Fixed-delivery IPI of vector to apic_id (physical destination). */
void lapic_send_ipi(uint32_t apic_id, unsigned vector);
/* LAPIC timer, one-shot, divide by 1: vector after count bus-clock ticks
 * (KVM's LAPIC ticks at 1 GHz). */
void lapic_timer_oneshot(unsigned vector, uint32_t count);
/* Routes an IOAPIC input (GSI) to vector on the LAPIC apic_id; level and
 * active_low as the device needs (ISA IRQs: edge, high). */
void ioapic_route(unsigned gsi, unsigned vector, unsigned apic_id, bool level, bool active_low);
void ioapic_mask(unsigned gsi);

/* ---- SMP ---- */
/* Logical CPU index: 0 for the BSP, 1.. for APs in check-in order. Works in
 * either ring (STR instruction). */
unsigned cpu_index(void);
/* Starts every AP (INIT, SIPI, SIPI broadcast to all-but-self) on the
 * trampoline at RT_TRAMP_BASE; each runs fn(cpu_index) in ring 0 on its own
 * stack and TSS, then halts. Returns the CPU count fw_cfg reports (1 without
 * fw_cfg: then no AP is started). Returns at once; see smp_online(). */
unsigned smp_start_aps(void (*fn)(unsigned cpu));
unsigned smp_online(void);      /* CPUs that reached C, the BSP included */
/* Waits until smp_online() >= n or timeout_us passed; returns smp_online(). */
unsigned smp_wait_online(unsigned n, uint64_t timeout_us);

/* ---- spinlock (either ring) ---- */
typedef struct { volatile uint32_t locked; } rt_spinlock_t;
void rt_spin_lock(rt_spinlock_t *l);
void rt_spin_unlock(rt_spinlock_t *l);
bool rt_spin_trylock(rt_spinlock_t *l);

#endif
