/* The modern virtio-pci transport with virtio-blk behind it, driven
 * through a real PCI host and MMIO bus the way a guest driver would:
 * identity and capabilities, feature negotiation, the status machine and
 * reset (also from the PCI function, and waiting for requests in flight),
 * queue setup checks, device configuration, EVENT_IDX and NO_INTERRUPT
 * suppression, INTx with ISR, the ioeventfd windows following the BAR, the
 * PCI_CFG window, bus-master gating, several queues, and the I/O thread
 * woken by a real eventfd (as KVM's ioeventfd) and by trapped notify
 * writes. The request side is in test_virtio_blk.c. */
#include "test_virtio_harness.h"

/* ---- Tests ---- */

static void test_identity_and_caps(void **state)
{
	struct pci_device *d = dev();
	unsigned seen = 0;
	uint8_t c;

	assert_int_equal(pci_config_read(d, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(pci_config_read(d, PCI_DEVICE_ID, 2), 0x1042);
	assert_int_equal(pci_config_read(d, PCI_REVISION_ID, 1), 1);
	assert_int_equal(pci_config_read(d, PCI_CLASS_PROG, 1), 0x00);
	assert_int_equal(pci_config_read(d, PCI_CLASS_DEVICE, 2), 0x0180);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_ID, 2), 0x1100);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(d->bars[1].kind, PCI_BAR_MEM32);
	assert_int_equal(d->bars[1].size, 0x1000);
	assert_int_equal(d->bars[4].kind, PCI_BAR_MEM64);
	assert_int_equal(d->bars[4].size, 0x4000);
	assert_false(d->bars[4].prefetchable);
	for (c = (uint8_t)pci_config_read(d, PCI_CAPABILITY_LIST, 1); c;
	     c = (uint8_t)pci_config_read(d, c + 1, 1)) {
		uint32_t type, bar, off, len;

		if (pci_config_read(d, c, 1) == PCI_CAP_ID_EXP)
			seen |= 1u << 8;
		if (pci_config_read(d, c, 1) == PCI_CAP_ID_MSIX) {
			assert_int_equal(pci_config_read(d, c + PCI_MSIX_FLAGS, 2) &
					 PCI_MSIX_FLAGS_QSIZE, 1);    /* 2 vectors */
			assert_int_equal(pci_config_read(d, c + PCI_MSIX_TABLE, 4), 0x000 | 1);
			assert_int_equal(pci_config_read(d, c + PCI_MSIX_PBA, 4), 0x800 | 1);
			seen |= 1u << 9;
		}
		if (pci_config_read(d, c, 1) != PCI_CAP_ID_VNDR)
			continue;
		type = pci_config_read(d, c + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		bar = pci_config_read(d, c + VIRTIO_PCI_CAP_BAR, 1);
		off = pci_config_read(d, c + VIRTIO_PCI_CAP_OFFSET, 4);
		len = pci_config_read(d, c + VIRTIO_PCI_CAP_LENGTH, 4);
		seen |= 1u << type;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			assert_int_equal(off, 0x0000);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			assert_int_equal(off, 0x3000);
			assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_CAP_LEN, 1), 20);
			assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_NOTIFY_CAP_MULT, 4), 4);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			assert_int_equal(off, 0x1000);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			assert_int_equal(off, 0x2000);
			break;
		case VIRTIO_PCI_CAP_PCI_CFG:
			assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_CAP_LEN, 1), 20);
			continue;
		default:
			fail_msg("unexpected virtio capability type %u", type);
		}
		assert_int_equal(bar, 4);
		assert_int_equal(len, 0x1000);
	}
	assert_int_equal(seen, 0x33e);
	/* Notifications read as 0; BAR space past the regions is read-only. */
	assert_int_equal(rd(VIRTIO_PCI_NOTIFY_OFF, 4), 0);
	wr(VIRTIO_PCI_ISR_OFF, 1, 1);
	assert_int_equal(rd(VIRTIO_PCI_ISR_OFF, 1), 0);
}

