/* Intel VT-d driver for the test guests; see vtd.h. */
#include "vtd.h"
#include "acpi.h"

/* ---- registers (spec chapter 11) ---- */
#define VTD_VER      0x00
#define VTD_CAP      0x08
#define VTD_ECAP     0x10
#define VTD_GCMD     0x18
#define VTD_GSTS     0x1c
#define VTD_RTADDR   0x20
#define VTD_CCMD     0x28
#define VTD_FSTS     0x34
#define VTD_FECTL    0x38
#define VTD_FEDATA   0x3c
#define VTD_FEADDR   0x40
#define VTD_IQH      0x80
#define VTD_IQT      0x88
#define VTD_IQA      0x90
#define VTD_ICS      0x9c
#define VTD_IECTL    0xa0
#define VTD_IEDATA   0xa4
#define VTD_IEADDR   0xa8
#define VTD_IRTA     0xb8

/* GCMD and GSTS share bit positions. */
#define GCMD_TE      (1u << 31)
#define GCMD_SRTP    (1u << 30)
#define GCMD_WBF     (1u << 27)
#define GCMD_QIE     (1u << 26)
#define GCMD_IRE     (1u << 25)
#define GCMD_SIRTP   (1u << 24)
#define GCMD_CFI     (1u << 23)
/* The bits that stay set; the one-shot commands (SRTP, SFL, WBF, SIRTP)
 * must not be echoed back from GSTS into GCMD. */
#define GCMD_PERSISTENT (GCMD_TE | GCMD_QIE | GCMD_IRE | GCMD_CFI)

#define CCMD_ICC     (1ull << 63)
#define CCMD_CAIG(v) (((v) >> 59) & 3)
#define IOTLB_IVT    (1ull << 63)
#define IOTLB_DR     (1ull << 49)
#define IOTLB_DW     (1ull << 48)
#define IOTLB_IAIG(v) (((v) >> 57) & 3)
#define FECTL_IM     VTD_EVCTL_IM
#define FRCD_F       (1ull << 63)
#define FRCD_T       (1ull << 62)

/* Queued-invalidation descriptors (128-bit, spec 6.5.2). */
#define QI_CC        0x1
#define QI_IOTLB     0x2
#define QI_IEC       0x4
#define QI_WAIT      0x5
#define QI_IOTLB_DW  (1ull << 6)
#define QI_IOTLB_DR  (1ull << 7)
#define QI_WAIT_IF   (1ull << 4)
#define QI_WAIT_SW   (1ull << 5)
#define QI_WAIT_FN   (1ull << 6)
#define IQ_ENTRIES   256                /* IQA.QS = 0: one 4 KiB page */

/* Second-level paging entries. */
#define SL_R         0x1ull
#define SL_W         0x2ull
#define SL_PS        (1ull << 7)
#define SL_ADDR      0x000ffffffffff000ull

#define DEFAULT_TIMEOUT_US 1000000ull
#define CACHE_LINE   64

static uint32_t rd32(struct vtd_unit *u, uint32_t off) { return mmio_read32(u->base + off); }
static uint64_t rd64(struct vtd_unit *u, uint32_t off) { return mmio_read64(u->base + off); }
static void wr32(struct vtd_unit *u, uint32_t off, uint32_t v) { mmio_write32(u->base + off, v); }
static void wr64(struct vtd_unit *u, uint32_t off, uint64_t v) { mmio_write64(u->base + off, v); }

static int fail(struct vtd_unit *u, int r, const char *fmt, ...) RT_PRINTF(3, 4);
static int fail(struct vtd_unit *u, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->err, sizeof(u->err), fmt, ap);
	va_end(ap);
	return r;
}

const char *vtd_err_name(int r)
{
	switch (r) {
	case 0:             return "ok";
	case VTD_E_NODEV:   return "no remapping unit";
	case VTD_E_TIMEOUT: return "timeout";
	case VTD_E_INVAL:   return "invalid argument";
	case VTD_E_NOMEM:   return "out of memory";
	case VTD_E_EXIST:   return "already mapped";
	case VTD_E_UNSUPP:  return "not supported by the unit";
	case VTD_E_IQE:     return "invalidation queue error";
	case VTD_E_STATE:   return "wrong state";
	}
	return "?";
}

static uint64_t deadline(uint64_t us)
{
	uint64_t hz = tsc_hz() ? tsc_hz() : 1000000000ull;

	return rdtsc() + us * (hz / 1000000);
}

static bool expired(uint64_t dl)
{
	return (int64_t)(rdtsc() - dl) > 0;
}

/* Without ECAP.C the unit reads its tables around the CPU caches: the
 * lines must reach memory before the unit is told to look (spec 6.6). */
void vtd_entry_sync(struct vtd_unit *u, const volatile void *p, size_t len)
{
	if (!u->coherent) {
		uint64_t a = (uint64_t)p & ~(uint64_t)(CACHE_LINE - 1);
		for (; a < (uint64_t)p + len; a += CACHE_LINE)
			__asm__ volatile("clflush (%0)" : : "r"(a) : "memory");
	}
	__asm__ volatile("sfence" ::: "memory");
}

static int wait32(struct vtd_unit *u, uint32_t off, uint32_t mask, uint32_t want, const char *what)
{
	uint64_t dl = deadline(u->timeout_us);

	while ((rd32(u, off) & mask) != want) {
		if (expired(dl)) {
			uint32_t v = rd32(u, off);
			if ((v & mask) == want)
				return 0;
			return fail(u, VTD_E_TIMEOUT, "%s: register 0x%x = 0x%08x after %lu ms", what, off, v,
				    u->timeout_us / 1000);
		}
		cpu_relax();
	}
	return 0;
}

