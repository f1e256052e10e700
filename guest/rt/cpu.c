/* Per-CPU state (TSS and its GDT descriptor), the ring-3 call, spinlocks. */
#include "priv.h"

struct rt_cpu {
	struct rt_tss tss;
	volatile int in_ring3;          /* inside run_in_ring3 */
} __attribute__((aligned(128)));

#define IO_BITMAP_BYTES (65536 / 8)

/* The I/O permission bitmap must follow its TSS within the TSS limit: with
 * the TSSs packed before one shared bitmap, CPU i reaches it at offset
 * (RT_MAX_CPUS - i) * 128. All zero = every port allowed; the trailing 0xff
 * byte is required by the architecture. Ring-3 port I/O needs this on PVM
 * hosts, which do not honour IOPL in ring 3; elsewhere IOPL=3 already
 * allows it. */
static struct {
	struct rt_cpu cpu[RT_MAX_CPUS];
	uint8_t io_bitmap[IO_BITMAP_BYTES];
	uint8_t io_bitmap_end;
} __attribute__((aligned(128))) percpu;

#define cpus percpu.cpu

#define TSS_TYPE_AVAILABLE_64 0x89      /* present, DPL 0, type 9 */

uint64_t rt_cpu_stacks[RT_MAX_CPUS] = { (uint64_t)rt_bsp_stacks };

static uint64_t ustack_top(unsigned i) { return rt_cpu_stacks[i] + RT_USTACK_SIZE; }
static uint64_t istack_top(unsigned i) { return ustack_top(i) + RT_ISTACK_SIZE; }
static uint64_t kstack_top(unsigned i) { return istack_top(i) + RT_KSTACK_SIZE; }

void rt_cpu_setup(unsigned i)
{
	struct rt_tss *t = &cpus[i].tss;
	uint64_t base = (uint64_t)t;
	uint64_t iomap = (uint64_t)percpu.io_bitmap - base;
	uint64_t limit = iomap + IO_BITMAP_BYTES;       /* includes the 0xff byte */
	uint8_t *d = rt_gdt + RT_SEL_TSS0 + 16 * i;

	percpu.io_bitmap_end = 0xff;
	t->rsp0 = kstack_top(i);
	t->ist[0] = istack_top(i);              /* IST1: #DF, NMI, #MC */
	t->iomap_base = iomap;

	d[0] = limit & 0xff;
	d[1] = (limit >> 8) & 0xff;
	d[2] = base & 0xff;
	d[3] = (base >> 8) & 0xff;
	d[4] = (base >> 16) & 0xff;
	d[5] = TSS_TYPE_AVAILABLE_64;
	d[6] = (limit >> 16) & 0x0f;
	d[7] = (base >> 24) & 0xff;
	*(uint32_t *)(d + 8) = (uint32_t)(base >> 32);
	*(uint32_t *)(d + 12) = 0;
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)(RT_SEL_TSS0 + 16 * i)) : "memory");
}

unsigned cpu_index(void)
{
	uint16_t tr;

	__asm__ volatile("str %w0" : "=r"(tr));
	if (tr < RT_SEL_TSS0)
		return 0;                       /* before rt_cpu_setup */
	return (tr - RT_SEL_TSS0) / 16;
}

long run_in_ring3(long (*fn)(void *), void *arg)
{
	if (current_ring() == 3)
		return fn(arg);

	unsigned i = cpu_index();
	struct rt_cpu *c = &cpus[i];

	if (c->in_ring3)
		rt_panic("run_in_ring3 on cpu %u: nested call (from a handler that interrupted ring 3)", i);
	c->in_ring3 = 1;
	long r = rt_ring3_enter(fn, arg, (void *)ustack_top(i), (uint8_t *)&c->tss + 4);
	c->tss.rsp0 = kstack_top(i);
	c->in_ring3 = 0;
	return r;
}

void rt_spin_lock(rt_spinlock_t *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (l->locked)
			cpu_relax();
}

bool rt_spin_trylock(rt_spinlock_t *l)
{
	return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

void rt_spin_unlock(rt_spinlock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}
