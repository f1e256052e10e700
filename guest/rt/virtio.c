/* Virtio 1.1 modern virtio-pci transport and split virtqueues for the test
 * guests. See virtio.h.
 *
 * The device may be hostile or dead: waits are bounded by TSC deadlines,
 * used entries are checked against the chains we own, and the driver's
 * bookkeeping lives in shadow arrays the device never sees. */
#include "virtio.h"

#define DEFAULT_RESET_TIMEOUT_US 1000000ull
#define MAX_CFG_GEN_TRIES        16

static volatile uint64_t *irq_counter[256];
static bool irq_registered[256];

const char *virtio_err_name(int r)
{
	switch (r) {
	case VIRTIO_E_TIMEOUT:     return "timeout";
	case VIRTIO_E_NEEDS_RESET: return "DEVICE_NEEDS_RESET";
	case VIRTIO_E_GONE:        return "device gone (registers read all ones)";
	case VIRTIO_E_FULL:        return "queue full";
	case VIRTIO_E_INVAL:       return "invalid argument";
	case VIRTIO_E_NODEV:       return "no virtio device";
	case VIRTIO_E_NOMEM:       return "out of memory";
	case VIRTIO_E_UNSUPP:      return "unsupported device";
	case VIRTIO_E_FEATURES:    return "feature negotiation failed";
	case VIRTIO_E_NOT_READY:   return "device not ready (DRIVER_OK cleared)";
	default:                   return r >= 0 ? "status" : "error";
	}
}

static int fail(struct virtio_dev *vd, int r, const char *fmt, ...) RT_PRINTF(3, 4);
static int fail(struct virtio_dev *vd, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vd->err, sizeof(vd->err), fmt, ap);
	va_end(ap);
	return r;
}

/* ---- common configuration ---- */

static uint8_t common_rd8(struct virtio_dev *vd, uint32_t off) { return mmio_read8(vd->common.addr + off); }
static uint16_t common_rd16(struct virtio_dev *vd, uint32_t off) { return mmio_read16(vd->common.addr + off); }
static uint32_t common_rd32(struct virtio_dev *vd, uint32_t off) { return mmio_read32(vd->common.addr + off); }
static void common_wr8(struct virtio_dev *vd, uint32_t off, uint8_t v) { mmio_write8(vd->common.addr + off, v); }
static void common_wr16(struct virtio_dev *vd, uint32_t off, uint16_t v) { mmio_write16(vd->common.addr + off, v); }
static void common_wr32(struct virtio_dev *vd, uint32_t off, uint32_t v) { mmio_write32(vd->common.addr + off, v); }

/* 64-bit fields as two dwords, low first (§4.1.3.1 allows it). */
static void common_wr64(struct virtio_dev *vd, uint32_t off, uint64_t v)
{
	common_wr32(vd, off, (uint32_t)v);
	common_wr32(vd, off + 4, (uint32_t)(v >> 32));
}

uint8_t virtio_status(struct virtio_dev *vd)
{
	return common_rd8(vd, VIRTIO_COMMON_STATUS);
}

void virtio_set_status(struct virtio_dev *vd, uint8_t status)
{
	common_wr8(vd, VIRTIO_COMMON_STATUS, status);
}

int virtio_health(struct virtio_dev *vd)
{
	uint8_t s = virtio_status(vd);

	if (s == 0xff)
		return VIRTIO_E_GONE;
	if (s & VIRTIO_STATUS_NEEDS_RESET)
		return VIRTIO_E_NEEDS_RESET;
	if (!(s & VIRTIO_STATUS_DRIVER_OK))
		return VIRTIO_E_NOT_READY;
	return 0;
}

/* ---- device configuration ---- */

static bool cfg_in(struct virtio_dev *vd, uint32_t off, uint32_t width)
{
	return vd->device.addr && off + width <= vd->device.len;
}

uint8_t virtio_cfg8(struct virtio_dev *vd, uint32_t off)
{
	return cfg_in(vd, off, 1) ? mmio_read8(vd->device.addr + off) : 0;
}

uint16_t virtio_cfg16(struct virtio_dev *vd, uint32_t off)
{
	return cfg_in(vd, off, 2) ? mmio_read16(vd->device.addr + off) : 0;
}

uint32_t virtio_cfg32(struct virtio_dev *vd, uint32_t off)
{
	return cfg_in(vd, off, 4) ? mmio_read32(vd->device.addr + off) : 0;
}

