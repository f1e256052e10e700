/* virtio-blk requests through the modern virtio-pci transport, driven as
 * a guest driver would (see test_virtio_harness.h): read/write/verify with
 * direct, indirect, multi-segment and oddly framed chains, flush, GET_ID,
 * discard and write zeroes, a read-only disk, every error answer (IOERR,
 * UNSUPP), every kind of bad input (DEVICE_NEEDS_RESET, a configuration
 * interrupt, canaries intact, nothing written outside RAM, recovery by
 * reset), a queue's worth in flight completed in the backend's order, and
 * the limits on what is in flight (slots per queue, bounce-buffer bytes). */
#include "test_virtio_harness.h"

/* ---- Tests ---- */

static void test_read_write_direct(void **state)
{
	uint8_t *back = malloc(64 * 1024);

	drv_init(ALL_FEATURES);
	fill(G_DATA, 64 * 1024, 5);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 100, G_DATA, 64 * 1024, 1, false), 0);
	disk_read(100 * 512, back, 64 * 1024);
	assert_memory_equal(back, gp(G_DATA, 64 * 1024), 64 * 1024);
	memset(gp(G_DATA2, 64 * 1024), 0, 64 * 1024);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, 100, G_DATA2, 64 * 1024, 1, false), 0);
	assert_memory_equal(gp(G_DATA2, 64 * 1024), gp(G_DATA, 64 * 1024), 64 * 1024);
	/* The last sector of the disk, and an empty read (header + status). */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, V_DISK / 512 - 1, G_DATA2, 512, 1, false), 0);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, V_DISK / 512, G_DATA2, 0, 0, false), 0);
	assert_int_equal(stats().requests[VBLK_STAT_IN], 3);
	assert_int_equal(stats().requests[VBLK_STAT_OUT], 1);
	assert_int_equal(stats().bytes_read, 64 * 1024 + 512);
	assert_int_equal(stats().bytes_written, 64 * 1024);
	assert_int_equal(msis(1), 4);                   /* one per request, queue vector */
	assert_int_equal(msis(0), 0);
	free(back);
}

