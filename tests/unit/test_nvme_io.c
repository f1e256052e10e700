/* NVMe I/O path without PCI: Read/Write with PRP1 only, PRP1+PRP2, PRP lists
 * (offsets, chained lists, exactly-full lists, 128 KiB = MDTS), the status
 * codes of bad commands (MDTS, LBA range, opcode, NSID, PRP offsets, memory
 * outside RAM -> Data Transfer Error with nothing written outside RAM),
 * phase tags over several laps, CQ-full back-pressure, Flush, Write Zeroes,
 * deallocate, FUA, read-only and failing backends, interrupt vectors, and the
 * polled (engine) path: a whole queue depth in flight, reset and queue
 * deletion with commands in flight, and a hostile-command fuzz run. */
#include <stdio.h>
#include "test_nvme_harness.h"

static struct nfx fx;

static int setup(void **state)
{
	nfx_init(&fx, NULL);
	nfx_enable(&fx);
	create_ioq(&fx, 1, 64);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	nfx_fini(*state);
	return 0;
}

static void disk_read(struct nfx *f, uint64_t off, void *buf, uint64_t len)
{
	assert_int_equal(blk_rw_sync(f->blk, BLK_READ, off, buf, len), 0);
}

/* Writes len bytes of pattern seed from the guest pages at sg[] (4 KiB
 * apart or as given) and checks the disk holds them; returns the pattern. */
static void check_disk(struct nfx *f, uint64_t slba, const void *want, uint64_t len)
{
	uint8_t *got = malloc(len);

	assert_non_null(got);
	disk_read(f, slba * 512, got, len);
	assert_memory_equal(got, want, len);
	free(got);
}

/* ---- Data transfer shapes ---- */

static void test_rw_prp1_only(void **state)
{
	struct nfx *f = *state;
	uint8_t want[4096];

	fill(gp(f, G_DATA, 4096), 4096, 1);
	memcpy(want, gp(f, G_DATA, 4096), 4096);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 10, 8, G_DATA, 0), 0);
	check_disk(f, 10, want, 4096);
	memset(gp(f, G_DATA2, 4096), 0, 4096);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 10, 8, G_DATA2, 0), 0);
	assert_memory_equal(gp(f, G_DATA2, 4096), want, 4096);
	/* One block at an in-page offset: only those 512 bytes move. */
	memset(gp(f, G_DATA2, 4096), 0xaa, 4096);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 11, 1, G_DATA2 + 0x600, 0), 0);
	assert_memory_equal(gp(f, G_DATA2 + 0x600, 512), want + 512, 512);
	assert_int_equal(*(uint8_t *)gp(f, G_DATA2 + 0x5ff, 1), 0xaa);
	assert_int_equal(*(uint8_t *)gp(f, G_DATA2 + 0x800, 1), 0xaa);
	assert_int_equal(f->c.stats.bytes_written, 4096);
	assert_int_equal(f->c.stats.bytes_read, 4096 + 512);
	assert_int_equal(f->c.stats.io_cmds[NVME_CMD_READ], 2);
}

static void test_rw_prp1_prp2(void **state)
{
	struct nfx *f = *state;
	uint8_t want[8192];

	/* Two whole pages, far apart. */
	fill(gp(f, G_DATA, 4096), 4096, 2);
	fill(gp(f, G_DATA2 + 0x10000, 4096), 4096, 3);
	memcpy(want, gp(f, G_DATA, 4096), 4096);
	memcpy(want + 4096, gp(f, G_DATA2 + 0x10000, 4096), 4096);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 100, 16, G_DATA, G_DATA2 + 0x10000), 0);
	check_disk(f, 100, want, 8192);
	/* 6 KiB from an offset of 2 KiB: 2 KiB in the first page, 4 KiB in PRP2. */
	memset(gp(f, G_DATA + 0x20000, 8192), 0, 8192);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 100, 12, G_DATA + 0x20800, G_DATA + 0x30000), 0);
	assert_memory_equal(gp(f, G_DATA + 0x20800, 2048), want, 2048);
	assert_memory_equal(gp(f, G_DATA + 0x30000, 4096), want + 2048, 4096);
	/* PRP2 is ignored when the data fits in PRP1's page. */
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 100, 4, G_DATA + 0x20800, 0x3), 0);
}

