/* DMA API: page-by-page translation, partial transfers stopping at the
 * faulting page, the enable gate and the dirty hook. */
#include "iommu/dma.h"
#include "base/log.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

/* ---- VT-d backend ---- */

static int vtd_as_translate(struct dma_as *as, uint64_t iova, bool write, uint64_t *hpa, uint64_t *avail)
{
	struct vtd_xlate x;

	if (vtd_translate(as->unit, as->sid, iova, write ? VTD_REQ_WRITE : VTD_REQ_READ, &x))
		return -EFAULT;
	*hpa = x.addr;
	*avail = x.page_size - (iova & (x.page_size - 1));
	return 0;
}

static unsigned vtd_as_begin(struct dma_as *as)            { return vtd_dma_begin(as->unit); }
static void vtd_as_end(struct dma_as *as, unsigned token)  { vtd_dma_end(as->unit, token); }
static void vtd_as_sync(struct dma_as *as)                 { vtd_drain(as->unit); }

static const struct dma_as_ops vtd_as_ops = {
	.translate = vtd_as_translate,
	.begin = vtd_as_begin,
	.end = vtd_as_end,
	.sync = vtd_as_sync,
};

/* ---- two-stage backends (a device behind a guest-visible vIOMMU) ---- */

/* Both units' brackets in one token: each is a slot index and an epoch bit,
 * well under 16 bits. */
static unsigned two_units_begin(struct dma_as *as)
{
	unsigned t1 = vtd_dma_begin(as->unit);

	return t1 | vtd_dma_begin(as->unit2) << 16;
}

static void two_units_end(struct dma_as *as, unsigned token)
{
	vtd_dma_end(as->unit2, token >> 16);
	vtd_dma_end(as->unit, token & 0xffff);
}

static void two_units_sync(struct dma_as *as)
{
	vtd_drain(as->unit);
	vtd_drain(as->unit2);
}

static int nested_translate(struct dma_as *as, uint64_t iova, bool write, uint64_t *hpa, uint64_t *avail)
{
	struct vtd_xlate x;

	if (vtd_translate(as->unit, as->sid, iova, write ? VTD_REQ_WRITE : VTD_REQ_READ, &x)) {
		if (x.stage2_fault)
			__atomic_add_fetch(&as->stats.stage2_faults, 1, __ATOMIC_RELAXED);
		return -EFAULT;
	}
	*hpa = x.addr;
	*avail = x.page_size - (iova & (x.page_size - 1));
	return 0;
}

static const struct dma_as_ops nested_as_ops = {
	.translate = nested_translate,
	.begin = two_units_begin,
	.end = two_units_end,
	.sync = two_units_sync,
};

static int shadow_translate(struct dma_as *as, uint64_t iova, bool write, uint64_t *hpa, uint64_t *avail)
{
	unsigned req = write ? VTD_REQ_WRITE : VTD_REQ_READ;
	struct vtd_xlate x, g;

	/* A probe: what the host refuses is first the guest's to report. */
	if (vtd_translate(as->unit, as->sid, iova, req | VTD_REQ_PROBE, &x)) {
		/* (A guest unit that has a second stage of its own may refuse
		 * there: that is the shadow's case below, not a guest fault.) */
		if (vtd_translate(as->unit2, as->guest_sid, iova, req, &g) && !g.stage2_fault)
			return -EFAULT;         /* the guest's fault, in the guest's log */
		/* The guest's tables allow it and the shadow does not: a skipped
		 * invalidation (Caching Mode obliges one after every map) or a
		 * mapping the host policy refused. Asking again records it in the
		 * host's log - and lets through a resync that just completed. */
		__atomic_add_fetch(&as->stats.shadow_stale, 1, __ATOMIC_RELAXED);
		if (vtd_translate(as->unit, as->sid, iova, req, &x))
			return -EFAULT;
	}
	*hpa = x.addr;
	*avail = x.page_size - (iova & (x.page_size - 1));
	return 0;
}

static const struct dma_as_ops shadow_as_ops = {
	.translate = shadow_translate,
	.begin = two_units_begin,
	.end = two_units_end,
	.sync = two_units_sync,
};

/* ---- direct backend (a VM's GPA space, no IOMMU) ---- */

static int direct_translate(struct dma_as *as, uint64_t gpa, bool write, uint64_t *hpa, uint64_t *avail)
{
	const struct gmem *g = as->gmem;

	for (unsigned i = 0; i < g->nr_ranges; i++) {
		const struct gmem_range *r = &g->ranges[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size) {
			*hpa = r->hpa + (gpa - r->gpa);
			*avail = r->size - (gpa - r->gpa);
			return 0;
		}
	}
	guest_error("dma: %s by " SID_FMT " at GPA 0x%llx is outside VM %d's RAM; stopped",
		    write ? "write" : "read", SID_ARGS(as->sid), (unsigned long long)gpa, g->vm_id);
	return -EFAULT;
}

