/* Primary fault logging: a bounded set of fault-recording registers. When
 * every register holds an unread record, further faults are dropped and the
 * overflow flag (FSTS.PFO) is set, as on hardware; software reads records
 * oldest first and clears the flag. Counters by reason are kept regardless. */
#include "iommu/vtd_internal.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vtd_fault_log_init(struct vtd_fault_log *l, unsigned cap)
{
	memset(l, 0, sizeof(*l));
	l->cap = cap;
	pthread_mutex_init(&l->lock, NULL);
}

int vtd_fault_log_alloc(struct vtd_fault_log *l)
{
	l->recs = calloc(l->cap, sizeof(*l->recs));
	return l->recs ? 0 : -ENOMEM;
}

void vtd_fault_log_destroy(struct vtd_fault_log *l)
{
	free(l->recs);
	pthread_mutex_destroy(&l->lock);
	memset(l, 0, sizeof(*l));
}

void vtd_fault_raise(struct vtd_unit *u, const struct vtd_fault_record *rec, bool suppress)
{
	struct vtd_fault_log *l = &u->flog;
	vtd_fault_notify_fn notify = NULL;
	void *opaque = NULL;
	bool recorded = false;

	pthread_mutex_lock(&l->lock);
	l->stats.total++;
	l->stats.by_reason[rec->reason & 15]++;
	if (suppress) {
		l->stats.suppressed++;
	} else if (l->count == l->cap) {
		l->overflow = true;
		l->stats.dropped++;
	} else {
		l->recs[(l->head + l->count) % l->cap] = *rec;
		l->count++;
		l->stats.recorded++;
		recorded = true;
		notify = l->notify;
		opaque = l->notify_opaque;
	}
	pthread_mutex_unlock(&l->lock);
	if (suppress)
		return;
	/* A device's bad DMA is the guest's doing (or a hostile device's):
	 * a rate-limited guest error, never a host failure. */
	guest_error("iommu: DMA %s from " SID_FMT " at IOVA 0x%llx faulted: reason 0x%x (%s)%s",
		    rec->is_write ? "write" : "read", SID_ARGS(rec->sid),
		    (unsigned long long)rec->iova, rec->reason, vtd_fault_reason_str(rec->reason),
		    recorded ? "" : "; fault log full, record dropped");
	if (notify)
		notify(opaque, rec);
}

size_t vtd_fault_log_read(struct vtd_unit *u, struct vtd_fault_record *out, size_t max)
{
	struct vtd_fault_log *l = &u->flog;
	size_t n = 0;

	pthread_mutex_lock(&l->lock);
	while (n < max && l->count) {
		out[n++] = l->recs[l->head];
		l->head = (l->head + 1) % l->cap;
		l->count--;
	}
	pthread_mutex_unlock(&l->lock);
	return n;
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
	frcd[0] = r->iova & VTD_FRCD_LO_FI_MASK;
	frcd[1] = (r->sid & VTD_FRCD_HI_SID_MASK) |
		  ((uint64_t)r->reason << VTD_FRCD_HI_FR_SHIFT & VTD_FRCD_HI_FR_MASK) |
		  (r->is_write ? 0 : VTD_FRCD_HI_T) | VTD_FRCD_HI_F;
}
