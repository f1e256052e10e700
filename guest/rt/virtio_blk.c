/* virtio-blk driver for the test guests: feature negotiation, configuration,
 * request chains, polled and MSI-X completion. See virtio_blk.h.
 *
 * A request owns a slot (tag of its descriptor chain): the slot's memory
 * holds the header, a Discard/Write Zeroes payload and the status byte, so
 * nothing a request needs is allocated on the hot path. */
#include "virtio_blk.h"

#define DEFAULT_DEPTH      32
#define DEFAULT_TIMEOUT_US 5000000ull
#define DEFAULT_SEG_BYTES  4096u
#define HEALTH_CHECK_US    1000                /* look at device_status this often */
#define SLOT_HDR           0
#define SLOT_PAYLOAD       16
#define SLOT_STATUS        48

enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_DONE, SLOT_ABANDONED };

static unsigned irq_base;                      /* vblk_irq_init's vector, 0: none */

const char *const vblk_feature_names[24] = {
	[VIRTIO_BLK_F_SIZE_MAX] = "SIZE_MAX",
	[VIRTIO_BLK_F_SEG_MAX] = "SEG_MAX",
	[VIRTIO_BLK_F_GEOMETRY] = "GEOMETRY",
	[VIRTIO_BLK_F_RO] = "RO",
	[VIRTIO_BLK_F_BLK_SIZE] = "BLK_SIZE",
	[VIRTIO_BLK_F_FLUSH] = "FLUSH",
	[VIRTIO_BLK_F_TOPOLOGY] = "TOPOLOGY",
	[VIRTIO_BLK_F_CONFIG_WCE] = "CONFIG_WCE",
	[VIRTIO_BLK_F_MQ] = "MQ",
	[VIRTIO_BLK_F_DISCARD] = "DISCARD",
	[VIRTIO_BLK_F_WRITE_ZEROES] = "WRITE_ZEROES",
};

/* What this driver accepts when offered. */
#define VBLK_WANTED (VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |              \
		     VIRTIO_BIT(VIRTIO_BLK_F_RO) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |                   \
		     VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) |                 \
		     VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |           \
		     VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX))

const char *vblk_result_name(int r)
{
	switch (r) {
	case VIRTIO_BLK_S_OK:     return "OK";
	case VIRTIO_BLK_S_IOERR:  return "IOERR";
	case VIRTIO_BLK_S_UNSUPP: return "UNSUPP";
	case VBLK_S_NONE:         return "no status written";
	default:                  return r < 0 ? virtio_err_name(r) : "unknown status";
	}
}

static int fail(struct vblk_dev *d, int r, const char *fmt, ...) RT_PRINTF(3, 4);
static int fail(struct vblk_dev *d, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return r;
}

uint8_t vblk_status(struct vblk_dev *d)
{
	return virtio_status(&d->vd);
}

static uint64_t slot_mem(struct vblk_dev *d, uint16_t slot)
{
	return d->reqmem + (uint64_t)slot * VBLK_SLOT_BYTES;
}

/* The device's address of driver memory at gpa. */
static uint64_t bus(const struct vblk_dev *d, uint64_t gpa)
{
	return virtio_bus_addr(&d->vd, gpa);
}

/* ---- slots ---- */

static void slots_reset(struct vblk_dev *d)
{
	d->inflight = 0;
	d->done_head = d->done_count = 0;
	d->bogus = 0;
	for (uint16_t i = 0; i < d->depth; i++) {
		d->slots[i].state = SLOT_FREE;
		d->free_slots[i] = (uint16_t)(d->depth - 1 - i);    /* slot 0 first */
	}
	d->nfree = d->depth;
}

static void free_slot(struct vblk_dev *d, uint16_t slot)
{
	d->slots[slot].state = SLOT_FREE;
	d->free_slots[d->nfree++] = slot;
	d->inflight--;
}

/* ---- submission ---- */

int vblk_split(const struct vblk_dev *d, uint64_t buf, uint32_t len, bool write, struct virtq_seg *segs,
	       unsigned max)
{
	uint64_t seg = d->opts.seg_bytes ? d->opts.seg_bytes : DEFAULT_SEG_BYTES;
	unsigned n = 0;

	while (len) {
		uint64_t chunk = seg == VBLK_SEG_CONTIG ? len : seg - buf % seg;
		if (chunk > len)
			chunk = len;
		if (d->size_max && chunk > d->size_max)
			chunk = d->size_max;
		if (n == max)
			return VIRTIO_E_INVAL;
		segs[n++] = (struct virtq_seg){ buf, (uint32_t)chunk, write };
		buf += chunk;
		len -= (uint32_t)chunk;
	}
	return (int)n;
}