static void test_rw_prp_list(void **state)
{
	struct nfx *f = *state;
	uint8_t *want = malloc(65536);
	uint64_t *list = gp(f, G_PRPL, 4096);

	assert_non_null(want);
	/* 64 KiB: PRP1 and 15 list entries, scattered in reverse order. */
	for (unsigned i = 0; i < 16; i++)
		fill(gp(f, G_DATA + (15 - i) * 0x2000ull, 4096), 4096, 10 + i);
	for (unsigned i = 0; i < 16; i++)
		memcpy(want + i * 4096, gp(f, G_DATA + (15 - i) * 0x2000ull, 4096), 4096);
	for (unsigned i = 1; i < 16; i++)
		list[i - 1] = G_DATA + (15 - i) * 0x2000ull;
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 256, 128, G_DATA + 15 * 0x2000ull, G_PRPL), 0);
	check_disk(f, 256, want, 65536);
	/* Read back into contiguous pages. */
	prp_list(f, G_PRPL, G_DATA2 + 4096, 15);
	memset(gp(f, G_DATA2, 65536), 0, 65536);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 256, 128, G_DATA2, G_PRPL), 0);
	assert_memory_equal(gp(f, G_DATA2, 65536), want, 65536);
	free(want);
}

static void test_rw_prp_list_offsets(void **state)
{
	struct nfx *f = *state;
	uint8_t want[16384];

	/* PRP1 at +0x200 (3.5 KiB), list pointer at +0x100 in its page: 12 KiB
	 * + 512 bytes after the first page = 4 entries (last one partial). */
	fill(want, sizeof(want), 7);
	assert_int_equal(blk_rw_sync(f->blk, BLK_WRITE, 512 * 512, want, sizeof(want)), 0);
	prp_list(f, G_PRPL + 0x100, G_DATA2 + 0x40000, 4);
	memset(gp(f, G_DATA2 + 0x3f000, 0x6000), 0x55, 0x6000);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 512, 32, G_DATA2 + 0x3f200, G_PRPL + 0x100), 0);
	assert_memory_equal(gp(f, G_DATA2 + 0x3f200, 0xe00), want, 0xe00);
	assert_memory_equal(gp(f, G_DATA2 + 0x40000, 0x3200), want + 0xe00, 0x3200);
	assert_int_equal(*(uint8_t *)gp(f, G_DATA2 + 0x3f1ff, 1), 0x55);
	assert_int_equal(*(uint8_t *)gp(f, G_DATA2 + 0x43200, 1), 0x55);
}

static void test_rw_prp_chained(void **state)
{
	struct nfx *f = *state;
	uint8_t *want = malloc(17 * 4096);
	uint64_t next = G_PRPL + 0x3000, list = G_PRPL + 0x1000 - 4 * 8;

	assert_non_null(want);
	fill(want, 17 * 4096, 9);
	assert_int_equal(blk_rw_sync(f->blk, BLK_WRITE, 1024 * 512, want, 17 * 4096), 0);
	/* 17 pages: PRP1 + 16 entries. The list starts 4 slots before the end
	 * of its page: 3 data entries, then a pointer to the rest (13). */
	prp_list(f, list, G_DATA2 + 4096, 3);
	memcpy(gp(f, list + 24, 8), &next, 8);
	prp_list(f, next, G_DATA2 + 4 * 4096, 13);
	/* Entries after the 13th are never read: poison them. */
	memset(gp(f, next + 13 * 8, 64), 0x77, 64);
	memset(gp(f, G_DATA2, 17 * 4096), 0, 17 * 4096);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 1024, 17 * 8, G_DATA2, list), 0);
	assert_memory_equal(gp(f, G_DATA2, 17 * 4096), want, 17 * 4096);
	/* Exactly as many entries as slots left: the last slot is data, not a
	 * chain pointer. */
	prp_list(f, list, G_DATA2 + 0x100000, 4);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 1024, 5 * 8, G_DATA2 + 0xff000, list), 0);
	assert_memory_equal(gp(f, G_DATA2 + 0xff000, 5 * 4096), want, 5 * 4096);
	/* A chained pointer with an offset. */
	next = G_PRPL + 0x3008;
	memcpy(gp(f, list + 24, 8), &next, 8);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 1024, 17 * 8, G_DATA2, list),
			 NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
	free(want);
}

static void test_rw_128k(void **state)
{
	struct nfx *f = *state;
	uint8_t *want = malloc(131072);
	uint64_t next = G_PRPL + 0x2000;

	assert_non_null(want);
	fill(want, 131072, 11);
	/* Write: PRP1 at +0x100 so 33 pages are touched, 32 list entries. */
	memcpy(gp(f, G_DATA + 0x100, 131072), want, 131072);
	prp_list(f, G_PRPL, G_DATA + 0x1000, 32);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 2048, 256, G_DATA + 0x100, G_PRPL), 0);
	check_disk(f, 2048, want, 131072);
	/* Read with a list whose only slot in its page chains to the rest. */
	memcpy(gp(f, G_PRPL + 0xff8, 8), &next, 8);
	prp_list(f, next, G_DATA2 + 0x1000, 32);
	memset(gp(f, G_DATA2, 0x22000), 0, 0x22000);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 2048, 256, G_DATA2 + 0x100, G_PRPL + 0xff8), 0);
	assert_memory_equal(gp(f, G_DATA2 + 0x100, 131072), want, 131072);
	free(want);
}