static void test_init_errors(void **state)
{
	struct virtio_blk_pci v;
	struct virtio_blk_pci_config cfg = { .backend = F->blk, .dma = &F->as };

	cfg.queue_size = 48;
	assert_int_equal(virtio_blk_pci_init(&v, &cfg), -EINVAL);
	cfg.queue_size = 2048;
	assert_int_equal(virtio_blk_pci_init(&v, &cfg), -EINVAL);
	cfg.queue_size = 0;
	cfg.num_queues = VIRTIO_PCI_MAX_QUEUES + 1;
	assert_int_equal(virtio_blk_pci_init(&v, &cfg), -EINVAL);
	cfg.num_queues = 0;
	cfg.dma = NULL;
	assert_int_equal(virtio_blk_pci_init(&v, &cfg), -EINVAL);
	virtio_blk_pci_destroy(&v);             /* safe after a failed init */
	/* Defaults: one queue of 256; 64 queues, 16 of them with ioeventfds. */
	cfg.dma = &F->as;
	assert_int_equal(virtio_blk_pci_init(&v, &cfg), 0);
	assert_int_equal(v.t.num_queues, 1);
	assert_int_equal(v.t.queue_size_max, 256);
	virtio_blk_pci_destroy(&v);
	cfg.num_queues = VIRTIO_PCI_MAX_QUEUES;
	assert_int_equal(virtio_blk_pci_init(&v, &cfg), 0);
	assert_true(v.t.queues[PCI_BAR_MAX_IOEVENTFDS - 1].ioeventfd);
	assert_false(v.t.queues[PCI_BAR_MAX_IOEVENTFDS].ioeventfd);
	virtio_blk_pci_destroy(&v);
}

static void test_features(void **state)
{
	uint64_t f = device_features();

	assert_true(f & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_true(f & VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC));
	assert_true(f & VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	assert_true(f & VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM));
	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX));
	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE));
	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX));
	/* Selects past the second word read 0. */
	wr(VIRTIO_PCI_COMMON_DFSELECT, 2, 4);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_DF, 4), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_DFSELECT, 4), 2);

	/* A legacy-minded driver without VERSION_1: FEATURES_OK refused. */
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	driver_features(f & ~VIRTIO_BIT(VIRTIO_F_VERSION_1));
	set_status(0x0b);
	assert_int_equal(status(), 0x03);
	/* A bit that was never offered: refused too. */
	driver_features(f | VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX));
	set_status(0x0b);
	assert_int_equal(status(), 0x03);
	assert_int_equal(stats().transport.features_refused, 2);
	/* The offer itself: granted; written back as it was set. */
	driver_features(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	wr(VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_GF, 4), 1);
	set_status(0x0b);
	assert_int_equal(status(), 0x0b);
	/* Frozen after FEATURES_OK. */
	wr(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	wr(VIRTIO_PCI_COMMON_GF, 0xffffffff, 4);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_GF, 4), VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	assert_true(virtio_pci_has_feature(&F->v.t, VIRTIO_BLK_F_FLUSH));
	assert_false(virtio_pci_has_feature(&F->v.t, VIRTIO_BLK_F_DISCARD));
}

static void test_status_machine_and_reset(void **state)
{
	assert_int_equal(status(), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_NUMQ, 2), 1);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_CFGGENERATION, 1), 0);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	assert_int_equal(status(), 3);
	/* Clearing a bit is not the driver's to do. */
	set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE);
	assert_int_equal(status(), 3);
	/* Nor is NEEDS_RESET to set. */
	set_status(3 | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(status(), 3);
	/* DRIVER_OK without FEATURES_OK: the device needs a reset. */
	set_status(3 | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(status(), 3 | VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(stats().transport.needs_reset, 1);
	/* Reset: everything back, including what the driver set up. */
	drv_init(ALL_FEATURES);
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	set_status(0);
	assert_int_equal(status(), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), V_QSIZE);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
	wr(VIRTIO_PCI_COMMON_GFSELECT, 0, 4);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_GF, 4), 0);
	/* And it works again. */
	drv_init(ALL_FEATURES);
	fill(G_DATA, 4096, 1);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_OUT, 0, G_DATA, 4096, 1, false), 0);
	/* FAILED: the driver gave up; nothing is processed. */
	set_status(0x0f | VIRTIO_CONFIG_S_FAILED);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_IN, 0, G_DATA2, 512, 1, false));
	kick(0);
	poll_dev();
	assert_int_equal(used_idx(0), 1);
	assert_true(stats().transport.resets >= 3);
	/* The PCI function's reset resets the device too. */
	pci_device_reset(dev());
	pci_config_write(dev(), PCI_BASE_ADDRESS_0 + 16, (uint32_t)F->bar4, 4);
	pci_config_write(dev(), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(status(), 0);
}

