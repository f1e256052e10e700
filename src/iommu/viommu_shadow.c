/* Shadow composer: host domains that mirror a guest's VT-d tables, kept in
 * step by the guest's (Caching Mode) invalidations. See viommu_shadow.h.
 *
 * A resync of [start, end) in one shadow domain goes window by window: the
 * guest's leaves in the window become "want" runs (IOVA -> HPA, split where
 * the GPA range leaves RAM), the shadow's own leaves "have" runs; a sweep
 * over both unmaps what differs (strict: invalidate + drain) and then maps
 * what the guest wants there. Windows are as large as the run buffers allow,
 * so a sparse 48-bit space costs what is mapped, not what is empty. */
#include "iommu/viommu_shadow.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WANT_LEAVES 256                                  /* guest leaves per window */
#define WANT_RUNS   (WANT_LEAVES * GMEM_MAX_RANGES)      /* a leaf splits at most per RAM range */
#define HAVE_RUNS   512

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static inline uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

int viommu_shadow_init(struct viommu_shadow *s, const struct viommu_shadow_cfg *cfg)
{
	memset(s, 0, sizeof(*s));
	if (!cfg->guest || !cfg->host || !cfg->gmem || cfg->vm_id < 0 || cfg->gmem->vm_id != cfg->vm_id ||
	    (cfg->identity && cfg->identity->vm_id != cfg->vm_id)) {
		log_error("viommu: bad shadow configuration for VM %d", cfg->vm_id);
		return -EINVAL;
	}
	s->cfg = *cfg;
	if (!s->cfg.max_entries)
		s->cfg.max_entries = VIOMMU_SHADOW_MAX_ENTRIES;
	if (!s->cfg.max_tables)
		s->cfg.max_tables = 4 * (cfg->gmem->ram_size >> 21) + 256;
	s->want = calloc(WANT_RUNS, sizeof(*s->want));
	s->have = calloc(HAVE_RUNS, sizeof(*s->have));
	if (!s->want || !s->have) {
		free(s->want);
		free(s->have);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	return 0;
}

/* On entry to a hook (lock held): a guest action's first hook renews the
 * entry budget; with cfg.passes the rest of its pass shares it. */
static void budget_open(struct viommu_shadow *s)
{
	if (!s->in_pass)
		s->budget = s->cfg.max_entries;
	s->in_pass = s->cfg.passes;
}

/* ---- one resync window ---- */

struct collect {
	struct viommu_shadow *s;
	struct viommu_shadow_dom *sd;
	uint64_t start, end;
	uint64_t stop;           /* first IOVA not collected (buffer full) */
};

static int want_leaf(void *arg, uint64_t iova, uint64_t gpa, uint64_t size, unsigned prot)
{
	struct collect *c = arg;
	struct viommu_shadow *s = c->s;
	const struct gmem *g = s->cfg.gmem;
	uint64_t a = max_u64(iova, c->start), len = min_u64(iova + size, c->end) - a, in_ram = 0;

	if (s->nr_leaves == WANT_LEAVES) {
		c->stop = a;
		return 1;
	}
	s->nr_leaves++;
	gpa += a - iova;
	/* Only the part that is the VM's RAM gets a run, and a run never
	 * covers more than this (clipped) leaf: a guest 4K page stays 4K. */
	for (unsigned i = 0; i < g->nr_ranges; i++) {
		const struct gmem_range *r = &g->ranges[i];
		uint64_t lo = max_u64(gpa, r->gpa), hi = min_u64(gpa + len, r->gpa + r->size);

		if (lo >= hi)
			continue;
		s->want[s->nr_want++] = (struct viommu_shadow_run){
			.iova = a + (lo - gpa), .hpa = r->hpa + (lo - r->gpa), .len = hi - lo, .prot = prot,
		};
		in_ram += hi - lo;
	}
	if (in_ram != len) {
		s->stats.refused++;
		guest_error("viommu: guest domain %u maps IOVA 0x%llx size 0x%llx to GPA 0x%llx, "
			    "not all VM %d's RAM; 0x%llx bytes left unmapped",
			    c->sd->did, (unsigned long long)a, (unsigned long long)len,
			    (unsigned long long)gpa, s->cfg.vm_id, (unsigned long long)(len - in_ram));
	}
	return 0;
}

static int have_leaf(void *arg, uint64_t iova, uint64_t hpa, uint64_t size, unsigned prot)
{
	struct collect *c = arg;
	struct viommu_shadow *s = c->s;
	uint64_t a = max_u64(iova, c->start), b = min_u64(iova + size, c->end);

	if (a >= b)
		return 0;
	if (s->nr_have == HAVE_RUNS) {
		c->stop = a;
		return 1;
	}
	s->have[s->nr_have++] = (struct viommu_shadow_run){
		.iova = a, .hpa = hpa + (a - iova), .len = b - a, .prot = prot,
	};
	return 0;
}

static unsigned shadow_tables(const struct viommu_shadow *s)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < s->nr_doms; i++)
		n += s->doms[i].dom->pt.nr_tables;
	return (unsigned)min_u64(n, ~0u);
}

