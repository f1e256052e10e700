/* Primary fault logging: a bounded set of fault-recording registers. As on
 * hardware, a fault goes into the register at the recording index, which
 * then advances (wrapping); a fault that finds that register still holding
 * an unread record is dropped and the overflow flag (FSTS.PFO) set. Read
 * oldest first and cleared in order, the registers behave as a ring; a
 * register model may also clear them one by one (FRCD.F is write-1-to-
 * clear). Counters by reason are kept regardless. */
#include "iommu/vtd_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const intr_reason_names[] = {
	[VTD_FR_IR_REQ_RSVD - VTD_FR_IR_FIRST]    = "reserved field in the interrupt request",
	[VTD_FR_IR_INDEX_OVER - VTD_FR_IR_FIRST]  = "interrupt index beyond the table",
	[VTD_FR_IR_ENTRY_P - VTD_FR_IR_FIRST]     = "IRTE not present",
	[VTD_FR_IR_ROOT_INV - VTD_FR_IR_FIRST]    = "IRTE could not be read",
	[VTD_FR_IR_IRTE_RSVD - VTD_FR_IR_FIRST]   = "reserved field in IRTE",
	[VTD_FR_IR_REQ_COMPAT - VTD_FR_IR_FIRST]  = "compatibility-format interrupt blocked",
	[VTD_FR_IR_SID_ERR - VTD_FR_IR_FIRST]     = "source-id check failed",
	[VTD_FR_IR_PID_INV - VTD_FR_IR_FIRST]     = "posted-interrupt descriptor access failed",
};

const char *vtd_ir_fault_reason_str(unsigned reason)
{
	if (reason >= VTD_FR_IR_FIRST && reason <= VTD_FR_IR_LAST)
		return intr_reason_names[reason - VTD_FR_IR_FIRST];
	return vtd_fault_reason_str(reason);
}

void vtd_fault_log_init(struct vtd_fault_log *l, unsigned cap)
{
	memset(l, 0, sizeof(*l));
	l->cap = cap;
	pthread_mutex_init(&l->lock, NULL);
}

int vtd_fault_log_alloc(struct vtd_fault_log *l)
{
	l->recs = calloc(l->cap, sizeof(*l->recs));
	l->valid = calloc(l->cap, sizeof(*l->valid));
	if (l->recs && l->valid)
		return 0;
	free(l->recs);
	free(l->valid);
	l->recs = NULL;
	l->valid = NULL;
	return -ENOMEM;
}

void vtd_fault_log_destroy(struct vtd_fault_log *l)
{
	free(l->recs);
	free(l->valid);
	pthread_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
}

void vtd_fault_raise(struct vtd_unit *u, const struct vtd_fault_record *rec, bool suppress)
{
	struct vtd_fault_log *l = &u->flog;
	vtd_fault_notify_fn notify = NULL;
	void *opaque = NULL;
	bool recorded = false, first = false;

	pthread_mutex_lock(&l->lock);
	l->stats.total++;
	l->stats.by_reason[rec->reason & 63]++;
	if (suppress) {
		l->stats.suppressed++;
	} else if (l->valid[l->next] || (l->overflow && l->pfo_blocks)) {
		l->overflow = true;
		l->stats.dropped++;
	} else {
		l->recs[l->next] = *rec;
		l->valid[l->next] = true;
		l->next = (l->next + 1) % l->cap;
		first = l->count++ == 0;
		l->stats.recorded++;
		recorded = true;
		notify = l->notify;
		opaque = l->notify_opaque;
	}
	pthread_mutex_unlock(&l->lock);
	if (suppress)
		return;
	/* A device's bad DMA (or interrupt) is the guest's doing, or a hostile
	 * device's: a rate-limited guest error, never a host failure. */
	if (rec->intr)
		guest_error("iommu: interrupt from " SID_FMT " (index %u) blocked: reason 0x%x (%s)%s",
			    SID_ARGS(rec->sid), rec->intr_index, rec->reason,
			    vtd_ir_fault_reason_str(rec->reason),
			    recorded ? "" : "; fault log full, record dropped");
	else
		guest_error("iommu: DMA %s from " SID_FMT " at IOVA 0x%llx faulted: reason 0x%x (%s)%s",
			    rec->is_write ? "write" : "read", SID_ARGS(rec->sid),
			    (unsigned long long)rec->iova, rec->reason, vtd_fault_reason_str(rec->reason),
			    recorded ? "" : "; fault log full, record dropped");
	if (notify)
		notify(opaque, rec, first);
}

void vtd_fault_record_intr(struct vtd_unit *u, uint16_t sid, uint16_t index, unsigned reason,
			   bool suppress)
{
	struct vtd_fault_record rec = {
		.sid = sid, .reason = (uint8_t)reason, .is_write = true,   /* an MSI is a write */
		.intr = true, .intr_index = index,
	};

	vtd_fault_raise(u, &rec, suppress);
}

