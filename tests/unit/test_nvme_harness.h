/* Shared by the NVMe unit tests: a VM's worth of "guest RAM" (arena + gmem)
 * reached through a direct DMA address space, a controller over a RAM
 * backend or a scriptable fake one (asynchronous completion, error
 * injection, read-only), and a tiny guest-side driver that builds entries
 * in guest RAM and rings doorbells - trapped (emulated) or through a
 * doorbell page that nvme_ctrl_poll() scans (the engine's path, driven
 * synchronously here so tests stay deterministic). */
#ifndef WARDEN_TESTS_NVME_HARNESS_H
#define WARDEN_TESTS_NVME_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "devices/nvme.h"
#include "backend/blk.h"
#include "base/log.h"

#define NFX_FN static __attribute__((unused))

#define MiB (1ull << 20)
#define NFX_RAM          (64 * MiB)
#define NFX_DISK         (8 * MiB)
#define NFX_SID          0x0018

/* Guest-physical layout. */
#define G_ASQ            0x10000ull
#define G_ACQ            0x20000ull
#define G_SQ(q)          (0x100000ull + (uint64_t)(q) * 0x40000)   /* 4096 x 64 B */
#define G_CQ(q)          (0x1000000ull + (uint64_t)(q) * 0x10000)  /* 4096 x 16 B */
#define G_DATA           0x2000000ull                              /* 4 MiB */
#define G_DATA2          0x2400000ull                              /* 4 MiB */
#define G_PRPL           0x2800000ull                              /* PRP list pages */
#define G_OUTSIDE        0x10000000ull                             /* not RAM */
#define NFX_ADMIN_DEPTH  32

/* ---- A scriptable block backend ---- */

struct fake_blk {
	struct blk_backend b;
	uint8_t *mem;
	bool async;             /* complete only in poll */
	bool hold;              /* poll(0) completes nothing */
	int inject;             /* result of the next inject_n requests */
	unsigned inject_n;
	struct blk_req *q[1024];
	unsigned nq, max_nq;
	unsigned ops[5];        /* by enum blk_op */
};

NFX_FN void fake_do(struct fake_blk *f, struct blk_req *r)
{
	int res = 0;
	uint64_t done = 0;

	if (f->inject_n) {
		f->inject_n--;
		res = f->inject;
	} else if (r->op == BLK_READ || r->op == BLK_WRITE) {
		for (unsigned i = 0; i < r->iovcnt; i++) {
			if (r->op == BLK_READ)
				memcpy(r->iov[i].iov_base, f->mem + r->offset + done, r->iov[i].iov_len);
			else
				memcpy(f->mem + r->offset + done, r->iov[i].iov_base, r->iov[i].iov_len);
			done += r->iov[i].iov_len;
		}
	} else if (r->op == BLK_WRITE_ZEROES || r->op == BLK_DISCARD) {
		memset(f->mem + r->offset, 0, r->len);
	}
	f->b.inflight--;
	r->result = res;
	r->done(r);
}

NFX_FN int fake_submit(struct blk_backend *b, struct blk_req *r)
{
	struct fake_blk *f = (struct fake_blk *)b;

	f->ops[r->op]++;
	if (!f->async) {
		fake_do(f, r);
		return 0;
	}
	if (f->nq == sizeof(f->q) / sizeof(f->q[0]))
		return -EAGAIN;
	f->q[f->nq++] = r;
	if (f->nq > f->max_nq)
		f->max_nq = f->nq;
	return 0;
}

NFX_FN int fake_poll(struct blk_backend *b, unsigned min_complete)
{
	struct fake_blk *f = (struct fake_blk *)b;
	int n = 0;

	if (f->hold && !min_complete)
		return 0;
	while (f->nq) {
		struct blk_req *r = f->q[0];

		memmove(f->q, f->q + 1, --f->nq * sizeof(f->q[0]));
		fake_do(f, r);
		n++;
	}
	return n;
}

NFX_FN void fake_destroy(struct blk_backend *b)
{
	struct fake_blk *f = (struct fake_blk *)b;

	free(f->mem);
	free(f);
}

