/* Draining in-flight accesses: the software form of VT-d's invalidation wait
 * with drain-reads/drain-writes. Hardware guarantees that once an
 * invalidation completes, no DMA that used a translation it removed is still
 * in progress; here a DMA is a translate + memcpy on a device thread, so the
 * DMA API brackets it with vtd_dma_begin()/vtd_dma_end() and vtd_drain()
 * waits for the brackets that were open when it started.
 *
 * The scheme is sleepable-RCU's: two reader counts per thread slot, selected
 * by an epoch bit. The drain flips the epoch and waits until the old side's
 * counts reach zero; waiting for the other side first catches a reader that
 * sampled the epoch just before an earlier flip. Readers only touch their own
 * slot's cache line, so concurrent devices do not contend. */
#include "iommu/vtd_internal.h"

#include <sched.h>

__thread unsigned vtd_tls_slot;
static unsigned vtd_next_slot;

unsigned vtd_thread_slot_assign(void)
{
	unsigned s = __atomic_fetch_add(&vtd_next_slot, 1, __ATOMIC_RELAXED) % VTD_SHARDS + 1;

	vtd_tls_slot = s;
	return s;
}

unsigned vtd_dma_begin(struct vtd_unit *u)
{
	struct vtd_shard *sh = vtd_shard(u);
	unsigned idx = __atomic_load_n(&u->drain_epoch, __ATOMIC_RELAXED) & 1;

	/* Sequentially consistent: either the drain sees this count, or this
	 * section sees everything the invalidation did before draining. */
	__atomic_fetch_add(&sh->readers[idx], 1, __ATOMIC_SEQ_CST);
	return (unsigned)(sh - u->shards) << 1 | idx;
}

void vtd_dma_end(struct vtd_unit *u, unsigned token)
{
	__atomic_fetch_sub(&u->shards[token >> 1].readers[token & 1], 1, __ATOMIC_RELEASE);
}

static void wait_side(struct vtd_unit *u, unsigned idx)
{
	for (unsigned spins = 0; ; spins++) {
		long sum = 0;

		for (unsigned i = 0; i < VTD_SHARDS; i++)
			sum += __atomic_load_n(&u->shards[i].readers[idx], __ATOMIC_SEQ_CST);
		if (!sum)
			return;
		if (spins < 64)
			cpu_relax();
		else
			sched_yield();
	}
}

void vtd_drain(struct vtd_unit *u)
{
	unsigned idx;

	pthread_mutex_lock(&u->drain_lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	idx = __atomic_load_n(&u->drain_epoch, __ATOMIC_RELAXED) & 1;
	wait_side(u, idx ^ 1);
	__atomic_store_n(&u->drain_epoch, u->drain_epoch + 1, __ATOMIC_SEQ_CST);
	wait_side(u, idx);
	pthread_mutex_unlock(&u->drain_lock);
	__atomic_add_fetch(&u->drains, 1, __ATOMIC_RELAXED);
}
