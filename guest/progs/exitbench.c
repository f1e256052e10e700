/* VM exit round-trip microbenchmark: what one trapped access costs the
 * guest, timed with the TSC (frequency from the runtime, tsc_hz()), in
 * ring 0 and in ring 3:
 *   pio-out    outb to port 0x80 (POST/debug port: unhandled by Warden,
 *              QEMU's "ioport80" no-op handler): an exit to the VMM's
 *              userspace and back
 *   pio-in     inb from the same port
 *   mmio-read  a 32-bit read of a page in the PCI MMIO window that no BAR
 *              decodes (pci_mmio_free): a memslot miss that KVM forwards
 *              to userspace
 *   cpuid      leaf 0: an exit KVM answers in the kernel, for contrast
 * Each access is timed on its own (rdtsc before and after); the result
 * line gives the median, minimum and 99th percentile over n accesses, and,
 * where Warden's stats port answers, the userspace exits each access cost
 * (counted over the whole batch, which is how one knows the access really
 * left the guest):
 *   exitbench: pio-out ring=3 n=N p50_ns=X min_ns=Y p99_ns=Z exits_per_op=E
 * (exits_per_op=n/a without the stats port). Before anything else, for
 * boot-time measurements from outside:
 *   exitbench mark: boot
 *   exitbench boot: entry_to_mark_ns=T
 * T being the time from the image's first instruction (rt_entry_tsc) to
 * the moment the line above had been written out (its '\n' is an exit the
 * VMM completes by writing the line to its console), so a host that notes
 * when that line arrived knows when the guest started.
 * Command line: n=N (ring-3 accesses per test, default 2000; ring 0 gets
 * n/4, as ring-0 code is emulated on the development hosts),
 * ring=0|3 (only that ring), boot (only the boot lines, then power off).
 * Ends "exitbench done: N tests". */
#include "rt.h"

#define DEBUG_PORT   0x80
#define MAX_N        20000u
#define DEFAULT_N    2000u

enum op { OP_PIO_OUT, OP_PIO_IN, OP_MMIO_READ, OP_CPUID, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "pio-out", "pio-in", "mmio-read", "cpuid" };

struct job {
	enum op op;
	unsigned n;
	uint64_t mmio;
	uint64_t *t;                    /* n samples, ticks */
	uint64_t exits;
	bool exits_known;
};

static volatile uint32_t sink;

/* One access of the kind, timed. Kept out of line so the compiler cannot
 * hoist or merge anything around the rdtscs. */
static __attribute__((noinline)) uint64_t timed(enum op op, uint64_t mmio)
{
	uint32_t a, b, c, d;
	uint64_t t0 = rdtsc(), t1;

	switch (op) {
	case OP_PIO_OUT:
		outb(DEBUG_PORT, 0);
		break;
	case OP_PIO_IN:
		sink = inb(DEBUG_PORT);
		break;
	case OP_MMIO_READ:
		sink = mmio_read32(mmio);
		break;
	default:
		cpuid(0, 0, &a, &b, &c, &d);
		sink = a;
		break;
	}
	t1 = rdtsc();
	return t1 - t0;
}

static long run_job(void *arg)
{
	struct job *j = arg;
	struct wstats_span span;

	/* A first access outside the timing: the MMIO page's first touch
	 * (the hypervisor finding there is no memory behind it) is not
	 * the round trip being measured. */
	timed(j->op, j->mmio);
	j->exits_known = wstats_begin(&span, WSTATS_EXITS);
	for (unsigned i = 0; i < j->n; i++)
		j->t[i] = timed(j->op, j->mmio);
	if (j->exits_known)
		wstats_end(&span, &j->exits);
	return 0;
}

static void report(const struct job *j, unsigned ring)
{
	char epo[24] = "n/a";

	sort_u64(j->t, j->n);
	if (j->exits_known) {
		uint64_t hundredths = (j->exits * 100 + j->n / 2) / j->n;
		snprintf(epo, sizeof(epo), "%lu.%02lu", hundredths / 100, hundredths % 100);
	}
	printf("exitbench: %s ring=%u n=%u p50_ns=%lu min_ns=%lu p99_ns=%lu exits_per_op=%s\n", op_names[j->op], ring,
	       j->n, tsc_to_ns(j->t[(j->n - 1) / 2]), tsc_to_ns(j->t[0]), tsc_to_ns(j->t[(j->n - 1) * 99 / 100]),
	       epo);
}

int main(void)
{
	uint64_t entry = rt_entry_tsc(), v;

	/* First, before the runtime calibrates anything (that takes 25 ms
	 * without CPUID 0x40000010): the boot mark. The delta is converted
	 * only afterwards. */
	printf("exitbench mark: boot\n");
	uint64_t mark = rdtsc();
	printf("exitbench boot: entry_to_mark_ns=%lu\n", tsc_to_ns(mark - entry));
	if (rt_cmdline_has("boot"))
		return 0;

	unsigned n = DEFAULT_N, only_ring = 99, tests = 0;
	if (rt_cmdline_u64("n", &v) && v)
		n = v > MAX_N ? MAX_N : (unsigned)v;
	if (rt_cmdline_u64("ring", &v))
		only_ring = (unsigned)v;
	uint64_t *t = (uint64_t *)rt_alloc(MAX_N * sizeof(uint64_t), 4096);
	uint64_t mmio = pci_mmio_free(4096, -1, -1);
	RT_ASSERT(t);
	printf("exitbench info: TSC %lu kHz (%s), port 0x%x, MMIO page 0x%lx (no BAR), stats port %s, %u accesses in "
	       "ring 3, %u in ring 0\n",
	       tsc_hz() / 1000, tsc_hz_source(), DEBUG_PORT, mmio, wstats_present() ? "present" : "absent", n,
	       n / 4 ? n / 4 : 1);
	for (unsigned ring = 3;; ring = 0) {
		if (only_ring == 99 || only_ring == ring) {
			for (unsigned op = 0; op < OP_COUNT; op++) {
				if (op == OP_MMIO_READ && !mmio)
					continue;
				struct job j = { (enum op)op, ring ? n : (n / 4 ? n / 4 : 1), mmio, t, 0, false };
				if (ring)
					run_in_ring3(run_job, &j);
				else
					run_job(&j);
				report(&j, ring);
				tests++;
			}
		}
		if (!ring)
			break;
	}
	printf("exitbench done: %u tests\n", tests);
	return 0;
}