/* ---- Bad commands ---- */

static void test_mdts_and_walk_bounds(void **state)
{
	struct nfx *f = *state;
	uint64_t bad = 0x123;

	prp_list(f, G_PRPL, G_DATA + 0x1000, 32);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 257, G_DATA, G_PRPL),
			 NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 65536, G_DATA, G_PRPL),
			 NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(f->blk->stats.reads + f->blk->stats.writes, 0);
	/* 12 KiB needs 2 list entries; a bad third one is never looked at. */
	memcpy(gp(f, G_PRPL + 16, 8), &bad, 8);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 24, G_DATA, G_PRPL), 0);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 25, G_DATA, G_PRPL),
			 NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
}

static void test_lba_out_of_range(void **state)
{
	struct nfx *f = *state;
	const uint64_t nsze = NFX_DISK / 512;
	struct nvme_sqe s;

	assert_int_equal(rw(f, 1, NVME_CMD_READ, nsze - 1, 1, G_DATA, 0), 0);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, nsze - 1, 2, G_DATA, 0),
			 NVME_SC_LBA_RANGE | NVME_SC_DNR);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, nsze, 1, G_DATA, 0),
			 NVME_SC_LBA_RANGE | NVME_SC_DNR);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, UINT64_MAX, 2, G_DATA, 0),
			 NVME_SC_LBA_RANGE | NVME_SC_DNR);
	s = rw_sqe(f, NVME_CMD_WRITE_ZEROES, nsze - 4, 5, 0, 0);
	assert_int_equal(cmd(f, 1, s), NVME_SC_LBA_RANGE | NVME_SC_DNR);
	/* Deallocate: every range is checked before any is started. */
	{
		uint8_t *r = gp(f, G_DATA, 32);
		uint32_t nlb = 8;
		uint64_t slba = 0;

		memset(r, 0, 32);
		memcpy(r + 4, &nlb, 4);
		memcpy(r + 8, &slba, 8);
		slba = nsze - 1;
		memcpy(r + 16 + 4, &nlb, 4);
		memcpy(r + 16 + 8, &slba, 8);
		s = sqe(f, NVME_CMD_DSM, 1);
		s.cdw10 = 1;
		s.cdw11 = NVME_DSM_AD;
		s.prp1 = G_DATA;
		assert_int_equal(cmd(f, 1, s), NVME_SC_LBA_RANGE | NVME_SC_DNR);
		assert_int_equal(f->blk->stats.discards, 0);
	}
}

static void test_invalid_opcode_and_nsid(void **state)
{
	struct nfx *f = *state;
	uint32_t bad[] = { 0, 2, NVME_NSID_ALL };
	struct nvme_sqe s;

	assert_int_equal(cmd(f, 1, sqe(f, 0x7f, 1)), NVME_SC_INVALID_OPCODE | NVME_SC_DNR);
	assert_int_equal(cmd(f, 1, sqe(f, NVME_ADM_IDENTIFY, 1)), NVME_SC_INVALID_OPCODE | NVME_SC_DNR);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = rw_sqe(f, NVME_CMD_READ, 0, 1, G_DATA, 0);
		s.nsid = bad[i];
		assert_int_equal(cmd(f, 1, s), NVME_SC_INVALID_NS | NVME_SC_DNR);
		s = rw_sqe(f, NVME_CMD_WRITE_ZEROES, 0, 1, 0, 0);
		s.nsid = bad[i];
		assert_int_equal(cmd(f, 1, s), NVME_SC_INVALID_NS | NVME_SC_DNR);
	}
	/* Flush takes NSID 1 or all namespaces (VWC bits 2:1 = 11b). */
	assert_int_equal(cmd(f, 1, sqe(f, NVME_CMD_FLUSH, 1)), 0);
	assert_int_equal(cmd(f, 1, sqe(f, NVME_CMD_FLUSH, NVME_NSID_ALL)), 0);
	assert_int_equal(cmd(f, 1, sqe(f, NVME_CMD_FLUSH, 2)), NVME_SC_INVALID_NS | NVME_SC_DNR);
	assert_int_equal(f->blk->stats.flushes, 2);
	/* SGLs and fused operations. */
	s = rw_sqe(f, NVME_CMD_READ, 0, 1, G_DATA, 0);
	s.flags = 0x40;
	assert_int_equal(cmd(f, 1, s), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	s = rw_sqe(f, NVME_CMD_READ, 0, 1, G_DATA, 0);
	s.flags = 0x02;
	assert_int_equal(cmd(f, 1, s), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(f->c.stats.errors, 11);
}

static void test_prp_offset_invalid(void **state)
{
	struct nfx *f = *state;
	uint64_t entry = G_DATA2 + 0x2010;

	fill(gp(f, G_DATA, 0x10000), 0x10000, 5);
	/* PRP1 not dword aligned. */
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 1, G_DATA + 2, 0),
			 NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
	/* PRP2 as the second data page with an offset. */
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 16, G_DATA, G_DATA2 + 0x10),
			 NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
	/* A list pointer that is not qword aligned. */
	prp_list(f, G_PRPL, G_DATA2, 4);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 24, G_DATA, G_PRPL + 4),
			 NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
	/* A list entry with an offset. */
	memcpy(gp(f, G_PRPL + 8, 8), &entry, 8);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 24, G_DATA, G_PRPL),
			 NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
	/* Nothing reached the disk. */
	assert_int_equal(f->blk->stats.writes, 0);
	{
		uint8_t zero[4096] = { 0 }, got[4096];

		disk_read(f, 0, got, sizeof(got));
		assert_memory_equal(got, zero, sizeof(got));
	}
}