/* The slot is taken (header, payload filled by the caller); puts header,
 * data and status in the ring. */
static int submit_slot(struct vblk_dev *d, uint16_t slot, uint32_t type, uint64_t sector,
		       const struct virtq_seg *data, unsigned n, uint64_t tag)
{
	struct virtq_seg segs[VBLK_MAX_SEGS + 2];
	struct virtq *vq = &d->vq;
	uint64_t mem = slot_mem(d, slot);

	if (n > d->max_segs)
		return VIRTIO_E_INVAL;
	struct vblk_req_hdr *h = (struct vblk_req_hdr *)(mem + SLOT_HDR);
	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	*(volatile uint8_t *)(mem + SLOT_STATUS) = VBLK_S_NONE;
	segs[0] = (struct virtq_seg){ bus(d, mem + SLOT_HDR), sizeof(*h), false };
	for (unsigned i = 0; i < n; i++)
		segs[1 + i] = data[i];
	segs[n + 1] = (struct virtq_seg){ bus(d, mem + SLOT_STATUS), 1, true };
	unsigned total = n + 2;
	bool ind = false;
	if (vq->indirect_ok) {
		if (d->opts.indirect == VBLK_INDIRECT_ALWAYS)
			ind = true;
		else if (d->opts.indirect == VBLK_INDIRECT_AUTO)	/* multi-segment, or a ring too small for depth */
			ind = total > 3 || vq->size < 3u * d->depth || vq->nfree < total;
	}
	int r = virtq_add(vq, segs, total, slot, ind);
	if (r < 0)
		return r;
	d->nfree--;
	d->slots[slot] = (struct vblk_slot){ .state = SLOT_BUSY, .tag = tag };
	d->inflight++;
	return slot;
}

static int take_slot(struct vblk_dev *d)
{
	if (!d->nfree)
		return VIRTIO_E_FULL;
	return d->free_slots[d->nfree - 1];
}

int vblk_submit_segs(struct vblk_dev *d, uint32_t type, uint64_t sector, const struct virtq_seg *data,
		     unsigned n, uint64_t tag)
{
	int slot = take_slot(d);

	if (slot < 0)
		return slot;
	return submit_slot(d, (uint16_t)slot, type, sector, data, n, tag);
}

int vblk_submit(struct vblk_dev *d, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len, uint64_t tag)
{
	struct virtq_seg segs[VBLK_MAX_SEGS];
	int n = vblk_split(d, buf, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID, segs,
			   d->max_segs);

	if (n < 0)
		return n;
	return vblk_submit_segs(d, type, sector, segs, (unsigned)n, tag);
}

/* Discard / Write Zeroes: one payload segment from the slot's memory. */
static int submit_dwz(struct vblk_dev *d, uint32_t type, uint64_t sector, uint32_t nsect, uint32_t flags,
		      uint64_t tag)
{
	int slot = take_slot(d);

	if (slot < 0)
		return slot;
	uint64_t p = slot_mem(d, (uint16_t)slot) + SLOT_PAYLOAD;
	*(struct vblk_dwz *)p = (struct vblk_dwz){ sector, nsect, flags };
	struct virtq_seg seg = { bus(d, p), sizeof(struct vblk_dwz), false };
	return submit_slot(d, (uint16_t)slot, type, 0, &seg, 1, tag);
}

void vblk_kick(struct vblk_dev *d)
{
	virtq_kick(&d->vq);
}

/* ---- completion ---- */

/* Moves used entries into their slots (at most a ring's worth). */
static unsigned process_used(struct vblk_dev *d)
{
	uint64_t tag;
	uint32_t len;
	unsigned n = 0;

	while (n < d->vq.size && virtq_get_used(&d->vq, &tag, &len) == 1) {
		n++;
		struct vblk_slot *s = tag < d->depth ? &d->slots[tag] : NULL;
		if (!s || (s->state != SLOT_BUSY && s->state != SLOT_ABANDONED)) {
			d->bogus++;
			continue;
		}
		if (s->state == SLOT_ABANDONED) {      /* its waiter timed out */
			free_slot(d, (uint16_t)tag);
			continue;
		}
		s->len = len;
		s->state = SLOT_DONE;
		if (!s->sync) {
			uint16_t at = (uint16_t)((d->done_head + d->done_count) % d->depth);
			d->done_fifo[at] = (uint16_t)tag;
			d->done_count++;
		}
	}
	return n;
}

