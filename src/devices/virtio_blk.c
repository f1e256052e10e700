/* virtio-blk (Virtio 1.2, 5.2): the device half; the virtio-pci transport
 * (virtio_pci.c) calls it through struct virtio_device_ops with its lock
 * held, except wait(), which the I/O thread calls alone.
 *
 * A request's life: popped from the available ring (a slot of its queue's
 * pool is taken; with none free, or the in-flight byte budget full, the
 * queue waits for completions), parsed, data gathered into the bounce
 * buffer for writes, submitted to the backend; the backend's completion
 * puts it on the done list (possibly from inside blk_submit or blk_poll),
 * and complete() scatters read data, writes the status byte, pushes the
 * used element and lets the transport decide on the interrupt.
 *
 * Error policy (docs/virtio.md):
 *   bad input, DEVICE_NEEDS_RESET: what prevents an answer - fewer than 16
 *     device-readable bytes (header), no device-writable byte (status), a
 *     header or status byte the DMA API cannot reach - and every ring or
 *     chain error virtqueue.c finds;
 *   VIRTIO_BLK_S_IOERR: a request the device can answer but not carry out -
 *     sector range beyond the capacity, data length not a multiple of 512
 *     or over 32 MiB, data in the wrong direction (readable data for IN,
 *     writable data beyond the status for OUT/DISCARD/WRITE_ZEROES), a
 *     write to a read-only disk, data buffers the DMA API stops (nothing
 *     reaches the disk for a write; a read's data may be partly written),
 *     backend errors;
 *   VIRTIO_BLK_S_UNSUPP: unknown types, DISCARD/WRITE_ZEROES not negotiated,
 *     more ranges than max_*_seg, unknown flags, unmap on a discard. */
#include "devices/virtio_blk.h"
#include "base/log.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define VB_FMT          "virtio-blk %s: "
/* Bounce buffers up to this size stay with their slot for the next request. */
#define VBLK_BUF_KEEP   (256u << 10)

static void vblk_put16(uint8_t *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static void vblk_put32(uint8_t *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static void vblk_put64(uint8_t *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }
static uint32_t vblk_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static uint64_t vblk_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }

static enum virtio_blk_stat_type vblk_stat_type(uint32_t type)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:           return VBLK_STAT_IN;
	case VIRTIO_BLK_T_OUT:          return VBLK_STAT_OUT;
	case VIRTIO_BLK_T_FLUSH:        return VBLK_STAT_FLUSH;
	case VIRTIO_BLK_T_GET_ID:       return VBLK_STAT_GET_ID;
	case VIRTIO_BLK_T_DISCARD:      return VBLK_STAT_DISCARD;
	case VIRTIO_BLK_T_WRITE_ZEROES: return VBLK_STAT_WRITE_ZEROES;
	default:                        return VBLK_STAT_OTHER;
	}
}

/* ---- Moving bytes ---- */

/* Moves len bytes between buf and the segments sg[0..n), starting skip
 * bytes into them. 0, or the DMA API's error when it stopped short;
 * *moved (optional) says how far it got. */
static int vblk_sg_xfer(struct virtio_blk *b, const struct dma_sg *sg, unsigned n, uint64_t skip,
			void *buf, uint64_t len, bool to_guest, uint64_t *moved)
{
	uint8_t *p = buf;
	uint64_t done = 0;
	int ret = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		uint64_t chunk;
		ssize_t m;

		if (skip >= sg[i].len) {
			skip -= sg[i].len;
			continue;
		}
		chunk = sg[i].len - skip < len - done ? sg[i].len - skip : len - done;
		m = to_guest ? dma_write(b->dma, sg[i].iova + skip, p + done, chunk)
			     : dma_read(b->dma, sg[i].iova + skip, p + done, chunk);
		skip = 0;
		if (m > 0)
			done += (uint64_t)m;
		if (m != (ssize_t)chunk) {
			ret = m < 0 ? (int)m : -EFAULT;
			break;
		}
	}
	if (!ret && done != len)
		ret = -EFAULT;
	if (moved)
		*moved = done;
	return ret;
}

