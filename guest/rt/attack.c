/* The DMA attack gallery's common parts; see attack.h. */
#include "attack.h"

#define FOUR_GIB      0x100000000ull
#define EDU_DMA_LIMIT 0x10000000ull     /* QEMU's edu: 28-bit bus addresses */
#define VEC_FIRST     0x30
#define VEC_LAST      0xfd              /* 0xfe: hostile.h's stray-MSI vector */

/* VT-d registers the driver keeps to itself (spec 10.4). */
#define REG_GCMD      0x18
#define REG_GSTS      0x1c
#define REG_RTADDR    0x20
#define GCMD_SRTP     (1u << 30)
#define GCMD_KEEP     (1u << 31 | 1u << 26 | 1u << 25 | 1u << 23)  /* TE QIE IRE CFI */
#define SL_RW         0x3ull
#define SL_PS         (1ull << 7)
#define SL_ADDR       0x000ffffffffff000ull

volatile uint64_t attack_irqs;
static long (*attack_body)(struct attack *a);

static void count_irq(unsigned vector)
{
	(void)vector;
	attack_irqs++;
}

int attack_fail(struct attack *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	printf("attack: %s: cannot mount the attack: %s\n", a->name, a->err);
	return -1;
}

static char detail[240];

void attack_detail(struct attack *a, const char *fmt, ...)
{
	va_list ap;

	(void)a;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
}

const char *attack_verdict_name(enum attack_verdict v)
{
	switch (v) {
	case ATTACK_BLOCKED:   return "blocked";
	case ATTACK_CONTAINED: return "contained";
	case ATTACK_WINDOW:    return "window";
	case ATTACK_BREACH:    return "BREACH";
	}
	return "?";
}

void attack_tally(struct attack *a, enum attack_verdict v)
{
	a->steps++;
	switch (v) {
	case ATTACK_BLOCKED:   a->blocked++; break;
	case ATTACK_CONTAINED: a->contained++; break;
	case ATTACK_WINDOW:    a->windows++; break;
	case ATTACK_BREACH:    a->breaches++; break;
	}
}

void attack_step(struct attack *a, enum attack_verdict v, const char *step, const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	attack_tally(a, v);
	printf("attack: %s: %s: %s (%s)\n", a->name, step, attack_verdict_name(v), what);
}

void attack_note_reason(struct attack *a, uint8_t reason)
{
	for (unsigned i = 0; i < a->nreasons; i++)
		if (a->reasons[i] == reason)
			return;
	if (a->nreasons < ATTACK_MAX_REASONS)
		a->reasons[a->nreasons++] = reason;
}

static long body_trampoline(void *arg)
{
	return attack_body(arg);
}

int attack_run(struct attack *a, const char *name, long (*body)(struct attack *a))
{
	char faults[ATTACK_MAX_REASONS * 5 + 8];
	const char *outcome;
	size_t at = 0;
	long r;
	int code;

	/* a is the program's static (zeroed) object: a ring-0 prologue may
	 * have filled parts of it. */
	a->name = name;
	a->t0 = now_ns();
	/* Any vector a remapper might wrongly deliver lands on a counter,
	 * not on an unregistered gate (#NP would end the guest). */
	for (unsigned v = VEC_FIRST; v <= VEC_LAST; v++)
		irq_register(v, count_irq);
	attack_body = body;
	r = hostile_run(name, body_trampoline, a);
	uint64_t strays = hostile_stray_msis;
	if (strays && r == 0)
		attack_step(a, ATTACK_BREACH, "stray-msis", "%lu interrupts on vector 0x%x: a payload write "
			    "reached the interrupt window", strays, HOSTILE_VEC_STRAY);

	for (unsigned i = 0; i < a->nreasons; i++)
		at += snprintf(faults + at, sizeof(faults) - at, "%s0x%02x", at ? "," : "", a->reasons[i]);
	if (a->on_warden && attack_host_faults() != a->host0)
		at += snprintf(faults + at, sizeof(faults) - at, "%shost", at ? "," : "");
	if (!at)
		snprintf(faults, sizeof(faults), "none");
	if (r < 0 || a->err[0]) {
		outcome = "error";
		code = 2;
		if (!detail[0] || a->err[0])
			snprintf(detail, sizeof(detail), "%s", a->err[0] ? a->err : "the attack did not run");
	} else if (a->breaches) {
		outcome = "BREACH";
		code = 1;
	} else {
		outcome = "blocked";
		code = 0;
	}
	printf("attack: %s: %u steps: %u blocked, %u contained, %u window, %u BREACH; %u expected fault records "
	       "missing; %lu ms\n", name, a->steps, a->blocked, a->contained, a->windows, a->breaches, a->missing,
	       (now_ns() - a->t0) / 1000000);
	printf("attack-result: name=%s outcome=%s fault=%s detail=%s\n", name, outcome, faults,
	       detail[0] ? detail : "-");
	return code;
}