static void test_read_write_indirect(void **state)
{
	drv_init(ALL_FEATURES);
	fill(G_DATA, 32 * 1024, 9);
	/* 32 KiB in 8 pieces through an indirect table, read back in 4. */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 8, G_DATA, 32 * 1024, 8, true), 0);
	memset(gp(G_DATA2, 32 * 1024), 0, 32 * 1024);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, 8, G_DATA2, 32 * 1024, 4, true), 0);
	assert_memory_equal(gp(G_DATA2, 32 * 1024), gp(G_DATA, 32 * 1024), 32 * 1024);
	assert_int_equal(F->v.t.queues[0].vq.stats.indirect, 2);
	/* Without the feature the same chain is bad input. */
	drv_init(ALL_FEATURES & ~VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC));
	post(0, req_chain(0, 0, VIRTIO_BLK_T_IN, 8, G_DATA2, 512, 1, true));
	kick(0);
	poll_dev();
	assert_true(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_multi_segment_any_layout(void **state)
{
	uint8_t *h;
	uint16_t head;
	uint32_t len;

	drv_init(ALL_FEATURES);
	/* Odd pieces: 512 + 1024 + 2560 + 4000 + 96 = 8 KiB. */
	fill(G_DATA, 8192, 2);
	{
		struct seg s[] = {
			{ G_HDR, 16, false }, { G_DATA, 512, false }, { G_DATA + 512, 1024, false },
			{ G_DATA + 1536, 2560, false }, { G_DATA + 4096, 4000, false },
			{ G_DATA + 8096, 96, false }, { G_STATUS, 1, true },
		};

		header(0, VIRTIO_BLK_T_OUT, 64);
		head = chain(0, s, 7);
		assert_int_equal(submit(0, 0, head, &len), 0);
		assert_int_equal(len, 1);
	}
	/* Header and data in one descriptor: the header is just the first
	 * 16 readable bytes (2.6.4). */
	h = gp(G_DATA2 - 16, 16 + 4096);
	memset(h, 0, 16);
	h[0] = VIRTIO_BLK_T_OUT;
	h[8] = 200;
	fill(G_DATA2, 4096, 11);
	{
		struct seg s[] = { { G_DATA2 - 16, 16 + 4096, false }, { G_STATUS, 1, true } };
		uint8_t back[4096];

		head = chain(0, s, 2);
		assert_int_equal(submit(0, 0, head, &len), 0);
		disk_read(200 * 512, back, 4096);
		assert_memory_equal(back, gp(G_DATA2, 4096), 4096);
	}
	/* Data pieces that are not sector multiples on their own. */
	header(0, VIRTIO_BLK_T_IN, 64);
	{
		struct seg s[] = {
			{ G_HDR, 16, false }, { G_DATA2 + 0x10000, 3000, true },
			{ G_DATA2 + 0x20000, 5192, true }, { G_STATUS, 1, true },
		};

		head = chain(0, s, 4);
		assert_int_equal(submit(0, 0, head, &len), 0);
		assert_int_equal(len, 8193);
		assert_memory_equal(gp(G_DATA2 + 0x10000, 3000), gp(G_DATA, 3000), 3000);
		assert_memory_equal(gp(G_DATA2 + 0x20000, 5192), gp(G_DATA + 3000, 5192), 5192);
	}
	/* The status byte at the end of the last data descriptor. */
	{
		struct seg s[] = {
			{ G_HDR, 8, false }, { G_HDR + 8, 8, false }, { G_DATA2, 4096 + 1, true },
		};

		header(0, VIRTIO_BLK_T_IN, 64);
		head = chain(0, s, 3);
		post(0, head);
		kick(0);
		poll_dev();
		assert_true(take_used(0, &len, &len));
		assert_int_equal(len, 4097);
		assert_int_equal(*(uint8_t *)gp(G_DATA2 + 4096, 1), VIRTIO_BLK_S_OK);
		assert_memory_equal(gp(G_DATA2, 4096), gp(G_DATA, 4096), 4096);
	}
	assert_int_equal(status(), 0x0f);
}

static void test_flush_get_id(void **state)
{
	uint32_t len;
	uint8_t *id;

	drv_init(ALL_FEATURES);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(stats().requests[VBLK_STAT_FLUSH], 1);
	/* GET_ID: 20 bytes, zero-padded. */
	memset(gp(G_DATA, 32), 0xaa, 32);
	assert_int_equal(submit(0, 0, req_chain(0, 0, VIRTIO_BLK_T_GET_ID, 0, G_DATA, 20, 1, false),
				&len), 0);
	assert_int_equal(len, 21);
	id = gp(G_DATA, 32);
	assert_memory_equal(id, V_SERIAL, strlen(V_SERIAL));
	for (size_t i = strlen(V_SERIAL); i < 20; i++)
		assert_int_equal(id[i], 0);
	assert_int_equal(id[20], 0xaa);
	/* A shorter buffer gets what fits; a longer one just 20 bytes. */
	memset(gp(G_DATA, 32), 0xaa, 32);
	assert_int_equal(submit(0, 0, req_chain(0, 0, VIRTIO_BLK_T_GET_ID, 0, G_DATA, 8, 1, false),
				&len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(id, V_SERIAL, 8);
	assert_int_equal(id[8], 0xaa);
	assert_int_equal(submit(0, 0, req_chain(0, 0, VIRTIO_BLK_T_GET_ID, 0, G_DATA, 512, 1, false),
				&len), 0);
	assert_int_equal(len, 20);
}

static void put_range(uint64_t gpa, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint8_t *p = gp(gpa, 16);

	memcpy(p, &sector, 8);
	memcpy(p + 8, &num, 4);
	memcpy(p + 12, &flags, 4);
}

static void test_discard_write_zeroes(void **state)
{
	uint8_t *back = malloc(16384);
	uint8_t zero[4096] = { 0 };

	drv_init(ALL_FEATURES);
	fill(G_DATA, 16384, 4);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_DATA, 16384, 1, false), 0);
	/* Write zeroes, two ranges (one with unmap), and an empty one. */
	put_range(G_DATA2, 2, 2, 0);
	put_range(G_DATA2 + 16, 8, 8, VIRTIO_BLK_WZ_FLAG_UNMAP);
	put_range(G_DATA2 + 32, 30, 0, 0);
	header(0, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	{
		struct seg s[] = { { G_HDR, 16, false }, { G_DATA2, 48, false }, { G_STATUS, 1, true } };

		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), 0);
	}
	disk_read(0, back, 16384);
	assert_memory_equal(back, gp(G_DATA, 1024), 1024);
	assert_memory_equal(back + 1024, zero, 1024);
	assert_memory_equal(back + 2048, gp(G_DATA + 2048, 2048), 2048);
	assert_memory_equal(back + 4096, zero, 4096);
	assert_memory_equal(back + 8192, gp(G_DATA + 8192, 8192), 8192);
	/* Discard: a range that reads back as zeroes on this backend. */
	put_range(G_DATA2, 16, 8, 0);
	header(0, VIRTIO_BLK_T_DISCARD, 0);
	{
		struct seg s[] = { { G_HDR, 16, false }, { G_DATA2, 16, false }, { G_STATUS, 1, true } };

		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), 0);
		disk_read(0, back, 16384);
		assert_memory_equal(back + 8192, zero, 4096);
		/* unmap on a discard, or an unknown flag: UNSUPP. */
		put_range(G_DATA2, 16, 8, VIRTIO_BLK_WZ_FLAG_UNMAP);
		header(0, VIRTIO_BLK_T_DISCARD, 0);
		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_UNSUPP);
		put_range(G_DATA2, 16, 8, 0x4);
		header(0, VIRTIO_BLK_T_WRITE_ZEROES, 0);
		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_UNSUPP);
		/* Beyond the disk, or longer than max_write_zeroes_sectors: IOERR. */
		put_range(G_DATA2, V_DISK / 512 - 4, 8, 0);
		header(0, VIRTIO_BLK_T_WRITE_ZEROES, 0);
		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_IOERR);
		put_range(G_DATA2, 0, VIRTIO_BLK_MAX_DWZ_SECTORS + 1, 0);
		header(0, VIRTIO_BLK_T_DISCARD, 0);
		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_IOERR);
	}
	/* More ranges than max_*_seg: UNSUPP; a partial range: IOERR. */
	for (unsigned i = 0; i <= VIRTIO_BLK_MAX_SEGS; i++)
		put_range(G_DATA2 + 16 * i, i, 1, 0);
	header(0, VIRTIO_BLK_T_DISCARD, 0);
	{
		struct seg s[] = { { G_HDR, 16, false }, { G_DATA2, 16 * (VIRTIO_BLK_MAX_SEGS + 1), false },
				   { G_STATUS, 1, true } };

		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_UNSUPP);
		s[1].len = 24;
		header(0, VIRTIO_BLK_T_DISCARD, 0);
		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_IOERR);
	}
	/* Not negotiated: UNSUPP. */
	drv_init(ALL_FEATURES & ~VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	put_range(G_DATA2, 0, 8, 0);
	header(0, VIRTIO_BLK_T_DISCARD, 0);
	{
		struct seg s[] = { { G_HDR, 16, false }, { G_DATA2, 16, false }, { G_STATUS, 1, true } };

		assert_int_equal(submit(0, 0, chain(0, s, 3), NULL), VIRTIO_BLK_S_UNSUPP);
	}
	assert_int_equal(status(), 0x0f);
	free(back);
}