uint32_t vtd_gsts(struct vtd_unit *u) { return rd32(u, VTD_GSTS); }
uint32_t vtd_fsts(struct vtd_unit *u) { return rd32(u, VTD_FSTS); }
void vtd_fsts_write(struct vtd_unit *u, uint32_t rw1c) { wr32(u, VTD_FSTS, rw1c); }

/* Turns a persistent GCMD bit on or off and waits for GSTS to agree. */
static int gcmd_persistent(struct vtd_unit *u, uint32_t bit, bool on, const char *what)
{
	uint32_t cmd = vtd_gsts(u) & GCMD_PERSISTENT;

	cmd = on ? cmd | bit : cmd & ~bit;
	wr32(u, VTD_GCMD, cmd);
	return wait32(u, VTD_GSTS, bit, on ? bit : 0, what);
}

/* A one-shot command; done when its status bit reads done_val. */
static int gcmd_oneshot(struct vtd_unit *u, uint32_t bit, uint32_t done_val, const char *what)
{
	wr32(u, VTD_GCMD, (vtd_gsts(u) & GCMD_PERSISTENT) | bit);
	return wait32(u, VTD_GSTS, bit, done_val, what);
}

/* CAP.RWBF: the unit may hold table writes in a buffer until told. */
static int flush_write_buffer(struct vtd_unit *u)
{
	if (!u->rwbf)
		return 0;
	return gcmd_oneshot(u, GCMD_WBF, 0, "write-buffer flush");
}

/* ---- ACPI DMAR ---- */

static uint8_t rd8(uint64_t a) { return *(const volatile uint8_t *)a; }
static uint16_t rd16(uint64_t a) { uint16_t v; memcpy(&v, (const void *)a, 2); return v; }

/* A device-scope path: the start bus, then per hop (device, function);
 * every hop after the first crosses a bridge to its secondary bus. */
static uint16_t scope_sid(uint64_t scope, unsigned len)
{
	unsigned bus = rd8(scope + 5), dev = 0, fn = 0;

	for (unsigned off = 6; off + 2 <= len; off += 2) {
		if (off > 6)
			bus = pci_read8(RT_PCI_BDF(bus, dev, fn), 0x19);
		dev = rd8(scope + off) & 31;
		fn = rd8(scope + off + 1) & 7;
	}
	return RT_PCI_BDF(bus, dev, fn);
}

int vtd_dmar_parse(struct vtd_dmar *d)
{
	memset(d, 0, sizeof(*d));
	d->table = acpi_find_table("DMAR", 0);
	if (!d->table)
		return VTD_E_NODEV;
	uint32_t len = ((const struct acpi_sdt_header *)d->table)->length;
	if (len < 48)
		return VTD_E_NODEV;
	d->haw = rd8(d->table + 36) + 1u;
	d->flags = rd8(d->table + 37);
	for (uint32_t off = 48; off + 4 <= len;) {
		uint16_t type = rd16(d->table + off), slen = rd16(d->table + off + 2);
		if (slen < 4 || off + slen > len)
			break;
		if (type == 0 && slen >= 16 && d->ndrhd++ == 0) {        /* DRHD */
			uint64_t s = d->table + off;
			d->include_pci_all = rd8(s + 4) & 1;
			d->segment = rd16(s + 6);
			memcpy(&d->reg_base, (const void *)(s + 8), 8);
			for (uint32_t so = 16; so + 6 <= slen;) {
				unsigned stype = rd8(s + so), sl = rd8(s + so + 1);
				if (sl < 6 || so + sl > slen)
					break;
				if (stype == 3 && !d->ioapic) {                  /* IOAPIC */
					d->ioapic = true;
					d->ioapic_id = rd8(s + so + 4);
					d->ioapic_sid = scope_sid(s + so, sl);
				} else if ((stype == 1 || stype == 2) && d->nscope < RT_ARRAY_SIZE(d->scope)) {
					d->scope[d->nscope].type = (uint8_t)stype;
					d->scope[d->nscope++].sid = scope_sid(s + so, sl);
				}
				so += sl;
			}
		}
		off += slen;
	}
	return d->ndrhd && d->reg_base ? 0 : VTD_E_NODEV;
}

bool vtd_dmar_covers(const struct vtd_dmar *d, uint16_t bdf)
{
	if (d->include_pci_all)
		return true;
	for (unsigned i = 0; i < d->nscope; i++) {
		uint16_t s = d->scope[i].sid;
		if (d->scope[i].type == 1 && s == bdf)
			return true;
		if (d->scope[i].type == 2) {
			unsigned sec = pci_read8(s, 0x19), sub = pci_read8(s, 0x1a);
			if ((bdf >> 8) >= sec && (bdf >> 8) <= sub)
				return true;
		}
	}
	return false;
}

/* ---- open / close ---- */

static uint64_t zalloc_page(void)
{
	uint64_t p = rt_alloc(VTD_PAGE_SIZE, VTD_PAGE_SIZE);

	if (p)
		memset((void *)p, 0, VTD_PAGE_SIZE);
	return p;
}