static void test_prp_outside_ram(void **state)
{
	struct nfx *f = *state;
	uint64_t out = G_OUTSIDE, faults0 = f->as.stats.faults;
	uint8_t pattern[8192], got[8192];

	fill(pattern, sizeof(pattern), 21);
	assert_int_equal(blk_rw_sync(f->blk, BLK_WRITE, 0, pattern, sizeof(pattern)), 0);
	/* Reads into memory that is not RAM: Data Transfer Error (retryable). */
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 8, G_OUTSIDE, 0), NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 8, 0xfffffffffffff000ull, 0),
			 NVME_SC_DATA_XFER_ERROR);
	/* The first page is RAM, the second is not: the first is written, the
	 * command still fails. */
	memset(gp(f, NFX_RAM - 4096, 4096), 0, 4096);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 16, NFX_RAM - 4096, NFX_RAM),
			 NVME_SC_DATA_XFER_ERROR);
	assert_memory_equal(gp(f, NFX_RAM - 4096, 4096), pattern, 4096);
	/* A list outside RAM, an entry outside RAM. */
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 24, G_DATA, G_OUTSIDE),
			 NVME_SC_DATA_XFER_ERROR);
	prp_list(f, G_PRPL, G_DATA2, 2);
	memcpy(gp(f, G_PRPL + 8, 8), &out, 8);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 24, G_DATA, G_PRPL), NVME_SC_DATA_XFER_ERROR);
	/* Writes from memory that is not RAM never reach the disk. */
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 24, G_DATA, G_PRPL), NVME_SC_DATA_XFER_ERROR);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 1, G_OUTSIDE + 0x200, 0), NVME_SC_DATA_XFER_ERROR);
	disk_read(f, 0, got, sizeof(got));
	assert_memory_equal(got, pattern, sizeof(got));
	/* Admin data too: Identify into memory that is not RAM. */
	{
		struct nvme_sqe s = sqe(f, NVME_ADM_IDENTIFY, 0);

		s.cdw10 = NVME_ID_CNS_CTRL;
		s.prp1 = G_OUTSIDE;
		assert_int_equal(cmd(f, 0, s), NVME_SC_DATA_XFER_ERROR);
	}
	assert_true(f->as.stats.faults > faults0);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	/* The controller carries on. */
	assert_int_equal(reg32(f, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 8, G_DATA, 0), 0);
}

/* ---- Queues ---- */

static void test_phase_wraparound(void **state)
{
	struct nfx *f = *state;

	assert_int_equal(create_cq(f, 2, 4, 2, true), 0);
	assert_int_equal(create_sq(f, 2, 3, 2), 0);
	/* Five laps of the CQ, six and a bit of the SQ: cmd() checks CID, SQ
	 * id and the SQ head in each entry; the phase follows the laps. */
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(rw(f, 2, NVME_CMD_READ, i, 1, G_DATA, 0), 0);
		assert_int_equal(f->last.status & 1, (i / 4) % 2 ? 0 : 1);
		assert_int_equal(f->last.sq_head, (i + 1) % 3);
	}
	assert_int_equal(f->c.cq[2].tail, 0);
	assert_false(f->c.cq[2].phase);     /* five laps: the next lap writes 0 */
	assert_int_equal(f->irqs[2], 20);
}