static void test_read_only(void **state)
{
	uint64_t f = device_features();

	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	drv_init(ALL_FEATURES);
	fill(G_DATA, 4096, 1);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_DATA, 4096, 1, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, 0, G_DATA2, 4096, 1, false), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)gp(G_DATA2, 1), 0);        /* nothing was written */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), VIRTIO_BLK_S_OK);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, G_DATA2, 16, 1, false),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(stats().ioerr, 1);
	assert_int_equal(status(), 0x0f);
}

static void test_request_errors(void **state)
{
	uint32_t len;

	drv_init(ALL_FEATURES);
	/* Sectors beyond the capacity, straddling it, wrapping. */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, V_DISK / 512, G_DATA, 512, 1, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, V_DISK / 512 - 1, G_DATA, 1024, 1, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, ~0ull, G_DATA, 512, 1, false),
			 VIRTIO_BLK_S_IOERR);
	/* Unknown types: UNSUPP. */
	assert_int_equal(do_req(0, 77, 0, 0, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(0, 10 /* GET_LIFETIME */, 0, G_DATA, 16, 1, false),
			 VIRTIO_BLK_S_UNSUPP);
	/* Data not a multiple of 512, or over 32 MiB. */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_DATA, 1000, 1, false), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, 0, G_DATA, 700, 2, false), VIRTIO_BLK_S_IOERR);
	{
		struct seg s[] = { { G_HDR, 16, false }, { G_DATA, 0x1000000, true },
				   { G_DATA + 0x1000000, 0x1000000, true },
				   { G_DATA2 + 0x1000000, 512, true }, { G_STATUS, 1, true } };

		header(0, VIRTIO_BLK_T_IN, 0);
		assert_int_equal(submit(0, 0, chain(0, s, 5), &len), VIRTIO_BLK_S_IOERR);
		assert_int_equal(len, 0);
	}
	/* Data in the wrong direction: writable data on a write, readable on a read. */
	{
		struct seg w[] = { { G_HDR, 16, false }, { G_DATA, 512, true }, { G_STATUS, 1, true } };
		struct seg r[] = { { G_HDR, 16, false }, { G_DATA, 512, false }, { G_STATUS, 1, true } };

		header(0, VIRTIO_BLK_T_OUT, 0);
		assert_int_equal(submit(0, 0, chain(0, w, 3), &len), VIRTIO_BLK_S_IOERR);
		assert_int_equal(len, 0);
		header(0, VIRTIO_BLK_T_IN, 0);
		assert_int_equal(submit(0, 0, chain(0, r, 3), &len), VIRTIO_BLK_S_IOERR);
		assert_int_equal(len, 1);
	}
	/* Data buffers outside RAM: IOERR, and only RAM is touched. A read
	 * straddling the end of RAM fills what is RAM, as hardware would. */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_OUTSIDE, 4096, 1, false),
			 VIRTIO_BLK_S_IOERR);
	fill(G_DATA, 4096, 3);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_DATA, 4096, 1, false), VIRTIO_BLK_S_OK);
	memset(gp(V_RAM - 2048, 2048), 0, 2048);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, 0, V_RAM - 2048, 4096, 1, false),
			 VIRTIO_BLK_S_IOERR);
	assert_memory_equal(gp(V_RAM - 2048, 2048), gp(G_DATA, 2048), 2048);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_GET_ID, 0, G_OUTSIDE, 20, 1, false),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(arena_check_canaries(&F->a), 0);
	/* None of these needed a reset. */
	assert_int_equal(status(), 0x0f);
	assert_int_equal(stats().ioerr, 11);
	assert_int_equal(stats().unsupp, 2);
	assert_int_equal(stats().requests[VBLK_STAT_OTHER], 2);
}