/* ---- memory ---- */

uint64_t attack_alloc(struct attack *a, uint64_t size, uint64_t align)
{
	uint64_t p = rt_alloc(size, align);

	if (!p || p + size > EDU_DMA_LIMIT) {
		attack_fail(a, "no %lu KiB of RAM below 256 MiB", size >> 10);
		return 0;
	}
	memset((void *)p, 0, size);
	return p;
}

void attack_fill(uint64_t gpa, uint64_t seed, uint64_t len)
{
	hostile_fill_sig(gpa, seed, len);
}

bool attack_holds(uint64_t gpa, uint64_t seed, uint64_t len)
{
	for (uint64_t i = 0; i < len / 4; i++)
		if (((volatile uint32_t *)gpa)[i] != hostile_sig_word(seed, i))
			return false;
	return true;
}

bool attack_is_ram(uint64_t gpa, uint64_t len)
{
	const struct rt_mem_region *m;
	unsigned n = rt_memmap(&m);

	for (unsigned i = 0; i < n; i++)
		if (m[i].type == RT_MEM_RAM && gpa >= m[i].addr && gpa + len <= m[i].addr + m[i].size)
			return true;
	return false;
}

static uint64_t ram_top_below_4g(void)
{
	const struct rt_mem_region *m;
	unsigned n = rt_memmap(&m);
	uint64_t top = 0;

	for (unsigned i = 0; i < n; i++)
		if (m[i].type == RT_MEM_RAM && m[i].addr < FOUR_GIB && m[i].addr + m[i].size > top)
			top = m[i].addr + m[i].size;
	return (top < FOUR_GIB ? top : FOUR_GIB) & ~(ATTACK_PAGE - 1);
}

uint64_t attack_scan(const uint64_t *seeds, unsigned n, uint64_t *found, uint64_t *where)
{
	const struct rt_mem_region *m;
	unsigned nr = rt_memmap(&m);
	uint64_t w0[8], w1[8], total = 0;

	if (n > 8)
		n = 8;
	for (unsigned k = 0; k < n; k++) {
		w0[k] = (uint64_t)hostile_sig_word(seeds[k], 1) << 32 | hostile_sig_word(seeds[k], 0);
		w1[k] = (uint64_t)hostile_sig_word(seeds[k], 3) << 32 | hostile_sig_word(seeds[k], 2);
		found[k] = where[k] = 0;
	}
	for (unsigned i = 0; i < nr; i++) {
		if (m[i].type != RT_MEM_RAM)
			continue;
		uint64_t p = (m[i].addr + 7) & ~7ul, end = m[i].addr + m[i].size;
		if (end > FOUR_GIB)
			end = FOUR_GIB;         /* the runtime maps the low 4 GiB only */
		if (p < 0x1000)
			p = 0x1000;
		for (; p + 16 <= end; p += 8) {
			uint64_t v = *(volatile uint64_t *)p;
			/* Signature words end in 0xfe (hostile.h): one compare
			 * rejects nearly every word. */
			if ((v & 0xff) != HOSTILE_VEC_STRAY)
				continue;
			for (unsigned k = 0; k < n; k++)
				if (v == w0[k] && *(volatile uint64_t *)(p + 8) == w1[k] && !found[k]++)
					where[k] = p;
		}
	}
	for (unsigned k = 0; k < n; k++)
		total += found[k];
	return total;
}

/* ---- the device ---- */

uint64_t attack_stage_bus(struct attack *a)
{
	return a->te ? ATTACK_IOVA_STAGE : a->stage;
}

int attack_dma_write(struct attack *a, uint64_t bus, uint32_t len)
{
	return edu_dma(&a->dev, EDU_DMA_BUF, bus, len, EDU_DMA_TO_RAM);
}

int attack_dma_read(struct attack *a, uint64_t bus, uint32_t len)
{
	return edu_dma(&a->dev, bus, EDU_DMA_BUF, len, 0);
}