static const struct blk_backend_ops fake_blk_ops = {
	.submit = fake_submit,
	.poll = fake_poll,
	.destroy = fake_destroy,
};

NFX_FN struct fake_blk *fake_blk_new(uint64_t size, uint32_t block_size)
{
	struct fake_blk *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem = calloc(1, size);
	assert_non_null(f->mem);
	f->b.ops = &fake_blk_ops;
	f->b.size = size;
	f->b.block_size = block_size;
	snprintf(f->b.desc, sizeof(f->b.desc), "fake:%lluK", (unsigned long long)(size >> 10));
	return f;
}

/* ---- The fixture ---- */

struct nfx_q {                  /* a queue pair as the guest driver sees it */
	uint16_t sq_size, cq_size;
	uint16_t sq_tail, cq_head;
	bool phase;
};

struct nfx {
	struct arena a;
	struct gmem g;
	struct dma_as as;
	struct blk_backend *blk;
	struct fake_blk *fake;          /* when blk is the fake */
	struct nvme_ctrl c;
	uint32_t *db_page;              /* polled doorbells */
	unsigned irqs[NVME_MAX_QUEUES];
	struct nfx_q q[NVME_MAX_QUEUES];
	uint16_t next_cid;
	struct nvme_cqe last;
};

struct nfx_opts {
	bool fake, async, polled;
	uint16_t max_ioqs, mqes;
	uint32_t block_size;
};

NFX_FN void nfx_irq(void *opaque, unsigned vector)
{
	struct nfx *f = opaque;

	assert_true(vector < NVME_MAX_QUEUES);
	f->irqs[vector]++;
}

NFX_FN void nfx_init(struct nfx *f, const struct nfx_opts *o)
{
	struct nvme_ctrl_config cfg = {
		.name = "t0", .serial = "SN-TEST-0001", .irq = nfx_irq, .irq_opaque = f,
		.vid = 0x5744, .ssvid = 0x5744, .cntlid = 7,
	};

	memset(f, 0, sizeof(*f));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&f->a, 128 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&f->g, &f->a, 1, NFX_RAM), 0);
	dma_as_init_direct(&f->as, &f->g, NFX_SID);
	if (o && o->fake) {
		f->fake = fake_blk_new(NFX_DISK, o->block_size ? o->block_size : 512);
		f->fake->async = o->async;
		f->blk = &f->fake->b;
	} else {
		assert_int_equal(blk_open_ram(&f->blk, NFX_DISK), 0);
	}
	if (o && o->polled) {
		f->db_page = aligned_alloc(4096, 4096);
		assert_non_null(f->db_page);
		memset(f->db_page, 0, 4096);
	}
	cfg.backend = f->blk;
	cfg.dma = &f->as;
	cfg.max_ioqs = o ? o->max_ioqs : 0;
	cfg.mqes = o ? o->mqes : 0;
	cfg.doorbell_page = f->db_page;
	assert_int_equal(nvme_ctrl_init(&f->c, &cfg), 0);
	f->next_cid = 0x100;
}

NFX_FN void nfx_fini(struct nfx *f)
{
	nvme_ctrl_destroy(&f->c);
	if (f->fake)
		fake_destroy(&f->fake->b);
	else
		blk_close(f->blk);
	free(f->db_page);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	gmem_destroy(&f->g);
	arena_destroy(&f->a);
	log_threshold = LOG_WARN;
}

NFX_FN void *gp(struct nfx *f, uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(&f->g, gpa, len);

	assert_non_null(p);
	return p;
}

NFX_FN void fill(void *buf, size_t len, unsigned seed)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)((i >> 9) * 7 + i * 31 + seed);
}

/* ---- Registers and doorbells ---- */

NFX_FN uint32_t reg32(struct nfx *f, uint64_t off)
{
	uint64_t v;

	nvme_ctrl_reg_read(&f->c, off, &v, 4);
	return (uint32_t)v;
}

NFX_FN uint64_t reg64(struct nfx *f, uint64_t off)
{
	uint64_t v;

	nvme_ctrl_reg_read(&f->c, off, &v, 8);
	return v;
}