int vtd_open(struct vtd_unit *u, const struct vtd_dmar *d)
{
	uint64_t cap, ecap;
	int r;

	memset(u, 0, sizeof(*u));
	u->timeout_us = DEFAULT_TIMEOUT_US;
	u->base = d->reg_base;
	u->haw = d->haw;
	if (!u->base)
		return fail(u, VTD_E_NODEV, "no register base");
	u->ver = rd32(u, VTD_VER);
	u->cap = cap = rd64(u, VTD_CAP);
	u->ecap = ecap = rd64(u, VTD_ECAP);
	if (cap == ~0ull || ecap == ~0ull || !(u->ver & 0xf0))
		return fail(u, VTD_E_NODEV, "registers at 0x%lx read VER 0x%x CAP 0x%lx", u->base, u->ver, cap);
	u->domain_bits = 4 + 2 * (unsigned)(cap & 7);
	u->rwbf = cap >> 4 & 1;
	u->cm = cap >> 7 & 1;
	u->sagaw = (uint8_t)(cap >> 8 & 0x1f);
	u->mgaw = (unsigned)(cap >> 16 & 0x3f) + 1;
	u->fro = (uint32_t)(cap >> 24 & 0x3ff) * 16;
	u->sp2m = cap >> 34 & 1;
	u->sp1g = cap >> 35 & 1;
	u->psi = cap >> 39 & 1;
	u->nfr = (unsigned)(cap >> 40 & 0xff) + 1;
	u->mamv = (unsigned)(cap >> 48 & 0x3f);
	u->drain_w = cap >> 54 & 1;
	u->drain_r = cap >> 55 & 1;
	u->coherent = ecap & 1;
	u->qi_cap = ecap >> 1 & 1;
	u->ir_cap = ecap >> 3 & 1;
	u->eim_cap = ecap >> 4 & 1;
	u->pt_cap = ecap >> 6 & 1;
	u->iro = (uint32_t)(ecap >> 8 & 0x3ff) * 16;
	if (!(u->sagaw & 0x6))
		return fail(u, VTD_E_UNSUPP, "SAGAW 0x%x offers neither 39- nor 48-bit tables", u->sagaw);
	if (!u->fro || !u->iro)
		return fail(u, VTD_E_NODEV, "CAP.FRO 0x%x / ECAP.IRO 0x%x", u->fro, u->iro);

	/* Polling is the interface; an unmasked event would be an MSI to
	 * whatever FEADDR / IEADDR holds. */
	wr32(u, VTD_FECTL, FECTL_IM);
	wr32(u, VTD_IECTL, VTD_EVCTL_IM);
	wr32(u, VTD_ICS, VTD_ICS_IWC);
	uint32_t gsts = vtd_gsts(u);
	if ((gsts & GCMD_IRE) && (r = gcmd_persistent(u, GCMD_IRE, false, "IRE off")))
		return r;
	if ((gsts & GCMD_TE) && (r = gcmd_persistent(u, GCMD_TE, false, "TE off")))
		return r;
	if ((gsts & GCMD_QIE) && (r = gcmd_persistent(u, GCMD_QIE, false, "QIE off")))
		return r;
	vtd_fault_take(u, NULL, 0, NULL);

	u->root = zalloc_page();
	u->wait_status = (volatile uint32_t *)rt_alloc(64, 64);
	if (!u->root || !u->wait_status)
		return fail(u, VTD_E_NOMEM, "out of memory");
	*u->wait_status = 0;
	return 0;
}

int vtd_set_root_table(struct vtd_unit *u)
{
	int r;

	vtd_entry_sync(u, (void *)u->root, VTD_PAGE_SIZE);
	wr64(u, VTD_RTADDR, u->root);           /* TTM 00: legacy mode */
	if ((r = gcmd_oneshot(u, GCMD_SRTP, GCMD_SRTP, "SRTP")))
		return r;
	if ((r = vtd_inv_context(u, VTD_INV_GLOBAL, 0, 0, 0)))
		return r;
	return vtd_inv_iotlb(u, VTD_INV_GLOBAL, 0, 0, 0);
}

int vtd_set_translation(struct vtd_unit *u, bool on)
{
	return gcmd_persistent(u, GCMD_TE, on, on ? "TE on" : "TE off");
}

int vtd_qi_enable(struct vtd_unit *u)
{
	if (!u->qi_cap)
		return fail(u, VTD_E_UNSUPP, "ECAP.QI = 0");
	if (u->qi)
		return 0;
	if (!u->iq && !(u->iq = zalloc_page()))
		return fail(u, VTD_E_NOMEM, "out of memory");
	u->iq_len = IQ_ENTRIES;
	u->iq_tail = 0;
	/* The tail must be 0 before QIE: the head restarts at 0. */
	wr64(u, VTD_IQT, 0);
	wr64(u, VTD_IQA, u->iq);                /* DW 0 (128-bit descriptors), QS 0 */
	int r = gcmd_persistent(u, GCMD_QIE, true, "QIE on");
	if (!r)
		u->qi = true;
	return r;
}

int vtd_qi_disable(struct vtd_unit *u)
{
	int r;

	if (!u->qi)
		return 0;
	/* Spec 6.5.2: disable only with the queue empty (head = tail);
	 * QEMU also wants the last descriptor to have been a wait. */
	if ((r = vtd_inv_wait(u)))
		return r;
	if ((r = gcmd_persistent(u, GCMD_QIE, false, "QIE off")))
		return r;
	u->qi = false;
	return 0;
}

int vtd_close(struct vtd_unit *u)
{
	int r = 0, e;

	if ((vtd_gsts(u) & GCMD_IRE) && (e = vtd_ir_disable(u)) && !r)
		r = e;
	if ((vtd_gsts(u) & GCMD_TE) && (e = vtd_set_translation(u, false)) && !r)
		r = e;
	if ((e = vtd_qi_disable(u)) && !r)
		r = e;
	return r;
}

/* ---- invalidation ---- */

static int reg_context(struct vtd_unit *u, enum vtd_inv_gran g, uint16_t did, uint16_t sid, unsigned fm)
{
	uint64_t v = CCMD_ICC | (uint64_t)g << 61 | (uint64_t)(fm & 3) << 32 | (uint64_t)sid << 16 | did;
	uint64_t dl = deadline(u->timeout_us);

	/* One 64-bit write: QEMU acts on the write that carries ICC. */
	wr64(u, VTD_CCMD, v);
	while ((v = rd64(u, VTD_CCMD)) & CCMD_ICC) {
		if (expired(dl))
			return fail(u, VTD_E_TIMEOUT, "CCMD.ICC still set (0x%lx)", v);
		cpu_relax();
	}
	u->stats.reg_context++;
	if (!CCMD_CAIG(v))
		return fail(u, VTD_E_UNSUPP, "context invalidation (granularity %u) not performed: CCMD 0x%lx",
			    g, v);
	return 0;
}