int attack_load(struct attack *a, uint64_t seed)
{
	attack_fill(a->stage, seed, a->xfer);
	int r = attack_dma_read(a, attack_stage_bus(a), a->xfer);
	/* The payload lives in the device from here on, nowhere in RAM. */
	memset((void *)a->stage, 0xd5, ATTACK_PAGE);
	if (r)
		return attack_fail(a, "loading the edu buffer through bus address 0x%lx: %s (error 0x%x)",
				   attack_stage_bus(a), edu_err_name(r), a->dev.dma_error);
	return 0;
}

/* The buffer's first xfer bytes into the staging page. */
static int buffer_to_stage(struct attack *a)
{
	memset((void *)a->stage, 0, ATTACK_PAGE);
	return attack_dma_write(a, attack_stage_bus(a), a->xfer);
}

bool attack_buffer_holds(struct attack *a, uint64_t seed, int *err_out)
{
	int r = buffer_to_stage(a);
	bool same = !r && attack_holds(a->stage, seed, a->xfer);

	memset((void *)a->stage, 0xd5, ATTACK_PAGE);
	if (err_out)
		*err_out = r ? -1 : 0;
	return same;
}

bool attack_buffer_equals(struct attack *a, uint64_t gpa, uint32_t len)
{
	int r = buffer_to_stage(a);
	bool same = !r && !memcmp((void *)a->stage, (void *)gpa, len);

	memset((void *)a->stage, 0xd5, ATTACK_PAGE);
	return same;
}

bool attack_edu_faulted(struct attack *a, int r)
{
	if (!a->dev.ext)
		return r == 0;
	return r == EDU_E_DMA && (a->dev.dma_error & EDU_DMA_ERR_FAULT) && a->dev.dma_done == 0;
}

const char *attack_edu_str(struct attack *a, int r, char *buf, size_t len)
{
	const struct edu_dev *d = &a->dev;

	if (r == 0 && !d->ext)
		snprintf(buf, len, "QEMU edu: completed (no error register)");
	else if (r == 0)
		snprintf(buf, len, "edu: ok, %lu bytes", d->dma_done);
	else if (r == EDU_E_DMA)
		snprintf(buf, len, "edu: %s%s%s%safter %lu bytes",
			 d->dma_error & EDU_DMA_ERR_FAULT ? "fault " : "",
			 d->dma_error & EDU_DMA_ERR_BLOCKED ? "blocked " : "",
			 d->dma_error & EDU_DMA_ERR_MSI ? "message-refused " : "",
			 d->dma_error & EDU_DMA_ERR_RANGE ? "range " : "", d->dma_done);
	else
		snprintf(buf, len, "edu: %s", edu_err_name(r));
	return buf;
}

/* ---- faults ---- */

uint64_t attack_host_faults(void)
{
	return wstats_present() ? wstats_query(WSTATS_IOMMU_FAULTS) : 0;
}

int attack_faults(struct attack *a, struct vtd_fault *f, unsigned max, uint64_t wait_us)
{
	uint64_t dl = now_ns() + wait_us * 1000;
	int n;

	while (!(n = vtd_fault_take(&a->unit, f, max, NULL)) && now_ns() < dl)
		cpu_relax();
	return n;
}

static void print_fault(struct attack *a, const struct vtd_fault *f)
{
	printf("attack: %s:   fault 0x%02x (%s), sid %02x:%02x.%x, %s 0x%lx, %s\n", a->name, f->reason,
	       vtd_fault_reason_name(f->reason), f->sid >> 8, f->sid >> 3 & 31, f->sid & 7,
	       f->reason >= 0x20 ? "index" : "addr", f->reason >= 0x20 ? f->addr >> 48 : f->addr,
	       f->read ? "read" : "write");
}

bool attack_fault_match(struct attack *a, const struct vtd_fault *f, int n, uint8_t reason, uint16_t sid,
			uint64_t addr, bool read)
{
	bool found = false;

	for (int i = 0; i < n && i < 16; i++) {
		if (!a->mute)
			print_fault(a, &f[i]);
		if (found || f[i].reason != reason || f[i].sid != sid)
			continue;
		if (addr != ~0ull && (f[i].addr != (addr & ~(ATTACK_PAGE - 1)) || f[i].read != read))
			continue;
		found = true;
		attack_note_reason(a, reason);
	}
	return found;
}