static void test_cq_full_backpressure(void **state)
{
	struct nfx *f = *state;
	struct nvme_cqe e, *slot3;
	uint16_t cids[10];
	unsigned got = 0;

	assert_int_equal(create_cq(f, 3, 4, 3, true), 0);
	assert_int_equal(create_sq(f, 3, 16, 3), 0);
	for (unsigned i = 0; i < 10; i++) {
		struct nvme_sqe s = rw_sqe(f, NVME_CMD_READ, i, 1, G_DATA, 0);

		cids[i] = s.cid;
		sq_put(f, 3, &s);
	}
	sq_ring(f, 3);
	/* Three entries fit (one slot always stays empty); the SQ stops there. */
	assert_int_equal(f->c.sq[3].head, 3);
	assert_int_equal(f->c.stats.cq_full_stalls, 1);
	slot3 = gp(f, G_CQ(3) + 3 * 16, 16);
	assert_int_equal(slot3->status, 0);
	for (unsigned lap = 0; got < 10 && lap < 10; lap++) {
		unsigned n = 0;

		while (cq_pop(f, 3, &e)) {
			assert_int_equal(e.cid, cids[got]);
			assert_int_equal(status_of(&e), 0);
			got++;
			n++;
		}
		assert_true(n >= 1 && n <= 3);
		/* Nothing more until the host frees space. */
		assert_false(cq_peek(f, 3, &e));
		cq_ring(f, 3);
	}
	assert_int_equal(got, 10);
	assert_int_equal(f->c.sq[3].head, 10);
}

static void test_interrupt_vectors(void **state)
{
	struct nfx *f = *state;
	unsigned admin0 = f->irqs[0];

	assert_int_equal(create_cq(f, 2, 8, 5, true), 0);
	assert_int_equal(create_sq(f, 2, 8, 2), 0);
	assert_int_equal(create_cq(f, 3, 8, 6, false), 0);
	assert_int_equal(create_sq(f, 3, 8, 3), 0);
	assert_int_equal(f->irqs[0], admin0 + 4);
	assert_int_equal(rw(f, 2, NVME_CMD_READ, 0, 1, G_DATA, 0), 0);
	assert_int_equal(rw(f, 2, NVME_CMD_READ, 0, 1, G_DATA, 0), 0);
	assert_int_equal(rw(f, 3, NVME_CMD_READ, 0, 1, G_DATA, 0), 0);
	assert_int_equal(f->irqs[5], 2);
	assert_int_equal(f->irqs[6], 0);
	assert_int_equal(f->irqs[2] + f->irqs[3], 0);
	/* Two commands in one doorbell: one notification. */
	for (unsigned i = 0; i < 2; i++) {
		struct nvme_sqe s = rw_sqe(f, NVME_CMD_READ, i, 1, G_DATA, 0);

		sq_put(f, 2, &s);
	}
	sq_ring(f, 2);
	assert_int_equal(f->irqs[5], 3);
}

/* ---- Flush, Write Zeroes, Dataset Management ---- */

static void test_flush_zeroes_deallocate(void **state)
{
	struct nfx *f = *state;
	uint8_t want[16 * 512], *r = gp(f, G_DATA2, 64);
	struct nvme_sqe s;
	uint32_t nlb;
	uint64_t slba;

	fill(want, sizeof(want), 31);
	memcpy(gp(f, G_DATA, sizeof(want)), want, sizeof(want));
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 64, 16, G_DATA, G_DATA + 4096), 0);
	/* Write Zeroes blocks 68-71. */
	s = rw_sqe(f, NVME_CMD_WRITE_ZEROES, 68, 4, 0, 0);
	assert_int_equal(cmd(f, 1, s), 0);
	memset(want + 4 * 512, 0, 4 * 512);
	check_disk(f, 64, want, sizeof(want));
	/* Deallocate blocks 72-73 and 78, and an empty range; the RAM disk
	 * reads deallocated blocks as zeroes. */
	memset(r, 0, 64);
	nlb = 2, slba = 72;
	memcpy(r + 4, &nlb, 4);
	memcpy(r + 8, &slba, 8);
	nlb = 1, slba = 78;
	memcpy(r + 16 + 4, &nlb, 4);
	memcpy(r + 16 + 8, &slba, 8);
	nlb = 0, slba = 0;
	memcpy(r + 32 + 4, &nlb, 4);
	memcpy(r + 32 + 8, &slba, 8);
	s = sqe(f, NVME_CMD_DSM, 1);
	s.cdw10 = 2;
	s.cdw11 = NVME_DSM_AD;
	s.prp1 = G_DATA2;
	assert_int_equal(cmd(f, 1, s), 0);
	assert_int_equal(f->blk->stats.discards, 2);
	memset(want + 8 * 512, 0, 2 * 512);
	memset(want + 14 * 512, 0, 512);
	check_disk(f, 64, want, sizeof(want));
	/* Hints without deallocate: nothing happens. */
	s = sqe(f, NVME_CMD_DSM, 1);
	s.cdw10 = 0;
	s.cdw11 = 3;
	s.prp1 = G_DATA2;
	assert_int_equal(cmd(f, 1, s), 0);
	assert_int_equal(f->blk->stats.discards, 2);
	/* Ranges outside RAM. */
	s = sqe(f, NVME_CMD_DSM, 1);
	s.cdw11 = NVME_DSM_AD;
	s.prp1 = G_OUTSIDE;
	assert_int_equal(cmd(f, 1, s), NVME_SC_DATA_XFER_ERROR);
	/* Flush. */
	assert_int_equal(cmd(f, 1, sqe(f, NVME_CMD_FLUSH, 1)), 0);
	assert_int_equal(f->blk->stats.flushes, 1);
	assert_int_equal(f->c.stats.io_cmds[NVME_CMD_WRITE_ZEROES], 1);
	assert_int_equal(f->c.stats.io_cmds[NVME_CMD_DSM], 3);
}

