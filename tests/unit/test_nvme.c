/* NVMe controller without PCI: registers and the enable/reset/shutdown state
 * machine, Identify, queue creation and deletion with every error status,
 * features, log pages, asynchronous events and Abort, hostile doorbells
 * (CSTS.CFS without an event request, an asynchronous event with one),
 * queue memory outside RAM, function reset and save/load. The I/O path is
 * test_nvme_io.c's, the PCI function and its engine thread test_nvme_pci.c's. */
#include <stdio.h>
#include "test_nvme_harness.h"

static struct nfx fx;

static int setup(void **state)
{
	nfx_init(&fx, NULL);
	*state = &fx;
	return 0;
}

static int setup_polled(void **state)
{
	struct nfx_opts o = { .polled = true };

	nfx_init(&fx, &o);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	nfx_fini(*state);
	return 0;
}

/* ---- Registers and state machine ---- */

static void test_registers_at_reset(void **state)
{
	struct nfx *f = *state;
	uint64_t cap = reg64(f, NVME_REG_CAP);

	assert_int_equal(NVME_CAP_MQES(cap), 1023);
	assert_true(cap & NVME_CAP_CQR);
	assert_int_equal((cap >> NVME_CAP_AMS_SHIFT) & 3, 0);
	assert_int_not_equal((cap >> NVME_CAP_TO_SHIFT) & 0xff, 0);
	assert_int_equal((cap >> NVME_CAP_DSTRD_SHIFT) & 0xf, 0);
	assert_true(cap & NVME_CAP_CSS_NVM);
	assert_int_equal((cap >> NVME_CAP_MPSMIN_SHIFT) & 0xf, 0);
	assert_int_equal((cap >> NVME_CAP_MPSMAX_SHIFT) & 0xf, 0);
	assert_int_equal(reg32(f, NVME_REG_CAP), (uint32_t)cap);
	assert_int_equal(reg32(f, NVME_REG_CAP + 4), (uint32_t)(cap >> 32));
	assert_int_equal(reg32(f, NVME_REG_VS), 0x00010400);
	assert_int_equal(reg32(f, NVME_REG_CC), 0);
	assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	/* Byte and word reads of a dword register. */
	{
		uint64_t v;

		nvme_ctrl_reg_read(&f->c, NVME_REG_VS + 2, &v, 2);
		assert_int_equal(v, 1);
		nvme_ctrl_reg_read(&f->c, NVME_REG_VS + 1, &v, 1);
		assert_int_equal(v, 4);
	}
	/* INTMS/INTMC: a mask, readable at both. */
	wreg32(f, NVME_REG_INTMS, 0x5);
	wreg32(f, NVME_REG_INTMC, 0x1);
	assert_int_equal(reg32(f, NVME_REG_INTMS), 0x4);
	assert_int_equal(reg32(f, NVME_REG_INTMC), 0x4);
	/* Read-only registers ignore writes; sub-dword writes are refused. */
	wreg32(f, NVME_REG_VS, 0);
	wreg32(f, NVME_REG_CAP, 0);
	assert_int_equal(reg32(f, NVME_REG_VS), 0x00010400);
	assert_int_equal(reg64(f, NVME_REG_CAP), cap);
	nvme_ctrl_reg_write(&f->c, NVME_REG_CC, NVME_CC_EN, 1);
	assert_int_equal(reg32(f, NVME_REG_CC), 0);
	/* 64-bit registers: whole and in halves. */
	wreg64(f, NVME_REG_ASQ, 0x123456789000ull);
	assert_int_equal(reg64(f, NVME_REG_ASQ), 0x123456789000ull);
	wreg32(f, NVME_REG_ACQ, 0xabc000);
	wreg32(f, NVME_REG_ACQ + 4, 0x1);
	assert_int_equal(reg64(f, NVME_REG_ACQ), 0x100abc000ull);
	wreg32(f, NVME_REG_AQA, 0xffffffff);
	assert_int_equal(reg32(f, NVME_REG_AQA), NVME_AQA_WRITABLE);
}

static void test_enable_disable(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;

	nfx_enable(f);
	create_ioq(f, 1, 16);
	/* CC fields other than SHN/IOSQES/IOCQES are frozen while enabled. */
	wreg32(f, NVME_REG_CC, reg32(f, NVME_REG_CC) | 1u << NVME_CC_MPS_SHIFT);
	assert_int_equal(reg32(f, NVME_REG_CC) & NVME_CC_MPS_MASK, 0);
	/* Disable: a controller reset. */
	wreg32(f, NVME_REG_CC, 0);
	assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	assert_false(f->c.sq[1].valid);
	assert_false(f->c.cq[1].valid);
	assert_false(f->c.sq[0].valid);
	/* Doorbells of a disabled controller are ignored (not an error). */
	nvme_ctrl_doorbell_write(&f->c, 0, 1);
	assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	/* Re-enable: fresh admin queue; I/O queue 1 is gone. */
	nfx_enable(f);
	s = sqe(f, NVME_ADM_DELETE_SQ, 0);
	s.cdw10 = 1;
	assert_int_equal(cmd(f, 0, s), NVME_SC_QID_INVALID | NVME_SC_DNR);
	create_ioq(f, 1, 16);
}

static void test_enable_refused(void **state)
{
	struct nfx *f = *state;
	const uint32_t cc = NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT;
	struct {
		uint32_t aqa, cc;
		uint64_t asq, acq;
	} bad[] = {
		{ 0x001f001f, cc, G_ASQ + 0x100, G_ACQ },            /* ASQ unaligned */
		{ 0x001f001f, cc, G_ASQ, G_ACQ + 8 },                /* ACQ unaligned */
		{ 0x001f0000, cc, G_ASQ, G_ACQ },                    /* one-entry SQ */
		{ 0x0000001f, cc, G_ASQ, G_ACQ },                    /* one-entry CQ */
		{ 0x001f001f, cc, 0, G_ACQ },                        /* ASQ never set */
		{ 0x001f001f, cc | 1u << NVME_CC_MPS_SHIFT, G_ASQ, G_ACQ },  /* 8 KiB pages */
		{ 0x001f001f, cc | 1u << NVME_CC_CSS_SHIFT, G_ASQ, G_ACQ },  /* command set */
		{ 0x001f001f, cc | 1u << NVME_CC_AMS_SHIFT, G_ASQ, G_ACQ },  /* arbitration */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		wreg32(f, NVME_REG_AQA, bad[i].aqa);
		wreg64(f, NVME_REG_ASQ, bad[i].asq);
		wreg64(f, NVME_REG_ACQ, bad[i].acq);
		wreg32(f, NVME_REG_CC, bad[i].cc);
		assert_int_equal(reg32(f, NVME_REG_CSTS), NVME_CSTS_CFS);
		/* Nothing runs. */
		nvme_ctrl_doorbell_write(&f->c, 0, 1);
		assert_int_equal(f->c.stats.admin_cmds[0], 0);
		/* A reset clears CFS. */
		wreg32(f, NVME_REG_CC, 0);
		assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	}
	nfx_enable(f);
}