bool attack_expect_fault(struct attack *a, uint8_t reason, uint64_t addr, bool read)
{
	struct vtd_fault f[16];
	int n = attack_faults(a, f, 16, 20000);
	bool found = attack_fault_match(a, f, n, reason, a->dev.bdf, addr, read);

	if (!found)
		a->missing++;
	return found;
}

/* ---- set-up ---- */

bool attack_cmdline_range(const char *key, uint64_t *base, uint64_t *size)
{
	char buf[64];
	const char *end;

	if (rt_cmdline_get(key, buf, sizeof(buf)) <= 0)
		return false;
	*base = rt_strtou64(buf, &end, 0);
	if (*end != '+')
		return false;
	*size = rt_strtou64(end + 1, &end, 0);
	return *end == 0 && *size != 0;
}

int attack_open(struct attack *a, unsigned flags)
{
	struct vtd_unit *u = &a->unit;
	int r;

	a->on_warden = wstats_present();
	a->host0 = attack_host_faults();
	a->ram_top = ram_top_below_4g();
	if ((r = edu_open(&a->dev, -1)))
		return attack_fail(a, "no usable edu device (1234:11e8): %s", edu_err_name(r));
	a->wide = a->dev.ext;           /* Warden's edu: 64-bit bus addresses */
	a->xfer = a->dev.buf_usable & ~3u;
	if (!(a->stage = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)))
		return -1;
	if (vtd_dmar_parse(&a->dmar))
		return attack_fail(a, "no DMAR table: the VMM offers no VT-d unit (--viommu)");
	if (!vtd_dmar_covers(&a->dmar, a->dev.bdf))
		return attack_fail(a, "the DRHD does not cover edu at %02x:%02x.%x", a->dev.bdf >> 8,
				   a->dev.bdf >> 3 & 31, a->dev.bdf & 7);
	if ((r = vtd_open(u, &a->dmar)))
		return attack_fail(a, "vtd_open: %s: %s", vtd_err_name(r), u->err);
	if ((flags & ATTACK_QI) && (r = vtd_qi_enable(u)))
		return attack_fail(a, "queued invalidation: %s: %s", vtd_err_name(r), u->err);
	if ((r = vtd_domain_init(u, &a->dom, ATTACK_DID, 0)) ||
	    (r = vtd_map(&a->dom, ATTACK_IOVA_STAGE, a->stage, ATTACK_PAGE, VTD_R | VTD_W)) ||
	    (r = vtd_context_set(u, a->dev.bdf, &a->dom, VTD_TT_TRANSLATE)) || (r = vtd_set_root_table(u)))
		return attack_fail(a, "domain: %s: %s", vtd_err_name(r), u->err);
	if (!(flags & ATTACK_NO_TE)) {
		if ((r = vtd_set_translation(u, true)))
			return attack_fail(a, "translation on: %s: %s", vtd_err_name(r), u->err);
		a->te = true;
	}
	vtd_fault_take(u, NULL, 0, NULL);
	printf("attack: %s: on %s; edu %02x:%02x.%x (%s bus addresses); unit at 0x%lx CAP 0x%lx ECAP 0x%lx "
	       "(CM %u, PT %u, %u-level domain); RAM top 0x%lx; translation %s\n", a->name,
	       a->on_warden ? "Warden" : "a VMM without the stats port (QEMU)", a->dev.bdf >> 8,
	       a->dev.bdf >> 3 & 31, a->dev.bdf & 7, a->wide ? "64-bit" : "28-bit", u->base, u->cap, u->ecap,
	       u->cm, u->pt_cap, a->dom.levels, a->ram_top, a->te ? "on" : "off");
	return 0;
}

/* ---- raw unit access ---- */

int attack_set_rtaddr(struct attack *a, uint64_t addr)
{
	struct vtd_unit *u = &a->unit;
	uint64_t dl = now_ns() + u->timeout_us * 1000;
	int r;

	mmio_write64(u->base + REG_RTADDR, addr);
	mmio_write32(u->base + REG_GCMD, (vtd_gsts(u) & GCMD_KEEP) | GCMD_SRTP);
	while (!(vtd_gsts(u) & GCMD_SRTP))
		if (now_ns() > dl)
			return attack_fail(a, "SRTP with RTADDR 0x%lx never completed", addr);
	if ((r = vtd_inv_context(u, VTD_INV_GLOBAL, 0, 0, 0)) || (r = vtd_inv_iotlb(u, VTD_INV_GLOBAL, 0, 0, 0)))
		return attack_fail(a, "invalidation after SRTP: %s: %s", vtd_err_name(r), u->err);
	return 0;
}