/* Two dwords; a generation change in between means a torn value: retry. */
uint64_t virtio_cfg64(struct virtio_dev *vd, uint32_t off)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < MAX_CFG_GEN_TRIES; i++) {
		uint8_t gen = virtio_cfg_generation(vd);
		v = virtio_cfg32(vd, off) | (uint64_t)virtio_cfg32(vd, off + 4) << 32;
		if (virtio_cfg_generation(vd) == gen)
			break;
	}
	return v;
}

uint8_t virtio_cfg_generation(struct virtio_dev *vd)
{
	return common_rd8(vd, VIRTIO_COMMON_CFGGEN);
}

static const char *const reserved_names[] = {
	[VIRTIO_F_RING_INDIRECT_DESC] = "INDIRECT_DESC",
	[VIRTIO_F_RING_EVENT_IDX] = "EVENT_IDX",
	[VIRTIO_F_VERSION_1] = "VERSION_1",
	[VIRTIO_F_ACCESS_PLATFORM] = "ACCESS_PLATFORM",
	[VIRTIO_F_RING_PACKED] = "RING_PACKED",
	[VIRTIO_F_IN_ORDER] = "IN_ORDER",
	[VIRTIO_F_ORDER_PLATFORM] = "ORDER_PLATFORM",
	[VIRTIO_F_SR_IOV] = "SR_IOV",
	[VIRTIO_F_NOTIFICATION_DATA] = "NOTIFICATION_DATA",
	[VIRTIO_F_RING_RESET] = "RING_RESET",
};

void virtio_feature_names(uint64_t f, const char *const *names, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned bit = 0; bit < 64 && at + 1 < len; bit++) {
		if (!(f & VIRTIO_BIT(bit)))
			continue;
		const char *n = NULL;
		if (bit < 24 && names)
			n = names[bit];
		else if (bit >= 24 && bit < RT_ARRAY_SIZE(reserved_names))
			n = reserved_names[bit];
		int w = n ? snprintf(buf + at, len - at, "%s%s", at ? " " : "", n)
			  : snprintf(buf + at, len - at, "%sbit%u", at ? " " : "", bit);
		if (w < 0)
			break;
		at += (size_t)w;
	}
	if (at >= len)
		buf[len - 1] = '\0';
}

/* ---- PCI ---- */

int virtio_pci_find(unsigned type, uint16_t transitional_id)
{
	int bdf = pci_find(VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_MODERN_BASE + type), 0);

	if (bdf < 0 && transitional_id)
		bdf = pci_find(VIRTIO_PCI_VENDOR, transitional_id, 0);
	return bdf;
}

/* Maps BAR bar once (pci_bar_map moves it below 4 GiB when needed). */
static int map_bar(struct virtio_dev *vd, unsigned bar)
{
	struct rt_pci_bar b;

	if (vd->bar_size[bar])
		return 0;
	if (pci_bar_map(vd->bdf, bar, &b) || b.io || !b.size)
		return -1;
	vd->bar_addr[bar] = b.addr;
	vd->bar_size[bar] = b.size;
	return 0;
}

/* Takes the first usable capability of each type (§4.1.4: the driver
 * SHOULD use the first it can). */
static void parse_cap(struct virtio_dev *vd, uint8_t off)
{
	uint8_t type = pci_read8(vd->bdf, off + 3);
	uint8_t bar = pci_read8(vd->bdf, off + VIRTIO_PCI_CAP_BAR);
	uint32_t offset = pci_read32(vd->bdf, off + VIRTIO_PCI_CAP_OFFSET);
	uint32_t length = pci_read32(vd->bdf, off + VIRTIO_PCI_CAP_LENGTH);
	struct virtio_region *r;

	switch (type) {
	case VIRTIO_PCI_CAP_COMMON_CFG: r = &vd->common; break;
	case VIRTIO_PCI_CAP_NOTIFY_CFG: r = &vd->notify; break;
	case VIRTIO_PCI_CAP_ISR_CFG:    r = &vd->isr; break;
	case VIRTIO_PCI_CAP_DEVICE_CFG: r = &vd->device; break;
	default:                        return;         /* PCI_CFG, vendor, shared memory */
	}
	if (r->addr || bar > 5 || !length || map_bar(vd, bar))
		return;
	if ((uint64_t)offset + length > vd->bar_size[bar])
		return;
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		if (pci_read8(vd->bdf, off + 2) < VIRTIO_PCI_CAP_NOTIFY_MULT + 4)
			return;
		vd->notify_mult = pci_read32(vd->bdf, off + VIRTIO_PCI_CAP_NOTIFY_MULT);
	}
	r->bar = bar;
	r->offset = offset;
	r->len = length;
	r->addr = vd->bar_addr[bar] + offset;
}