static int vblk_buf(struct vblk_req *r, uint64_t len)
{
	void *p;

	if (r->buf_cap >= len)
		return 0;
	if (posix_memalign(&p, 4096, len))
		return -ENOMEM;
	free(r->buf);
	r->buf = p;
	r->buf_cap = len;
	return 0;
}

/* The writable data (everything before the status byte). */
static const struct dma_sg *vblk_in_sg(const struct vblk_req *r, unsigned *n)
{
	*n = r->elem.nin;
	return r->elem.sg + r->elem.nout;
}

/* ---- Finishing ---- */

static void vblk_done_push(struct virtio_blk *b, struct vblk_req *r)
{
	r->next = NULL;
	if (b->done_tail)
		b->done_tail->next = r;
	else
		b->done_head = r;
	b->done_tail = r;
}

/* A request answered without the backend (errors, GET_ID, empty I/O). */
static void vblk_answer(struct virtio_blk *b, struct vblk_req *r, uint8_t status)
{
	r->status = status;
	r->breq.op = BLK_FLUSH;         /* no data to scatter */
	r->breq.result = 0;
	vblk_done_push(b, r);
}

static void vblk_backend_done(struct blk_req *breq)
{
	struct vblk_req *r = breq->opaque;

	vblk_done_push(r->b, r);
}

static int vblk_submit(struct virtio_blk *b, struct vblk_req *r, enum blk_op op, uint64_t offset,
		       uint64_t len)
{
	r->breq = (struct blk_req){ .op = op, .offset = offset, .len = len,
				    .done = vblk_backend_done, .opaque = r };
	if (op == BLK_READ || op == BLK_WRITE) {
		r->iov = (struct iovec){ .iov_base = r->buf, .iov_len = len };
		r->breq.iov = &r->iov;
		r->breq.iovcnt = 1;
	}
	return blk_submit(b->backend, &r->breq);
}

/* Discard / write zeroes: submits the next non-empty range from r->seg.
 * 1 submitted, 0 none left, -errno refused. */
static int vblk_submit_range(struct virtio_blk *b, struct vblk_req *r)
{
	enum blk_op op = r->type == VIRTIO_BLK_T_DISCARD ? BLK_DISCARD : BLK_WRITE_ZEROES;

	while (r->seg < r->nseg) {
		const uint8_t *e = r->buf + (size_t)r->seg * VIRTIO_BLK_DWZ_SIZE;
		uint64_t sector = vblk_get64(e);
		uint32_t num = vblk_get32(e + 8);
		int ret;

		r->seg++;
		if (!num)
			continue;
		ret = vblk_submit(b, r, op, sector * VIRTIO_BLK_SECTOR_SIZE,
				  (uint64_t)num * VIRTIO_BLK_SECTOR_SIZE);
		return ret < 0 ? ret : 1;
	}
	return 0;
}

/* The backend finished r's current step: moves read data to the guest or
 * starts the next range. True if r went back to the backend. */