/* The oldest record sits at the first full register from the recording
 * index on: that register was written longest ago. Caller holds the lock. */
static unsigned oldest_locked(const struct vtd_fault_log *l)
{
	for (unsigned i = 0; i < l->cap; i++) {
		unsigned idx = (l->next + i) % l->cap;

		if (l->valid[idx])
			return idx;
	}
	return 0;
}

size_t vtd_fault_log_read(struct vtd_unit *u, struct vtd_fault_record *out, size_t max)
{
	struct vtd_fault_log *l = &u->flog;
	size_t n = 0;

	pthread_mutex_lock(&l->lock);
	/* From the recording index on, full registers come oldest first. */
	for (unsigned i = 0; i < l->cap && n < max && l->count; i++) {
		unsigned idx = (l->next + i) % l->cap;

		if (!l->valid[idx])
			continue;
		out[n++] = l->recs[idx];
		l->valid[idx] = false;
		l->count--;
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

bool vtd_fault_log_peek(struct vtd_unit *u, unsigned idx, struct vtd_fault_record *out)
{
	struct vtd_fault_log *l = &u->flog;
	bool full;

	if (idx >= l->cap)
		return false;
	pthread_mutex_lock(&l->lock);
	full = l->valid[idx];
	if (full)
		*out = l->recs[idx];
	pthread_mutex_unlock(&l->lock);
	return full;
}

unsigned vtd_fault_log_clear_index(struct vtd_unit *u, unsigned idx)
{
	struct vtd_fault_log *l = &u->flog;
	unsigned left;

	pthread_mutex_lock(&l->lock);
	if (idx < l->cap && l->valid[idx]) {
		l->valid[idx] = false;
		l->count--;
	}
	left = l->count;
	pthread_mutex_unlock(&l->lock);
	return left;
}

void vtd_fault_log_status(struct vtd_unit *u, unsigned *pending, unsigned *fri, bool *overflow)
{
	struct vtd_fault_log *l = &u->flog;

	pthread_mutex_lock(&l->lock);
	*pending = l->count;
	*fri = l->count ? oldest_locked(l) : 0;
	*overflow = l->overflow;
	pthread_mutex_unlock(&l->lock);
}

void vtd_fault_log_reset(struct vtd_unit *u)
{
	struct vtd_fault_log *l = &u->flog;

	pthread_mutex_lock(&l->lock);
	memset(l->valid, 0, l->cap * sizeof(*l->valid));
	l->count = 0;
	l->next = 0;
	l->overflow = false;
	pthread_mutex_unlock(&l->lock);
}

void vtd_fault_log_set_pfo_blocks(struct vtd_unit *u, bool on)
{
	pthread_mutex_lock(&u->flog.lock);
	u->flog.pfo_blocks = on;
	pthread_mutex_unlock(&u->flog.lock);
}

unsigned vtd_fault_log_pending(struct vtd_unit *u)
{
	unsigned n;

	pthread_mutex_lock(&u->flog.lock);
	n = u->flog.count;
	pthread_mutex_unlock(&u->flog.lock);
	return n;
}

bool vtd_fault_overflow(struct vtd_unit *u)
{
	bool o;

	pthread_mutex_lock(&u->flog.lock);
	o = u->flog.overflow;
	pthread_mutex_unlock(&u->flog.lock);
	return o;
}

void vtd_fault_clear_overflow(struct vtd_unit *u)
{
	pthread_mutex_lock(&u->flog.lock);
	u->flog.overflow = false;
	pthread_mutex_unlock(&u->flog.lock);
}

void vtd_fault_stats_get(struct vtd_unit *u, struct vtd_fault_stats *s)
{
	pthread_mutex_lock(&u->flog.lock);
	*s = u->flog.stats;
	pthread_mutex_unlock(&u->flog.lock);
}

void vtd_set_fault_notify(struct vtd_unit *u, vtd_fault_notify_fn fn, void *opaque)
{
	pthread_mutex_lock(&u->flog.lock);
	u->flog.notify = fn;
	u->flog.notify_opaque = opaque;
	pthread_mutex_unlock(&u->flog.lock);
}

void vtd_fault_record_encode(const struct vtd_fault_record *r, uint64_t frcd[2])
{
	frcd[0] = r->intr ? (uint64_t)r->intr_index << VTD_FRCD_LO_FI_INTR_SHIFT
			  : r->iova & VTD_FRCD_LO_FI_MASK;
	frcd[1] = (r->sid & VTD_FRCD_HI_SID_MASK) |
		  ((uint64_t)r->reason << VTD_FRCD_HI_FR_SHIFT & VTD_FRCD_HI_FR_MASK) |
		  (r->is_write ? 0 : VTD_FRCD_HI_T) | VTD_FRCD_HI_F;
}