static void test_shutdown(void **state)
{
	struct nfx *f = *state;
	uint32_t cc;

	nfx_enable(f);
	create_ioq(f, 1, 8);
	assert_int_equal(rw(f, 1, NVME_CMD_WRITE, 0, 8, G_DATA, 0), 0);
	cc = reg32(f, NVME_REG_CC);
	wreg32(f, NVME_REG_CC, cc | NVME_CC_SHN_NORMAL << NVME_CC_SHN_SHIFT);
	assert_int_equal((reg32(f, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK) >> NVME_CSTS_SHST_SHIFT,
			 NVME_CSTS_SHST_CMPLT);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_RDY);
	/* Disable with SHN still set: SHST stays, RDY goes. */
	wreg32(f, NVME_REG_CC, NVME_CC_SHN_NORMAL << NVME_CC_SHN_SHIFT);
	assert_int_equal(reg32(f, NVME_REG_CSTS), NVME_CSTS_SHST_CMPLT << NVME_CSTS_SHST_SHIFT);
	/* Clearing SHN clears SHST; the controller enables again. */
	wreg32(f, NVME_REG_CC, 0);
	assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	nfx_enable(f);
}

static void test_function_reset(void **state)
{
	struct nfx *f = *state;

	nfx_enable(f);
	create_ioq(f, 1, 8);
	wreg32(f, NVME_REG_INTMS, 1);
	nvme_ctrl_reset(&f->c);
	assert_int_equal(reg32(f, NVME_REG_CC), 0);
	assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	assert_int_equal(reg32(f, NVME_REG_AQA), 0);
	assert_int_equal(reg64(f, NVME_REG_ASQ), 0);
	assert_int_equal(reg64(f, NVME_REG_ACQ), 0);
	assert_int_equal(reg32(f, NVME_REG_INTMS), 0);
	assert_false(f->c.sq[1].valid);
	nfx_enable(f);
	create_ioq(f, 1, 8);
}

/* ---- Identify ---- */

static void test_identify_controller(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;
	uint8_t *id;

	nfx_enable(f);
	s = sqe(f, NVME_ADM_IDENTIFY, 0);
	s.cdw10 = NVME_ID_CNS_CTRL;
	assert_int_equal(admin_data(f, s, 4096), 0);
	id = gp(f, G_DATA, 4096);
	assert_int_equal(get_le16(id + NVME_IDCTRL_VID), 0x5744);
	assert_int_equal(get_le16(id + NVME_IDCTRL_SSVID), 0x5744);
	assert_memory_equal(id + NVME_IDCTRL_SN, "SN-TEST-0001        ", 20);
	assert_memory_equal(id + NVME_IDCTRL_MN, "Warden NVMe Controller                  ", 40);
	assert_memory_equal(id + NVME_IDCTRL_FR, "1.0     ", 8);
	assert_int_equal(id[NVME_IDCTRL_MDTS], 5);
	assert_int_equal(get_le16(id + NVME_IDCTRL_CNTLID), 7);
	assert_int_equal(get_le32(id + NVME_IDCTRL_VER), 0x00010400);
	assert_int_equal(id[NVME_IDCTRL_AERL], NVME_AERL);
	assert_int_equal(id[NVME_IDCTRL_ACL], NVME_ACL);
	assert_int_equal(id[NVME_IDCTRL_ELPE], NVME_ERROR_LOG_ENTRIES - 1);
	assert_int_equal(id[NVME_IDCTRL_SQES], 0x66);
	assert_int_equal(id[NVME_IDCTRL_CQES], 0x44);
	assert_int_equal(get_le32(id + NVME_IDCTRL_NN), 1);
	assert_true(get_le16(id + NVME_IDCTRL_ONCS) & NVME_ONCS_WRITE_ZEROES);
	assert_true(get_le16(id + NVME_IDCTRL_ONCS) & NVME_ONCS_DSM);
	assert_true(id[NVME_IDCTRL_VWC] & NVME_VWC_PRESENT);
	assert_int_not_equal(get_le16(id + NVME_IDCTRL_WCTEMP), 0);
	assert_int_equal(id[NVME_IDCTRL_CNTRLTYPE], 1);
	assert_memory_equal(id + NVME_IDCTRL_SUBNQN, "nqn.", 4);
	/* The whole 4 KiB was written (reserved bytes zero), nothing after. */
	assert_int_equal(id[4095], 0);
	assert_int_equal(*(uint8_t *)gp(f, G_DATA + 4096, 1), 0xee);
	/* Unknown CNS. */
	s = sqe(f, NVME_ADM_IDENTIFY, 0);
	s.cdw10 = 0x1f;
	assert_int_equal(admin_data(f, s, 4096), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(*(uint8_t *)gp(f, G_DATA, 1), 0xee);
}

static void test_identify_namespace(void **state)
{
	struct nfx *f = *state;
	uint32_t bad[] = { 0, 2, NVME_NSID_ALL };
	struct nvme_sqe s;
	uint8_t *id;

	nfx_enable(f);
	s = sqe(f, NVME_ADM_IDENTIFY, 1);
	s.cdw10 = NVME_ID_CNS_NS;
	assert_int_equal(admin_data(f, s, 4096), 0);
	id = gp(f, G_DATA, 4096);
	assert_int_equal(get_le64(id + NVME_IDNS_NSZE), NFX_DISK / 512);
	assert_int_equal(get_le64(id + NVME_IDNS_NCAP), NFX_DISK / 512);
	assert_int_equal(id[NVME_IDNS_NLBAF], 0);
	assert_int_equal(id[NVME_IDNS_FLBAS], 0);
	assert_int_equal((get_le32(id + NVME_IDNS_LBAF0) >> 16) & 0xff, 9);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = sqe(f, NVME_ADM_IDENTIFY, bad[i]);
		s.cdw10 = NVME_ID_CNS_NS;
		assert_int_equal(admin_data(f, s, 4096), NVME_SC_INVALID_NS | NVME_SC_DNR);
	}
	/* Active namespace list: NSIDs above the one given. */
	s = sqe(f, NVME_ADM_IDENTIFY, 0);
	s.cdw10 = NVME_ID_CNS_NS_ACTIVE_LIST;
	assert_int_equal(admin_data(f, s, 4096), 0);
	assert_int_equal(get_le32(id), 1);
	assert_int_equal(get_le32(id + 4), 0);
	s = sqe(f, NVME_ADM_IDENTIFY, 1);
	s.cdw10 = NVME_ID_CNS_NS_ACTIVE_LIST;
	assert_int_equal(admin_data(f, s, 4096), 0);
	assert_int_equal(get_le32(id), 0);
	s = sqe(f, NVME_ADM_IDENTIFY, 0xfffffffe);
	s.cdw10 = NVME_ID_CNS_NS_ACTIVE_LIST;
	assert_int_equal(admin_data(f, s, 4096), NVME_SC_INVALID_NS | NVME_SC_DNR);
	/* Namespace identification descriptors: an NGUID equal to Identify's. */
	{
		uint8_t nguid[16];

		s = sqe(f, NVME_ADM_IDENTIFY, 1);
		s.cdw10 = NVME_ID_CNS_NS;
		assert_int_equal(admin_data(f, s, 4096), 0);
		memcpy(nguid, id + NVME_IDNS_NGUID, 16);
		s = sqe(f, NVME_ADM_IDENTIFY, 1);
		s.cdw10 = NVME_ID_CNS_NS_DESC_LIST;
		assert_int_equal(admin_data(f, s, 4096), 0);
		assert_int_equal(id[0], NVME_NIDT_NGUID);
		assert_int_equal(id[1], 16);
		assert_memory_equal(id + 4, nguid, 16);
		assert_int_equal(id[20], 0);
	}
}