static void test_queue_setup_validation(void **state)
{
	/* A queue that does not exist reads 0 and takes no writes. */
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 1, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, 16, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_NOFF, 2), 0);
	/* Enabling before FEATURES_OK: ignored. */
	wr(VIRTIO_PCI_COMMON_Q_DESCLO, G_DESC(0), 8);
	wr(VIRTIO_PCI_COMMON_Q_AVAILLO, G_AVAIL(0), 8);
	wr(VIRTIO_PCI_COMMON_Q_USEDLO, G_USED(0), 8);
	wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	set_status(3);
	driver_features(device_features());
	set_status(0x0b);
	/* Vectors the function does not have read back as NO_VECTOR. */
	wr(VIRTIO_PCI_COMMON_Q_MSIX, 2, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	wr(VIRTIO_PCI_COMMON_MSIX, 9, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	/* Field widths: a byte of queue_size, 8 bytes at the high half. */
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_SIZE, 1), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_DESCHI, 8), 0);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_DESCLO, 4), (uint32_t)G_DESC(0));
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_DESCHI, 4), 0);
	assert_int_equal(rd(0x3c, 4), 0);
	/* A size that is not a power of two, too large, a misaligned table:
	 * the queue stays off and the device needs a reset. */
	static const struct { uint16_t size; uint64_t desc; } bad[] = {
		{ 48, G_DESC(0) }, { 128, G_DESC(0) }, { 0, G_DESC(0) }, { 16, G_DESC(0) + 8 },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_status(0);
		set_status(3);
		driver_features(device_features());
		set_status(0x0b);
		wr(VIRTIO_PCI_COMMON_Q_SIZE, bad[i].size, 2);
		wr(VIRTIO_PCI_COMMON_Q_DESCLO, bad[i].desc, 8);
		wr(VIRTIO_PCI_COMMON_Q_AVAILLO, G_AVAIL(0), 8);
		wr(VIRTIO_PCI_COMMON_Q_USEDLO, G_USED(0), 8);
		wr(VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
		assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_true(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	}
	/* A good one; its layout is fixed while enabled; 0 is not written. */
	drv_init_size(ALL_FEATURES, 16);
	wr(VIRTIO_PCI_COMMON_Q_SIZE, 32, 2);
	wr(VIRTIO_PCI_COMMON_Q_DESCLO, G_DESC(1), 8);
	wr(VIRTIO_PCI_COMMON_Q_ENABLE, 0, 2);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_SIZE, 2), 16);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_DESCLO, 8), G_DESC(0));
	assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	assert_int_equal(status(), 0x0f);
	/* A 16-entry ring carries requests (the index wraps the ring). */
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
}

static void test_device_config(void **state)
{
	assert_int_equal(rd(VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CFG_CAPACITY, 8), V_DISK / 512);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_CAPACITY), V_DISK / 512);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_CAPACITY + 4), 0);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_SEG_MAX), V_QSIZE - 2);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_BLK_SIZE), 512);
	assert_int_equal(rd(VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CFG_NUM_QUEUES, 2), 1);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS), VIRTIO_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_MAX_DISCARD_SEG), VIRTIO_BLK_MAX_SEGS);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_DISCARD_ALIGN), 1);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_MAX_WZ_SECTORS), VIRTIO_BLK_MAX_DWZ_SECTORS);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_MAX_WZ_SEG), VIRTIO_BLK_MAX_SEGS);
	assert_int_equal(cfg8(VIRTIO_BLK_CFG_WZ_MAY_UNMAP), 1);
	assert_int_equal(cfg8(VIRTIO_BLK_CFG_WRITEBACK), 0);
	/* Past the structure: zero. Writes: ignored (no writable field). */
	assert_int_equal(cfg32(VIRTIO_BLK_CONFIG_SIZE), 0);
	assert_int_equal(rd(VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CONFIG_SIZE - 2, 4), 0);
	wr(VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CFG_CAPACITY, 1, 8);
	assert_int_equal(cfg32(VIRTIO_BLK_CFG_CAPACITY), V_DISK / 512);
}