/* ---- Backends that fail, refuse, or are slow ---- */

static void test_fua_read_only_and_errors(void **state)
{
	struct nfx_opts o = { .fake = true };
	struct nfx f;
	struct nvme_sqe s;
	uint8_t *log;

	(void)state;
	nfx_init(&f, &o);
	nfx_enable(&f);
	create_ioq(&f, 1, 16);
	/* FUA: the write is followed by a flush before it completes. */
	s = rw_sqe(&f, NVME_CMD_WRITE, 0, 8, G_DATA, 0);
	s.cdw12 |= NVME_RW_FUA;
	assert_int_equal(cmd(&f, 1, s), 0);
	assert_int_equal(f.fake->ops[BLK_WRITE], 1);
	assert_int_equal(f.fake->ops[BLK_FLUSH], 1);
	/* Media errors from the backend. */
	f.fake->inject = -EIO;
	f.fake->inject_n = 1;
	assert_int_equal(rw(&f, 1, NVME_CMD_READ, 0, 8, G_DATA, 0), NVME_SC_READ_ERROR);
	f.fake->inject_n = 1;
	assert_int_equal(rw(&f, 1, NVME_CMD_WRITE, 0, 8, G_DATA, 0), NVME_SC_WRITE_FAULT);
	f.fake->inject = -ENOMEM;
	f.fake->inject_n = 1;
	assert_int_equal(cmd(&f, 1, sqe(&f, NVME_CMD_FLUSH, 1)), NVME_SC_INTERNAL);
	s = sqe(&f, NVME_ADM_GET_LOG_PAGE, NVME_NSID_ALL);
	s.cdw10 = NVME_LOG_SMART | 127u << 16;
	assert_int_equal(admin_data(&f, s, 512), 0);
	log = gp(&f, G_DATA, 512);
	assert_int_equal(get_le64(log + NVME_SMART_MEDIA_ERRORS), 2);
	/* A read-only disk. */
	f.fake->b.read_only = true;
	assert_int_equal(rw(&f, 1, NVME_CMD_WRITE, 0, 8, G_DATA, 0),
			 NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR);
	assert_int_equal(cmd(&f, 1, rw_sqe(&f, NVME_CMD_WRITE_ZEROES, 0, 8, 0, 0)),
			 NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR);
	s = sqe(&f, NVME_CMD_DSM, 1);
	s.cdw11 = NVME_DSM_AD;
	s.prp1 = G_DATA;
	assert_int_equal(cmd(&f, 1, s), NVME_SC_NS_WRITE_PROTECTED | NVME_SC_DNR);
	assert_int_equal(rw(&f, 1, NVME_CMD_READ, 0, 8, G_DATA, 0), 0);
	s = sqe(&f, NVME_ADM_IDENTIFY, 1);
	s.cdw10 = NVME_ID_CNS_NS;
	assert_int_equal(admin_data(&f, s, 4096), 0);
	assert_int_equal(*(uint8_t *)gp(&f, G_DATA + NVME_IDNS_NSATTR, 1), 1);
	nfx_fini(&f);
}

