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