static int slot_status(struct vblk_dev *d, uint16_t slot)
{
	return *(volatile uint8_t *)(slot_mem(d, slot) + SLOT_STATUS);
}

static int reap_done(struct vblk_dev *d, struct vblk_done *out, unsigned max)
{
	unsigned n = 0;

	while (n < max && d->done_count) {
		uint16_t slot = d->done_fifo[d->done_head];
		struct vblk_slot *s = &d->slots[slot];
		d->done_head = (uint16_t)((d->done_head + 1) % d->depth);
		d->done_count--;
		out[n++] = (struct vblk_done){ s->tag, slot, slot_status(d, slot), s->len };
		free_slot(d, slot);
	}
	return (int)n;
}

int vblk_reap(struct vblk_dev *d, struct vblk_done *out, unsigned max)
{
	process_used(d);
	return reap_done(d, out, max);
}

/* Interrupt mode: the used ring is looked at only after the queue's vector
 * fired, so a completion that arrives without its interrupt times out. */
static bool may_look(struct virtq *vq)
{
	if (!vq->irq)
		return true;
	if (vq->irqs == vq->irqs_seen)
		return false;
	vq->irqs_seen = vq->irqs;
	return true;
}

int vblk_wait(struct vblk_dev *d, struct vblk_done *out, unsigned max, uint64_t timeout_us)
{
	uint64_t dl = virtio_deadline(timeout_us), check = virtio_deadline(HEALTH_CHECK_US);

	for (;;) {
		if (d->done_count)
			return reap_done(d, out, max);
		if (may_look(&d->vq)) {
			int n = vblk_reap(d, out, max);
			if (n)
				return n;
		}
		if (virtio_expired(check)) {
			int h = virtio_health(&d->vd);
			if (h)
				return h;
			check = virtio_deadline(HEALTH_CHECK_US);
		}
		if (virtio_expired(dl)) {
			int h = virtio_health(&d->vd);
			return h ? h : VIRTIO_E_TIMEOUT;
		}
		cpu_relax();
	}
}

/* Waits for exactly this slot's completion; others are kept for reaping. */
static int wait_slot(struct vblk_dev *d, int slot, uint32_t *used_len)
{
	if (slot < 0)
		return slot;
	struct vblk_slot *s = &d->slots[slot];
	s->sync = true;
	vblk_kick(d);

	uint64_t dl = virtio_deadline(d->opts.timeout_us), check = virtio_deadline(HEALTH_CHECK_US);
	int r = 0;
	for (;;) {
		if (s->state == SLOT_DONE)
			break;
		if (may_look(&d->vq)) {
			process_used(d);
			if (s->state == SLOT_DONE)
				break;
		}
		if (virtio_expired(check)) {
			if ((r = virtio_health(&d->vd)))
				break;
			check = virtio_deadline(HEALTH_CHECK_US);
		}
		if (virtio_expired(dl)) {
			r = virtio_health(&d->vd);
			if (!r)
				r = VIRTIO_E_TIMEOUT;
			break;
		}
		cpu_relax();
	}
	if (r) {
		s->state = SLOT_ABANDONED;      /* freed if it ever completes, or by reset */
		return r;
	}
	if (used_len)
		*used_len = s->len;
	r = slot_status(d, (uint16_t)slot);
	free_slot(d, (uint16_t)slot);
	return r;
}

int vblk_cmd(struct vblk_dev *d, uint32_t type, uint64_t sector, const struct virtq_seg *data, unsigned n,
	     uint32_t *used_len)
{
	return wait_slot(d, vblk_submit_segs(d, type, sector, data, n, 0), used_len);
}

int vblk_rw(struct vblk_dev *d, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len)
{
	if (type != VIRTIO_BLK_T_IN && type != VIRTIO_BLK_T_OUT)
		return VIRTIO_E_INVAL;
	return wait_slot(d, vblk_submit(d, type, sector, buf, len, 0), NULL);
}