static unsigned direct_begin(struct dma_as *as)
{
	__atomic_add_fetch(&as->inflight, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void direct_end(struct dma_as *as, unsigned token)
{
	(void)token;
	__atomic_sub_fetch(&as->inflight, 1, __ATOMIC_RELEASE);
}

static void direct_sync(struct dma_as *as)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while (__atomic_load_n(&as->inflight, __ATOMIC_SEQ_CST))
		sched_yield();
}

static const struct dma_as_ops direct_as_ops = {
	.translate = direct_translate,
	.begin = direct_begin,
	.end = direct_end,
	.sync = direct_sync,
};

void dma_as_init_vtd(struct dma_as *as, struct vtd_unit *unit, struct arena *arena, uint16_t sid)
{
	memset(as, 0, sizeof(*as));
	as->ops = &vtd_as_ops;
	as->unit = unit;
	as->arena = arena;
	as->sid = sid;
	as->enabled = true;
}

void dma_as_init_nested(struct dma_as *as, struct vtd_unit *guest_unit, struct vtd_unit *host_unit,
			struct arena *arena, uint16_t sid)
{
	dma_as_init_vtd(as, guest_unit, arena, sid);
	as->ops = &nested_as_ops;
	as->unit2 = host_unit;
}

void dma_as_init_shadow(struct dma_as *as, struct vtd_unit *host_unit, uint16_t host_sid,
			struct vtd_unit *guest_unit, uint16_t guest_sid, struct arena *arena)
{
	dma_as_init_vtd(as, host_unit, arena, host_sid);
	as->ops = &shadow_as_ops;
	as->unit2 = guest_unit;
	as->guest_sid = guest_sid;
}

void dma_as_init_direct(struct dma_as *as, const struct gmem *gmem, uint16_t sid)
{
	memset(as, 0, sizeof(*as));
	as->ops = &direct_as_ops;
	as->gmem = gmem;
	as->arena = gmem->arena;
	as->sid = sid;
	as->enabled = true;
}

void dma_as_set_enabled(struct dma_as *as, bool enabled)
{
	__atomic_store_n(&as->enabled, enabled, __ATOMIC_SEQ_CST);
	/* A transfer checks the gate inside its bracket, so after the sync
	 * none that saw "enabled" is still running. */
	if (!enabled)
		as->ops->sync(as);
}

void dma_as_set_dirty_hook(struct dma_as *as, dma_dirty_fn fn, void *opaque)
{
	as->dirty_opaque = opaque;
	__atomic_store_n(&as->dirty, fn, __ATOMIC_RELEASE);
}

static bool gate_open(struct dma_as *as)
{
	if (__atomic_load_n(&as->enabled, __ATOMIC_SEQ_CST))
		return true;
	__atomic_add_fetch(&as->stats.blocked, 1, __ATOMIC_RELAXED);
	return false;
}

/* Moves up to len bytes inside an open bracket; returns the bytes moved and
 * sets *err when it stopped early. */
static size_t xfer(struct dma_as *as, uint64_t iova, uint8_t *buf, size_t len, bool write, int *err)
{
	dma_dirty_fn dirty = __atomic_load_n(&as->dirty, __ATOMIC_ACQUIRE);
	size_t done = 0;

	while (done < len) {
		uint64_t cur = iova + done, hpa, avail;
		size_t chunk;
		void *p;

		if (cur < iova) {
			guest_error("dma: transfer by " SID_FMT " from IOVA 0x%llx wraps the address space",
				    SID_ARGS(as->sid), (unsigned long long)iova);
			*err = -EFAULT;
			break;
		}
		if (as->ops->translate(as, cur, write, &hpa, &avail)) {
			__atomic_add_fetch(&as->stats.faults, 1, __ATOMIC_RELAXED);
			*err = -EFAULT;
			break;
		}
		chunk = len - done < avail ? len - done : (size_t)avail;
		p = arena_hpa_to_ptr(as->arena, hpa, chunk);
		if (!p) {
			guest_error("dma: " SID_FMT " IOVA 0x%llx translates to HPA 0x%llx, outside host memory",
				    SID_ARGS(as->sid), (unsigned long long)cur, (unsigned long long)hpa);
			__atomic_add_fetch(&as->stats.faults, 1, __ATOMIC_RELAXED);
			*err = -EFAULT;
			break;
		}
		if (write) {
			memcpy(p, buf + done, chunk);
			if (dirty)
				dirty(as->dirty_opaque, cur, hpa, chunk);
		} else {
			memcpy(buf + done, p, chunk);
		}
		done += chunk;
	}
	return done;
}

static ssize_t dma_rw(struct dma_as *as, uint64_t iova, uint8_t *buf, size_t len, bool write)
{
	unsigned token;
	size_t done = 0;
	int err = 0;

	if (!len)
		return 0;
	token = as->ops->begin(as);
	if (gate_open(as))
		done = xfer(as, iova, buf, len, write, &err);
	else
		err = -EPERM;
	as->ops->end(as, token);
	if (done)
		__atomic_add_fetch(write ? &as->stats.bytes_written : &as->stats.bytes_read, done,
				   __ATOMIC_RELAXED);
	return done ? (ssize_t)done : err;
}

ssize_t dma_read(struct dma_as *as, uint64_t iova, void *buf, size_t len)
{
	return dma_rw(as, iova, buf, len, false);
}

ssize_t dma_write(struct dma_as *as, uint64_t iova, const void *buf, size_t len)
{
	/* xfer only reads buf when writing to memory. */
	return dma_rw(as, iova, (uint8_t *)buf, len, true);
}

static ssize_t dma_sg_rw(struct dma_as *as, const struct dma_sg *sg, unsigned nsg, uint8_t *buf,
			 size_t len, bool write)
{
	unsigned token;
	size_t done = 0;
	int err = 0;

	if (!len || !nsg)
		return 0;
	token = as->ops->begin(as);
	if (!gate_open(as)) {
		err = -EPERM;
		goto out;
	}
	for (unsigned i = 0; i < nsg && done < len && !err; i++) {
		size_t want = len - done < sg[i].len ? len - done : (size_t)sg[i].len;

		done += xfer(as, sg[i].iova, buf + done, want, write, &err);
	}
out:
	as->ops->end(as, token);
	if (done)
		__atomic_add_fetch(write ? &as->stats.bytes_written : &as->stats.bytes_read, done,
				   __ATOMIC_RELAXED);
	return done ? (ssize_t)done : err;
}

ssize_t dma_sg_read(struct dma_as *as, const struct dma_sg *sg, unsigned nsg, void *buf, size_t len)
{
	return dma_sg_rw(as, sg, nsg, buf, len, false);
}

ssize_t dma_sg_write(struct dma_as *as, const struct dma_sg *sg, unsigned nsg, const void *buf, size_t len)
{
	return dma_sg_rw(as, sg, nsg, (uint8_t *)buf, len, true);
}

int dma_access_begin(struct dma_as *as, uint64_t iova, size_t len, bool write, struct dma_access *acc)
{
	uint64_t hpa, avail;
	int ret;

	memset(acc, 0, sizeof(*acc));
	if (!len)
		return -EINVAL;
	acc->token = as->ops->begin(as);
	if (!gate_open(as)) {
		ret = -EPERM;
		goto err;
	}
	if (as->ops->translate(as, iova, write, &hpa, &avail)) {
		__atomic_add_fetch(&as->stats.faults, 1, __ATOMIC_RELAXED);
		ret = -EFAULT;
		goto err;
	}
	acc->len = len < avail ? len : (size_t)avail;
	acc->ptr = arena_hpa_to_ptr(as->arena, hpa, acc->len);
	if (!acc->ptr) {
		guest_error("dma: " SID_FMT " IOVA 0x%llx translates to HPA 0x%llx, outside host memory",
			    SID_ARGS(as->sid), (unsigned long long)iova, (unsigned long long)hpa);
		ret = -EFAULT;
		goto err;
	}
	acc->as = as;
	acc->iova = iova;
	acc->hpa = hpa;
	acc->write = write;
	return 0;

err:
	as->ops->end(as, acc->token);
	acc->len = 0;
	return ret;
}

void dma_access_end(struct dma_access *acc)
{
	struct dma_as *as = acc->as;
	dma_dirty_fn dirty;

	if (!as)
		return;
	dirty = __atomic_load_n(&as->dirty, __ATOMIC_ACQUIRE);
	if (acc->write && dirty)
		dirty(as->dirty_opaque, acc->iova, acc->hpa, acc->len);
	__atomic_add_fetch(acc->write ? &as->stats.bytes_written : &as->stats.bytes_read, acc->len,
			   __ATOMIC_RELAXED);
	as->ops->end(as, acc->token);
	acc->as = NULL;
}