static int reg_iotlb(struct vtd_unit *u, enum vtd_inv_gran g, uint16_t did, uint64_t addr, unsigned am)
{
	uint64_t v = IOTLB_IVT | (uint64_t)g << 60 | (uint64_t)did << 32;
	uint64_t dl = deadline(u->timeout_us);

	if (u->drain_r)
		v |= IOTLB_DR;
	if (u->drain_w)
		v |= IOTLB_DW;
	if (g == VTD_INV_PAGE)
		wr64(u, u->iro, addr | am);     /* IVA: IH 0 */
	wr64(u, u->iro + 8, v);
	while ((v = rd64(u, u->iro + 8)) & IOTLB_IVT) {
		if (expired(dl))
			return fail(u, VTD_E_TIMEOUT, "IOTLB.IVT still set (0x%lx)", v);
		cpu_relax();
	}
	u->stats.reg_iotlb++;
	if (!IOTLB_IAIG(v))
		return fail(u, VTD_E_UNSUPP, "IOTLB invalidation (granularity %u) not performed: 0x%lx", g, v);
	return 0;
}

/* Queues n descriptors and a status-writing wait descriptor behind them,
 * and polls the status (Fence set: it completes after all before it). */
static int qi_run(struct vtd_unit *u, const uint64_t (*desc)[2], unsigned n)
{
	volatile uint64_t *q = (volatile uint64_t *)u->iq;
	uint32_t seq = ++u->wait_seq;
	unsigned first = u->iq_tail;
	uint64_t dl;

	if (!u->qi)
		return fail(u, VTD_E_STATE, "queued invalidation is off");
	if (n + 1 >= u->iq_len)
		return fail(u, VTD_E_INVAL, "%u descriptors for a %u-entry queue", n, u->iq_len);
	for (unsigned i = 0; i <= n; i++) {
		unsigned t = u->iq_tail;
		if (i < n) {
			q[2 * t] = desc[i][0];
			q[2 * t + 1] = desc[i][1];
		} else {
			q[2 * t] = QI_WAIT | QI_WAIT_SW | QI_WAIT_FN | (uint64_t)seq << 32;
			q[2 * t + 1] = (uint64_t)u->wait_status;
		}
		u->iq_tail = (t + 1) % u->iq_len;
	}
	if (first + n + 1 <= u->iq_len) {
		vtd_entry_sync(u, &q[2 * first], 16 * (n + 1));
	} else {
		vtd_entry_sync(u, &q[2 * first], 16 * (u->iq_len - first));
		vtd_entry_sync(u, q, 16 * u->iq_tail);
	}
	u->stats.qi_wait++;
	wr64(u, VTD_IQT, (uint64_t)u->iq_tail << 4);
	dl = deadline(u->timeout_us);
	while (*u->wait_status != seq) {
		uint32_t fsts = vtd_fsts(u);
		if (fsts & VTD_FSTS_IQE) {
			/* The unit stopped at the bad descriptor (IQH); skip
			 * everything queued so it does not trip again. */
			uint64_t head = rd64(u, VTD_IQH);
			u->iq_tail = (unsigned)(head >> 4) % u->iq_len;
			wr64(u, VTD_IQT, (uint64_t)u->iq_tail << 4);
			wr32(u, VTD_FSTS, VTD_FSTS_IQE);
			return fail(u, VTD_E_IQE, "invalidation queue error at IQH 0x%lx (descriptor 0x%lx)",
				    head, q[(head >> 4) % u->iq_len * 2]);
		}
		if (expired(dl))
			return *u->wait_status == seq ? 0 :
			       fail(u, VTD_E_TIMEOUT, "wait descriptor %u: status 0x%x, IQH 0x%lx, IQT 0x%lx",
				    seq, *u->wait_status, rd64(u, VTD_IQH), rd64(u, VTD_IQT));
		cpu_relax();
	}
	return 0;
}

int vtd_inv_context(struct vtd_unit *u, enum vtd_inv_gran g, uint16_t did, uint16_t sid, unsigned fm)
{
	if (!u->qi)
		return reg_context(u, g, did, sid, fm);
	const uint64_t d[1][2] = { { QI_CC | (uint64_t)g << 4 | (uint64_t)did << 16 | (uint64_t)sid << 32 |
				     (uint64_t)(fm & 3) << 48, 0 } };
	u->stats.qi_context++;
	return qi_run(u, d, 1);
}

int vtd_inv_iotlb(struct vtd_unit *u, enum vtd_inv_gran g, uint16_t did, uint64_t addr, unsigned am)
{
	if (g == VTD_INV_PAGE && ((addr & ((VTD_PAGE_SIZE << am) - 1)) || am > u->mamv))
		return fail(u, VTD_E_INVAL, "page invalidation at 0x%lx, AM %u (MAMV %u)", addr, am, u->mamv);
	if (!u->qi)
		return reg_iotlb(u, g, did, addr, am);
	uint64_t lo = QI_IOTLB | (uint64_t)g << 4 | (uint64_t)did << 16;
	if (u->drain_r)
		lo |= QI_IOTLB_DR;
	if (u->drain_w)
		lo |= QI_IOTLB_DW;
	const uint64_t d[1][2] = { { lo, g == VTD_INV_PAGE ? addr | am : 0 } };
	u->stats.qi_iotlb++;
	return qi_run(u, d, 1);
}