int virtio_pci_open(struct virtio_dev *vd, uint16_t bdf)
{
	memset(vd, 0, sizeof(*vd));
	vd->bdf = bdf;
	vd->pci_device = (uint16_t)(pci_read32(bdf, 0) >> 16);
	vd->reset_timeout_us = DEFAULT_RESET_TIMEOUT_US;
	unsigned b = bdf >> 8, d = (bdf >> 3) & 31, f = bdf & 7;

	if (!(pci_read16(bdf, 0x06) & 0x10))
		return fail(vd, VIRTIO_E_NODEV, "%02x:%02x.%x: no capability list", b, d, f);
	uint8_t off = pci_read8(bdf, 0x34) & 0xfc;
	for (unsigned n = 0; off >= 0x40 && n < 48; n++) {
		uint16_t hdr = pci_read16(bdf, off);
		if ((hdr & 0xff) == VIRTIO_PCI_CAP_ID && pci_read8(bdf, off + 2) >= 16)
			parse_cap(vd, off);
		off = (hdr >> 8) & 0xfc;
	}
	if (!vd->common.addr || vd->common.len < VIRTIO_COMMON_MIN_LEN || !vd->notify.addr || !vd->isr.addr)
		return fail(vd, VIRTIO_E_NODEV,
			    "%02x:%02x.%x: virtio capabilities incomplete (common %s, notify %s, ISR %s): "
			    "not a modern virtio-pci device", b, d, f,
			    vd->common.addr ? (vd->common.len < VIRTIO_COMMON_MIN_LEN ? "too short" : "ok") : "missing",
			    vd->notify.addr ? "ok" : "missing", vd->isr.addr ? "ok" : "missing");
	pci_command(bdf, RT_PCI_CMD_MEMORY | RT_PCI_CMD_MASTER, 0);
	if (virtio_status(vd) == 0xff)
		return fail(vd, VIRTIO_E_GONE, "%02x:%02x.%x: device_status reads 0xff", b, d, f);
	return 0;
}

int virtio_reset(struct virtio_dev *vd)
{
	virtio_set_status(vd, 0);
	uint64_t dl = virtio_deadline(vd->reset_timeout_us);
	for (;;) {
		uint8_t s = virtio_status(vd);
		if (s == 0)
			return 0;
		if (s == 0xff)
			return fail(vd, VIRTIO_E_GONE, "device_status reads 0xff during reset");
		if (virtio_expired(dl))
			return fail(vd, VIRTIO_E_TIMEOUT, "device_status 0x%x, not 0, %lu ms after reset", s,
				    vd->reset_timeout_us / 1000);
		cpu_relax();
	}
}

int virtio_negotiate(struct virtio_dev *vd, uint64_t wanted, uint64_t required)
{
	int r = virtio_reset(vd);

	if (r)
		return r;
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	common_wr32(vd, VIRTIO_COMMON_DFSELECT, 0);
	uint64_t lo = common_rd32(vd, VIRTIO_COMMON_DF);
	common_wr32(vd, VIRTIO_COMMON_DFSELECT, 1);
	uint64_t hi = common_rd32(vd, VIRTIO_COMMON_DF);
	vd->offered = hi << 32 | lo;
	vd->num_queues = common_rd16(vd, VIRTIO_COMMON_NUMQ);
	if ((vd->offered & required) != required) {
		virtio_set_status(vd, VIRTIO_STATUS_FAILED);
		return fail(vd, VIRTIO_E_FEATURES, "device offers features 0x%lx, lacks required 0x%lx", vd->offered,
			    required & ~vd->offered);
	}
	/* A device behind an IOMMU offers ACCESS_PLATFORM and may refuse a
	 * driver that does not accept it; addresses here are what the
	 * platform maps, so accepting is always right. */
	uint64_t f = vd->offered & (wanted | required | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM));
	common_wr32(vd, VIRTIO_COMMON_GFSELECT, 0);
	common_wr32(vd, VIRTIO_COMMON_GF, (uint32_t)f);
	common_wr32(vd, VIRTIO_COMMON_GFSELECT, 1);
	common_wr32(vd, VIRTIO_COMMON_GF, (uint32_t)(f >> 32));
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	uint8_t s = virtio_status(vd);
	if (!(s & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_set_status(vd, VIRTIO_STATUS_FAILED);
		return fail(vd, VIRTIO_E_FEATURES, "FEATURES_OK not accepted for features 0x%lx (status 0x%x)", f, s);
	}
	vd->features = f;
	return 0;
}

