/* Split virtqueues on their own: layout checks at setup, chains (direct,
 * zero-length, indirect after a direct prefix), the used ring and its index
 * wrapping, every kind of bad input a driver can produce, notification
 * suppression both ways (EVENT_IDX: avail_event and used_event; the
 * NO_NOTIFY and NO_INTERRUPT flags), and the Bus Master Enable gate. Guest
 * memory is a real arena + gmem reached through a direct DMA address
 * space; the test plays the driver by writing guest RAM directly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "devices/virtqueue.h"
#include "base/log.h"

#define MiB (1ull << 20)
#define RAM (16 * MiB)
#define QSZ 8
#define G_DESC    0x10000ull
#define G_AVAIL   0x11000ull
#define G_USED    0x12000ull
#define G_IND     0x13000ull
#define G_BUF     0x100000ull
#define G_OUTSIDE 0x8000000ull          /* beyond RAM */

struct qfx {
	struct arena a;
	struct gmem g;
	struct dma_as as;
	struct virtq vq;
	struct virtq_elem e;
	uint16_t avail_idx;
};

static struct qfx *F;

static void *gp(uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(&F->g, gpa, len);

	assert_non_null(p);
	return p;
}

static void put16(uint64_t gpa, uint16_t v) { memcpy(gp(gpa, 2), &v, 2); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, gp(gpa, 2), 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, gp(gpa, 4), 4); return v; }

static void desc_at(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		    uint16_t next)
{
	struct virtq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(gp(table + 16ull * i, 16), &d, 16);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc_at(G_DESC, i, addr, len, flags, next);
}

/* Makes head available (ring entry, then index). */
static void post(uint16_t head)
{
	put16(G_AVAIL + VIRTQ_AVAIL_RING + 2ull * (F->avail_idx % QSZ), head);
	F->avail_idx++;
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, F->avail_idx);
}

static void setup_queue(bool event_idx, bool indirect)
{
	virtq_init(&F->vq, &F->as, "vq-test", 3);
	assert_int_equal(virtq_setup(&F->vq, QSZ, QSZ, G_DESC, G_AVAIL, G_USED, event_idx, indirect),
			 0);
}

static int setup(void **state)
{
	F = calloc(1, sizeof(*F));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&F->a, 64 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&F->g, &F->a, 1, RAM), 0);
	dma_as_init_direct(&F->as, &F->g, 0x18);
	setup_queue(false, true);
	return 0;
}

static int teardown(void **state)
{
	virtq_elem_free(&F->e);
	assert_int_equal(arena_check_canaries(&F->a), 0);
	gmem_destroy(&F->g);
	arena_destroy(&F->a);
	free(F);
	log_threshold = LOG_WARN;
	return 0;
}

/* ---- Tests ---- */

static void test_setup_validation(void **state)
{
	struct virtq *vq = &F->vq;

	virtq_reset(vq);
	assert_false(vq->ready);
	assert_int_equal(virtq_setup(vq, 0, 8, G_DESC, G_AVAIL, G_USED, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 6, 8, G_DESC, G_AVAIL, G_USED, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 16, 8, G_DESC, G_AVAIL, G_USED, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 8, 8, G_DESC + 8, G_AVAIL, G_USED, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 8, 8, G_DESC, G_AVAIL + 1, G_USED, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 8, 8, G_DESC, G_AVAIL, G_USED + 2, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 8, 8, ~0ull - 15, G_AVAIL, G_USED, false, false), -EINVAL);
	assert_int_equal(virtq_setup(vq, 8, 8, G_DESC, ~0ull - 7, G_USED, false, false), -EINVAL);
	assert_false(vq->ready);
	/* Not ready: nothing to pop, nothing to push. */
	assert_int_equal(virtq_pop(vq, &F->e), 0);
	assert_int_equal(virtq_push(vq, 0, 0), -ENODEV);
	assert_int_equal(virtq_setup(vq, 4, 8, G_DESC, G_AVAIL + 2, G_USED + 4, true, false), 0);
	assert_true(vq->ready);
	assert_int_equal(vq->size, 4);
	assert_int_equal(vq->index, 3);
}