int vtd_inv_iec(struct vtd_unit *u, bool global, unsigned index, unsigned im)
{
	if (!u->qi)
		return fail(u, VTD_E_STATE, "IEC invalidation needs queued invalidation");
	const uint64_t d[1][2] = { { QI_IEC | (global ? 0 : 1ull << 4) | (uint64_t)(im & 31) << 27 |
				     (uint64_t)(index & 0xffff) << 32, 0 } };
	u->stats.qi_iec++;
	return qi_run(u, d, 1);
}

int vtd_inv_wait(struct vtd_unit *u)
{
	return qi_run(u, NULL, 0);
}

int vtd_inv_wait_irq(struct vtd_unit *u)
{
	const uint64_t d[1][2] = { { QI_WAIT | QI_WAIT_IF | QI_WAIT_FN, 0 } };

	if (!u->qi)
		return fail(u, VTD_E_STATE, "a wait descriptor needs queued invalidation");
	u->stats.qi_wait_irq++;
	return qi_run(u, d, 1);
}

/* ---- the unit's own interrupts ---- */

static uint32_t event_reg(enum vtd_event ev, uint32_t fault_reg, uint32_t inv_reg)
{
	return ev == VTD_EVENT_FAULT ? fault_reg : inv_reg;
}

void vtd_event_msg(struct vtd_unit *u, enum vtd_event ev, uint8_t apic_id, uint8_t vector)
{
	wr32(u, event_reg(ev, VTD_FEDATA, VTD_IEDATA), vector);
	wr32(u, event_reg(ev, VTD_FEADDR, VTD_IEADDR), 0xfee00000u | (uint32_t)apic_id << 12);
}

void vtd_event_mask(struct vtd_unit *u, enum vtd_event ev, bool masked)
{
	uint32_t off = event_reg(ev, VTD_FECTL, VTD_IECTL);
	/* Bits 29:0 are reserved and preserved; IP is read-only. */
	uint32_t v = rd32(u, off) & ~(VTD_EVCTL_IM | VTD_EVCTL_IP);

	wr32(u, off, v | (masked ? VTD_EVCTL_IM : 0));
}

uint32_t vtd_event_ctl(struct vtd_unit *u, enum vtd_event ev)
{
	return rd32(u, event_reg(ev, VTD_FECTL, VTD_IECTL));
}

uint32_t vtd_ics(struct vtd_unit *u) { return rd32(u, VTD_ICS); }
void vtd_ics_clear(struct vtd_unit *u) { wr32(u, VTD_ICS, VTD_ICS_IWC); }

/* ---- second-level page tables ---- */

static unsigned level_shift(unsigned level) { return 12 + 9 * (level - 1); }
static uint64_t level_size(unsigned level) { return 1ull << level_shift(level); }

static volatile uint64_t *slot(uint64_t table, uint64_t iova, unsigned level)
{
	return (volatile uint64_t *)table + ((iova >> level_shift(level)) & 511);
}

int vtd_domain_init(struct vtd_unit *u, struct vtd_domain *dom, uint16_t did, unsigned levels)
{
	memset(dom, 0, sizeof(*dom));
	if (!levels)
		levels = (u->sagaw & 0x4) ? 4 : 3;
	if ((levels != 3 && levels != 4) || !(u->sagaw & (1u << (levels - 2))))
		return fail(u, VTD_E_UNSUPP, "%u-level tables: SAGAW 0x%x", levels, u->sagaw);
	if (!did || did >= (1u << u->domain_bits))
		return fail(u, VTD_E_INVAL, "domain id %u (CAP.ND allows 1..%u)", did, (1u << u->domain_bits) - 1);
	dom->u = u;
	dom->did = did;
	dom->levels = levels;
	if (!(dom->pgd = zalloc_page()))
		return fail(u, VTD_E_NOMEM, "out of memory");
	vtd_entry_sync(u, (void *)dom->pgd, VTD_PAGE_SIZE);
	dom->tables = 1;
	return 0;
}

/* The entry for iova at level `at`, creating missing tables on the way
 * when alloc; NULL if a superpage or (without alloc) a hole is in the way. */
static volatile uint64_t *entry_at(struct vtd_domain *dom, uint64_t iova, unsigned at, bool alloc)
{
	uint64_t table = dom->pgd;

	for (unsigned l = dom->levels;; l--) {
		volatile uint64_t *e = slot(table, iova, l);
		if (l == at)
			return e;
		uint64_t v = *e;
		if (!(v & (SL_R | SL_W))) {
			uint64_t t;
			if (!alloc || !(t = zalloc_page()))
				return NULL;
			vtd_entry_sync(dom->u, (void *)t, VTD_PAGE_SIZE);
			dom->tables++;
			*e = v = t | SL_R | SL_W;
			vtd_entry_sync(dom->u, e, 8);
		} else if (v & SL_PS) {
			return NULL;
		}
		table = v & SL_ADDR;
	}
}

/* Something already translates part of [iova, iova + level_size(at)). */
static bool range_busy(struct vtd_domain *dom, uint64_t iova, unsigned at)
{
	uint64_t table = dom->pgd;

	for (unsigned l = dom->levels;; l--) {
		uint64_t v = *slot(table, iova, l);
		if (l == at || !(v & (SL_R | SL_W)))
			return l == at && (v & (SL_R | SL_W));
		if (v & SL_PS)
			return true;
		table = v & SL_ADDR;
	}
}

static unsigned pick_level(struct vtd_domain *dom, uint64_t iova, uint64_t gpa, uint64_t left)
{
	struct vtd_unit *u = dom->u;

	for (unsigned l = 3; l >= 2; l--) {
		uint64_t sz = level_size(l);
		bool allowed = l == 3 ? u->sp1g : u->sp2m;
		if (allowed && l <= dom->levels && !((iova | gpa) & (sz - 1)) && left >= sz)
			return l;
	}
	return 1;
}

