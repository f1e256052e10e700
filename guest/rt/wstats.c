/* Warden's statistics port: VM exit and device counters the guest can read
 * around a workload (see rt.h). Works in ring 0 and ring 3. */
#include "priv.h"

#define OVERHEAD_TRIES 3
#define MAX_IDS 16

static int present = -1;                /* -1: not checked yet */
static uint64_t overhead[MAX_IDS];
static bool overhead_known[MAX_IDS];

uint64_t wstats_query(unsigned id)
{
	outl(WSTATS_PORT_SELECT, id);
	uint32_t lo = inl(WSTATS_PORT_LO);
	uint32_t hi = inl(WSTATS_PORT_HI);
	return (uint64_t)hi << 32 | lo;
}

bool wstats_present(void)
{
	if (present < 0)
		present = (uint32_t)wstats_query(WSTATS_ID_SIGNATURE) == WSTATS_SIGNATURE;
	return present > 0;
}

uint64_t wstats_overhead(unsigned id)
{
	if (!wstats_present())
		return 0;
	if (id < MAX_IDS && overhead_known[id])
		return overhead[id];
	uint64_t best = ~0ull;
	for (unsigned i = 0; i < OVERHEAD_TRIES; i++) {
		uint64_t a = wstats_query(id);
		uint64_t b = wstats_query(id);
		if (b - a < best)
			best = b - a;
	}
	if (id < MAX_IDS) {
		overhead[id] = best;
		overhead_known[id] = true;
	}
	return best;
}

bool wstats_begin(struct wstats_span *s, unsigned id)
{
	s->id = id;
	s->start = 0;
	if (!wstats_present())
		return false;
	wstats_overhead(id);
	s->start = wstats_query(id);
	return true;
}

bool wstats_end(const struct wstats_span *s, uint64_t *delta)
{
	if (!wstats_present()) {
		*delta = 0;
		return false;
	}
	uint64_t d = wstats_query(s->id) - s->start, o = wstats_overhead(s->id);
	*delta = d > o ? d - o : 0;
	return true;
}