static void test_direct_chain(void **state)
{
	struct virtq_elem *e = &F->e;

	assert_int_equal(virtq_pop(&F->vq, e), 0);
	/* 16 readable, a zero-length one (skipped), 512 + 1 writable. */
	desc(5, G_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	desc(2, G_BUF + 0x100, 0, VIRTQ_DESC_F_NEXT, 7);
	desc(7, G_BUF + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	desc(0, G_BUF + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
	post(5);
	assert_int_equal(virtq_avail_count(&F->vq), 1);
	assert_int_equal(virtq_pop(&F->vq, e), 1);
	assert_int_equal(e->head, 5);
	assert_int_equal(e->nout, 1);
	assert_int_equal(e->nin, 2);
	assert_int_equal(e->out_len, 16);
	assert_int_equal(e->in_len, 513);
	assert_int_equal(e->sg[0].iova, G_BUF);
	assert_int_equal(e->sg[1].iova, G_BUF + 0x1000);
	assert_int_equal(e->sg[1].len, 512);
	assert_int_equal(e->sg[2].iova, G_BUF + 0x2000);
	assert_int_equal(virtq_pop(&F->vq, e), 0);
	/* Used: invisible until flushed. */
	assert_int_equal(virtq_push(&F->vq, 5, 513), 0);
	assert_int_equal(get16(G_USED + VIRTQ_USED_IDX), 0);
	assert_int_equal(virtq_flush(&F->vq), 0);
	assert_int_equal(get16(G_USED + VIRTQ_USED_IDX), 1);
	assert_int_equal(get32(G_USED + VIRTQ_USED_RING), 5);
	assert_int_equal(get32(G_USED + VIRTQ_USED_RING + 4), 513);
	assert_int_equal(F->vq.stats.popped, 1);
	assert_int_equal(F->vq.stats.pushed, 1);
}

static void test_index_wrap_and_unpop(void **state)
{
	struct virtq_elem *e = &F->e;

	/* Both indices run freely through 65535 -> 0. */
	F->vq.last_avail = 65535;
	F->vq.used_idx = F->vq.published = 65535;
	F->avail_idx = 65535;
	desc(1, G_BUF, 32, 0, 0);
	post(1);
	post(1);
	assert_int_equal(F->avail_idx, 1);
	assert_int_equal(virtq_avail_count(&F->vq), 2);
	assert_int_equal(virtq_pop(&F->vq, e), 1);
	virtq_unpop(&F->vq);
	assert_int_equal(virtq_avail_count(&F->vq), 2);
	assert_int_equal(virtq_pop(&F->vq, e), 1);
	assert_int_equal(virtq_pop(&F->vq, e), 1);
	assert_int_equal(virtq_pop(&F->vq, e), 0);
	assert_int_equal(F->vq.last_avail, 1);
	assert_int_equal(virtq_push(&F->vq, 1, 0), 0);
	assert_int_equal(virtq_push(&F->vq, 1, 0), 0);
	assert_int_equal(virtq_flush(&F->vq), 0);
	assert_int_equal(get16(G_USED + VIRTQ_USED_IDX), 1);
	/* Entry 65535 % 8 = 7, then 0. */
	assert_int_equal(get32(G_USED + VIRTQ_USED_RING + 8 * 7), 1);
	assert_int_equal(get32(G_USED + VIRTQ_USED_RING), 1);
}

static void test_indirect(void **state)
{
	struct virtq_elem *e = &F->e;

	/* A direct readable prefix, then the table: 16 readable, two
	 * writable (the WRITE flag on the pointing descriptor is ignored). */
	desc_at(G_IND, 0, G_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	desc_at(G_IND, 2, G_BUF + 0x1000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc_at(G_IND, 1, G_BUF + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	desc(4, G_BUF + 0x4000, 8, VIRTQ_DESC_F_NEXT, 6);
	desc(6, G_IND, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	post(4);
	assert_int_equal(virtq_pop(&F->vq, e), 1);
	assert_int_equal(e->head, 4);
	assert_int_equal(e->nout, 2);
	assert_int_equal(e->nin, 2);
	assert_int_equal(e->out_len, 24);
	assert_int_equal(e->in_len, 4097);
	assert_int_equal(e->sg[0].iova, G_BUF + 0x4000);
	assert_int_equal(e->sg[1].iova, G_BUF);
	assert_int_equal(e->sg[3].iova, G_BUF + 0x3000);
	assert_int_equal(F->vq.stats.indirect, 1);
	/* A chain may use a whole table as long as the queue; more segments
	 * than the initial list grows the list. */
	assert_int_equal(virtq_setup(&F->vq, 64, 64, G_DESC, G_AVAIL, G_USED, false, true), 0);
	F->avail_idx = 0;
	for (unsigned i = 0; i < 40; i++)
		desc_at(G_IND, i, G_BUF + 0x100 * i, 0x100,
			(i < 39 ? VIRTQ_DESC_F_NEXT : 0) | (i >= 20 ? VIRTQ_DESC_F_WRITE : 0),
			(uint16_t)(i + 1));
	desc(3, G_IND, 40 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put16(G_AVAIL + VIRTQ_AVAIL_RING, 3);
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, 1);
	assert_int_equal(virtq_pop(&F->vq, e), 1);
	assert_int_equal(e->nout, 20);
	assert_int_equal(e->nin, 20);
	assert_true(e->sg_cap >= 40);
}

/* Posts head and expects bad input, with nothing consumed. */
static void expect_bad(uint16_t head)
{
	uint16_t before = F->vq.last_avail;

	post(head);
	assert_int_equal(virtq_pop(&F->vq, &F->e), -EPROTO);
	assert_int_equal(F->vq.last_avail, before);
	/* Start over for the next case. */
	setup_queue(F->vq.event_idx, F->vq.indirect);
	F->avail_idx = 0;
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, 0);
}

static void test_bad_chains(void **state)
{
	/* A self-loop and a two-descriptor cycle. */
	desc(0, G_BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	expect_bad(0);
	desc(0, G_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, G_BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	expect_bad(0);
	/* A chain through every descriptor and then back: longer than the queue. */
	for (unsigned i = 0; i < QSZ; i++)
		desc(i, G_BUF, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % QSZ));
	expect_bad(3);
	/* Head, or next, beyond the table. */
	expect_bad(QSZ);
	desc(0, G_BUF, 16, VIRTQ_DESC_F_NEXT, QSZ);
	expect_bad(0);
	/* Readable after writable. */
	desc(0, G_BUF, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, G_BUF, 16, 0, 0);
	expect_bad(0);
	/* A buffer wrapping the address space. */
	desc(0, ~0ull - 3, 16, 0, 0);
	expect_bad(0);
	/* The descriptor table outside guest RAM. */
	assert_int_equal(virtq_setup(&F->vq, QSZ, QSZ, G_OUTSIDE, G_AVAIL, G_USED, false, true), 0);
	expect_bad(0);
	/* The available ring outside guest RAM: even its index. */
	assert_int_equal(virtq_setup(&F->vq, QSZ, QSZ, G_DESC, G_OUTSIDE, G_USED, false, true), 0);
	assert_int_equal(virtq_pop(&F->vq, &F->e), -EPROTO);
	/* The used ring outside guest RAM: push fails as bad input. */
	assert_int_equal(virtq_setup(&F->vq, QSZ, QSZ, G_DESC, G_AVAIL, G_OUTSIDE, false, true), 0);
	assert_int_equal(virtq_push(&F->vq, 0, 0), -EPROTO);
	assert_int_equal(F->vq.used_idx, 0);
}

static void test_bad_indirect(void **state)
{
	desc_at(G_IND, 0, G_BUF, 16, 0, 0);
	/* With NEXT. */
	desc(0, G_IND, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	desc(1, G_BUF, 16, 0, 0);
	expect_bad(0);
	/* Lengths: 0, not a multiple of 16, more entries than the queue. */
	desc(0, G_IND, 0, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
	desc(0, G_IND, 24, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
	for (unsigned i = 0; i <= QSZ; i++)
		desc_at(G_IND, i, G_BUF, 16, i < QSZ ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	desc(0, G_IND, (QSZ + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
	/* A direct prefix plus a full-size table: more buffers than the queue. */
	desc(0, G_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, G_IND, QSZ * 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc_at(G_IND, QSZ - 1, G_BUF, 16, 0, 0);
	expect_bad(0);
	desc(0, G_IND, QSZ * 16, VIRTQ_DESC_F_INDIRECT, 0);
	post(0);
	assert_int_equal(virtq_pop(&F->vq, &F->e), 1);      /* exactly the queue size: fine */
	assert_int_equal(F->e.nout, QSZ);
	setup_queue(false, true);
	F->avail_idx = 0;
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, 0);
	/* Nested. */
	desc_at(G_IND, 0, G_IND + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	desc(0, G_IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
	/* A loop inside the table, and a next beyond it. */
	desc_at(G_IND, 0, G_BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	desc_at(G_IND, 1, G_BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	desc(0, G_IND, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
	desc_at(G_IND, 1, G_BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	expect_bad(0);
	/* The table outside RAM. */
	desc(0, G_OUTSIDE, 32, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
	/* Not negotiated. */
	setup_queue(false, false);
	desc_at(G_IND, 0, G_BUF, 16, 0, 0);
	desc(0, G_IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
	expect_bad(0);
}

static void test_avail_idx_jump(void **state)
{
	desc(0, G_BUF, 16, 0, 0);
	F->avail_idx = QSZ + 1;
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, F->avail_idx);
	assert_int_equal(virtq_avail_count(&F->vq), -EPROTO);
	assert_int_equal(virtq_pop(&F->vq, &F->e), -EPROTO);
	/* Exactly the queue size ahead is fine. */
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, QSZ);
	assert_int_equal(virtq_avail_count(&F->vq), QSZ);
	/* Backwards (the driver "took back" entries) is a jump too. */
	for (unsigned i = 0; i < QSZ; i++)
		assert_int_equal(virtq_pop(&F->vq, &F->e), 1);
	put16(G_AVAIL + VIRTQ_AVAIL_IDX, QSZ - 1);
	assert_int_equal(virtq_pop(&F->vq, &F->e), -EPROTO);
}

/* Found by fuzz_virtio: with the whole queue in flight the driver makes
 * a chain available again. The device must not take it (more entries in
 * flight than the used ring can return) but wait for a completion. */
static void test_outstanding_beyond_queue_size(void **state)
{
	desc(0, G_BUF, 16, 0, 0);
	for (unsigned i = 0; i < QSZ; i++)
		post(0);
	for (unsigned i = 0; i < QSZ; i++)
		assert_int_equal(virtq_pop(&F->vq, &F->e), 1);
	post(0);
	assert_int_equal(virtq_avail_count(&F->vq), 1);
	assert_int_equal(virtq_pop(&F->vq, &F->e), 0);
	assert_int_equal(F->vq.stats.popped, QSZ);
	/* One used: one slot, the waiting entry is taken. */
	assert_int_equal(virtq_push(&F->vq, 0, 0), 0);
	assert_int_equal(virtq_pop(&F->vq, &F->e), 1);
	assert_int_equal(virtq_pop(&F->vq, &F->e), 0);
}

static void test_event_idx(void **state)
{
	struct virtq *vq = &F->vq;
	uint64_t used_event = G_AVAIL + VIRTQ_AVAIL_RING + 2 * QSZ;
	uint64_t avail_event = G_USED + VIRTQ_USED_RING + 8 * QSZ;

	setup_queue(true, true);
	/* Enabling notifications asks for one at the next entry; disabling
	 * leaves avail_event behind (no flag with EVENT_IDX). */
	put16(avail_event, 0xdead);
	put16(G_USED + VIRTQ_USED_FLAGS, 0);
	virtq_disable_notify(vq);
	assert_int_equal(get16(G_USED + VIRTQ_USED_FLAGS), 0);
	assert_int_equal(get16(avail_event), 0xdead);
	assert_int_equal(virtq_enable_notify(vq), 0);
	assert_int_equal(get16(avail_event), 0);
	desc(0, G_BUF, 16, 0, 0);
	post(0);
	post(0);
	virtq_disable_notify(vq);
	assert_int_equal(virtq_pop(vq, &F->e), 1);
	assert_int_equal(virtq_pop(vq, &F->e), 1);
	assert_int_equal(virtq_pop(vq, &F->e), 0);
	assert_int_equal(get16(avail_event), 0);        /* not while busy */
	/* An entry that came while notifications were off is reported. */
	post(0);
	assert_int_equal(virtq_enable_notify(vq), 1);
	assert_int_equal(get16(avail_event), 2);
	assert_int_equal(virtq_pop(vq, &F->e), 1);
	assert_int_equal(virtq_enable_notify(vq), 0);
	assert_int_equal(get16(avail_event), 3);
	/* Nothing published: no interrupt. */
	assert_false(virtq_should_notify(vq));
	/* The first publication always interrupts. */
	put16(used_event, 100);
	assert_int_equal(virtq_push(vq, 0, 0), 0);
	assert_int_equal(virtq_flush(vq), 0);
	assert_true(virtq_should_notify(vq));
	/* used_event = 5: entries 2..5 stay quiet until index 6 passes it. */
	put16(used_event, 5);
	for (unsigned i = 2; i <= 5; i++) {
		assert_int_equal(virtq_push(vq, 0, 0), 0);
		assert_int_equal(virtq_flush(vq), 0);
		assert_false(virtq_should_notify(vq));
	}
	assert_int_equal(virtq_push(vq, 0, 0), 0);
	assert_int_equal(virtq_flush(vq), 0);
	assert_true(virtq_should_notify(vq));
	/* A batch crossing used_event interrupts once. */
	put16(used_event, 7);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(virtq_push(vq, 0, 0), 0);
	assert_int_equal(virtq_flush(vq), 0);
	assert_true(virtq_should_notify(vq));
	assert_false(virtq_should_notify(vq));
	assert_int_equal(vq->stats.notifies_sent, 3);
	assert_int_equal(vq->stats.notifies_suppressed, 4);
	/* need_event itself, across the wrap. */
	assert_true(virtq_need_event(0xffff, 0, 0xfffe));
	assert_false(virtq_need_event(0, 0, 0xffff));
	assert_true(virtq_need_event(0, 1, 0xffff));
}

static void test_no_interrupt_flag(void **state)
{
	struct virtq *vq = &F->vq;

	/* The device's side of it: NO_NOTIFY while busy. */
	virtq_disable_notify(vq);
	assert_int_equal(get16(G_USED + VIRTQ_USED_FLAGS), VIRTQ_USED_F_NO_NOTIFY);
	assert_int_equal(virtq_enable_notify(vq), 0);
	assert_int_equal(get16(G_USED + VIRTQ_USED_FLAGS), 0);

	put16(G_AVAIL + VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(virtq_push(vq, 0, 0), 0);
	assert_int_equal(virtq_flush(vq), 0);
	assert_false(virtq_should_notify(vq));
	put16(G_AVAIL + VIRTQ_AVAIL_FLAGS, 0);
	assert_int_equal(virtq_push(vq, 0, 0), 0);
	assert_int_equal(virtq_flush(vq), 0);
	assert_true(virtq_should_notify(vq));
	/* Nothing new since: no interrupt either way. */
	assert_false(virtq_should_notify(vq));
}

static void test_bus_master_gate(void **state)
{
	desc(0, G_BUF, 16, 0, 0);
	post(0);
	dma_as_set_enabled(&F->as, false);
	assert_int_equal(virtq_pop(&F->vq, &F->e), -EPERM);
	assert_int_equal(virtq_push(&F->vq, 0, 0), -EPERM);
	assert_int_equal(F->vq.last_avail, 0);
	dma_as_set_enabled(&F->as, true);
	assert_int_equal(virtq_pop(&F->vq, &F->e), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_wrap_and_unpop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_chains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_avail_idx_jump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outstanding_beyond_queue_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_interrupt_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_gate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