static void shadow_unmap(struct viommu_shadow *s, struct viommu_shadow_dom *sd, uint64_t iova, uint64_t len)
{
	uint64_t unmapped = 0;

	if (!iommu_domain_unmap(sd->dom, iova, len, &unmapped))
		s->stats.pages_unmapped += unmapped >> VTD_PAGE_SHIFT;
}

static void shadow_map(struct viommu_shadow *s, struct viommu_shadow_dom *sd,
		       const struct viommu_shadow_run *r)
{
	int ret;

	/* Host table pages come from the hypervisor's private pool, shared
	 * by every VM: a guest's sprawling tables must not drain it. */
	if (shadow_tables(s) >= s->cfg.max_tables) {
		s->stats.refused++;
		guest_error("viommu: VM %d's shadow domains hold %u host table pages (limit %llu); "
			    "guest domain %u IOVA 0x%llx size 0x%llx left unmapped",
			    s->cfg.vm_id, shadow_tables(s), (unsigned long long)s->cfg.max_tables,
			    sd->did, (unsigned long long)r->iova, (unsigned long long)r->len);
		return;
	}
	ret = iommu_domain_map(sd->dom, r->iova, r->hpa, r->len, r->prot);
	if (ret) {
		s->stats.refused++;
		guest_error("viommu: shadow map of guest domain %u IOVA 0x%llx -> HPA 0x%llx size 0x%llx "
			    "refused (%d); left unmapped", sd->did, (unsigned long long)r->iova,
			    (unsigned long long)r->hpa, (unsigned long long)r->len, ret);
		return;
	}
	s->stats.pages_mapped += r->len >> VTD_PAGE_SHIFT;
}

enum sweep_pass { SWEEP_UNMAP, SWEEP_MAP };

/* Walks [cur, wend) in segments where neither side changes run; a segment
 * differs when one side maps it and the other not, or both map it to
 * different addresses or permissions. Unmaps go first (coalesced), so the
 * maps that follow never overlap what is left. */
static void sweep(struct viommu_shadow *s, struct viommu_shadow_dom *sd, uint64_t cur, uint64_t wend,
		  enum sweep_pass pass)
{
	uint64_t p = cur, un_start = 0, un_end = 0;
	unsigned i = 0, j = 0;

	while (p < wend) {
		const struct viommu_shadow_run *w, *h;
		uint64_t q = wend;
		bool wc, hc, same;

		while (i < s->nr_want && s->want[i].iova + s->want[i].len <= p)
			i++;
		while (j < s->nr_have && s->have[j].iova + s->have[j].len <= p)
			j++;
		w = i < s->nr_want ? &s->want[i] : NULL;
		h = j < s->nr_have ? &s->have[j] : NULL;
		wc = w && w->iova <= p;
		hc = h && h->iova <= p;
		if (w)
			q = min_u64(q, wc ? w->iova + w->len : w->iova);
		if (h)
			q = min_u64(q, hc ? h->iova + h->len : h->iova);
		same = wc == hc && (!wc || (w->hpa + (p - w->iova) == h->hpa + (p - h->iova) &&
					    w->prot == h->prot));
		if (!same && pass == SWEEP_UNMAP && hc) {
			if (un_end != p) {
				if (un_end)
					shadow_unmap(s, sd, un_start, un_end - un_start);
				un_start = p;
			}
			un_end = q;
		}
		if (!same && pass == SWEEP_MAP && wc) {
			struct viommu_shadow_run r = {
				.iova = p, .hpa = w->hpa + (p - w->iova), .len = q - p, .prot = w->prot,
			};

			shadow_map(s, sd, &r);
		}
		p = q;
	}
	if (un_end)
		shadow_unmap(s, sd, un_start, un_end - un_start);
}