static bool vblk_backend_step(struct virtio_blk *b, struct vblk_req *r)
{
	int res = r->breq.result, ret;
	const struct dma_sg *sg;
	uint64_t moved = 0;
	unsigned n;

	switch (r->breq.op) {
	case BLK_READ:
		if (res)
			break;
		sg = vblk_in_sg(r, &n);
		ret = vblk_sg_xfer(b, sg, n, 0, r->buf, r->data_len, true, &moved);
		r->used_len = (uint32_t)moved;
		if (ret < 0) {
			guest_error(VB_FMT "queue %u head %u: read data buffer unreachable after %llu of "
				    "%llu bytes", b->name, r->vq->index, r->elem.head,
				    (unsigned long long)moved, (unsigned long long)r->data_len);
			r->status = VIRTIO_BLK_S_IOERR;
			return false;
		}
		r->used_len++;          /* the status byte follows the data */
		b->stats.bytes_read += r->data_len;
		return false;
	case BLK_WRITE:
		if (!res)
			b->stats.bytes_written += r->data_len;
		break;
	case BLK_DISCARD:
		/* Deallocation is advisory: a backend without it is no error. */
		if (res == -EOPNOTSUPP)
			res = 0;
		/* fall through */
	case BLK_WRITE_ZEROES:
		if (res)
			break;
		ret = vblk_submit_range(b, r);
		if (ret > 0)
			return true;
		if (ret < 0)
			res = ret;
		break;
	default:
		break;
	}
	if (res) {
		log_debug(VB_FMT "queue %u head %u: backend %s failed: %s", b->name, r->vq->index,
			  r->elem.head, b->backend->desc, strerror(-res));
		r->status = VIRTIO_BLK_S_IOERR;
	}
	return false;
}