int vtd_map(struct vtd_domain *dom, uint64_t iova, uint64_t gpa, uint64_t size, unsigned prot)
{
	struct vtd_unit *u = dom->u;
	uint64_t off;

	if (((iova | gpa | size) & (VTD_PAGE_SIZE - 1)) || !size || !(prot & (VTD_R | VTD_W)) ||
	    prot & ~(unsigned)(VTD_R | VTD_W))
		return fail(u, VTD_E_INVAL, "map 0x%lx -> 0x%lx, 0x%lx bytes, prot %u", iova, gpa, size, prot);
	if (iova + size > (1ull << vtd_domain_aw(dom)) || iova + size < iova ||
	    (gpa + size - 1) >> u->haw)
		return fail(u, VTD_E_INVAL, "map 0x%lx -> 0x%lx: beyond %u-bit IOVAs or %u-bit addresses",
			    iova, gpa, vtd_domain_aw(dom), u->haw);
	for (off = 0; off < size;) {
		unsigned l = pick_level(dom, iova + off, gpa + off, size - off);
		if (range_busy(dom, iova + off, l))
			return fail(u, VTD_E_EXIST, "IOVA 0x%lx already mapped", iova + off);
		off += level_size(l);
	}
	for (off = 0; off < size;) {
		unsigned l = pick_level(dom, iova + off, gpa + off, size - off);
		volatile uint64_t *e = entry_at(dom, iova + off, l, true);
		if (!e)
			return fail(u, VTD_E_NOMEM, "no table page for IOVA 0x%lx", iova + off);
		*e = (gpa + off) | (prot & VTD_R ? SL_R : 0) | (prot & VTD_W ? SL_W : 0) | (l > 1 ? SL_PS : 0);
		vtd_entry_sync(u, e, 8);
		off += level_size(l);
	}
	dom->maps++;
	/* Caching Mode: the unit may have cached the not-present entries
	 * (spec 6.1), so a new mapping is announced like a removed one. */
	if (u->cm)
		return vtd_flush_range(dom, iova, size);
	return flush_write_buffer(u);
}

volatile uint64_t *vtd_pte(struct vtd_domain *dom, uint64_t iova, unsigned *level)
{
	uint64_t table = dom->pgd;

	for (unsigned l = dom->levels; l >= 1; l--) {
		volatile uint64_t *e = slot(table, iova, l);
		uint64_t v = *e;
		if (!(v & (SL_R | SL_W)))
			return NULL;
		if (l == 1 || (v & SL_PS)) {
			if (level)
				*level = l;
			return e;
		}
		table = v & SL_ADDR;
	}
	return NULL;
}

int vtd_flush_range(struct vtd_domain *dom, uint64_t iova, uint64_t size)
{
	struct vtd_unit *u = dom->u;
	uint64_t first = iova >> 12, last = (iova + size - 1) >> 12;
	unsigned am = 0;

	while ((first >> am) != (last >> am))
		am++;
	dom->invalidations++;
	if (!u->psi || am > u->mamv)
		return vtd_inv_iotlb(u, VTD_INV_DOMAIN, dom->did, 0, 0);
	return vtd_inv_iotlb(u, VTD_INV_PAGE, dom->did, (first >> am) << am << 12, am);
}

/* The leaf translating a (NULL for a hole) and the size it or the hole
 * covers. */
static volatile uint64_t *leaf_of(struct vtd_domain *dom, uint64_t a, uint64_t *size)
{
	uint64_t table = dom->pgd;

	for (unsigned l = dom->levels;; l--) {
		volatile uint64_t *e = slot(table, a, l);
		uint64_t v = *e;
		*size = level_size(l);
		if (!(v & (SL_R | SL_W)))
			return NULL;
		if (l == 1 || (v & SL_PS))
			return e;
		table = v & SL_ADDR;
	}
}

int vtd_unmap(struct vtd_domain *dom, uint64_t iova, uint64_t size, enum vtd_unmap_mode mode)
{
	struct vtd_unit *u = dom->u;
	uint64_t a, sz, end = iova + size;

	if (((iova | size) & (VTD_PAGE_SIZE - 1)) || !size || end < iova)
		return fail(u, VTD_E_INVAL, "unmap 0x%lx, 0x%lx bytes", iova, size);
	/* Check first, so a refused unmap has changed nothing. */
	for (a = iova; a < end; a = (a & ~(sz - 1)) + sz)
		if (leaf_of(dom, a, &sz) && ((a & (sz - 1)) || a + sz > end))
			return fail(u, VTD_E_INVAL, "unmap 0x%lx+0x%lx cuts the %lu KiB page at 0x%lx", iova,
				    size, sz >> 10, a & ~(sz - 1));
	for (a = iova; a < end; a = (a & ~(sz - 1)) + sz) {
		volatile uint64_t *leaf = leaf_of(dom, a, &sz);
		if (leaf) {
			*leaf = 0;
			vtd_entry_sync(u, leaf, 8);
		}
	}
	if (mode == VTD_UNMAP_LAZY)
		return 0;
	return vtd_flush_range(dom, iova, size);
}

/* ---- root and context entries ---- */

static volatile uint64_t *context_slot(struct vtd_unit *u, uint16_t bdf, bool alloc)
{
	unsigned bus = bdf >> 8;
	volatile uint64_t *re = (volatile uint64_t *)u->root + 2 * bus;

	if (!u->ctx[bus]) {
		if (!alloc || !(u->ctx[bus] = zalloc_page()))
			return NULL;
		vtd_entry_sync(u, (void *)u->ctx[bus], VTD_PAGE_SIZE);
		re[1] = 0;
		re[0] = u->ctx[bus] | 1;
		vtd_entry_sync(u, re, 16);
	}
	return (volatile uint64_t *)u->ctx[bus] + 2 * (bdf & 0xff);
}