static void test_polled_queue_depth(void **state)
{
	struct nfx_opts o = { .fake = true, .async = true, .polled = true };
	struct nfx f;
	struct nvme_cqe e;
	unsigned got = 0, inflight;

	(void)state;
	nfx_init(&f, &o);
	nfx_enable(&f);
	create_ioq(&f, 1, 64);
	f.fake->hold = true;
	for (unsigned i = 0; i < 63; i++) {
		struct nvme_sqe s = rw_sqe(&f, i % 2 ? NVME_CMD_WRITE : NVME_CMD_READ, i, 8,
					   G_DATA + i * 4096ull, 0);

		sq_put(&f, 1, &s);
	}
	/* One engine round: the whole queue depth is on the backend at once. */
	__atomic_store_n(&f.db_page[2], f.q[1].sq_tail, __ATOMIC_RELEASE);
	assert_true(nvme_ctrl_poll(&f.c, false, &inflight) > 0);
	assert_int_equal(inflight, 63);
	assert_int_equal(f.fake->max_nq, 63);
	assert_false(cq_peek(&f, 1, &e));
	/* Completions come as the backend reports them. */
	f.fake->hold = false;
	nfx_poll(&f);
	while (cq_pop(&f, 1, &e)) {
		assert_int_equal(status_of(&e), 0);
		got++;
	}
	assert_int_equal(got, 63);
	assert_true(f.irqs[1] >= 1);
	cq_ring(&f, 1);
	assert_int_equal(rw(&f, 1, NVME_CMD_READ, 0, 8, G_DATA, 0), 0);
	nfx_fini(&f);
}

/* An enabled controller with I/O queue 1 (16 entries) and n reads of 4 KiB
 * to gpa + i * 4 KiB put in SQ 1 (not rung) over a backend that holds
 * them until asked to complete. */
static void polled_held_reads(struct nfx *f, unsigned n, uint64_t gpa)
{
	nfx_enable(f);
	create_ioq(f, 1, 16);
	f->fake->hold = true;
	for (unsigned i = 0; i < n; i++) {
		struct nvme_sqe s = rw_sqe(f, NVME_CMD_READ, i, 8, gpa + i * 4096ull, 0);

		sq_put(f, 1, &s);
	}
}

/* fuzz_nvme (deferred backend): a save right after stopping the engine
 * found requests still on the backend (-EBUSY). Quiescing finishes them,
 * completions and all, so the save that follows succeeds. */
static void test_polled_quiesce_then_save(void **state)
{
	struct nfx_opts o = { .fake = true, .async = true, .polled = true };
	static uint8_t buf[8192];
	struct nfx f;
	struct nvme_cqe e;
	unsigned got = 0;

	(void)state;
	nfx_init(&f, &o);
	polled_held_reads(&f, 6, G_DATA);
	sq_ring(&f, 1);
	assert_int_equal(f.c.blk_inflight, 6);
	assert_int_equal(nvme_ctrl_save(&f.c, buf, sizeof(buf)), -EBUSY);
	nvme_ctrl_quiesce(&f.c);
	assert_int_equal(f.c.blk_inflight, 0);
	while (cq_pop(&f, 1, &e)) {
		assert_int_equal(status_of(&e), 0);
		got++;
	}
	assert_int_equal(got, 6);
	assert_true(nvme_ctrl_save(&f.c, buf, sizeof(buf)) > 0);
	nfx_fini(&f);
}

static void test_polled_reset_with_inflight(void **state)
{
	struct nfx_opts o = { .fake = true, .async = true, .polled = true };
	struct nfx f;
	struct nvme_cqe e;

	(void)state;
	nfx_init(&f, &o);
	polled_held_reads(&f, 8, G_DATA2);
	memset(gp(&f, G_DATA2, 8 * 4096), 0x5a, 8 * 4096);
	sq_ring(&f, 1);
	assert_int_equal(f.c.blk_inflight, 8);
	/* Disable: what was in flight is discarded, nothing is posted and no
	 * data lands in guest memory. */
	wreg32(&f, NVME_REG_CC, 0);
	assert_int_equal(f.c.blk_inflight, 0);
	assert_false(cq_peek(&f, 1, &e));
	assert_int_equal(*(uint8_t *)gp(&f, G_DATA2, 1), 0x5a);
	assert_int_equal(f.c.reqs_allocated, 8);
	/* Every slot of the doorbell page went back to 0. */
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(f.db_page[i], 0);
	f.fake->hold = false;
	nfx_enable(&f);
	create_ioq(&f, 1, 16);
	assert_int_equal(rw(&f, 1, NVME_CMD_READ, 0, 8, G_DATA, 0), 0);
	nfx_fini(&f);
}

static void test_polled_delete_sq_with_inflight(void **state)
{
	struct nfx_opts o = { .fake = true, .async = true, .polled = true };
	struct nfx f;
	struct nvme_cqe e;
	struct nvme_sqe s;
	unsigned got = 0;

	(void)state;
	nfx_init(&f, &o);
	polled_held_reads(&f, 4, G_DATA);
	sq_ring(&f, 1);
	assert_int_equal(f.c.sq[1].inflight, 4);
	/* Delete I/O SQ 1: its commands finish first and land on CQ 1. */
	s = sqe(&f, NVME_ADM_DELETE_SQ, 0);
	s.cdw10 = 1;
	assert_int_equal(cmd(&f, 0, s), 0);
	while (cq_pop(&f, 1, &e)) {
		assert_int_equal(e.sq_id, 1);
		got++;
	}
	assert_int_equal(got, 4);
	assert_false(f.c.sq[1].valid);
	nfx_fini(&f);
}