int vblk_flush(struct vblk_dev *d)
{
	return wait_slot(d, vblk_submit_segs(d, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 0), NULL);
}

int vblk_get_id(struct vblk_dev *d, char *out)
{
	uint8_t *b = (uint8_t *)d->scratch;

	memset(b, 0, VIRTIO_BLK_ID_BYTES);
	int r = wait_slot(d, vblk_submit(d, VIRTIO_BLK_T_GET_ID, 0, bus(d, d->scratch), VIRTIO_BLK_ID_BYTES, 0),
			  NULL);
	unsigned i = 0;
	if (r == VIRTIO_BLK_S_OK)
		for (; i < VIRTIO_BLK_ID_BYTES && b[i]; i++)
			out[i] = (b[i] >= 0x20 && b[i] < 0x7f) ? (char)b[i] : '?';
	out[i] = '\0';
	return r;
}

int vblk_write_zeroes(struct vblk_dev *d, uint64_t sector, uint32_t nsect, bool unmap)
{
	return wait_slot(d, submit_dwz(d, VIRTIO_BLK_T_WRITE_ZEROES, sector, nsect, unmap ? VIRTIO_BLK_WZ_UNMAP : 0, 0),
			 NULL);
}

int vblk_discard(struct vblk_dev *d, uint64_t sector, uint32_t nsect)
{
	return wait_slot(d, submit_dwz(d, VIRTIO_BLK_T_DISCARD, sector, nsect, 0, 0), NULL);
}

/* ---- interrupts ---- */

int vblk_irq_init(unsigned vector)
{
	int r = virtio_irq_init(vector, 2);

	if (!r)
		irq_base = vector;
	return r;
}

/* ---- device ---- */

/* The configuration fields of the negotiated features, as one consistent
 * snapshot (config_generation unchanged across the reads). */
static void read_config(struct vblk_dev *d)
{
	struct virtio_dev *vd = &d->vd;

	for (unsigned tries = 0; tries < 16; tries++) {
		uint8_t gen = virtio_cfg_generation(vd);
		d->capacity = virtio_cfg32(vd, VBLK_CFG_CAPACITY) |
			      (uint64_t)virtio_cfg32(vd, VBLK_CFG_CAPACITY + 4) << 32;
		d->size_max = vblk_has(d, VIRTIO_BLK_F_SIZE_MAX) ? virtio_cfg32(vd, VBLK_CFG_SIZE_MAX) : 0;
		d->seg_max = vblk_has(d, VIRTIO_BLK_F_SEG_MAX) ? virtio_cfg32(vd, VBLK_CFG_SEG_MAX) : 0;
		d->blk_size = vblk_has(d, VIRTIO_BLK_F_BLK_SIZE) ? virtio_cfg32(vd, VBLK_CFG_BLK_SIZE) : VBLK_SECTOR;
		if (vblk_has(d, VIRTIO_BLK_F_TOPOLOGY)) {
			d->phys_block_exp = virtio_cfg8(vd, VBLK_CFG_PHYS_BLOCK_EXP);
			d->min_io_size = virtio_cfg16(vd, VBLK_CFG_MIN_IO_SIZE);
			d->opt_io_size = virtio_cfg32(vd, VBLK_CFG_OPT_IO_SIZE);
		}
		if (vblk_has(d, VIRTIO_BLK_F_DISCARD)) {
			d->max_discard_sectors = virtio_cfg32(vd, VBLK_CFG_MAX_DISCARD_SECT);
			d->max_discard_seg = virtio_cfg32(vd, VBLK_CFG_MAX_DISCARD_SEG);
			d->discard_align = virtio_cfg32(vd, VBLK_CFG_DISCARD_ALIGN);
		}
		if (vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
			d->max_wz_sectors = virtio_cfg32(vd, VBLK_CFG_MAX_WZ_SECT);
			d->max_wz_seg = virtio_cfg32(vd, VBLK_CFG_MAX_WZ_SEG);
			d->wz_may_unmap = virtio_cfg8(vd, VBLK_CFG_WZ_MAY_UNMAP);
		}
		if (virtio_cfg_generation(vd) == gen)
			break;
	}
	d->max_segs = VBLK_MAX_SEGS;
	if (d->seg_max && d->seg_max < d->max_segs)
		d->max_segs = d->seg_max;
}