static void resync_range(struct viommu_shadow *s, struct viommu_shadow_dom *sd, uint64_t start, uint64_t end)
{
	struct vtd_unit *gu = s->cfg.guest;
	uint64_t pgsizes = IOPT_PAGE_4K | (gu->caps.sp_2m ? IOPT_PAGE_2M : 0) | (gu->caps.sp_1g ? IOPT_PAGE_1G : 0);
	uint64_t cur = start;

	while (cur < end) {
		struct collect c = { .s = s, .sd = sd, .start = cur, .end = end, .stop = end };
		uint64_t wend;
		int ret;

		s->nr_want = s->nr_have = s->nr_leaves = 0;
		ret = iopt_vtd_enum(&gu->mem, sd->slptptr, sd->levels, gu->caps.haw, pgsizes,
				    cur, end - cur, &s->budget, want_leaf, &c);
		if (ret < 0) {
			/* Fail safe: what could not be read is not mapped. */
			s->stats.truncated++;
			guest_error("viommu: guest domain %u tables at GPA 0x%llx: this guest action's "
				    "budget of %llu entries read is spent; IOVA 0x%llx-0x%llx left unmapped",
				    sd->did, (unsigned long long)sd->slptptr,
				    (unsigned long long)s->cfg.max_entries, (unsigned long long)cur,
				    (unsigned long long)end);
			shadow_unmap(s, sd, cur, end - cur);
			return;
		}
		wend = c.stop;
		c.end = wend;
		iopt_walk(&sd->dom->pt, cur, wend - cur, have_leaf, &c);
		if (c.stop < wend) {
			/* The shadow's runs filled first: end the window there. */
			wend = c.stop;
			while (s->nr_want && s->want[s->nr_want - 1].iova >= wend)
				s->nr_want--;
			if (s->nr_want && s->want[s->nr_want - 1].iova + s->want[s->nr_want - 1].len > wend)
				s->want[s->nr_want - 1].len = wend - s->want[s->nr_want - 1].iova;
		}
		sweep(s, sd, cur, wend, SWEEP_UNMAP);
		sweep(s, sd, cur, wend, SWEEP_MAP);
		cur = wend;
	}
}

static void resync_all(struct viommu_shadow *s, struct viommu_shadow_dom *sd)
{
	resync_range(s, sd, 0, 1ull << sd->aw_bits);
}

/* ---- devices and their domains ---- */

static struct viommu_shadow_dom *dom_get(struct viommu_shadow *s, const struct vtd_context_info *ci)
{
	struct viommu_shadow_dom *sd;
	int ret;

	for (unsigned i = 0; i < s->nr_doms; i++) {
		sd = &s->doms[i];
		if (sd->did == ci->did && sd->slptptr == ci->slptptr && sd->levels == ci->levels)
			return sd;
		if (sd->did == ci->did)
			guest_error("viommu: guest domain %u is used with two tables (GPA 0x%llx and 0x%llx); "
				    "each gets its own shadow", ci->did, (unsigned long long)sd->slptptr,
				    (unsigned long long)ci->slptptr);
	}
	if (s->nr_doms == VIOMMU_SHADOW_MAX_DEVS)
		return NULL;        /* at most one per device: unreachable */
	sd = &s->doms[s->nr_doms];
	ret = iommu_domain_create(s->cfg.host, s->cfg.vm_id, ci->aw_bits, &sd->dom);
	if (ret) {
		log_error("viommu: no shadow domain for VM %d's guest domain %u: %d", s->cfg.vm_id, ci->did, ret);
		return NULL;
	}
	sd->did = ci->did;
	sd->slptptr = ci->slptptr;
	sd->levels = ci->levels;
	sd->aw_bits = ci->aw_bits;
	s->nr_doms++;
	s->stats.composes++;
	resync_all(s, sd);
	return sd;
}

/* Where the guest unit's state puts a device on the host unit. */
static struct iommu_domain *target_of(struct viommu_shadow *s, uint16_t sid)
{
	struct vtd_context_info ci;
	struct viommu_shadow_dom *sd;

	if (!__atomic_load_n(&s->cfg.guest->te, __ATOMIC_ACQUIRE))
		return s->cfg.identity;
	if (vtd_context_lookup(s->cfg.guest, sid, &ci, NULL))
		return NULL;
	if (ci.tt == VTD_TT_PASSTHROUGH)
		return s->cfg.identity;
	if (ci.tt != VTD_TT_TRANSLATED)
		return NULL;
	sd = dom_get(s, &ci);
	return sd ? sd->dom : NULL;
}