static void test_event_idx_suppression(void **state)
{
	uint64_t used_event = G_AVAIL(0) + VIRTQ_AVAIL_RING + 2 * V_QSIZE;
	uint64_t avail_event = G_USED(0) + VIRTQ_USED_RING + 8 * V_QSIZE;

	drv_init(ALL_FEATURES);
	assert_true(F->features & VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	F->manual_used_event = true;
	put16(used_event, 10);
	/* The first used entry interrupts; then quiet until index 11. */
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(msis(1), 1);
	for (unsigned i = 0; i < 9; i++)
		assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(msis(1), 1);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(msis(1), 2);
	/* The device asks to be notified at the next entry. */
	assert_int_equal(get16(avail_event), 11);
	assert_int_equal(stats().transport.interrupts, 2);
	assert_int_equal(stats().transport.interrupts_suppressed, 9);

	/* Without EVENT_IDX: NO_INTERRUPT. */
	drv_init(ALL_FEATURES & ~VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	put16(G_AVAIL(0) + VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(msis(1), 2);
	put16(G_AVAIL(0) + VIRTQ_AVAIL_FLAGS, 0);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(msis(1), 3);
	/* NO_VECTOR: no interrupt at all. */
	wr(VIRTIO_PCI_COMMON_Q_SELECT, 0, 2);
	wr(VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR, 2);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(msis(1), 3);
	/* Without a notify, nothing is processed. */
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	poll_dev();
	assert_int_equal(used_idx(0), F->q[0].used);
	kick(0);
	poll_dev();
	assert_int_equal(used_idx(0), F->q[0].used + 1);
}

static void test_intx_fallback(void **state)
{
	drv_init(ALL_FEATURES);
	assert_false(pci_msix_enabled(dev()));
	assert_int_equal(F->intx, 0);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(F->intx, 1);
	assert_int_equal(rd(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(F->intx, 0);
	assert_int_equal(rd(VIRTIO_PCI_ISR_OFF, 1), 0);
	/* Bad input: a configuration change interrupt. */
	post(0, V_QSIZE);
	kick(0);
	poll_dev();
	assert_int_equal(F->intx, 1);
	assert_int_equal(rd(VIRTIO_PCI_ISR_OFF, 4), VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(F->intx, 0);
	/* INTX_DISABLE keeps the line quiet. */
	drv_init(ALL_FEATURES);
	pci_config_write(dev(), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			 PCI_COMMAND_INTX_DISABLE, 2);
	assert_int_equal(do_req(0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false), 0);
	assert_int_equal(F->intx, 0);
	assert_int_equal(rd(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_QUEUE);
}

static void test_ioeventfd_windows(void **state)
{
	struct pci_device *d = dev();
	struct ioev e = F->ioev[0];

	/* One window per queue, at its notify address, any size. */
	assert_int_equal(F->nioev, 1);
	assert_int_equal(e.gpa, F->bar4 + VIRTIO_PCI_NOTIFY_OFF);
	assert_int_equal(e.len, 0);
	assert_int_equal(e.fd, F->v.t.queues[0].kick_fd);
	/* BAR moved: the window follows; decode off: gone. */
	pci_config_write(d, PCI_BASE_ADDRESS_0 + 16, 0xd0000000, 4);
	assert_int_equal(F->nioev, 1);
	assert_int_equal(F->ioev[0].gpa, 0xd0000000ull + VIRTIO_PCI_NOTIFY_OFF);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MASTER, 2);
	assert_int_equal(F->nioev, 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY, 2);
	assert_int_equal(F->nioev, 1);
	F->bar4 = 0xd0000000ull;
	/* A write to the eventfd (what KVM does) is a notification. */
	drv_init(ALL_FEATURES);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	assert_int_equal(write(F->ioev[0].fd, &(uint64_t){ 1 }, 8), 8);
	poll_dev();
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(stats().transport.notify_traps, 0);
	assert_int_equal(stats().transport.notifies, 1);
	/* Notify writes that name no queue are guest errors, nothing more. */
	wr(VIRTIO_PCI_NOTIFY_OFF + 2, 0, 2);
	wr(VIRTIO_PCI_NOTIFY_OFF + 4, 1, 2);
	assert_int_equal(stats().transport.notify_traps, 0);
}

static void test_multiqueue(void **state)
{
	uint64_t f = device_features();

	assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(rd(VIRTIO_PCI_DEVICE_OFF + VIRTIO_BLK_CFG_NUM_QUEUES, 2), 3);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_NUMQ, 2), 3);
	assert_int_equal(F->nioev, 3);
	drv_init(ALL_FEATURES);
	for (unsigned q = 0; q < 3; q++) {
		wr(VIRTIO_PCI_COMMON_Q_SELECT, q, 2);
		assert_int_equal(rd(VIRTIO_PCI_COMMON_Q_NOFF, 2), q);
		fill(G_DATA + q * 4096, 4096, q);
		assert_int_equal(do_req(q, VIRTIO_BLK_T_OUT, 8 * q, G_DATA + q * 4096, 4096, 1,
					false), 0);
		assert_int_equal(msis(q + 1), 1);
	}
	/* Notifying queue 2 runs only queue 2. */
	post(1, req_chain(1, 0, VIRTIO_BLK_T_IN, 0, G_DATA2, 4096 * 3, 1, false));
	post(2, req_chain(2, 1, VIRTIO_BLK_T_IN, 0, G_DATA2 + 0x10000, 4096 * 3, 1, false));
	kick(2);
	poll_dev();
	assert_int_equal(used_idx(1), 1);
	assert_int_equal(used_idx(2), 2);
	kick(1);
	poll_dev();
	assert_int_equal(used_idx(1), 2);
	assert_memory_equal(gp(G_DATA2, 4096 * 3), gp(G_DATA, 4096 * 3), 4096 * 3);
	assert_memory_equal(gp(G_DATA2 + 0x10000, 4096 * 3), gp(G_DATA, 4096 * 3), 4096 * 3);
}

static void test_pci_cfg_window(void **state)
{
	struct pci_device *d = dev();
	uint8_t c = F->v.t.cfg_cap;

	drv_init(ALL_FEATURES);
	/* Read device_status (1 byte) through the window. */
	pci_config_write(d, c + VIRTIO_PCI_CAP_BAR, 4, 1);
	pci_config_write(d, c + VIRTIO_PCI_CAP_LENGTH, 1, 4);
	pci_config_write(d, c + VIRTIO_PCI_CAP_OFFSET, VIRTIO_PCI_COMMON_STATUS, 4);
	assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_CFG_CAP_DATA, 1), 0x0f);
	assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_CAP_OFFSET, 4), VIRTIO_PCI_COMMON_STATUS);
	/* Write device_feature_select, read the high feature word. */
	pci_config_write(d, c + VIRTIO_PCI_CAP_LENGTH, 4, 4);
	pci_config_write(d, c + VIRTIO_PCI_CAP_OFFSET, VIRTIO_PCI_COMMON_DFSELECT, 4);
	pci_config_write(d, c + VIRTIO_PCI_CFG_CAP_DATA, 1, 4);
	assert_int_equal(rd(VIRTIO_PCI_COMMON_DFSELECT, 4), 1);
	pci_config_write(d, c + VIRTIO_PCI_CAP_OFFSET, VIRTIO_PCI_COMMON_DF, 4);
	assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_CFG_CAP_DATA, 4), 0x3);
	/* Device configuration: the capacity's low word. */
	pci_config_write(d, c + VIRTIO_PCI_CAP_OFFSET, VIRTIO_PCI_DEVICE_OFF, 4);
	assert_int_equal(pci_config_read(d, c + VIRTIO_PCI_CFG_CAP_DATA, 4), V_DISK / 512);
	/* A misaligned offset or another BAR does nothing. */
	pci_config_write(d, c + VIRTIO_PCI_CAP_OFFSET, VIRTIO_PCI_COMMON_STATUS + 2, 4);
	pci_config_write(d, c + VIRTIO_PCI_CFG_CAP_DATA, 0, 4);
	pci_config_write(d, c + VIRTIO_PCI_CAP_BAR, 1, 1);
	pci_config_write(d, c + VIRTIO_PCI_CFG_CAP_DATA, 0, 4);
	assert_int_equal(status(), 0x0f);
	/* The other capabilities stay read-only. */
	pci_config_write(d, 0x40 + VIRTIO_PCI_CAP_OFFSET, 0x1234, 4);
	assert_int_equal(pci_config_read(d, 0x40 + VIRTIO_PCI_CAP_OFFSET, 4), 0);
}