NFX_FN void wreg32(struct nfx *f, uint64_t off, uint32_t v)
{
	nvme_ctrl_reg_write(&f->c, off, v, 4);
}

NFX_FN void wreg64(struct nfx *f, uint64_t off, uint64_t v)
{
	nvme_ctrl_reg_write(&f->c, off, v, 8);
}

/* Runs the polled controller until a round finds nothing to do. */
NFX_FN void nfx_poll(struct nfx *f)
{
	for (unsigned i = 0; i < 10000; i++)
		if (!nvme_ctrl_poll(&f->c, true, NULL))
			return;
	fail_msg("controller never went idle");
}

NFX_FN void ring(struct nfx *f, unsigned slot, uint32_t v)
{
	if (f->db_page) {
		__atomic_store_n(&f->db_page[slot], v, __ATOMIC_RELEASE);
		nfx_poll(f);
	} else {
		nvme_ctrl_doorbell_write(&f->c, slot, v);
	}
}

/* ---- The guest driver ---- */

NFX_FN uint64_t sq_gpa(unsigned qid)
{
	return qid ? G_SQ(qid) : G_ASQ;
}

NFX_FN uint64_t cq_gpa(unsigned qid)
{
	return qid ? G_CQ(qid) : G_ACQ;
}

NFX_FN struct nvme_sqe sqe(struct nfx *f, uint8_t opcode, uint32_t nsid)
{
	struct nvme_sqe s;

	memset(&s, 0, sizeof(s));
	s.opcode = opcode;
	s.cid = f->next_cid++;
	s.nsid = nsid;
	return s;
}

/* Writes s into SQ qid's next slot without ringing. */
NFX_FN void sq_put(struct nfx *f, unsigned qid, const struct nvme_sqe *s)
{
	struct nfx_q *q = &f->q[qid];

	memcpy(gp(f, sq_gpa(qid) + (uint64_t)q->sq_tail * 64, 64), s, 64);
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->sq_size);
}

NFX_FN void sq_ring(struct nfx *f, unsigned qid)
{
	ring(f, 2 * qid, f->q[qid].sq_tail);
}

NFX_FN bool cq_peek(struct nfx *f, unsigned qid, struct nvme_cqe *out)
{
	struct nfx_q *q = &f->q[qid];
	struct nvme_cqe *e = gp(f, cq_gpa(qid) + (uint64_t)q->cq_head * 16, 16);

	memset(out, 0, sizeof(*out));
	if ((e->status & 1) != q->phase)
		return false;
	*out = *e;
	return true;
}

/* Consumes the next CQE (without ringing the head doorbell). */
NFX_FN bool cq_pop(struct nfx *f, unsigned qid, struct nvme_cqe *out)
{
	struct nfx_q *q = &f->q[qid];

	if (!cq_peek(f, qid, out))
		return false;
	if (++q->cq_head == q->cq_size) {
		q->cq_head = 0;
		q->phase = !q->phase;
	}
	return true;
}

NFX_FN void cq_ring(struct nfx *f, unsigned qid)
{
	ring(f, 2 * qid + 1, f->q[qid].cq_head);
}

NFX_FN uint16_t status_of(const struct nvme_cqe *e)
{
	return e->status >> 1;
}

/* Submits s on qid and returns its completion's status field. */
NFX_FN uint16_t cmd(struct nfx *f, unsigned qid, struct nvme_sqe s)
{
	sq_put(f, qid, &s);
	sq_ring(f, qid);
	assert_true(cq_pop(f, qid, &f->last));
	assert_int_equal(f->last.cid, s.cid);
	assert_int_equal(f->last.sq_id, qid);
	assert_int_equal(f->last.sq_head, f->q[qid].sq_tail);
	cq_ring(f, qid);
	return status_of(&f->last);
}