int vtd_context_write(struct vtd_unit *u, uint16_t bdf, uint64_t lo, uint64_t hi)
{
	volatile uint64_t *ce = context_slot(u, bdf, true);
	int r;

	if (!ce)
		return fail(u, VTD_E_NOMEM, "out of memory");
	uint64_t old_lo = ce[0], old_hi = ce[1];
	bool was = old_lo & VTD_CTX_P, now = lo & VTD_CTX_P;
	uint16_t old_did = (uint16_t)(old_hi >> 8), new_did = (uint16_t)(hi >> 8);

	/* Present bit last (and first to go), so the unit never reads a
	 * half-written present entry. */
	ce[0] = 0;
	vtd_entry_sync(u, ce, 16);
	ce[1] = hi;
	vtd_entry_sync(u, ce, 16);
	ce[0] = lo;
	vtd_entry_sync(u, ce, 16);
	/* Caching Mode caches not-present entries under DID 0 (spec 6.1). */
	uint16_t cc_did = was ? old_did : u->cm ? 0 : new_did;
	if ((r = vtd_inv_context(u, VTD_INV_DEVICE, cc_did, bdf, 0)))
		return r;
	if (was && (r = vtd_inv_iotlb(u, VTD_INV_DOMAIN, old_did, 0, 0)))
		return r;
	if (now && u->cm && (!was || old_did != new_did) &&
	    (r = vtd_inv_iotlb(u, VTD_INV_DOMAIN, new_did, 0, 0)))
		return r;
	return u->cm ? 0 : flush_write_buffer(u);
}

int vtd_context_set(struct vtd_unit *u, uint16_t bdf, const struct vtd_domain *dom, unsigned tt)
{
	uint64_t lo = dom->pgd | (uint64_t)(tt & 3) << VTD_CTX_TT_SHIFT | VTD_CTX_P;

	return vtd_context_write(u, bdf, lo, VTD_CTX_AW(dom->levels) | VTD_CTX_DID(dom->did));
}

int vtd_context_clear(struct vtd_unit *u, uint16_t bdf)
{
	return vtd_context_write(u, bdf, 0, 0);
}

int vtd_root_set_present(struct vtd_unit *u, uint8_t bus, bool present)
{
	volatile uint64_t *re = (volatile uint64_t *)u->root + 2 * bus;
	int r;

	if (!u->ctx[bus] && !(u->ctx[bus] = zalloc_page()))
		return fail(u, VTD_E_NOMEM, "out of memory");
	re[0] = u->ctx[bus] | (present ? 1 : 0);
	vtd_entry_sync(u, re, 16);
	if ((r = vtd_inv_context(u, VTD_INV_GLOBAL, 0, 0, 0)))
		return r;
	return vtd_inv_iotlb(u, VTD_INV_GLOBAL, 0, 0, 0);
}

/* ---- faults ---- */

const char *vtd_fault_reason_name(uint8_t reason)
{
	switch (reason) {
	case VTD_FR_ROOT_NOT_PRESENT:   return "root entry not present";
	case VTD_FR_CTX_NOT_PRESENT:    return "context entry not present";
	case VTD_FR_CTX_INVALID:        return "invalid context entry";
	case VTD_FR_ADDR_BEYOND_AW:     return "address beyond the address width";
	case VTD_FR_WRITE:              return "write without W permission";
	case VTD_FR_READ:               return "read without R permission";
	case VTD_FR_SL_TABLE_ACCESS:    return "second-level table access error";
	case VTD_FR_ROOT_TABLE_ACCESS:  return "root table access error";
	case VTD_FR_CTX_TABLE_ACCESS:   return "context table access error";
	case VTD_FR_ROOT_RSVD:          return "reserved bit in a root entry";
	case VTD_FR_CTX_RSVD:           return "reserved bit in a context entry";
	case VTD_FR_SL_RSVD:            return "reserved bit in a second-level entry";
	case VTD_FR_TRANSLATED_BLOCKED: return "translated request blocked";
	case VTD_FR_IR_REQ_RSVD:        return "reserved field in an interrupt request";
	case VTD_FR_IR_INDEX_OVER:      return "interrupt index beyond the IRT";
	case VTD_FR_IR_NOT_PRESENT:     return "IRTE not present";
	case VTD_FR_IR_TABLE_ACCESS:    return "IRT access error";
	case VTD_FR_IR_RSVD:            return "reserved bit in an IRTE";
	case VTD_FR_IR_COMPAT_BLOCKED:  return "compatibility-format interrupt blocked";
	case VTD_FR_IR_SID_MISMATCH:    return "source-id verification failed";
	}
	return "unknown";
}

int vtd_fault_take(struct vtd_unit *u, struct vtd_fault *out, unsigned max, uint32_t *fsts_out)
{
	uint32_t fsts = vtd_fsts(u);
	unsigned fri = (fsts >> 8) & 0xff, n = 0;

	if (fsts_out)
		*fsts_out = fsts;
	/* Oldest first: recording starts at FRI and wraps. Every record is
	 * looked at, not only while PPF says so, so a model that forgets
	 * PPF still shows its faults. */
	for (unsigned i = 0; i < u->nfr; i++) {
		uint32_t off = u->fro + (uint32_t)((fri + i) % u->nfr) * 16;
		uint64_t hi = rd64(u, off + 8);
		if (!(hi & FRCD_F) || hi == ~0ull)
			continue;
		uint64_t lo = rd64(u, off);
		if (n < max)
			out[n] = (struct vtd_fault){
				.sid = (uint16_t)hi,
				.reason = (uint8_t)(hi >> 32),
				.read = hi & FRCD_T,
				.addr = lo & ~0xfffull,
				.index = (fri + i) % u->nfr,
			};
		n++;
		wr32(u, off + 12, (uint32_t)(FRCD_F >> 32));      /* F is RW1C */
	}
	if (fsts & VTD_FSTS_PFO)
		wr32(u, VTD_FSTS, VTD_FSTS_PFO);
	return (int)n;
}