static void test_bus_master_off(void **state)
{
	struct pci_device *d = dev();

	drv_init(ALL_FEATURES);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	poll_dev();
	/* No DMA at all, and not the driver's data's fault. */
	assert_int_equal(used_idx(0), 0);
	assert_int_equal(status(), 0x0f);
	assert_true(F->as.stats.blocked > 0);
	/* Bus mastering back on: the work goes on without another notify. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	poll_dev();
	assert_int_equal(used_idx(0), 1);
	assert_int_equal(*(uint8_t *)gp(G_STATUS, 1), VIRTIO_BLK_S_OK);
}

static void test_reset_waits_for_inflight(void **state)
{
	uint32_t id, len;
	uint16_t head;

	drv_init(ALL_FEATURES);
	fill(G_DATA, 4096, 7);
	head = req_chain(0, 0, VIRTIO_BLK_T_OUT, 0, G_DATA, 4096, 1, false);
	post(0, head);
	kick(0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(F->fake->nq, 1);
	/* The reset completes the request first (its buffer is the driver's
	 * until then), then resets: status reads 0 only after. */
	set_status(0);
	assert_int_equal(status(), 0);
	assert_int_equal(F->fake->nq, 0);
	assert_true(take_used(0, &id, &len));
	assert_int_equal(id, head);
	assert_memory_equal(F->fake->mem, gp(G_DATA, 4096), 4096);
	/* Destroy with a request in flight: drained first (the teardown). */
	drv_init(ALL_FEATURES);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_IN, 0, G_DATA2, 4096, 1, false));
	kick(0);
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), 0);
	assert_int_equal(F->fake->nq, 1);
}