volatile uint64_t *attack_table_entry(struct vtd_domain *dom, uint64_t iova, unsigned level)
{
	uint64_t table = dom->pgd;

	for (unsigned l = dom->levels; l >= 1; l--) {
		volatile uint64_t *e = (volatile uint64_t *)table + ((iova >> (12 + 9 * (l - 1))) & 511);
		if (l == level)
			return e;
		uint64_t v = *e;
		if (!(v & SL_RW) || (v & SL_PS))
			return NULL;
		table = v & SL_ADDR;
	}
	return NULL;
}

/* ---- probes ---- */

#define CANARY_MAGIC 0xc0ffee15dead10ccull     /* src/base/arena.c: magic ^ own HPA */

const char *attack_foreign(uint64_t gpa, uint32_t len)
{
	const volatile uint64_t *w = (const volatile uint64_t *)gpa;

	/* Two consecutive words of either pattern: the words' addresses
	 * follow each other, which random data does not do. */
	for (uint32_t i = 0; i + 1 < len / 8; i++) {
		uint64_t v0 = w[i] ^ ATTACK_VICTIM_MAGIC, v1 = w[i + 1] ^ ATTACK_VICTIM_MAGIC;
		if (v1 == v0 + 8 && !(v0 & 7))
			return "another VM's RAM (victim pattern)";
		uint64_t c0 = w[i] ^ CANARY_MAGIC, c1 = w[i + 1] ^ CANARY_MAGIC;
		if (c1 == c0 + 8 && !(c0 & 7))
			return "a hypervisor canary";
	}
	return NULL;
}

static enum attack_verdict worst(enum attack_verdict x, enum attack_verdict y)
{
	return x > y ? x : y;
}

static int arm(struct attack *a, const struct attack_probe *p, bool on)
{
	return p->arm ? p->arm(a, on) : 0;
}

/* The faults after one transfer: the expected reason found or not, or
 * whatever was recorded when none was expected. */
static void fault_text(struct attack *a, uint8_t want, uint64_t bus, bool read, char *buf, size_t len)
{
	struct vtd_fault f[16];
	int n = attack_faults(a, f, 16, want ? 20000 : 0);

	a->probe_faults += (unsigned)n;
	if (want && attack_fault_match(a, f, n, want, a->dev.bdf, bus, read)) {
		snprintf(buf, len, "fault 0x%02x", want);
	} else if (want) {
		a->missing++;
		snprintf(buf, len, "fault 0x%02x NOT recorded (%d other%s)", want, n, n == 1 ? "" : "s");
	} else if (n) {
		attack_fault_match(a, f, n, 0, 0, ~0ull, false);        /* prints them */
		for (int i = 0; i < n && i < 16; i++)
			attack_note_reason(a, f[i].reason);
		snprintf(buf, len, "guest fault 0x%02x%s", f[0].reason, n > 1 ? " and more" : "");
	} else {
		snprintf(buf, len, "no guest fault");
	}
}

/* The write: where the payload went. */
static enum attack_verdict judge_write(struct attack *a, const struct attack_probe *p, uint32_t len,
				       char *buf, size_t blen)
{
	uint64_t own_seed = p->seed ^ ATTACK_OWN_SEED;
	bool moved = a->dev.ext && a->dev.dma_done > 0;

	if (p->watch && p->expect_land && attack_holds(p->own, p->seed, len)) {
		snprintf(buf, blen, "landed in own GPA 0x%lx", p->own);
		return ATTACK_CONTAINED;
	}
	if (p->watch && !p->expect_land && !attack_holds(p->own, own_seed, len)) {
		snprintf(buf, blen, "GPA 0x%lx CHANGED", p->own);
		return ATTACK_BREACH;
	}
	if (moved) {
		/* Warden's edu says bytes moved, and not where this guest
		 * could see them. */
		snprintf(buf, blen, "%lu bytes moved, not to %s", a->dev.dma_done,
			 p->watch ? "the page they were meant for" : "this guest's RAM");
		return ATTACK_BREACH;
	}
	if (p->watch)
		snprintf(buf, blen, "GPA 0x%lx unchanged", p->own);
	else
		snprintf(buf, blen, "nothing moved%s", a->dev.ext ? "" : " (no error register: not observable)");
	return ATTACK_BLOCKED;
}