enum bad_case {
	BAD_SELF_LOOP, BAD_LOOP, BAD_HEAD_RANGE, BAD_NEXT_RANGE, BAD_AVAIL_JUMP, BAD_NESTED_INDIRECT,
	BAD_INDIRECT_NEXT, BAD_INDIRECT_LEN, BAD_INDIRECT_ZERO, BAD_INDIRECT_LONG, BAD_DESC_OUTSIDE,
	BAD_INDIRECT_OUTSIDE, BAD_HEADER_OUTSIDE, BAD_STATUS_OUTSIDE, BAD_HEADER_WRITABLE,
	BAD_NO_STATUS, BAD_SHORT_HEADER, BAD_READ_AFTER_WRITE, BAD_RING_OUTSIDE, BAD_CASES
};

/* Builds the case's chain and posts it (or breaks the ring). */
static void bad_post(enum bad_case c)
{
	struct seg ok[] = { { G_HDR, 16, false }, { G_DATA, 512, true }, { G_STATUS, 1, true } };
	uint16_t h = F->q[0].next;

	header(0, VIRTIO_BLK_T_IN, 0);
	switch (c) {
	case BAD_SELF_LOOP:
		put_desc(G_DESC(0), h, G_HDR, 16, VIRTQ_DESC_F_NEXT, h);
		break;
	case BAD_LOOP:
		put_desc(G_DESC(0), h, G_HDR, 16, VIRTQ_DESC_F_NEXT, h + 1);
		put_desc(G_DESC(0), h + 1, G_DATA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, h);
		break;
	case BAD_HEAD_RANGE:
		h = V_QSIZE;
		break;
	case BAD_NEXT_RANGE:
		put_desc(G_DESC(0), h, G_HDR, 16, VIRTQ_DESC_F_NEXT, 0xffff);
		break;
	case BAD_AVAIL_JUMP:
		F->q[0].avail += V_QSIZE;
		break;
	case BAD_NESTED_INDIRECT:
		put_desc(G_IND, 0, G_IND + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
		put_desc(G_DESC(0), h, G_IND, 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_INDIRECT_NEXT:
		put_desc(G_IND, 0, G_HDR, 16, 0, 0);
		put_desc(G_DESC(0), h, G_IND, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, h + 1);
		put_desc(G_DESC(0), h + 1, G_STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
		break;
	case BAD_INDIRECT_LEN:
		put_desc(G_DESC(0), h, G_IND, 40, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_INDIRECT_ZERO:
		put_desc(G_DESC(0), h, G_IND, 0, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_INDIRECT_LONG:
		/* A well-formed table, one entry longer than the queue. */
		for (unsigned i = 0; i <= V_QSIZE; i++)
			put_desc(G_IND, i, i ? G_DATA + 512 * (i - 1) : G_HDR, i ? 512 : 16,
				 (i < V_QSIZE ? VIRTQ_DESC_F_NEXT : 0) | (i ? VIRTQ_DESC_F_WRITE : 0),
				 (uint16_t)(i + 1));
		put_desc(G_DESC(0), h, G_IND, (V_QSIZE + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_DESC_OUTSIDE:
		/* The queue was set up with its table outside RAM (below). */
		break;
	case BAD_INDIRECT_OUTSIDE:
		put_desc(G_DESC(0), h, G_OUTSIDE, 48, VIRTQ_DESC_F_INDIRECT, 0);
		break;
	case BAD_HEADER_OUTSIDE:
		ok[0].gpa = G_OUTSIDE;
		h = chain(0, ok, 3);
		break;
	case BAD_STATUS_OUTSIDE:
		ok[2].gpa = G_OUTSIDE;
		h = chain(0, ok, 3);
		break;
	case BAD_HEADER_WRITABLE:
		ok[0].w = true;
		h = chain(0, ok, 3);
		break;
	case BAD_NO_STATUS:
		ok[1].w = ok[2].w = false;
		h = chain(0, ok, 3);
		break;
	case BAD_SHORT_HEADER:
		ok[0].len = 8;
		h = chain(0, ok, 3);
		break;
	case BAD_READ_AFTER_WRITE:
		ok[1].w = true;
		ok[2].w = false;
		h = chain(0, ok, 3);
		break;
	case BAD_RING_OUTSIDE:
		break;
	default:
		fail();
	}
	post(0, h);
}

static void test_bad_input(void **state)
{
	for (unsigned c = 0; c < BAD_CASES; c++) {
		unsigned cfg_irqs = msis(0), resets = (unsigned)stats().transport.needs_reset;
		uint16_t used_before;

		drv_init(ALL_FEATURES);
		if (c == BAD_DESC_OUTSIDE || c == BAD_RING_OUTSIDE) {
			/* Set up again with a table (or ring) outside RAM:
			 * accepted (only an access can tell), fails at use. */
			set_status(0);
			set_status(3);
			driver_features(F->features);
			set_status(0x0b);
			wr(VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
			wr(VIRTIO_PCI_COMMON_Q_MSIX, 1, 2);
			wr(VIRTIO_PCI_COMMON_Q_DESCLO, c == BAD_DESC_OUTSIDE ? G_OUTSIDE : G_DESC(0), 8);
			wr(VIRTIO_PCI_COMMON_Q_AVAILLO,
			   c == BAD_RING_OUTSIDE ? G_OUTSIDE : G_AVAIL(0), 8);
			wr(VIRTIO_PCI_COMMON_Q_USEDLO, G_USED(0), 8);
			wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
			wr(VIRTIO_PCI_COMMON_MSIX, 0, 2);
			set_status(0x0f);
			assert_int_equal(status(), 0x0f);
		}
		/* A good request first: it completes. */
		assert_int_equal(c == BAD_DESC_OUTSIDE || c == BAD_RING_OUTSIDE ? 0 :
				 do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
		used_before = used_idx(0);
		bad_post((enum bad_case)c);
		kick(0);
		poll_dev();
		if (!(status() & VIRTIO_CONFIG_S_NEEDS_RESET))
			fail_msg("bad-input case %u did not set DEVICE_NEEDS_RESET", c);
		if (stats().transport.needs_reset != resets + 1)
			fail_msg("case %u: %u needs-reset events", c, (unsigned)stats().transport.needs_reset - resets);
		if (msis(0) != cfg_irqs + 1)
			fail_msg("case %u: %u config interrupts", c, msis(0) - cfg_irqs);
		assert_int_equal(used_idx(0), used_before);
		assert_int_equal(arena_check_canaries(&F->a), 0);
		/* Nothing more is processed until reset. */
		post(0, req_chain(0, 1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
		kick(0);
		poll_dev();
		assert_int_equal(used_idx(0), used_before);
	}
	/* Reset recovers. */
	drv_init(ALL_FEATURES);
	fill(G_DATA, 4096, 8);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_DATA, 4096, 1, false), 0);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_IN, 0, G_DATA2, 4096, 1, false), 0);
	assert_memory_equal(gp(G_DATA2, 4096), gp(G_DATA, 4096), 4096);
	assert_int_equal(stats().transport.needs_reset, BAD_CASES);
}

static void test_completion_order_and_depth(void **state)
{
	struct virtio_blk_stats st;
	uint32_t id, len;
	uint16_t heads[20];

	drv_init(ALL_FEATURES);
	fill(G_DATA, 20 * 4096, 6);
	for (unsigned i = 0; i < 20; i++) {
		heads[i] = req_chain(0, i, VIRTIO_BLK_T_OUT, 8 * i, G_DATA + i * 4096, 4096, 1, false);
		post(0, heads[i]);
	}
	kick(0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	/* All on the backend at once. */
	assert_int_equal(F->fake->nq, 20);
	assert_int_equal(F->blk->inflight, 20);
	assert_int_equal(used_idx(0), 0);
	/* Completed in the backend's order, not the ring's. */
	fake_complete(F->fake, 19);
	fake_complete(F->fake, 5);
	fake_complete(F->fake, 0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(used_idx(0), 3);
	assert_true(take_used(0, &id, &len));
	assert_int_equal(id, heads[19]);
	assert_true(take_used(0, &id, &len));
	assert_int_equal(id, heads[5]);
	assert_true(take_used(0, &id, &len));
	assert_int_equal(id, heads[0]);
	/* One interrupt for the batch. */
	assert_int_equal(msis(1), 1);
	F->fake->lifo = true;
	poll_dev();
	assert_int_equal(used_idx(0), 20);
	assert_true(take_used(0, &id, &len));
	assert_int_equal(id, heads[18]);
	st = stats();
	assert_int_equal(st.max_inflight, 20);
	assert_memory_equal(F->fake->mem, gp(G_DATA, 20 * 4096), 20 * 4096);
	assert_int_equal(st.requests[VBLK_STAT_OUT], 20);
}

static int setup_big_async(void **state)
{
	v_init(&(struct vopts){ .fake = true, .async = true, .disk = 64 * MiB });
	return 0;
}

static void test_inflight_limits(void **state)
{
	struct virtio_blk_stats st;
	uint16_t head;

	drv_init(ALL_FEATURES);
	/* A driver that makes the same chain available again while it is in
	 * flight: the queue's slots (its size) run out, and the rest waits
	 * for completions instead of failing. */
	head = req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false);
	for (unsigned i = 0; i < V_QSIZE; i++)
		post(0, head);
	kick(0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(F->fake->nq, V_QSIZE);
	for (unsigned i = 0; i < 10; i++)
		post(0, head);
	kick(0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(F->fake->nq, V_QSIZE);
	for (unsigned i = 0; i < 4; i++)
		fake_complete(F->fake, 0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(used_idx(0), 4);
	assert_int_equal(F->fake->nq, V_QSIZE);         /* four more started */
	poll_dev();
	assert_int_equal(used_idx(0), V_QSIZE + 10);
	st = stats();
	assert_int_equal(st.max_inflight, V_QSIZE);
	assert_int_equal(status(), 0x0f);

	/* The bounce-buffer budget: two 24 MiB reads fit in 64 MiB, the
	 * third waits for one of them. */
	for (unsigned i = 0; i < 3; i++)
		post(0, req_chain(0, i, VIRTIO_BLK_T_IN, 0, G_DATA, 24 << 20, 1, false));
	kick(0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(F->fake->nq, 2);
	assert_int_equal(stats().deferred, 1);
	fake_complete(F->fake, 0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(F->fake->nq, 2);
	poll_dev();
	assert_int_equal(used_idx(0), V_QSIZE + 13);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(*(uint8_t *)gp(G_STATUS + i, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(F->v.blk.inflight_bytes, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_write_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multi_segment_any_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_completion_order_and_depth, setup_fake_async,
						teardown),
		cmocka_unit_test_setup_teardown(test_inflight_limits, setup_big_async, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