/* Status byte, used element, slot back to its pool. */
static void vblk_finish(struct virtio_blk *b, struct vblk_req *r)
{
	struct vblk_queue *q = &b->queues[r->vq->index];

	if (r->status == VIRTIO_BLK_S_IOERR)
		b->stats.ioerr++;
	else if (r->status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupp++;
	/* Without its status the request cannot be answered: no used
	 * element either; the driver gets its buffers back by resetting. */
	if (dma_write(b->dma, r->status_iova, &r->status, 1) != 1) {
		guest_error(VB_FMT "queue %u head %u: status byte at IOVA 0x%llx unreachable",
			    b->name, r->vq->index, r->elem.head, (unsigned long long)r->status_iova);
		virtio_pci_device_error(b->t);
	} else if (virtq_push(r->vq, r->elem.head, r->used_len) < 0) {
		virtio_pci_device_error(b->t);
	}
	b->inflight_bytes -= r->budget;
	r->budget = 0;
	if (r->buf_cap > VBLK_BUF_KEEP) {
		free(r->buf);
		r->buf = NULL;
		r->buf_cap = 0;
	}
	b->inflight--;
	r->next = q->free;
	q->free = r;
}

static unsigned vblk_complete(void *dev)
{
	struct virtio_blk *b = dev;
	uint64_t touched = 0;
	unsigned n = 0;
	struct vblk_req *r;

	/* Steps may complete inline and append to the list: take from the head. */
	while ((r = b->done_head)) {
		b->done_head = r->next;
		if (!b->done_head)
			b->done_tail = NULL;
		if (r->status == VIRTIO_BLK_S_OK && vblk_backend_step(b, r))
			continue;
		touched |= 1ull << r->vq->index;
		vblk_finish(b, r);
		n++;
	}
	for (unsigned i = 0; touched; i++, touched >>= 1)
		if (touched & 1)
			virtio_pci_queue_done(b->t, &b->t->queues[i].vq);
	return n;
}

/* ---- Starting requests ---- */

/* Data length and range of an IN/OUT request: 0, or answered IOERR. */
static bool vblk_rw_ok(struct virtio_blk *b, struct vblk_req *r)
{
	const char *why = NULL;

	if (r->data_len % VIRTIO_BLK_SECTOR_SIZE)
		why = "data length not a multiple of 512";
	else if (r->data_len > VIRTIO_BLK_MAX_REQ_BYTES)
		why = "data longer than 32 MiB";
	else if (r->sector > b->capacity ||
		 r->data_len / VIRTIO_BLK_SECTOR_SIZE > b->capacity - r->sector)
		why = "sectors beyond the capacity";
	if (!why)
		return true;
	guest_error(VB_FMT "queue %u head %u: %s at sector %llu, %llu bytes: %s", b->name,
		    r->vq->index, r->elem.head, r->type == VIRTIO_BLK_T_IN ? "read" : "write",
		    (unsigned long long)r->sector, (unsigned long long)r->data_len, why);
	vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
	return false;
}

/* Holds len bytes of bounce buffer against the in-flight budget; -EAGAIN
 * when it is full and others will give some back. */
static int vblk_reserve(struct virtio_blk *b, struct vblk_req *r, uint64_t len)
{
	if (b->inflight_bytes && b->inflight_bytes + len > VIRTIO_BLK_INFLIGHT_BYTES)
		return -EAGAIN;
	if (vblk_buf(r, len) < 0) {
		log_error(VB_FMT "no memory for a %llu-byte bounce buffer", b->name,
			  (unsigned long long)len);
		return -ENOMEM;
	}
	r->budget = len;
	b->inflight_bytes += len;
	return 0;
}

static int vblk_start_rw(struct virtio_blk *b, struct vblk_req *r)
{
	const struct virtq_elem *e = &r->elem;
	bool write = r->type == VIRTIO_BLK_T_OUT;
	uint64_t offset = r->sector * VIRTIO_BLK_SECTOR_SIZE;
	int ret;

	if (write ? e->in_len != 1 : e->out_len != VIRTIO_BLK_HDR_SIZE) {
		guest_error(VB_FMT "queue %u head %u: %s with data in the wrong direction", b->name,
			    r->vq->index, e->head, write ? "write" : "read");
		vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	r->data_len = write ? e->out_len - VIRTIO_BLK_HDR_SIZE : e->in_len - 1;
	if (!vblk_rw_ok(b, r))
		return 0;
	if (write && b->read_only) {
		guest_error(VB_FMT "queue %u head %u: write to a read-only disk", b->name,
			    r->vq->index, e->head);
		vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	if (!r->data_len) {
		vblk_answer(b, r, VIRTIO_BLK_S_OK);
		return 0;
	}
	ret = vblk_reserve(b, r, r->data_len);
	if (ret == -EAGAIN)
		return ret;
	if (ret < 0) {
		vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	if (write && vblk_sg_xfer(b, e->sg, e->nout, VIRTIO_BLK_HDR_SIZE, r->buf, r->data_len,
				  false, NULL) < 0) {
		guest_error(VB_FMT "queue %u head %u: write data buffer unreachable", b->name,
			    r->vq->index, e->head);
		vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
		return 0;
	}
	ret = vblk_submit(b, r, write ? BLK_WRITE : BLK_READ, offset, r->data_len);
	if (ret < 0)
		vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
	return 0;
}

static void vblk_get_id(struct virtio_blk *b, struct vblk_req *r)
{
	uint64_t len = r->elem.in_len - 1, n = len < VIRTIO_BLK_ID_BYTES ? len : VIRTIO_BLK_ID_BYTES;
	const struct dma_sg *sg;
	unsigned nsg;

	sg = vblk_in_sg(r, &nsg);
	if (n && vblk_sg_xfer(b, sg, nsg, 0, b->serial, n, true, NULL) < 0) {
		guest_error(VB_FMT "queue %u head %u: GET_ID buffer unreachable", b->name,
			    r->vq->index, r->elem.head);
		vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
		return;
	}
	/* Bytes written from the start of the writable part: the status
	 * byte counts only when it follows the id directly. */
	r->used_len = (uint32_t)n + (n == len);
	vblk_answer(b, r, VIRTIO_BLK_S_OK);
}

static void vblk_start_dwz(struct virtio_blk *b, struct vblk_req *r)
{
	bool discard = r->type == VIRTIO_BLK_T_DISCARD;
	const struct virtq_elem *e = &r->elem;
	uint64_t len = e->out_len - VIRTIO_BLK_HDR_SIZE;
	uint8_t status = VIRTIO_BLK_S_IOERR;
	const char *why = NULL;
	int ret;

	if (!virtio_pci_has_feature(b->t, discard ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES)) {
		why = "feature not negotiated";
		status = VIRTIO_BLK_S_UNSUPP;
	} else if (b->read_only) {
		why = "read-only disk";
	} else if (e->in_len != 1) {
		why = "device-writable data";
	} else if (!len || len % VIRTIO_BLK_DWZ_SIZE) {
		why = "ranges not a non-empty multiple of 16 bytes";
	} else if (len / VIRTIO_BLK_DWZ_SIZE > VIRTIO_BLK_MAX_SEGS) {
		why = "more ranges than max_*_seg";
		status = VIRTIO_BLK_S_UNSUPP;
	} else if (vblk_buf(r, len) < 0) {
		why = "host out of memory";
	} else if (vblk_sg_xfer(b, e->sg, e->nout, VIRTIO_BLK_HDR_SIZE, r->buf, len, false,
				NULL) < 0) {
		why = "range buffer unreachable";
	}
	for (unsigned i = 0; !why && i < len / VIRTIO_BLK_DWZ_SIZE; i++) {
		const uint8_t *p = r->buf + (size_t)i * VIRTIO_BLK_DWZ_SIZE;
		uint64_t sector = vblk_get64(p);
		uint32_t num = vblk_get32(p + 8), flags = vblk_get32(p + 12);

		/* 5.2.6.2: unknown flags, or unmap on a discard: UNSUPP. */
		if (flags & ~(discard ? 0u : VIRTIO_BLK_WZ_FLAG_UNMAP)) {
			why = "unsupported flags";
			status = VIRTIO_BLK_S_UNSUPP;
		} else if (num > VIRTIO_BLK_MAX_DWZ_SECTORS) {
			why = "range longer than max_*_sectors";
		} else if (sector > b->capacity || num > b->capacity - sector) {
			why = "sectors beyond the capacity";
		}
	}
	if (why) {
		guest_error(VB_FMT "queue %u head %u: %s: %s", b->name, r->vq->index, e->head,
			    discard ? "discard" : "write zeroes", why);
		vblk_answer(b, r, status);
		return;
	}
	r->seg = 0;
	r->nseg = (unsigned)(len / VIRTIO_BLK_DWZ_SIZE);
	ret = vblk_submit_range(b, r);
	if (ret <= 0)
		vblk_answer(b, r, ret < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/* 0 (started or answered), -EAGAIN/-EPERM (give the entry back and stop
 * for now), -EPROTO (bad input). */
static int vblk_start(struct virtio_blk *b, struct virtq *vq, struct vblk_req *r)
{
	struct virtq_elem *e = &r->elem;
	uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
	const struct dma_sg *last;
	int ret;

	r->vq = vq;
	r->status = VIRTIO_BLK_S_OK;
	/* used len: bytes written from the start of the writable part, so
	 * the status byte counts only when nothing precedes it (reads and
	 * GET_ID raise it when their data lands). */
	r->used_len = e->in_len == 1;
	r->data_len = 0;
	if (e->out_len < VIRTIO_BLK_HDR_SIZE || !e->nin) {
		guest_error(VB_FMT "queue %u head %u: %s", b->name, vq->index, e->head,
			    e->nin ? "header not device-readable (fewer than 16 readable bytes)"
				   : "status not device-writable (no writable byte)");
		return -EPROTO;
	}
	ret = vblk_sg_xfer(b, e->sg, e->nout, 0, hdr, sizeof(hdr), false, NULL);
	if (ret == -EPERM)
		return ret;
	if (ret < 0) {
		guest_error(VB_FMT "queue %u head %u: request header unreachable", b->name,
			    vq->index, e->head);
		return -EPROTO;
	}
	last = &e->sg[e->nout + e->nin - 1];
	r->status_iova = last->iova + last->len - 1;
	r->type = vblk_get32(hdr);
	r->sector = vblk_get64(hdr + 8);
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		ret = vblk_start_rw(b, r);
		if (ret < 0)
			return ret;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (vblk_submit(b, r, BLK_FLUSH, 0, 0) < 0)
			vblk_answer(b, r, VIRTIO_BLK_S_IOERR);
		break;
	case VIRTIO_BLK_T_GET_ID:
		vblk_get_id(b, r);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		vblk_start_dwz(b, r);
		break;
	default:
		guest_error(VB_FMT "queue %u head %u: unsupported request type %u", b->name,
			    vq->index, e->head, r->type);
		vblk_answer(b, r, VIRTIO_BLK_S_UNSUPP);
		break;
	}
	b->stats.requests[vblk_stat_type(r->type)]++;
	return 0;
}

static int vblk_process_queue(void *dev, struct virtq *vq)
{
	struct virtio_blk *b = dev;
	struct vblk_queue *q = &b->queues[vq->index];
	struct vblk_req *r;
	int ret;

	while ((r = q->free)) {
		ret = virtq_pop(vq, &r->elem);
		if (ret == -ENOMEM) {
			log_error(VB_FMT "queue %u: no memory for a descriptor chain", b->name,
				  vq->index);
			return b->inflight ? -EAGAIN : -EPROTO;
		}
		if (ret <= 0)
			return ret;
		q->free = r->next;
		b->inflight++;
		if (b->inflight > b->stats.max_inflight)
			b->stats.max_inflight = b->inflight;
		ret = vblk_start(b, vq, r);
		if (ret < 0) {
			/* Not started: the slot goes back; the entry too, unless
			 * the device is about to need a reset anyway. */
			if (ret != -EPROTO)
				virtq_unpop(vq);
			if (ret == -EAGAIN)
				b->stats.deferred++;
			b->inflight--;
			r->next = q->free;
			q->free = r;
			return ret;
		}
	}
	/* Every slot of this queue is in flight. */
	return -EAGAIN;
}

/* ---- The rest of virtio_device_ops ---- */

static uint64_t vblk_features(void *dev)
{
	struct virtio_blk *b = dev;
	uint64_t f = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
		     VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);

	if (b->read_only)
		f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (b->num_queues > 1)
		f |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	return f;
}

static void vblk_config_read(void *dev, uint32_t off, void *buf, unsigned len)
{
	struct virtio_blk *b = dev;

	memcpy(buf, b->config + off, len);
}

static unsigned vblk_inflight(void *dev)
{
	return ((struct virtio_blk *)dev)->inflight;
}

static int vblk_wait(void *dev)
{
	struct virtio_blk *b = dev;
	int ret = blk_poll(b->backend, 1);

	return ret < 0 ? ret : 0;
}

static void vblk_reset(void *dev)
{
	/* Nothing is in flight: every slot is back in its pool, and the
	 * virtqueues are the transport's to reset. */
	(void)dev;
}

static const struct virtio_device_ops vblk_ops = {
	.features = vblk_features,
	.config_read = vblk_config_read,
	.process_queue = vblk_process_queue,
	.complete = vblk_complete,
	.inflight = vblk_inflight,
	.wait = vblk_wait,
	.reset = vblk_reset,
};

/* ---- Construction ---- */

static void vblk_build_config(struct virtio_blk *b)
{
	uint32_t blk_size = b->backend->block_size >= VIRTIO_BLK_SECTOR_SIZE ?
			    b->backend->block_size : VIRTIO_BLK_SECTOR_SIZE;
	uint8_t *c = b->config;

	vblk_put64(c + VIRTIO_BLK_CFG_CAPACITY, b->capacity);
	/* A request's chain holds the header and status besides its data. */
	vblk_put32(c + VIRTIO_BLK_CFG_SEG_MAX, b->queue_size - 2u);
	vblk_put32(c + VIRTIO_BLK_CFG_BLK_SIZE, blk_size);
	vblk_put16(c + VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)b->num_queues);
	vblk_put32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DWZ_SECTORS);
	vblk_put32(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, VIRTIO_BLK_MAX_SEGS);
	vblk_put32(c + VIRTIO_BLK_CFG_DISCARD_ALIGN, blk_size / VIRTIO_BLK_SECTOR_SIZE);
	vblk_put32(c + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DWZ_SECTORS);
	vblk_put32(c + VIRTIO_BLK_CFG_MAX_WZ_SEG, VIRTIO_BLK_MAX_SEGS);
	/* Both backends punch holes (RAM: pages dropped) when zeroing. */
	c[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;
}

static void vblk_free_queues(struct virtio_blk *b)
{
	if (!b->queues)
		return;
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct vblk_queue *q = &b->queues[i];

		for (unsigned j = 0; q->reqs && j < b->queue_size; j++) {
			virtq_elem_free(&q->reqs[j].elem);
			free(q->reqs[j].buf);
		}
		free(q->reqs);
	}
	free(b->queues);
	b->queues = NULL;
}

static int vblk_alloc_queues(struct virtio_blk *b)
{
	b->queues = calloc(b->num_queues, sizeof(*b->queues));
	if (!b->queues)
		return -ENOMEM;
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct vblk_queue *q = &b->queues[i];

		q->reqs = calloc(b->queue_size, sizeof(*q->reqs));
		if (!q->reqs)
			return -ENOMEM;
		for (unsigned j = b->queue_size; j-- > 0;) {
			q->reqs[j].b = b;
			q->reqs[j].next = q->free;
			q->free = &q->reqs[j];
		}
	}
	return 0;
}

int virtio_blk_pci_init(struct virtio_blk_pci *v, const struct virtio_blk_pci_config *cfg)
{
	struct virtio_blk *b = &v->blk;
	struct virtio_pci_config pcfg;
	const char *name = cfg->name ? cfg->name : "vblk";
	unsigned nq = cfg->num_queues ? cfg->num_queues : 1;
	unsigned qs = cfg->queue_size ? cfg->queue_size : VIRTIO_BLK_DEFAULT_QUEUE_SIZE;
	int ret;

	memset(v, 0, sizeof(*v));
	if (!cfg->backend || !cfg->dma || nq > VIRTIO_PCI_MAX_QUEUES || qs < 4 ||
	    qs > VIRTIO_BLK_MAX_QUEUE_SIZE || (qs & (qs - 1)) ||
	    cfg->backend->size < VIRTIO_BLK_SECTOR_SIZE) {
		log_error(VB_FMT "%u queues of %u entries on a %llu-byte disk: not a configuration "
			  "this device supports (1-%u queues, 4-%u entries, a power of two)", name,
			  nq, qs, cfg->backend ? (unsigned long long)cfg->backend->size : 0ull,
			  VIRTIO_PCI_MAX_QUEUES, VIRTIO_BLK_MAX_QUEUE_SIZE);
		return -EINVAL;
	}
	b->t = &v->t;
	b->name = name;
	b->backend = cfg->backend;
	b->dma = cfg->dma;
	b->num_queues = nq;
	b->queue_size = (uint16_t)qs;
	b->read_only = cfg->read_only || cfg->backend->read_only;
	b->capacity = cfg->backend->size / VIRTIO_BLK_SECTOR_SIZE;
	if (cfg->serial)
		memcpy(b->serial, cfg->serial, strnlen(cfg->serial, sizeof(b->serial)));
	vblk_build_config(b);
	ret = vblk_alloc_queues(b);
	if (ret < 0)
		goto err;
	pcfg = (struct virtio_pci_config){
		.name = name, .device_id = VIRTIO_ID_BLOCK, .class_code = VIRTIO_BLK_PCI_CLASS,
		.num_queues = nq, .queue_size_max = (uint16_t)qs,
		.config_size = VIRTIO_BLK_CONFIG_SIZE, .dma = cfg->dma, .ops = &vblk_ops, .dev = b,
		.poll_ns = cfg->poll_us < 0 ? 0 : 1000ull * (cfg->poll_us ? (unsigned)cfg->poll_us :
								 VIRTIO_BLK_DEFAULT_POLL_US),
	};
	ret = virtio_pci_init(&v->t, &pcfg);
	if (ret < 0)
		goto err;
	return 0;

err:
	log_error(VB_FMT "creating the device: %s", name, strerror(-ret));
	vblk_free_queues(b);
	return ret;
}

struct pci_device *virtio_blk_pci_dev(struct virtio_blk_pci *v)
{
	return virtio_pci_dev(&v->t);
}

int virtio_blk_pci_start(struct virtio_blk_pci *v)
{
	return virtio_pci_start(&v->t);
}

void virtio_blk_pci_stop(struct virtio_blk_pci *v)
{
	virtio_pci_stop(&v->t);
}

int virtio_blk_pci_poll(struct virtio_blk_pci *v, bool drain)
{
	return virtio_pci_poll(&v->t, drain);
}

void virtio_blk_pci_destroy(struct virtio_blk_pci *v)
{
	if (!v->t.inited)
		return;
	/* Drains the backend first: the slots own the buffers it writes. */
	virtio_pci_destroy(&v->t);
	vblk_free_queues(&v->blk);
}

void virtio_blk_pci_stats(struct virtio_blk_pci *v, struct virtio_blk_stats *out)
{
	virtio_pci_stats(&v->t, &out->transport);
	pthread_mutex_lock(&v->t.lock);
	memcpy(out, &v->blk.stats, offsetof(struct virtio_blk_stats, transport));
	pthread_mutex_unlock(&v->t.lock);
}

void virtio_blk_pci_print_stats(struct virtio_blk_pci *v, FILE *out)
{
	struct virtio_blk_stats st;
	const struct virtio_pci_stats *t = &st.transport;

	virtio_blk_pci_stats(v, &st);
	fprintf(out, "    requests           %llu read, %llu write, %llu flush, %llu get-id, "
		"%llu discard, %llu write-zeroes, %llu other\n",
		(unsigned long long)st.requests[VBLK_STAT_IN],
		(unsigned long long)st.requests[VBLK_STAT_OUT],
		(unsigned long long)st.requests[VBLK_STAT_FLUSH],
		(unsigned long long)st.requests[VBLK_STAT_GET_ID],
		(unsigned long long)st.requests[VBLK_STAT_DISCARD],
		(unsigned long long)st.requests[VBLK_STAT_WRITE_ZEROES],
		(unsigned long long)st.requests[VBLK_STAT_OTHER]);
	fprintf(out, "    answers            %llu IOERR, %llu UNSUPP; %llu needs-reset, %llu resets, "
		"%llu features refused\n", (unsigned long long)st.ioerr,
		(unsigned long long)st.unsupp, (unsigned long long)t->needs_reset,
		(unsigned long long)t->resets, (unsigned long long)t->features_refused);
	fprintf(out, "    bytes              %llu read, %llu written\n",
		(unsigned long long)st.bytes_read, (unsigned long long)st.bytes_written);
	fprintf(out, "    notifications      %llu (%llu trapped to the VMM)\n",
		(unsigned long long)t->notifies, (unsigned long long)t->notify_traps);
	fprintf(out, "    interrupts         %llu (%llu suppressed, %llu config, %llu refused)\n",
		(unsigned long long)t->interrupts, (unsigned long long)t->interrupts_suppressed,
		(unsigned long long)t->config_interrupts, (unsigned long long)t->irq_errors);
	fprintf(out, "    in flight          max %llu, %llu waits for the byte budget\n",
		(unsigned long long)st.max_inflight, (unsigned long long)st.deferred);
	if (t->io_wall_ns)
		fprintf(out, "    io thread          %llu wakeups, polling %llu found / %llu not, "
			"CPU %.1f%% of %.3f s\n", (unsigned long long)t->io_wakeups,
			(unsigned long long)t->io_poll_hits, (unsigned long long)t->io_poll_misses,
			100.0 * t->io_cpu_ns / t->io_wall_ns, t->io_wall_ns / 1e9);
}