static void test_identify_4k_blocks(void **state)
{
	struct nfx_opts o = { .fake = true, .block_size = 4096 };
	struct nfx f;
	struct nvme_sqe s;
	uint8_t *id;

	(void)state;
	nfx_init(&f, &o);
	nfx_enable(&f);
	s = sqe(&f, NVME_ADM_IDENTIFY, 1);
	s.cdw10 = NVME_ID_CNS_NS;
	assert_int_equal(admin_data(&f, s, 4096), 0);
	id = gp(&f, G_DATA, 4096);
	assert_int_equal(get_le64(id + NVME_IDNS_NSZE), NFX_DISK / 4096);
	assert_int_equal((get_le32(id + NVME_IDNS_LBAF0) >> 16) & 0xff, 12);
	/* 32 blocks of 4 KiB is exactly MDTS; 33 is not. */
	create_ioq(&f, 1, 8);
	assert_int_equal(rw(&f, 1, NVME_CMD_WRITE, 0, 1, G_DATA, 0), 0);
	prp_list(&f, G_PRPL, G_DATA + 4096, 32);
	assert_int_equal(rw(&f, 1, NVME_CMD_READ, 0, 32, G_DATA, G_PRPL), 0);
	assert_int_equal(rw(&f, 1, NVME_CMD_READ, 0, 33, G_DATA, G_PRPL),
			 NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	nfx_fini(&f);
}

/* ---- Queue management ---- */

static void test_queue_create_errors(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;

	nfx_enable(f);
	/* CQ: queue identifier 0, beyond the allocation, a duplicate. */
	assert_int_equal(create_cq(f, 0, 8, 0, true), NVME_SC_QID_INVALID | NVME_SC_DNR);
	assert_int_equal(create_cq(f, NVME_DEFAULT_IOQS + 1, 8, 1, true),
			 NVME_SC_QID_INVALID | NVME_SC_DNR);
	assert_int_equal(create_cq(f, 1, 8, 1, true), 0);
	assert_int_equal(create_cq(f, 1, 8, 1, true), NVME_SC_QID_INVALID | NVME_SC_DNR);
	/* Sizes: one entry, more than MQES + 1. */
	assert_int_equal(create_cq(f, 2, 1, 2, true), NVME_SC_QUEUE_SIZE | NVME_SC_DNR);
	assert_int_equal(create_cq(f, 2, 1024, 2, true), 0);
	s = sqe(f, NVME_ADM_CREATE_CQ, 0);
	s.prp1 = G_CQ(3);
	s.cdw10 = 3 | 1024u << 16;          /* 1025 entries */
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG;
	assert_int_equal(cmd(f, 0, s), NVME_SC_QUEUE_SIZE | NVME_SC_DNR);
	/* Not physically contiguous. */
	s = sqe(f, NVME_ADM_CREATE_CQ, 0);
	s.prp1 = G_CQ(3);
	s.cdw10 = 3 | 7u << 16;
	s.cdw11 = NVME_CQ_IRQ_ENABLED;
	assert_int_equal(cmd(f, 0, s), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Interrupt vector beyond the MSI-X table (max_ioqs + 1 vectors). */
	assert_int_equal(create_cq(f, 3, 8, NVME_DEFAULT_IOQS + 1, true),
			 NVME_SC_INVALID_VECTOR | NVME_SC_DNR);
	assert_int_equal(create_cq(f, 3, 8, NVME_DEFAULT_IOQS, true), 0);
	/* Base not page aligned. */
	s = sqe(f, NVME_ADM_CREATE_CQ, 0);
	s.prp1 = G_CQ(4) + 0x10;
	s.cdw10 = 4 | 7u << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG;
	assert_int_equal(cmd(f, 0, s), NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);

	/* SQ: identifier, size, its CQ, contiguity, alignment. */
	assert_int_equal(create_sq(f, 0, 8, 1), NVME_SC_QID_INVALID | NVME_SC_DNR);
	assert_int_equal(create_sq(f, NVME_DEFAULT_IOQS + 1, 8, 1), NVME_SC_QID_INVALID | NVME_SC_DNR);
	assert_int_equal(create_sq(f, 1, 1, 1), NVME_SC_QUEUE_SIZE | NVME_SC_DNR);
	assert_int_equal(create_sq(f, 1, 8, 0), NVME_SC_CQ_INVALID | NVME_SC_DNR);
	assert_int_equal(create_sq(f, 1, 8, 5), NVME_SC_CQ_INVALID | NVME_SC_DNR);
	assert_int_equal(create_sq(f, 1, 8, 0xffff), NVME_SC_CQ_INVALID | NVME_SC_DNR);
	s = sqe(f, NVME_ADM_CREATE_SQ, 0);
	s.prp1 = G_SQ(1);
	s.cdw10 = 1 | 7u << 16;
	s.cdw11 = 1u << 16;
	assert_int_equal(cmd(f, 0, s), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	s = sqe(f, NVME_ADM_CREATE_SQ, 0);
	s.prp1 = G_SQ(1) + 64;
	s.cdw10 = 1 | 7u << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | 1u << 16;
	assert_int_equal(cmd(f, 0, s), NVME_SC_PRP_OFFSET_INVALID | NVME_SC_DNR);
	assert_int_equal(create_sq(f, 1, 8, 1), 0);
	assert_int_equal(create_sq(f, 1, 8, 1), NVME_SC_QID_INVALID | NVME_SC_DNR);
	/* Two SQs may share a CQ. */
	assert_int_equal(create_sq(f, 2, 8, 1), 0);
	assert_int_equal(f->c.cq[1].nsqs, 2);
}

static void test_queue_delete(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;

	nfx_enable(f);
	create_ioq(f, 1, 8);
	/* A CQ in use cannot go. */
	s = sqe(f, NVME_ADM_DELETE_CQ, 0);
	s.cdw10 = 1;
	assert_int_equal(cmd(f, 0, s), NVME_SC_INVALID_QUEUE_DELETION | NVME_SC_DNR);
	/* The admin queues and absent queues are not deletable. */
	s = sqe(f, NVME_ADM_DELETE_SQ, 0);
	s.cdw10 = 0;
	assert_int_equal(cmd(f, 0, s), NVME_SC_QID_INVALID | NVME_SC_DNR);
	s = sqe(f, NVME_ADM_DELETE_CQ, 0);
	s.cdw10 = 0;
	assert_int_equal(cmd(f, 0, s), NVME_SC_QID_INVALID | NVME_SC_DNR);
	s = sqe(f, NVME_ADM_DELETE_SQ, 0);
	s.cdw10 = 5;
	assert_int_equal(cmd(f, 0, s), NVME_SC_QID_INVALID | NVME_SC_DNR);
	s = sqe(f, NVME_ADM_DELETE_SQ, 0);
	s.cdw10 = 0xffff;
	assert_int_equal(cmd(f, 0, s), NVME_SC_QID_INVALID | NVME_SC_DNR);
	/* SQ first, then its CQ. */
	s = sqe(f, NVME_ADM_DELETE_SQ, 0);
	s.cdw10 = 1;
	assert_int_equal(cmd(f, 0, s), 0);
	s = sqe(f, NVME_ADM_DELETE_CQ, 0);
	s.cdw10 = 1;
	assert_int_equal(cmd(f, 0, s), 0);
	assert_false(f->c.cq[1].valid);
	/* And back. */
	create_ioq(f, 1, 8);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 1, G_DATA, 0), 0);
}

static void test_invalid_admin_opcode(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;

	nfx_enable(f);
	assert_int_equal(cmd(f, 0, sqe(f, 0x7f, 0)), NVME_SC_INVALID_OPCODE | NVME_SC_DNR);
	assert_int_equal(cmd(f, 0, sqe(f, NVME_CMD_READ + 0x80, 1)),
			 NVME_SC_INVALID_OPCODE | NVME_SC_DNR);
	/* Fused commands and SGLs are not supported. */
	s = sqe(f, NVME_ADM_IDENTIFY, 0);
	s.cdw10 = NVME_ID_CNS_CTRL;
	s.flags = 0x40;
	assert_int_equal(admin_data(f, s, 4096), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	s.cid = f->next_cid++;
	s.flags = 0x01;
	assert_int_equal(admin_data(f, s, 4096), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(f->c.stats.admin_cmds[0x7f], 1);
}

/* ---- Features ---- */

static uint16_t get_feat(struct nfx *f, uint8_t fid, uint8_t sel, uint32_t cdw11, uint32_t *val)
{
	struct nvme_sqe s = sqe(f, NVME_ADM_GET_FEATURES, 0);
	uint16_t st;

	s.cdw10 = fid | (uint32_t)sel << NVME_FEAT_SEL_SHIFT;
	s.cdw11 = cdw11;
	st = cmd(f, 0, s);
	*val = f->last.cdw0;
	return st;
}

static uint16_t set_feat(struct nfx *f, uint8_t fid, uint32_t cdw11)
{
	struct nvme_sqe s = sqe(f, NVME_ADM_SET_FEATURES, 0);

	s.cdw10 = fid;
	s.cdw11 = cdw11;
	return cmd(f, 0, s);
}

static void test_features(void **state)
{
	struct nfx *f = *state;
	struct {
		uint8_t fid;
		uint32_t val;
	} stored[] = {
		{ NVME_FEAT_ARBITRATION, 0x01020307 },
		{ NVME_FEAT_POWER_MGMT, 0x20 },             /* workload hint, PS 0 */
		{ NVME_FEAT_VOLATILE_WC, 0 },
		{ NVME_FEAT_IRQ_COALESCE, 0x0a08 },
		{ NVME_FEAT_WRITE_ATOMIC, 1 },
		{ NVME_FEAT_ASYNC_EVENT, 0x1ff },
	};
	uint32_t v;
	struct nvme_sqe s;

	nfx_enable(f);
	/* Number of Queues: the allocation is the smaller of asked and had. */
	assert_int_equal(get_feat(f, NVME_FEAT_NUM_QUEUES, 0, 0, &v), 0);
	assert_int_equal(v, (NVME_DEFAULT_IOQS - 1) << 16 | (NVME_DEFAULT_IOQS - 1));
	assert_int_equal(set_feat(f, NVME_FEAT_NUM_QUEUES, 63u << 16 | 1), 0);
	assert_int_equal(f->last.cdw0, (NVME_DEFAULT_IOQS - 1) << 16 | 1);
	assert_int_equal(get_feat(f, NVME_FEAT_NUM_QUEUES, 0, 0, &v), 0);
	assert_int_equal(v, (NVME_DEFAULT_IOQS - 1) << 16 | 1);
	assert_int_equal(set_feat(f, NVME_FEAT_NUM_QUEUES, 0xffff), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Two SQs allocated: SQ 3 is out, CQ 3 is in. */
	assert_int_equal(create_cq(f, 3, 8, 3, true), 0);
	assert_int_equal(create_sq(f, 3, 8, 3), NVME_SC_QID_INVALID | NVME_SC_DNR);
	assert_int_equal(create_sq(f, 2, 8, 3), 0);
	/* Fixed once queues exist. */
	assert_int_equal(set_feat(f, NVME_FEAT_NUM_QUEUES, 0), NVME_SC_CMD_SEQ_ERROR | NVME_SC_DNR);
	/* Default and supported-capabilities selects. */
	assert_int_equal(get_feat(f, NVME_FEAT_NUM_QUEUES, NVME_FEAT_SEL_DEFAULT, 0, &v), 0);
	assert_int_equal(v, (NVME_DEFAULT_IOQS - 1) << 16 | (NVME_DEFAULT_IOQS - 1));
	assert_int_equal(get_feat(f, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_SUPPORTED, 0, &v), 0);
	assert_int_equal(v, NVME_FEAT_CAP_CHANGEABLE);
	assert_int_equal(get_feat(f, NVME_FEAT_ARBITRATION, 4, 0, &v), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Stored and returned. */
	for (unsigned i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
		assert_int_equal(set_feat(f, stored[i].fid, stored[i].val), 0);
		assert_int_equal(get_feat(f, stored[i].fid, 0, 0, &v), 0);
		assert_int_equal(v, stored[i].val);
	}
	assert_int_equal(get_feat(f, NVME_FEAT_VOLATILE_WC, NVME_FEAT_SEL_DEFAULT, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(get_feat(f, NVME_FEAT_VOLATILE_WC, NVME_FEAT_SEL_SAVED, 0, &v), 0);
	assert_int_equal(v, 1);
	/* Power state beyond NPSS. */
	assert_int_equal(set_feat(f, NVME_FEAT_POWER_MGMT, 1), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Temperature thresholds: over and under for the composite sensor. */
	assert_int_equal(get_feat(f, NVME_FEAT_TEMP_THRESH, 0, 0, &v), 0);
	assert_int_equal(v, 343);
	assert_int_equal(set_feat(f, NVME_FEAT_TEMP_THRESH, 350), 0);
	assert_int_equal(set_feat(f, NVME_FEAT_TEMP_THRESH, 1u << 20 | 270), 0);
	assert_int_equal(get_feat(f, NVME_FEAT_TEMP_THRESH, 0, 0, &v), 0);
	assert_int_equal(v, 350);
	assert_int_equal(get_feat(f, NVME_FEAT_TEMP_THRESH, 0, 1u << 20, &v), 0);
	assert_int_equal(v, 270);
	assert_int_equal(set_feat(f, NVME_FEAT_TEMP_THRESH, 3u << 16 | 300), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(set_feat(f, NVME_FEAT_TEMP_THRESH, 2u << 20 | 300), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Interrupt vector configuration: per vector, within the table. */
	assert_int_equal(set_feat(f, NVME_FEAT_IRQ_CONFIG, 1u << 16 | 2), 0);
	assert_int_equal(get_feat(f, NVME_FEAT_IRQ_CONFIG, 0, 2, &v), 0);
	assert_int_equal(v, 1u << 16 | 2);
	assert_int_equal(get_feat(f, NVME_FEAT_IRQ_CONFIG, 0, 1, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(set_feat(f, NVME_FEAT_IRQ_CONFIG, NVME_DEFAULT_IOQS + 1),
			 NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Save bit, unknown features. */
	s = sqe(f, NVME_ADM_SET_FEATURES, 0);
	s.cdw10 = NVME_FEAT_ARBITRATION | NVME_SET_FEAT_SAVE;
	assert_int_equal(cmd(f, 0, s), NVME_SC_FEATURE_NOT_SAVEABLE | NVME_SC_DNR);
	assert_int_equal(set_feat(f, 0x7f, 0), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(get_feat(f, 0x00, 0, 0, &v), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* A controller reset brings defaults back. */
	wreg32(f, NVME_REG_CC, 0);
	nfx_enable(f);
	assert_int_equal(get_feat(f, NVME_FEAT_ARBITRATION, 0, 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(get_feat(f, NVME_FEAT_NUM_QUEUES, 0, 0, &v), 0);
	assert_int_equal(v, (NVME_DEFAULT_IOQS - 1) << 16 | (NVME_DEFAULT_IOQS - 1));
}

/* ---- Log pages ---- */

static uint16_t get_log(struct nfx *f, uint8_t lid, uint32_t nsid, uint32_t bytes, uint64_t off)
{
	struct nvme_sqe s = sqe(f, NVME_ADM_GET_LOG_PAGE, nsid);
	uint32_t numd = bytes / 4 - 1;

	s.cdw10 = lid | (numd & 0xffff) << 16;
	s.cdw11 = numd >> 16;
	s.cdw12 = (uint32_t)off;
	s.cdw13 = (uint32_t)(off >> 32);
	return admin_data(f, s, bytes + 64 < 8192 ? 8192 : bytes + 64);
}

static void test_log_pages(void **state)
{
	struct nfx *f = *state;
	uint8_t *log = gp(f, G_DATA, 8192);
	uint16_t bad_cid;

	nfx_enable(f);
	create_ioq(f, 1, 8);
	/* 1 MiB written, 4 KiB read. */
	prp_list(f, G_PRPL, G_DATA2 + 4096, 31);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(rw(f, 1, NVME_CMD_WRITE, i * 256, 256, G_DATA2, G_PRPL), 0);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 8, G_DATA2, 0), 0);

	assert_int_equal(get_log(f, NVME_LOG_SMART, NVME_NSID_ALL, 512, 0), 0);
	assert_int_equal(log[NVME_SMART_CRIT_WARN], 0);
	assert_in_range(get_le16(log + NVME_SMART_TEMPERATURE), 273, 350);
	assert_int_equal(log[NVME_SMART_AVAIL_SPARE], 100);
	assert_int_equal(log[NVME_SMART_SPARE_THRESH], 10);
	/* 8 x 128 KiB = 2048 units of 512 bytes = 3 data units (rounded up). */
	assert_int_equal(get_le64(log + NVME_SMART_DATA_UNITS_WRITTEN), 3);
	assert_int_equal(get_le64(log + NVME_SMART_DATA_UNITS_READ), 1);
	assert_int_equal(get_le64(log + NVME_SMART_HOST_WRITES), 8);
	assert_int_equal(get_le64(log + NVME_SMART_HOST_READS), 1);
	assert_int_equal(get_le64(log + NVME_SMART_POWER_CYCLES), 1);
	assert_int_equal(log[512], 0xee);
	/* Per namespace (LPA bit 0) and a bad NSID. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 1, 512, 0), 0);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 2, 512, 0), NVME_SC_INVALID_NS | NVME_SC_DNR);
	/* Offset and a short read: dwords 2-3 are the temperature and spare. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 4, 0), 0);
	assert_int_equal(log[4], 0xee);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 8, 48), 0);
	assert_int_equal(get_le64(log), 3);
	assert_int_equal(log[8], 0xee);
	/* Reading past the end of the log returns zeroes. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 1024, 256), 0);
	assert_int_equal(log[300], 0);
	assert_int_equal(log[1023], 0);
	assert_int_equal(log[1024], 0xee);
	/* Bad offsets and lengths. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 8, 2), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 8, 512), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 8, 1ull << 40), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* NUMDU in use: 512 KiB is more than MDTS. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 512 * 1024, 0), NVME_SC_INVALID_FIELD | NVME_SC_DNR);
	/* Unknown log page. */
	assert_int_equal(get_log(f, 0x7e, 0, 512, 0), NVME_SC_INVALID_LOG_PAGE | NVME_SC_DNR);

	/* Error information: the newest entry first. */
	{
		struct nvme_sqe s = rw_sqe(f, NVME_CMD_READ, NFX_DISK / 512, 1, G_DATA, 0);

		bad_cid = s.cid;
		assert_int_equal(cmd(f, 1, s), NVME_SC_LBA_RANGE | NVME_SC_DNR);
	}
	assert_int_equal(get_log(f, NVME_LOG_ERROR, 0, 64 * 16, 0), 0);
	assert_int_not_equal(get_le64(log), 0);
	assert_int_equal(get_le16(log + 8), 1);             /* SQID */
	assert_int_equal(get_le16(log + 10), bad_cid);
	assert_int_equal(get_le16(log + 12) >> 1, NVME_SC_LBA_RANGE | NVME_SC_DNR);
	assert_int_equal(get_le64(log + 16), NFX_DISK / 512);
	assert_int_equal(get_le32(log + 24), 1);
	assert_true(get_le64(log) > get_le64(log + 64));     /* older after */
	/* SMART counts error log entries. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 512, 0), 0);
	assert_true(get_le64(log + NVME_SMART_NUM_ERR_LOG) >= 2);
	/* Firmware slot information. */
	assert_int_equal(get_log(f, NVME_LOG_FW_SLOT, 0, 512, 0), 0);
	assert_int_equal(log[0], 1);
	assert_memory_equal(log + 8, "1.0     ", 8);
}

static void test_smart_temperature_warning(void **state)
{
	struct nfx *f = *state;
	uint8_t *log = gp(f, G_DATA, 512);

	nfx_enable(f);
	assert_int_equal(set_feat(f, NVME_FEAT_TEMP_THRESH, 300), 0);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 512, 0), 0);
	assert_true(log[NVME_SMART_CRIT_WARN] & NVME_SMART_CRIT_TEMPERATURE);
	assert_int_equal(set_feat(f, NVME_FEAT_TEMP_THRESH, 343), 0);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 512, 0), 0);
	assert_int_equal(log[NVME_SMART_CRIT_WARN], 0);
}

/* ---- Asynchronous events, Abort ---- */

static void aer_submit(struct nfx *f, uint16_t *cid)
{
	struct nvme_sqe s = sqe(f, NVME_ADM_ASYNC_EVENT, 0);
	struct nvme_cqe e;

	*cid = s.cid;
	sq_put(f, 0, &s);
	sq_ring(f, 0);
	assert_false(cq_peek(f, 0, &e));    /* kept outstanding */
}

static void test_aer_limit_and_abort(void **state)
{
	struct nfx *f = *state;
	uint16_t cids[NVME_AERL + 1];
	struct nvme_sqe s;

	nfx_enable(f);
	for (unsigned i = 0; i <= NVME_AERL; i++)
		aer_submit(f, &cids[i]);
	assert_int_equal(f->c.aer_count, NVME_AERL + 1);
	assert_int_equal(cmd(f, 0, sqe(f, NVME_ADM_ASYNC_EVENT, 0)), NVME_SC_ASYNC_LIMIT);
	/* Abort: never aborts (CDW0 bit 0 set). */
	s = sqe(f, NVME_ADM_ABORT, 0);
	s.cdw10 = 0 | (uint32_t)cids[0] << 16;
	assert_int_equal(cmd(f, 0, s), 0);
	assert_int_equal(f->last.cdw0 & 1, 1);
	/* Outstanding event requests hold admin CQ slots: with a queue of 32
	 * and 4 requests outstanding, 27 more commands still complete. */
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(cmd(f, 0, sqe(f, NVME_ADM_ABORT, 0)), 0);
	/* A reset drops them. */
	wreg32(f, NVME_REG_CC, 0);
	assert_int_equal(f->c.aer_count, 0);
}

static void test_invalid_doorbell_sets_cfs(void **state)
{
	struct nfx *f = *state;
	struct {
		unsigned slot;
		uint32_t value;
	} bad[] = {
		{ 2 * 5, 1 },                   /* SQ 5 does not exist */
		{ 2 * 1 + 1, 0 },               /* CQ 1 does not exist */
		{ 2 * 200, 0 },                 /* beyond any queue */
		{ 0, NFX_ADMIN_DEPTH },         /* admin SQ tail == size */
		{ 1, NFX_ADMIN_DEPTH + 7 },     /* admin CQ head beyond size */
		{ 1, 3 },                       /* admin CQ head past what was posted */
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nfx_enable(f);
		nvme_ctrl_doorbell_write(&f->c, bad[i].slot, bad[i].value);
		assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
		/* Nothing is processed afterwards. */
		sq_put(f, 0, &(struct nvme_sqe){ .opcode = NVME_ADM_ABORT, .cid = 1 });
		nvme_ctrl_doorbell_write(&f->c, 0, f->q[0].sq_tail);
		assert_int_equal(f->c.sq[0].head, 0);
		wreg32(f, NVME_REG_CC, 0);
		assert_int_equal(reg32(f, NVME_REG_CSTS), 0);
	}
	assert_int_equal(f->c.stats.invalid_doorbells, sizeof(bad) / sizeof(bad[0]));
}

static void test_invalid_doorbell_async_event(void **state)
{
	struct nfx *f = *state;
	struct {
		unsigned slot;
		uint32_t value;
		uint8_t info;
	} bad[] = {
		{ 2 * 5, 1, NVME_AER_ERR_INVALID_DB },
		{ 2 * 1, 16, NVME_AER_ERR_INVALID_DB_VAL },     /* SQ 1 has 16 entries */
		{ 2 * 1 + 1, 17, NVME_AER_ERR_INVALID_DB_VAL },
		{ 2 * 1 + 1, 1, NVME_AER_ERR_INVALID_DB_VAL },  /* nothing posted on CQ 1 */
		{ 2 * 6 + 1, 0, NVME_AER_ERR_INVALID_DB },
	};
	struct nvme_cqe e;
	uint16_t cid;

	nfx_enable(f);
	create_ioq(f, 1, 16);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aer_submit(f, &cid);
		ring(f, bad[i].slot, bad[i].value);
		assert_int_equal(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS, 0);
		assert_true(cq_pop(f, 0, &e));
		cq_ring(f, 0);
		assert_int_equal(e.cid, cid);
		assert_int_equal(status_of(&e), 0);
		assert_int_equal(e.cdw0, NVME_AER_TYPE_ERROR | (uint32_t)bad[i].info << 8 |
					 (uint32_t)NVME_LOG_ERROR << 16);
		/* The queues still work and their state is untouched. */
		assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 1, G_DATA, 0), 0);
	}
	assert_int_equal(f->c.stats.async_events, sizeof(bad) / sizeof(bad[0]));
	/* Without an outstanding request the next one is fatal. */
	ring(f, 2 * 5, 1);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
}

static void test_polled_invalid_doorbell(void **state)
{
	struct nfx *f = *state;
	uint16_t cid;
	struct nvme_cqe e;

	nfx_enable(f);
	create_ioq(f, 1, 8);
	/* A slot beyond any queue is seen by the full scan. */
	aer_submit(f, &cid);
	f->db_page[900] = 5;
	nfx_poll(f);
	assert_true(cq_pop(f, 0, &e));
	cq_ring(f, 0);
	assert_int_equal(e.cdw0 >> 8 & 0xff, NVME_AER_ERR_INVALID_DB);
	/* The bad value stays in the page but is reported once. */
	nfx_poll(f);
	assert_int_equal(f->c.stats.invalid_doorbells, 1);
	/* An out-of-range tail is ignored; the next good one works. */
	aer_submit(f, &cid);
	ring(f, 2, 8);
	assert_true(cq_pop(f, 0, &e));
	cq_ring(f, 0);
	assert_int_equal(e.cdw0 >> 8 & 0xff, NVME_AER_ERR_INVALID_DB_VAL);
	assert_int_equal(f->c.sq[1].tail, 0);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 0, 1, G_DATA, 0), 0);
	/* No request outstanding: CFS, and the engine stops doing anything. */
	ring(f, 2 * 3, 1);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_int_equal(nvme_ctrl_poll(&f->c, true, NULL), 0);
}

/* ---- Queue memory outside RAM ---- */

static void test_queue_memory_outside_ram(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;

	/* Admin SQ outside RAM: the first fetch is fatal. */
	wreg32(f, NVME_REG_AQA, 0x001f001f);
	wreg64(f, NVME_REG_ASQ, G_OUTSIDE);
	wreg64(f, NVME_REG_ACQ, G_ACQ);
	wreg32(f, NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	assert_int_equal(reg32(f, NVME_REG_CSTS), NVME_CSTS_RDY);
	nvme_ctrl_doorbell_write(&f->c, 0, 1);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
	wreg32(f, NVME_REG_CC, 0);

	/* Admin CQ outside RAM: the first completion is fatal. */
	wreg64(f, NVME_REG_ASQ, G_ASQ);
	wreg64(f, NVME_REG_ACQ, G_OUTSIDE);
	wreg32(f, NVME_REG_CC, NVME_CC_EN | 6u << NVME_CC_IOSQES_SHIFT | 4u << NVME_CC_IOCQES_SHIFT);
	f->q[0] = (struct nfx_q){ .sq_size = 32, .cq_size = 32, .phase = true };
	s = sqe(f, NVME_ADM_ABORT, 0);
	sq_put(f, 0, &s);
	sq_ring(f, 0);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
	wreg32(f, NVME_REG_CC, 0);

	/* An I/O SQ that runs off the end of RAM is created (its base is well
	 * formed) and is fatal at the first fetch past the end. */
	nfx_enable(f);
	assert_int_equal(create_cq(f, 1, 128, 1, true), 0);
	s = sqe(f, NVME_ADM_CREATE_SQ, 0);
	s.prp1 = NFX_RAM - 4096;
	s.cdw10 = 1 | 127u << 16;           /* 128 entries: 8 KiB, half outside */
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | 1u << 16;
	assert_int_equal(cmd(f, 0, s), 0);
	memset(gp(f, NFX_RAM - 4096, 4096), 0, 4096);   /* Flush, NSID 0: Invalid Namespace */
	ring(f, 2, 100);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_int_equal(f->c.sq[1].head, 64);
	assert_int_equal(f->c.stats.io_cmds[NVME_CMD_FLUSH], 64);
	wreg32(f, NVME_REG_CC, 0);
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

static void test_io_cq_outside_ram(void **state)
{
	struct nfx *f = *state;
	struct nvme_sqe s;

	nfx_enable(f);
	s = sqe(f, NVME_ADM_CREATE_CQ, 0);
	s.prp1 = G_OUTSIDE;
	s.cdw10 = 1 | 7u << 16;
	s.cdw11 = NVME_QUEUE_PHYS_CONTIG | NVME_CQ_IRQ_ENABLED | 1u << 16;
	assert_int_equal(cmd(f, 0, s), 0);
	assert_int_equal(create_sq(f, 1, 8, 1), 0);
	sq_put(f, 1, &(struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1, .prp1 = G_DATA });
	sq_ring(f, 1);
	assert_true(reg32(f, NVME_REG_CSTS) & NVME_CSTS_CFS);
	assert_int_equal(f->irqs[1], 0);
}

/* ---- Save / load ---- */

static void test_save_load(void **state)
{
	struct nfx *f = *state;
	struct nvme_ctrl_config cfg = { .name = "t1", .backend = f->blk, .dma = &f->as,
					.irq = nfx_irq, .irq_opaque = f };
	uint8_t *buf;
	uint16_t aer;
	int size;

	nfx_enable(f);
	create_ioq(f, 1, 8);
	assert_int_equal(set_feat(f, NVME_FEAT_ARBITRATION, 3), 0);
	for (unsigned i = 0; i < 11; i++)    /* CQ 1 wraps once */
		assert_int_equal(rw(f, 1, NVME_CMD_WRITE, i, 1, G_DATA, 0), 0);
	aer_submit(f, &aer);
	size = nvme_ctrl_save(&f->c, NULL, 0);
	assert_true(size > 0);
	buf = malloc((size_t)size);
	assert_non_null(buf);
	assert_int_equal(nvme_ctrl_save(&f->c, buf, (size_t)size - 1), -ENOSPC);
	assert_int_equal(nvme_ctrl_save(&f->c, buf, (size_t)size), size);

	/* A new controller of the same shape takes over. */
	nvme_ctrl_destroy(&f->c);
	assert_int_equal(nvme_ctrl_init(&f->c, &cfg), 0);
	assert_int_equal(nvme_ctrl_load(&f->c, buf, (size_t)size - 1), -EINVAL);
	assert_int_equal(nvme_ctrl_load(&f->c, buf, (size_t)size), 0);
	assert_int_equal(reg32(f, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(rw(f, 1, NVME_CMD_READ, 3, 1, G_DATA2, 0), 0);
	assert_int_equal(f->last.status & 1, 0);   /* second lap of CQ 1 */
	{
		uint32_t v;

		assert_int_equal(get_feat(f, NVME_FEAT_ARBITRATION, 0, 0, &v), 0);
		assert_int_equal(v, 3);
	}
	/* The outstanding event request survived. */
	ring(f, 2 * 7, 1);
	{
		struct nvme_cqe e;

		assert_true(cq_pop(f, 0, &e));
		assert_int_equal(e.cid, aer);
	}
	/* Corrupted records are refused. */
	buf[8 + 8 + 8] ^= 0xff;                 /* CC */
	assert_int_equal(nvme_ctrl_load(&f->c, buf, (size_t)size), -EINVAL);
	free(buf);
}

/* Found by fuzz_nvme: a record whose outstanding event requests do not fit
 * beside the admin completions not yet consumed was accepted, and the first
 * event then overran the admin CQ (used + reserved > size - 1). */
static void test_load_refuses_aer_without_cq_room(void **state)
{
	struct nfx *f = *state;
	uint8_t *buf;
	uint16_t aer;
	int size;

	nfx_enable_depth(f, 2);
	aer_submit(f, &aer);                     /* holds the one free slot */
	size = nvme_ctrl_save(&f->c, NULL, 0);
	assert_true(size > 0);
	buf = malloc((size_t)size);
	assert_non_null(buf);
	assert_int_equal(nvme_ctrl_save(&f->c, buf, (size_t)size), size);
	assert_int_equal(nvme_ctrl_load(&f->c, buf, (size_t)size), 0);
	/* The same record claiming one unconsumed completion: CQ 0 (2 slots)
	 * would need room for it and the event. */
	{
		/* The admin CQ's record: its base, then size 2, head, tail. */
		uint8_t want[10];
		uint64_t base = G_ACQ;
		uint16_t qsize = 2, tail = 1;
		size_t off;

		memcpy(want, &base, 8);
		memcpy(want + 8, &qsize, 2);
		for (off = 8; off + 14 <= (size_t)size; off += 8)
			if (!memcmp(buf + off, want, sizeof(want)))
				break;
		assert_true(off + 14 <= (size_t)size);
		memcpy(buf + off + 12, &tail, 2);
	}
	assert_int_equal(nvme_ctrl_load(&f->c, buf, (size_t)size), -EINVAL);
	/* Refused: the controller still runs on what it had. */
	assert_int_equal(reg32(f, NVME_REG_CSTS), NVME_CSTS_RDY);
	assert_int_equal(f->c.cq[0].reserved, 1);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers_at_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_function_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_controller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_namespace, setup, teardown),
		cmocka_unit_test(test_identify_4k_blocks),
		cmocka_unit_test_setup_teardown(test_queue_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_admin_opcode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smart_temperature_warning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aer_limit_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_doorbell_sets_cfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_doorbell_async_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_polled_invalid_doorbell, setup_polled, teardown),
		cmocka_unit_test_setup_teardown(test_queue_memory_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_cq_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_aer_without_cq_room, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