struct waiter {
	uint64_t ns;                    /* how long the reset took */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *reset_thread(void *arg)
{
	struct waiter *w = arg;
	uint64_t t0 = now_ns();

	set_status(0);                  /* a vCPU writing device_status */
	w->ns = now_ns() - t0;
	return NULL;
}

static bool wait_used(unsigned q, uint16_t want)
{
	for (unsigned i = 0; i < 5000; i++) {
		if (used_idx(q) == want)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return false;
}

static void test_io_thread(void **state)
{
	struct virtio_blk_stats st;
	struct waiter w = { 0 };
	pthread_t th;

	drv_init(ALL_FEATURES);
	assert_int_equal(virtio_blk_pci_start(&F->v), 0);
	assert_int_equal(virtio_blk_pci_start(&F->v), 0);       /* already running */
	assert_int_equal(virtio_blk_pci_poll(&F->v, false), -EBUSY);
	/* A kick through the eventfd, as KVM's ioeventfd delivers it. */
	fill(G_DATA, 8192, 3);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_OUT, 16, G_DATA, 8192, 2, false));
	assert_int_equal(write(F->v.t.queues[0].kick_fd, &(uint64_t){ 1 }, 8), 8);
	assert_true(wait_used(0, 1));
	/* A trapped notify write reaches the same eventfd. */
	post(0, req_chain(0, 1, VIRTIO_BLK_T_IN, 16, G_DATA2, 8192, 1, true));
	kick(0);
	assert_true(wait_used(0, 2));
	assert_memory_equal(gp(G_DATA2, 8192), gp(G_DATA, 8192), 8192);
	assert_true(wait_used(0, 2));
	/* A reset from a vCPU while a slow request is in flight waits for it. */
	__atomic_store_n(&F->fake->delay_ms, 50, __ATOMIC_RELAXED);
	post(0, req_chain(0, 2, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	while (!__atomic_load_n(&F->fake->nq, __ATOMIC_ACQUIRE) && used_idx(0) != 3)
		sched_yield();
	assert_int_equal(pthread_create(&th, NULL, reset_thread, &w), 0);
	pthread_join(th, NULL);
	assert_true(w.ns >= 10000000ull);      /* it waited out the slow request */
	assert_int_equal(used_idx(0), 3);
	assert_int_equal(status(), 0);
	__atomic_store_n(&F->fake->delay_ms, 0, __ATOMIC_RELAXED);
	drv_init(ALL_FEATURES);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	assert_true(wait_used(0, 1));
	virtio_blk_pci_stop(&F->v);
	virtio_blk_pci_stop(&F->v);                     /* twice is harmless */
	st = stats();
	assert_int_equal(st.transport.notify_traps, 3);
	assert_true(st.transport.notifies >= 4);
	assert_true(st.transport.io_wakeups >= 4);
	assert_true(st.transport.io_wall_ns > 0);
	assert_int_equal(st.requests[VBLK_STAT_FLUSH], 2);
	/* After stop the device is synchronous again. */
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	poll_dev();
	assert_int_equal(used_idx(0), 2);
	{
		char *buf = NULL;
		size_t sz = 0;
		FILE *out = open_memstream(&buf, &sz);

		virtio_blk_pci_print_stats(&F->v, out);
		fclose(out);
		assert_non_null(strstr(buf, "3 flush"));
		assert_non_null(strstr(buf, "io thread"));
		free(buf);
	}
}

/* The device's flags in queue 0's used ring, as the driver reads them. */
static uint16_t used_flags(void)
{
	return __atomic_load_n((uint16_t *)gp(G_USED(0) + VIRTQ_USED_FLAGS, 2), __ATOMIC_ACQUIRE);
}

static void test_io_thread_polling(void **state)
{
	/* A driver without EVENT_IDX sees NO_NOTIFY while the device polls. */
	drv_init(ALL_FEATURES & ~VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	F->v.t.poll_ns = 2000000000ull;         /* watch the ring for 2 s */
	assert_int_equal(virtio_blk_pci_start(&F->v), 0);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	assert_true(wait_used(0, 1));
	assert_int_equal(used_flags(), VIRTQ_USED_F_NO_NOTIFY);
	/* So the driver does not notify, and the request is found anyway. */
	post(0, req_chain(0, 1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	assert_true(wait_used(0, 2));
	assert_true(stats().transport.io_poll_hits >= 1);
	assert_int_equal(stats().transport.notify_traps, 1);
	/* Stopping leaves notifications on for whoever runs the queue next. */
	virtio_blk_pci_stop(&F->v);
	assert_int_equal(used_flags(), 0);

	/* Without polling, the thread turns notifications back on at once
	 * and sleeps: a request nobody notifies about waits. */
	F->v.t.poll_ns = 0;
	assert_int_equal(virtio_blk_pci_start(&F->v), 0);
	post(0, req_chain(0, 2, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	assert_true(wait_used(0, 3));
	for (unsigned i = 0; i < 1000 && used_flags(); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_int_equal(used_flags(), 0);
	post(0, req_chain(0, 3, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	assert_int_equal(used_idx(0), 3);
	kick(0);
	assert_true(wait_used(0, 4));
	virtio_blk_pci_stop(&F->v);
}

/* The I/O thread's CPU time over a 50 ms wait: it must be asleep. */
static void expect_io_thread_idle(void)
{
	uint64_t cpu = stats().transport.io_cpu_ns;

	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	assert_true(stats().transport.io_cpu_ns - cpu < 20000000ull);
}

static void test_io_thread_stalled_device(void **state)
{
	struct pci_device *d = dev();

	drv_init(ALL_FEATURES);
	assert_int_equal(virtio_blk_pci_start(&F->v), 0);
	/* Bus mastering off: the work waits, the thread sleeps, registers
	 * stay reachable. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	expect_io_thread_idle();
	assert_int_equal(status(), 0x0f);
	assert_int_equal(used_idx(0), 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_true(wait_used(0, 1));
	/* Needing a reset: notifications keep coming, the thread sleeps. */
	post(0, V_QSIZE);
	kick(0);
	for (unsigned i = 0; i < 1000 && !(status() & VIRTIO_CONFIG_S_NEEDS_RESET); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	post(0, req_chain(0, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0, false));
	kick(0);
	expect_io_thread_idle();
	assert_int_equal(used_idx(0), 1);
	virtio_blk_pci_stop(&F->v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_machine_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_setup_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_suppression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_fallback, setup_intx, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfd_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiqueue, setup_mq, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_master_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_waits_for_inflight, setup_fake_async,
						teardown),
		cmocka_unit_test_setup_teardown(test_io_thread, setup_fake_async, teardown),
		cmocka_unit_test_setup_teardown(test_io_thread_polling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_thread_stalled_device, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