/* The read: what reached the buffer (read back into the staging page). */
static enum attack_verdict judge_read(struct attack *a, const struct attack_probe *p, uint32_t len,
				      char *buf, size_t blen)
{
	bool moved = a->dev.ext && a->dev.dma_done > 0;
	bool got_own = p->watch && attack_holds(a->stage, p->seed ^ ATTACK_OWN_SEED, len);
	const char *foreign = attack_foreign(a->stage, len);

	if (foreign) {
		snprintf(buf, blen, "READ %s", foreign);
		return ATTACK_BREACH;
	}
	if (got_own && p->expect_land) {
		snprintf(buf, blen, "read own GPA 0x%lx", p->own);
		return ATTACK_CONTAINED;
	}
	if (got_own) {
		snprintf(buf, blen, "READ the secret at GPA 0x%lx", p->own);
		return ATTACK_BREACH;
	}
	if (moved) {
		snprintf(buf, blen, "%lu bytes read from elsewhere", a->dev.dma_done);
		return ATTACK_BREACH;
	}
	snprintf(buf, blen, "%s", p->watch ? "secret not read" : "nothing read");
	return ATTACK_BLOCKED;
}

enum attack_verdict attack_probe(struct attack *a, const char *step, const struct attack_probe *p,
				 uint64_t *host_delta)
{
	uint32_t len = p->len ? p->len : a->xfer;
	char we[64], re[64], wf[80], rf[80], wl[96], rl[96], host[40] = "";
	enum attack_verdict v;
	int r;

	a->mute = p->quiet;
	a->probe_faults = 0;
	/* The write: the payload is in the device, own holds other data. */
	if (p->watch)
		attack_fill(p->own, p->seed ^ ATTACK_OWN_SEED, len);
	if (attack_load(a, p->seed))
		return ATTACK_BLOCKED;
	vtd_fault_take(&a->unit, NULL, 0, NULL);
	uint64_t h0 = attack_host_faults();
	if (arm(a, p, true))
		return ATTACK_BLOCKED;
	r = attack_dma_write(a, p->bus, len);
	if (arm(a, p, false))
		return ATTACK_BLOCKED;
	attack_edu_str(a, r, we, sizeof(we));
	a->probe_werr = a->dev.dma_error;
	a->probe_wdone = a->dev.dma_done;
	v = judge_write(a, p, len, wl, sizeof(wl));
	fault_text(a, p->wreason, p->bus, false, wf, sizeof(wf));

	/* The read: own holds a secret, the device something else. */
	if (p->watch)
		attack_fill(p->own, p->seed ^ ATTACK_OWN_SEED, len);
	if (attack_load(a, p->seed ^ 0xffff))
		return ATTACK_BLOCKED;
	vtd_fault_take(&a->unit, NULL, 0, NULL);
	if (arm(a, p, true))
		return ATTACK_BLOCKED;
	r = attack_dma_read(a, p->bus, len);
	if (arm(a, p, false))
		return ATTACK_BLOCKED;
	attack_edu_str(a, r, re, sizeof(re));
	a->probe_rerr = a->dev.dma_error;
	a->probe_rdone = a->dev.dma_done;
	uint64_t moved_bytes = a->dev.dma_done;
	int rb = buffer_to_stage(a);
	a->dev.dma_done = moved_bytes;          /* judge the attack's read, not the read-back */
	if (rb) {
		attack_fail(a, "reading the edu buffer back: %s", edu_err_name(rb));
		return ATTACK_BLOCKED;
	}
	v = worst(v, judge_read(a, p, len, rl, sizeof(rl)));
	memset((void *)a->stage, 0xd5, ATTACK_PAGE);
	fault_text(a, p->rreason, p->bus, true, rf, sizeof(rf));

	uint64_t dh = attack_host_faults() - h0;
	if (host_delta)
		*host_delta += dh;
	if (a->on_warden)
		snprintf(host, sizeof(host), "; host faults +%lu", dh);
	a->mute = false;
	if (p->quiet && (v == ATTACK_BLOCKED || v == ATTACK_CONTAINED))
		attack_tally(a, v);
	else
		attack_step(a, v, step, "bus 0x%lx: write: %s, %s, %s; read: %s, %s, %s%s", p->bus, we, wl, wf,
			    re, rl, rf, host);
	return v;
}