/* ---- Hostile commands ---- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static uint64_t rnd_addr(void)
{
	switch (rnd() % 6) {
	case 0: return G_OUTSIDE + (rnd() & 0xfffff);
	case 1: return rnd();
	case 2: return NFX_RAM - 4096 + (rnd() & 0xfff);
	case 3: return G_DATA + (rnd() & 0x3ff) * 4096;
	default: return G_DATA + (rnd() & 0x3fffff);
	}
}

static void test_hostile_fuzz(void **state)
{
	struct nfx_opts o = { .polled = false };
	static const uint8_t adm[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x7f };
	static const uint8_t io[] = { 0x00, 0x01, 0x02, 0x08, 0x09, 0x55 };
	struct nfx f;
	unsigned resets = 0;

	(void)state;
	for (unsigned pass = 0; pass < 2; pass++) {
		o.polled = pass;
		nfx_init(&f, &o);
		nfx_enable(&f);
		create_ioq(&f, 1, 32);
		for (unsigned i = 0; i < 10000; i++) {
			bool admin = rnd() % 4 == 0;
			struct nvme_sqe s;
			struct nvme_cqe e;
			uint64_t *list = gp(&f, G_PRPL, 4096);

			memset(&s, 0, sizeof(s));
			s.opcode = admin ? adm[rnd() % sizeof(adm)] : io[rnd() % sizeof(io)];
			s.flags = rnd() % 16 ? 0 : (uint8_t)rnd();
			s.cid = (uint16_t)rnd();
			s.nsid = rnd() % 8 ? 1 : (uint32_t)rnd();
			s.prp1 = rnd_addr();
			s.prp2 = rnd() % 2 ? G_PRPL + (rnd() % 4 ? 0 : rnd() & 0xfff) : rnd_addr();
			s.cdw10 = (uint32_t)rnd();
			s.cdw11 = (uint32_t)rnd();
			s.cdw12 = rnd() % 2 ? (uint32_t)(rnd() & 0x1ff) : (uint32_t)rnd();
			s.cdw13 = (uint32_t)rnd();
			if (rnd() % 3 == 0) {
				s.cdw11 = 0;
				s.cdw10 &= 0xffff;
			}
			for (unsigned k = 0; k < 8; k++)
				list[rnd() % 512] = rnd_addr();
			sq_put(&f, admin ? 0 : 1, &s);
			if (rnd() % 50 == 0)
				ring(&f, (unsigned)(rnd() % 40), (uint32_t)(rnd() % 64));
			else
				sq_ring(&f, admin ? 0 : 1);
			for (unsigned q = 0; q < 2; q++) {
				for (unsigned k = 0; k < 64 && f.q[q].cq_size && cq_pop(&f, q, &e); k++)
					;
				if (f.q[q].cq_size)
					cq_ring(&f, q);
			}
			if ((reg32(&f, NVME_REG_CSTS) & NVME_CSTS_CFS) || !f.c.sq[1].valid ||
			    !f.c.cq[1].valid || f.c.cq[1].base != G_CQ(1)) {
				wreg32(&f, NVME_REG_CC, 0);
				memset(f.q, 0, sizeof(f.q));
				nfx_enable(&f);
				create_ioq(&f, 1, 32);
				resets++;
			}
		}
		assert_int_equal(arena_check_canaries(&f.a), 0);
		/* Plenty of it was well formed enough to move data. */
		assert_true(f.c.stats.io_cmds[NVME_CMD_READ] + f.c.stats.io_cmds[NVME_CMD_WRITE] > 500);
		assert_true(f.c.stats.async_events > 0);
		nfx_fini(&f);
	}
	assert_true(resets > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rw_prp1_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_prp1_prp2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_prp_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_prp_list_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_prp_chained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_128k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mdts_and_walk_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lba_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_opcode_and_nsid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp_offset_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_wraparound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_full_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_zeroes_deallocate, setup, teardown),
		cmocka_unit_test(test_fua_read_only_and_errors),
		cmocka_unit_test(test_polled_queue_depth),
		cmocka_unit_test(test_polled_quiesce_then_save),
		cmocka_unit_test(test_polled_reset_with_inflight),
		cmocka_unit_test(test_polled_delete_sq_with_inflight),
		cmocka_unit_test(test_hostile_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