/* Reset to DRIVER_OK, with the memory allocated (the first time here). */
static int bring_up(struct vblk_dev *d)
{
	struct virtio_dev *vd = &d->vd;
	int r;

	vd->dma_offset = d->opts.dma_offset;            /* virtq_setup programs the rings with it */
	r = virtio_negotiate(vd, VBLK_WANTED & ~d->opts.features_off, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	if (r)
		return fail(d, r, "%s", vd->err);
	read_config(d);
	if (!d->capacity)
		return fail(d, VIRTIO_E_UNSUPP, "capacity 0");
	if (d->blk_size < VBLK_SECTOR || (d->blk_size & (d->blk_size - 1)))
		return fail(d, VIRTIO_E_UNSUPP, "blk_size %u", d->blk_size);
	if (d->max_segs == 0 || (d->size_max && d->size_max < VBLK_SECTOR))
		return fail(d, VIRTIO_E_UNSUPP, "seg_max %u, size_max %u: no request fits", d->seg_max, d->size_max);

	if (!d->vq.size) {
		if ((r = virtq_alloc(vd, &d->vq, 0, (uint16_t)d->opts.queue_size, VBLK_MAX_SEGS + 2)))
			return fail(d, r, "%s", vd->err);
		d->depth = (uint16_t)(d->opts.depth < d->vq.size ? d->opts.depth : d->vq.size);
		d->reqmem = rt_alloc((uint64_t)d->depth * VBLK_SLOT_BYTES, 4096);
		d->slots = (struct vblk_slot *)rt_alloc(sizeof(struct vblk_slot) * d->depth, 8);
		d->free_slots = (uint16_t *)rt_alloc(2ull * d->depth, 8);
		d->done_fifo = (uint16_t *)rt_alloc(2ull * d->depth, 8);
		d->scratch = rt_alloc(4096, 4096);
		if (!d->reqmem || !d->slots || !d->free_slots || !d->done_fifo || !d->scratch)
			return fail(d, VIRTIO_E_NOMEM, "out of memory");
	}
	slots_reset(d);

	/* MSI-X entry 0: configuration changes, entry 1: the queue. */
	uint16_t entry = VIRTIO_MSI_NO_VECTOR;
	if (d->opts.irq) {
		if (!irq_base)
			return fail(d, VIRTIO_E_INVAL, "interrupt mode without vblk_irq_init()");
		if ((r = virtio_msix_config(vd, 0, irq_base)))
			return fail(d, r, "%s", vd->err);
		entry = vd->msix.nvec > 1 ? 1 : 0;
	} else {
		virtio_msix_off(vd);
	}
	if ((r = virtq_setup(&d->vq, entry, entry == 1 ? irq_base + 1 : irq_base)))
		return fail(d, r, "%s", vd->err);
	virtio_driver_ok(vd);
	if ((r = virtio_health(vd)))
		return fail(d, r, "device_status 0x%x after DRIVER_OK", virtio_status(vd));
	return 0;
}

int vblk_reset(struct vblk_dev *d)
{
	return bring_up(d);
}

int vblk_open(struct vblk_dev *d, const struct vblk_opts *o)
{
	memset(d, 0, sizeof(*d));
	d->opts = *o;
	if (!d->opts.depth)
		d->opts.depth = DEFAULT_DEPTH;
	if (!d->opts.timeout_us)
		d->opts.timeout_us = DEFAULT_TIMEOUT_US;

	int bdf = o->bdf >= 0 ? o->bdf : virtio_pci_find(VIRTIO_ID_BLOCK, VBLK_PCI_DEVICE_TRANSITIONAL);
	if (bdf < 0)
		return fail(d, VIRTIO_E_NODEV, "no virtio-blk function (1af4:1042 or 1af4:1001) on bus 0");
	int r = virtio_pci_open(&d->vd, (uint16_t)bdf);
	if (r)
		return fail(d, r, "%s", d->vd.err);
	if (!d->vd.device.addr || d->vd.device.len < VBLK_CFG_SIZE_MAX)
		return fail(d, VIRTIO_E_NODEV, "%02x:%02x.%x: no device configuration capability", bdf >> 8,
			    (bdf >> 3) & 31, bdf & 7);
	if ((r = bring_up(d)))
		return r;
	return 0;
}