void virtio_driver_ok(struct virtio_dev *vd)
{
	virtio_set_status(vd, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
}

/* ---- interrupts ---- */

static void virtio_irq_handler(unsigned vector)
{
	volatile uint64_t *c = irq_counter[vector & 0xff];

	if (c)
		(*c)++;
}

int virtio_irq_init(unsigned vector, unsigned n)
{
	if (current_ring() != 0 || vector < 32 || !n || vector + n - 1 >= RT_VEC_SPURIOUS)
		return VIRTIO_E_INVAL;
	for (unsigned i = 0; i < n; i++) {
		if (irq_register(vector + i, virtio_irq_handler))
			return VIRTIO_E_INVAL;
		irq_registered[vector + i] = true;
	}
	lapic_enable();
	irq_enable();
	return 0;
}

int virtio_msix_config(struct virtio_dev *vd, uint16_t entry, unsigned vector)
{
	if (vector > 255 || !irq_registered[vector])
		return fail(vd, VIRTIO_E_INVAL, "interrupt mode without virtio_irq_init() for vector 0x%x", vector);
	if (!vd->msix_ok) {
		if (pci_msix_init(vd->bdf, &vd->msix))
			return fail(vd, VIRTIO_E_UNSUPP, "no usable MSI-X capability");
		vd->msix_ok = true;
	}
	if (entry >= vd->msix.nvec)
		return fail(vd, VIRTIO_E_UNSUPP, "MSI-X entry %u, the table has %u", entry, vd->msix.nvec);
	irq_counter[vector] = &vd->config_irqs;
	pci_msix_set(&vd->msix, entry, lapic_id(), vector, false);
	pci_msix_enable(&vd->msix, true);
	common_wr16(vd, VIRTIO_COMMON_MSIX, entry);
	uint16_t got = common_rd16(vd, VIRTIO_COMMON_MSIX);
	if (got != entry)
		return fail(vd, VIRTIO_E_UNSUPP, "config_msix_vector %u reads back 0x%x", entry, got);
	vd->config_vector = vector;
	return 0;
}

void virtio_msix_off(struct virtio_dev *vd)
{
	common_wr16(vd, VIRTIO_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
	if (vd->msix_ok)
		pci_msix_enable(&vd->msix, false);
	vd->config_vector = 0;
}

/* ---- split virtqueue ---- */

int virtq_alloc(struct virtio_dev *vd, struct virtq *vq, uint16_t index, uint16_t max_size, uint16_t ind_max)
{
	memset(vq, 0, sizeof(*vq));
	vq->vd = vd;
	vq->index = index;
	common_wr16(vd, VIRTIO_COMMON_Q_SELECT, index);
	uint16_t dev_max = common_rd16(vd, VIRTIO_COMMON_Q_SIZE);
	if (!dev_max || dev_max == 0xffff)
		return fail(vd, VIRTIO_E_UNSUPP, "queue %u: queue_size %u", index, dev_max);
	uint32_t size = dev_max;
	if (max_size && size > max_size)
		size = max_size;
	if (size > VIRTQ_MAX_SIZE)
		size = VIRTQ_MAX_SIZE;
	while (size & (size - 1))               /* split rings: a power of two */
		size &= size - 1;
	vq->alloc_size = vq->size = (uint16_t)size;

	uint64_t desc = rt_alloc(16ull * size, 4096);
	uint64_t avail = rt_alloc(6 + 2ull * size, 4096);
	uint64_t used = rt_alloc(6 + 8ull * size, 4096);
	uint64_t next = rt_alloc(2ull * size, 8);
	uint64_t heads = rt_alloc(sizeof(struct virtq_head) * size, 8);
	uint64_t ind = ind_max ? rt_alloc(16ull * ind_max * size, 4096) : 0;
	if (!desc || !avail || !used || !next || !heads || (ind_max && !ind))
		return fail(vd, VIRTIO_E_NOMEM, "out of memory for queue %u (%u entries)", index, size);
	vq->desc = (volatile struct virtq_desc *)desc;
	vq->avail = (volatile struct virtq_avail *)avail;
	vq->used = (volatile struct virtq_used *)used;
	vq->next = (uint16_t *)next;
	vq->heads = (struct virtq_head *)heads;
	vq->ind_tables = ind;
	vq->ind_max = ind_max;
	return 0;
}

/* Interrupts wanted (irq mode) or suppressed (polling) for used entries:
 * with EVENT_IDX, used_event one behind what we took means "never"
 * (vring_need_event is false for every old >= last_used). */
static void set_used_event(struct virtq *vq)
{
	if (vq->event_idx)
		*vq->used_event = vq->irq ? vq->last_used : (uint16_t)(vq->last_used - 1);
}

int virtq_setup(struct virtq *vq, uint16_t msix_entry, unsigned vector)
{
	struct virtio_dev *vd = vq->vd;
	uint16_t n = vq->size;

	memset((void *)vq->desc, 0, 16ull * n);
	memset((void *)vq->avail, 0, 6 + 2ull * n);
	memset((void *)vq->used, 0, 6 + 8ull * n);
	for (uint16_t i = 0; i < n; i++) {
		vq->next[i] = (uint16_t)(i + 1);
		vq->heads[i].busy = 0;
	}
	vq->free_head = 0;
	vq->nfree = n;
	vq->avail_idx = vq->kicked_idx = vq->last_used = 0;
	vq->inflight = 0;
	vq->notifies = vq->notifies_skipped = vq->chains_direct = vq->chains_indirect = vq->bogus = 0;
	vq->used_event = &vq->avail->ring[n];
	vq->avail_event = (volatile uint16_t *)&vq->used->ring[n];
	vq->event_idx = vd->features & VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
	vq->indirect_ok = (vd->features & VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC)) && vq->ind_max;

	common_wr16(vd, VIRTIO_COMMON_Q_SELECT, vq->index);
	if (common_rd16(vd, VIRTIO_COMMON_Q_ENABLE))
		return fail(vd, VIRTIO_E_UNSUPP, "queue %u enabled before set-up (not reset?)", vq->index);
	common_wr16(vd, VIRTIO_COMMON_Q_SIZE, n);
	common_wr64(vd, VIRTIO_COMMON_Q_DESCLO, virtio_bus_addr(vd, (uint64_t)vq->desc));
	common_wr64(vd, VIRTIO_COMMON_Q_AVAILLO, virtio_bus_addr(vd, (uint64_t)vq->avail));
	common_wr64(vd, VIRTIO_COMMON_Q_USEDLO, virtio_bus_addr(vd, (uint64_t)vq->used));
	vq->irq = msix_entry != VIRTIO_MSI_NO_VECTOR;
	if (vq->irq) {
		if (vector > 255 || !irq_registered[vector] || !vd->msix_ok || msix_entry >= vd->msix.nvec)
			return fail(vd, VIRTIO_E_INVAL, "queue %u: MSI-X entry %u / vector 0x%x not set up", vq->index,
				    msix_entry, vector);
		vq->msix_entry = msix_entry;
		vq->vector = vector;
		irq_counter[vector] = &vq->irqs;
		vq->irqs_seen = vq->irqs;
		pci_msix_set(&vd->msix, msix_entry, lapic_id(), vector, false);
	}
	common_wr16(vd, VIRTIO_COMMON_Q_MSIX, msix_entry);
	uint16_t got = common_rd16(vd, VIRTIO_COMMON_Q_MSIX);
	if (got != msix_entry)
		return fail(vd, VIRTIO_E_UNSUPP, "queue %u: queue_msix_vector 0x%x reads back 0x%x", vq->index,
			    msix_entry, got);
	vq->notify_off = common_rd16(vd, VIRTIO_COMMON_Q_NOFF);
	uint64_t at = (uint64_t)vq->notify_off * vd->notify_mult;
	if (at + 2 > vd->notify.len)
		return fail(vd, VIRTIO_E_UNSUPP, "queue %u: notify offset %u x %u outside the notify region (%u bytes)",
			    vq->index, vq->notify_off, vd->notify_mult, vd->notify.len);
	vq->notify_addr = vd->notify.addr + at;
	if (!vq->event_idx && !vq->irq)
		vq->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	set_used_event(vq);
	common_wr16(vd, VIRTIO_COMMON_Q_ENABLE, 1);
	return 0;
}

int virtq_add(struct virtq *vq, const struct virtq_seg *segs, unsigned n, uint64_t tag, bool indirect)
{
	if (!n || (indirect ? !vq->indirect_ok || n > vq->ind_max : n > vq->size))
		return VIRTIO_E_INVAL;
	unsigned need = indirect ? 1 : n;
	if (vq->nfree < need)
		return VIRTIO_E_FULL;
	uint16_t head = vq->free_head, idx = head;

	if (indirect) {
		volatile struct virtq_desc *t =
			(volatile struct virtq_desc *)(vq->ind_tables + 16ull * vq->ind_max * head);
		for (unsigned i = 0; i < n; i++) {
			t[i].addr = segs[i].addr;
			t[i].len = segs[i].len;
			t[i].flags = (uint16_t)((segs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
						(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			t[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		vq->desc[head].addr = virtio_bus_addr(vq->vd, (uint64_t)t);
		vq->desc[head].len = 16 * n;
		vq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
		vq->desc[head].next = 0;
		idx = vq->next[head];
		vq->chains_indirect++;
	} else {
		/* The free list's order is the chain's: next[] links both. */
		for (unsigned i = 0; i < n; i++) {
			uint16_t nx = vq->next[idx];
			vq->desc[idx].addr = segs[i].addr;
			vq->desc[idx].len = segs[i].len;
			vq->desc[idx].flags = (uint16_t)((segs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
							 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			vq->desc[idx].next = i + 1 < n ? nx : 0;
			idx = nx;
		}
		vq->chains_direct++;
	}
	vq->free_head = idx;
	vq->nfree = (uint16_t)(vq->nfree - need);
	vq->heads[head] = (struct virtq_head){ .tag = tag, .ndesc = (uint16_t)need, .busy = 1 };
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
	vq->inflight++;
	return head;
}

void virtq_notify(struct virtq *vq)
{
	barrier();
	mmio_write16(vq->notify_addr, vq->index);
	vq->notifies++;
}

void virtq_kick(struct virtq *vq)
{
	uint16_t old = vq->kicked_idx, now = vq->avail_idx;

	if (old == now)
		return;
	barrier();                      /* ring entries before the index (x86: stores in order) */
	vq->avail->idx = now;
	vq->kicked_idx = now;
	virtio_mb();                    /* the index before reading the device's suppression state */
	bool need;
	if (vq->event_idx)
		need = (uint16_t)(now - *vq->avail_event - 1) < (uint16_t)(now - old);
	else
		need = !(vq->used->flags & VIRTQ_USED_F_NO_NOTIFY);
	if (need)
		virtq_notify(vq);
	else
		vq->notifies_skipped++;
}

static void free_chain(struct virtq *vq, uint16_t head)
{
	uint16_t last = head;

	for (uint16_t i = 1; i < vq->heads[head].ndesc; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->nfree = (uint16_t)(vq->nfree + vq->heads[head].ndesc);
	vq->heads[head].busy = 0;
	vq->inflight--;
}

bool virtq_used_pending(struct virtq *vq)
{
	return vq->used->idx != vq->last_used;
}

int virtq_get_used(struct virtq *vq, uint64_t *tag, uint32_t *len)
{
	for (unsigned tries = 0; tries < vq->size; tries++) {
		uint16_t uidx = vq->used->idx;
		if (uidx == vq->last_used) {
			if (!(vq->irq && vq->event_idx))
				return 0;
			/* used_event was just moved: an entry the device added
			 * before seeing it raised no interrupt; look again. */
			virtio_mb();
			if (vq->used->idx == vq->last_used)
				return 0;
			continue;
		}
		barrier();                      /* x86 keeps loads in order */
		volatile struct virtq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
		uint32_t id = e->id, l = e->len;
		vq->last_used++;
		set_used_event(vq);
		if (id >= vq->size || !vq->heads[id].busy) {
			vq->bogus++;
			continue;
		}
		*tag = vq->heads[id].tag;
		*len = l;
		free_chain(vq, (uint16_t)id);
		return 1;
	}
	return 0;
}

void virtq_post_raw(struct virtq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
}

void virtq_set_avail_idx_raw(struct virtq *vq, uint16_t idx)
{
	barrier();
	vq->avail->idx = idx;
	vq->avail_idx = vq->kicked_idx = idx;
}