/* ---- interrupt remapping ---- */

#define IRTE_P        0x1ull
#define IRTE_TM_LEVEL (1ull << 4)
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10

int vtd_ir_enable(struct vtd_unit *u, unsigned log2_entries)
{
	int r;

	if (!u->ir_cap)
		return fail(u, VTD_E_UNSUPP, "ECAP.IR = 0");
	if (!u->qi)
		return fail(u, VTD_E_STATE, "interrupt remapping needs queued invalidation (IEC)");
	if (log2_entries < 1 || log2_entries > 16)
		return fail(u, VTD_E_INVAL, "IRT of 2^%u entries", log2_entries);
	unsigned n = 1u << log2_entries;
	uint64_t bytes = (uint64_t)n * 16;
	if (!u->irt || u->irt_len != n) {
		u->irt = rt_alloc(bytes < VTD_PAGE_SIZE ? VTD_PAGE_SIZE : bytes, VTD_PAGE_SIZE);
		if (!u->irt)
			return fail(u, VTD_E_NOMEM, "out of memory");
		u->irt_len = n;
	}
	memset((void *)u->irt, 0, bytes);
	vtd_entry_sync(u, (void *)u->irt, bytes);
	wr64(u, VTD_IRTA, u->irt | (log2_entries - 1));      /* EIME 0: xAPIC ids */
	if ((r = gcmd_oneshot(u, GCMD_SIRTP, GCMD_SIRTP, "SIRTP")))
		return r;
	if ((r = vtd_inv_iec(u, true, 0, 0)))
		return r;
	/* CFI stays clear: compatibility-format interrupts are blocked. */
	if (vtd_gsts(u) & GCMD_CFI && (r = gcmd_persistent(u, GCMD_CFI, false, "CFI off")))
		return r;
	return gcmd_persistent(u, GCMD_IRE, true, "IRE on");
}

int vtd_ir_disable(struct vtd_unit *u)
{
	int r = gcmd_persistent(u, GCMD_IRE, false, "IRE off");

	/* The cached entries die with IRE off on hardware; say it anyway
	 * so a later enable starts from the table. */
	if (!r && u->qi)
		r = vtd_inv_iec(u, true, 0, 0);
	return r;
}

int vtd_irte_set(struct vtd_unit *u, unsigned index, const struct vtd_irte_cfg *c)
{
	if (index >= u->irt_len)
		return fail(u, VTD_E_INVAL, "IRTE %u of %u", index, u->irt_len);
	volatile uint64_t *e = (volatile uint64_t *)u->irt + 2 * index;

	/* Not present while the halves change: a cached or concurrent read
	 * sees the old entry or none, never a mix. */
	e[0] = 0;
	vtd_entry_sync(u, e, 16);
	e[1] = c->sid | (uint64_t)(c->sq & 3) << 16 | (uint64_t)(c->svt & 3) << 18;
	vtd_entry_sync(u, e, 16);
	e[0] = IRTE_P | (c->level ? IRTE_TM_LEVEL : 0) | (uint64_t)c->vector << 16 |
	       (uint64_t)c->dest << 40;         /* xAPIC: DST[15:8] */
	vtd_entry_sync(u, e, 16);
	return vtd_inv_iec(u, false, index, 0);
}

int vtd_irte_clear(struct vtd_unit *u, unsigned index)
{
	if (index >= u->irt_len)
		return fail(u, VTD_E_INVAL, "IRTE %u of %u", index, u->irt_len);
	volatile uint64_t *e = (volatile uint64_t *)u->irt + 2 * index;

	e[0] = 0;
	e[1] = 0;
	vtd_entry_sync(u, e, 16);
	return vtd_inv_iec(u, false, index, 0);
}

void vtd_msi_remappable(unsigned index, uint64_t *addr, uint32_t *data)
{
	/* Handle[14:0] in bits 19:5, Interrupt Format bit 4, SHV bit 3 = 0,
	 * Handle[15] in bit 2. */
	*addr = 0xfee00000ull | (uint64_t)(index & 0x7fff) << 5 | 1u << 4 | (uint64_t)(index >> 15 & 1) << 2;
	*data = 0;
}

static void ioapic_wr(unsigned reg, uint32_t v)
{
	mmio_write32(RT_IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(RT_IOAPIC_BASE + IOAPIC_WIN, v);
}

static uint32_t ioapic_rd(unsigned reg)
{
	mmio_write32(RT_IOAPIC_BASE + IOAPIC_REGSEL, reg);
	return mmio_read32(RT_IOAPIC_BASE + IOAPIC_WIN);
}

void vtd_ioapic_rte_remappable(unsigned gsi, unsigned index, uint8_t vector, bool level,
			       bool active_low, bool masked)
{
	unsigned reg = 0x10 + 2 * gsi;
	uint32_t lo = vector | (index >> 15 & 1) << 11 | (active_low ? 1u << 13 : 0) |
		      (level ? 1u << 15 : 0);

	/* Masked while the halves disagree. */
	ioapic_wr(reg, lo | 1u << 16);
	ioapic_wr(reg + 1, 1u << 16 | (index & 0x7fff) << 17);    /* bit 48, handle in 63:49 */
	ioapic_wr(reg, lo | (masked ? 1u << 16 : 0));
}

uint64_t vtd_ioapic_rte_read(unsigned gsi)
{
	unsigned reg = 0x10 + 2 * gsi;
	uint32_t lo = ioapic_rd(reg);

	return (uint64_t)ioapic_rd(reg + 1) << 32 | lo;
}