static int reattach(struct viommu_shadow *s, struct viommu_shadow_dev *d, struct iommu_domain *target)
{
	int ret = 0;

	if (d->attached == target)
		return 0;
	/* Detach then attach: for that instant the device is blocked (a DMA
	 * then fails, and counts as stale), never half in either domain. */
	if (d->attached)
		iommu_domain_detach(d->attached, d->host_sid);
	d->attached = NULL;
	if (target) {
		ret = iommu_domain_attach(target, d->host_sid, 0);
		if (ret)
			log_error("viommu: cannot attach " SID_FMT " (host " SID_FMT ") to host domain %u: %d",
				  SID_ARGS(d->guest_sid), SID_ARGS(d->host_sid), target->did, ret);
		else
			d->attached = target;
	}
	s->stats.attaches++;
	return ret;
}

/* Shadow domains no device uses any more go, invalidated and drained. */
static void dom_gc(struct viommu_shadow *s)
{
	for (unsigned i = 0; i < s->nr_doms; ) {
		bool used = false;

		for (unsigned j = 0; j < s->nr_devs && !used; j++)
			used = s->devs[j].attached == s->doms[i].dom;
		if (used) {
			i++;
			continue;
		}
		iommu_domain_destroy(s->doms[i].dom);
		s->doms[i] = s->doms[--s->nr_doms];
	}
}

int viommu_shadow_add_device(struct viommu_shadow *s, uint16_t guest_sid, uint16_t host_sid)
{
	struct viommu_shadow_dev *d;
	uint64_t t0 = now_ns();
	int ret;

	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nr_devs; i++) {
		if (s->devs[i].guest_sid == guest_sid || s->devs[i].host_sid == host_sid) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (s->nr_devs == VIOMMU_SHADOW_MAX_DEVS) {
		log_error("viommu: VM %d: no room for " SID_FMT " (%u devices shadowed at most)",
			  s->cfg.vm_id, SID_ARGS(guest_sid), VIOMMU_SHADOW_MAX_DEVS);
		ret = -ENOSPC;
		goto out;
	}
	s->budget = s->cfg.max_entries;     /* the VMM's setup, not a guest action */
	d = &s->devs[s->nr_devs++];
	d->guest_sid = guest_sid;
	d->host_sid = host_sid;
	d->attached = NULL;
	ret = reattach(s, d, target_of(s, guest_sid));
	if (ret)
		s->nr_devs--;
	dom_gc(s);
out:
	s->stats.ns += now_ns() - t0;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void viommu_shadow_context_changed(struct viommu_shadow *s)
{
	uint64_t t0 = now_ns();

	pthread_mutex_lock(&s->lock);
	budget_open(s);
	for (unsigned i = 0; i < s->nr_devs; i++)
		reattach(s, &s->devs[i], target_of(s, s->devs[i].guest_sid));
	dom_gc(s);
	s->stats.ns += now_ns() - t0;
	pthread_mutex_unlock(&s->lock);
}

void viommu_shadow_iotlb_invalidated(struct viommu_shadow *s, int gran, uint16_t did,
				     uint64_t addr, uint64_t size)
{
	uint64_t t0 = now_ns();

	pthread_mutex_lock(&s->lock);
	budget_open(s);
	s->stats.syncs++;
	for (unsigned i = 0; i < s->nr_doms; i++) {
		struct viommu_shadow_dom *sd = &s->doms[i];
		uint64_t limit = 1ull << sd->aw_bits, start, end;

		if (gran == VIOMMU_SHADOW_INV_DOMAIN || gran == VIOMMU_SHADOW_INV_PAGE) {
			if (sd->did != did)
				continue;
		}
		if (gran != VIOMMU_SHADOW_INV_PAGE) {
			resync_all(s, sd);
			continue;
		}
		if (!size || addr >= limit)
			continue;
		start = addr & VTD_PAGE_MASK;
		end = size > limit - addr ? limit : (addr + size + VTD_PAGE_SIZE - 1) & VTD_PAGE_MASK;
		resync_range(s, sd, start, end);
	}
	s->stats.ns += now_ns() - t0;
	pthread_mutex_unlock(&s->lock);
}

void viommu_shadow_pass_done(struct viommu_shadow *s)
{
	pthread_mutex_lock(&s->lock);
	s->in_pass = false;
	pthread_mutex_unlock(&s->lock);
}

void viommu_shadow_stats_get(struct viommu_shadow *s, struct viommu_shadow_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->stats;
	st->domains = s->nr_doms;
	pthread_mutex_unlock(&s->lock);
}

void viommu_shadow_destroy(struct viommu_shadow *s)
{
	if (!s->want)
		return;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < s->nr_devs; i++)
		reattach(s, &s->devs[i], NULL);
	s->nr_devs = 0;
	dom_gc(s);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	free(s->want);
	free(s->have);
	memset(s, 0, sizeof(*s));
}