NFX_FN void nfx_enable_depth(struct nfx *f, unsigned depth)
{
	wreg32(f, NVME_REG_AQA, (depth - 1) | (depth - 1) << 16);
	wreg64(f, NVME_REG_ASQ, G_ASQ);
	wreg64(f, NVME_REG_ACQ, G_ACQ);
	memset(gp(f, G_ACQ, depth * 16), 0, depth * 16);
	wreg32(f, NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	assert_int_equal(reg32(f, NVME_REG_CSTS) & (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_RDY);
	f->q[0] = (struct nfx_q){ .sq_size = (uint16_t)depth, .cq_size = (uint16_t)depth,
				  .phase = true };
}

NFX_FN void nfx_enable(struct nfx *f)
{
	nfx_enable_depth(f, NFX_ADMIN_DEPTH);
}

NFX_FN uint16_t create_cq(struct nfx *f, uint16_t qid, uint16_t size, uint16_t iv, bool ien)
{
	struct nvme_sqe s = sqe(f, NVME_ADM_CREATE_CQ, 0);
	uint16_t st;

	s.prp1 = cq_gpa(qid);
	s.cdw10 = qid | (uint32_t)(size - 1) << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | (ien ? NVME_CQ_IRQ_ENABLED : 0) | (uint32_t)iv << 16;
	memset(gp(f, cq_gpa(qid), (uint64_t)size * 16), 0, (uint64_t)size * 16);
	st = cmd(f, 0, s);
	if (!st) {
		f->q[qid].cq_size = size;
		f->q[qid].cq_head = 0;
		f->q[qid].phase = true;
	}
	return st;
}

NFX_FN uint16_t create_sq(struct nfx *f, uint16_t qid, uint16_t size, uint16_t cqid)
{
	struct nvme_sqe s = sqe(f, NVME_ADM_CREATE_SQ, 0);
	uint16_t st;

	s.prp1 = sq_gpa(qid);
	s.cdw10 = qid | (uint32_t)(size - 1) << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | (uint32_t)cqid << 16;
	st = cmd(f, 0, s);
	if (!st) {
		f->q[qid].sq_size = size;
		f->q[qid].sq_tail = 0;
	}
	return st;
}

/* I/O queue pair qid on vector qid, interrupts on. */
NFX_FN void create_ioq(struct nfx *f, uint16_t qid, uint16_t size)
{
	assert_int_equal(create_cq(f, qid, size, qid, true), 0);
	assert_int_equal(create_sq(f, qid, size, qid), 0);
}

NFX_FN struct nvme_sqe rw_sqe(struct nfx *f, uint8_t opc, uint64_t slba, uint32_t nlb,
			     uint64_t prp1, uint64_t prp2)
{
	struct nvme_sqe s = sqe(f, opc, NVME_NSID);

	s.cdw10 = (uint32_t)slba;
	s.cdw11 = (uint32_t)(slba >> 32);
	s.cdw12 = nlb - 1;
	s.prp1 = prp1;
	s.prp2 = prp2;
	return s;
}

NFX_FN uint16_t rw(struct nfx *f, unsigned qid, uint8_t opc, uint64_t slba, uint32_t nlb,
		   uint64_t prp1, uint64_t prp2)
{
	return cmd(f, qid, rw_sqe(f, opc, slba, nlb, prp1, prp2));
}

/* Fills an Identify or log buffer at G_DATA with a command and returns its status. */
NFX_FN uint16_t admin_data(struct nfx *f, struct nvme_sqe s, size_t len)
{
	memset(gp(f, G_DATA, len + 4096), 0xee, len + 4096);
	s.prp1 = G_DATA;
	s.prp2 = G_DATA + 4096;
	return cmd(f, 0, s);
}

/* Writes n page-aligned entries at list: first, first + 4 KiB, ... */
NFX_FN void prp_list(struct nfx *f, uint64_t list, uint64_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint64_t e = first + (uint64_t)i * 4096;

		memcpy(gp(f, list + (uint64_t)i * 8, 8), &e, 8);
	}
}

NFX_FN uint16_t get_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
NFX_FN uint32_t get_le32(const uint8_t *p) { return get_le16(p) | (uint32_t)get_le16(p + 2) << 16; }
NFX_FN uint64_t get_le64(const uint8_t *p) { return get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }

#endif
