/* Split virtqueues, device side (Virtio 1.2, 2.7): chain walking with the
 * checks a hostile driver needs, used-ring publication, and interrupt
 * suppression (EVENT_IDX or NO_INTERRUPT).
 *
 * Memory ordering (2.7.13, 2.7.14): the available index is loaded with
 * acquire semantics before the ring entries and descriptors it covers are
 * read; used elements are written before the used index is stored with
 * release semantics; and a full barrier separates a store the driver must
 * see (used index, avail_event) from the load of the driver's field that
 * decides whether to notify (used_event / flags, avail index), so neither
 * side can miss the other's update. Index fields are accessed through a
 * short dma_access window as single aligned 16-bit atomics; everything
 * else through dma_read/dma_write. */
#include "devices/virtqueue.h"
#include "base/log.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VQ_FMT      "virtio %s: queue %u: "
#define VQ_ARGS(vq) (vq)->name, (vq)->index

/* ---- Guest memory access ---- */

/* A DMA failure as the queue's caller sees it: the bus-master gate (not the
 * driver's data) or bad input. */
static int vq_dma_error(struct virtq *vq, int err, const char *what, uint64_t iova)
{
	if (err == -EPERM)
		return -EPERM;
	guest_error(VQ_FMT "%s at IOVA 0x%llx is not reachable by DMA", VQ_ARGS(vq), what,
		    (unsigned long long)iova);
	return -EPROTO;
}

static int vq_load16(struct virtq *vq, uint64_t iova, const char *what, uint16_t *v)
{
	struct dma_access acc;
	int ret;

	ret = dma_access_begin(vq->dma, iova, sizeof(*v), false, &acc);
	if (ret < 0)
		return vq_dma_error(vq, ret, what, iova);
	/* Aligned (checked at setup), so never clipped by a page end. */
	*v = le16toh(__atomic_load_n((uint16_t *)acc.ptr, __ATOMIC_ACQUIRE));
	dma_access_end(&acc);
	return 0;
}

static int vq_store16(struct virtq *vq, uint64_t iova, const char *what, uint16_t v)
{
	struct dma_access acc;
	int ret;

	ret = dma_access_begin(vq->dma, iova, sizeof(v), true, &acc);
	if (ret < 0)
		return vq_dma_error(vq, ret, what, iova);
	__atomic_store_n((uint16_t *)acc.ptr, htole16(v), __ATOMIC_RELEASE);
	dma_access_end(&acc);
	return 0;
}

static int vq_read(struct virtq *vq, uint64_t iova, void *buf, size_t len, const char *what)
{
	ssize_t n = dma_read(vq->dma, iova, buf, len);

	if (n == (ssize_t)len)
		return 0;
	return vq_dma_error(vq, n < 0 ? (int)n : -EFAULT, what, iova);
}

static uint64_t vq_used_event_addr(const struct virtq *vq)
{
	return vq->avail + VIRTQ_AVAIL_RING + 2ull * vq->size;
}

static uint64_t vq_avail_event_addr(const struct virtq *vq)
{
	return vq->used + VIRTQ_USED_RING + (uint64_t)VIRTQ_USED_ELEM_SIZE * vq->size;
}

/* ---- Setup ---- */

void virtq_init(struct virtq *vq, struct dma_as *dma, const char *name, unsigned index)
{
	memset(vq, 0, sizeof(*vq));
	vq->dma = dma;
	vq->name = name ? name : "?";
	vq->index = index;
}

/* [base, base + len) does not wrap the 64-bit space. */
static bool vq_area_ok(uint64_t base, uint64_t len, uint64_t align)
{
	return base % align == 0 && base + len - 1 >= base;
}

int virtq_setup(struct virtq *vq, uint16_t size, uint16_t max_size, uint64_t desc,
		uint64_t avail, uint64_t used, bool event_idx, bool indirect)
{
	const char *why = NULL;

	if (size == 0 || (size & (size - 1)) || size > max_size)
		why = "queue size is not a power of two up to the maximum";
	else if (!vq_area_ok(desc, 16ull * size, VIRTQ_DESC_ALIGN))
		why = "descriptor table misaligned (16) or wrapping";
	else if (!vq_area_ok(avail, VIRTQ_AVAIL_RING + 2ull * size + 2, VIRTQ_AVAIL_ALIGN))
		why = "driver area misaligned (2) or wrapping";
	else if (!vq_area_ok(used, VIRTQ_USED_RING + 8ull * size + 2, VIRTQ_USED_ALIGN))
		why = "device area misaligned (4) or wrapping";
	if (why) {
		guest_error(VQ_FMT "cannot enable: %s (size %u, max %u, desc 0x%llx, driver 0x%llx, "
			    "device 0x%llx)", VQ_ARGS(vq), why, size, max_size,
			    (unsigned long long)desc, (unsigned long long)avail,
			    (unsigned long long)used);
		return -EINVAL;
	}
	vq->size = size;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = vq->used_idx = vq->published = vq->signalled = 0;
	vq->signalled_valid = false;
	vq->ready = true;
	return 0;
}

void virtq_reset(struct virtq *vq)
{
	virtq_init(vq, vq->dma, vq->name, vq->index);
}

void virtq_elem_free(struct virtq_elem *e)
{
	free(e->sg);
	e->sg = NULL;
	e->sg_cap = 0;
}

/* ---- Available ring ---- */

int virtq_avail_count(struct virtq *vq)
{
	uint16_t idx, n;
	int ret;

	if (!vq->ready)
		return 0;
	ret = vq_load16(vq, vq->avail + VIRTQ_AVAIL_IDX, "available index", &idx);
	if (ret < 0)
		return ret;
	n = (uint16_t)(idx - vq->last_avail);
	if (n > vq->size) {
		guest_error(VQ_FMT "available index %u is %u entries ahead of %u, more than the queue "
			    "size %u", VQ_ARGS(vq), idx, n, vq->last_avail, vq->size);
		return -EPROTO;
	}
	return n;
}

static int vq_add_seg(struct virtq *vq, struct virtq_elem *e, uint64_t addr, uint32_t len,
		      bool write)
{
	if (e->nout + e->nin == e->sg_cap) {
		unsigned cap = e->sg_cap ? 2 * e->sg_cap : 16;
		struct dma_sg *sg = realloc(e->sg, cap * sizeof(*sg));

		if (!sg)
			return -ENOMEM;
		e->sg = sg;
		e->sg_cap = cap;
	}
	e->sg[e->nout + e->nin] = (struct dma_sg){ .iova = addr, .len = len };
	if (write) {
		e->nin++;
		e->in_len += len;
	} else {
		e->nout++;
		e->out_len += len;
	}
	return 0;
}

/* Follows the chain at head (through at most one indirect table) into e.
 * Every step is bounded by the table it is in, so a cycle ends as "longer
 * than its table"; and the buffers of the whole chain by the queue size
 * (2.7.5.3.1: no chain longer than the queue, indirect entries included). */
static int vq_walk(struct virtq *vq, uint16_t head, struct virtq_elem *e)
{
	uint64_t table = vq->desc;
	unsigned limit = vq->size, steps = 0, buffers = 0;
	bool in_indirect = false;
	uint16_t i = head;
	const char *why;
	int ret;

	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	for (;;) {
		struct virtq_desc d;
		uint16_t flags;

		if (steps++ == limit) {
			why = in_indirect ? "chain longer than its indirect table (a loop?)"
					  : "chain longer than the queue (a loop?)";
			goto bad;
		}
		ret = vq_read(vq, table + 16ull * i, &d, sizeof(d),
			      in_indirect ? "indirect descriptor" : "descriptor");
		if (ret < 0)
			return ret;
		d.addr = le64toh(d.addr);
		d.len = le32toh(d.len);
		flags = le16toh(d.flags);
		d.next = le16toh(d.next);
		if (flags & VIRTQ_DESC_F_INDIRECT) {
			if (in_indirect)
				why = "nested indirect table";
			else if (!vq->indirect)
				why = "indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC";
			else if (flags & VIRTQ_DESC_F_NEXT)
				why = "indirect descriptor with NEXT";
			else if (!d.len || d.len % sizeof(d))
				why = "indirect table length not a non-empty multiple of 16";
			else if (d.len / sizeof(d) > vq->size)
				why = "indirect table longer than the queue";
			else if (!vq_area_ok(d.addr, d.len, 1))
				why = "indirect table wraps the address space";
			else
				why = NULL;
			if (why)
				goto bad;
			/* 2.7.5.3.2: the device ignores WRITE on this descriptor. */
			table = d.addr;
			limit = d.len / sizeof(d);
			steps = 0;
			i = 0;
			in_indirect = true;
			vq->stats.indirect++;
			continue;
		}
		if (++buffers > vq->size) {
			why = "chain longer than the queue";
			goto bad;
		}
		if (d.len) {
			bool write = flags & VIRTQ_DESC_F_WRITE;

			if (!write && e->nin) {
				why = "device-readable descriptor after a device-writable one";
				goto bad;
			}
			if (!vq_area_ok(d.addr, d.len, 1)) {
				why = "buffer wraps the address space";
				goto bad;
			}
			ret = vq_add_seg(vq, e, d.addr, d.len, write);
			if (ret < 0)
				return ret;
		}
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= limit) {
			why = "next index beyond the table";
			goto bad;
		}
		i = d.next;
	}

bad:
	guest_error(VQ_FMT "chain at head %u, %sdescriptor %u: %s", VQ_ARGS(vq), head,
		    in_indirect ? "indirect " : "", i, why);
	return -EPROTO;
}

void virtq_disable_notify(struct virtq *vq)
{
	/* With EVENT_IDX a stale avail_event is enough: the driver notifies
	 * only when its index crosses it (2.7.10). Errors show at the next pop. */
	if (vq->ready && !vq->event_idx)
		vq_store16(vq, vq->used + VIRTQ_USED_FLAGS, "used flags", VIRTQ_USED_F_NO_NOTIFY);
}

int virtq_enable_notify(struct virtq *vq)
{
	int ret;

	if (!vq->ready)
		return 0;
	if (vq->event_idx)
		ret = vq_store16(vq, vq_avail_event_addr(vq), "avail_event", vq->last_avail);
	else
		ret = vq_store16(vq, vq->used + VIRTQ_USED_FLAGS, "used flags", 0);
	if (ret < 0)
		return ret;
	/* Then look again: an entry made available before the driver could
	 * see the store would otherwise wait for a notification that never
	 * comes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_avail_count(vq);
}

int virtq_pop(struct virtq *vq, struct virtq_elem *e)
{
	uint16_t head;
	int n, ret;

	n = virtq_avail_count(vq);
	if (n <= 0)
		return n;
	/* The device owns at most `size` buffers at once: a driver that makes
	 * a chain available again while it is still in flight gets it taken
	 * only after a completion, as any later entry waits for a free slot.
	 * Taking it now would put more in flight than the used ring can ever
	 * return. */
	if ((uint16_t)(vq->last_avail - vq->used_idx) >= vq->size)
		return 0;
	ret = vq_read(vq, vq->avail + VIRTQ_AVAIL_RING + 2ull * (vq->last_avail & (vq->size - 1)),
		      &head, sizeof(head), "available ring entry");
	if (ret < 0)
		return ret;
	head = le16toh(head);
	if (head >= vq->size) {
		guest_error(VQ_FMT "available entry %u names descriptor %u, beyond the queue size %u",
			    VQ_ARGS(vq), vq->last_avail, head, vq->size);
		return -EPROTO;
	}
	ret = vq_walk(vq, head, e);
	if (ret < 0)
		return ret;
	vq->last_avail++;
	vq->stats.popped++;
	return 1;
}

void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
	vq->stats.popped--;
}

/* ---- Used ring ---- */

int virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
	uint64_t at = vq->used + VIRTQ_USED_RING +
		      (uint64_t)VIRTQ_USED_ELEM_SIZE * (vq->used_idx & (vq->size - 1));
	uint32_t elem[2] = { htole32(head), htole32(len) };
	ssize_t n;

	if (!vq->ready)
		return -ENODEV;
	n = dma_write(vq->dma, at, elem, sizeof(elem));
	if (n != (ssize_t)sizeof(elem))
		return vq_dma_error(vq, n < 0 ? (int)n : -EFAULT, "used ring entry", at);
	vq->used_idx++;
	vq->stats.pushed++;
	return 0;
}

int virtq_flush(struct virtq *vq)
{
	int ret;

	if (!vq->ready || vq->used_idx == vq->published)
		return 0;
	/* Release: the elements are visible before the index that covers them. */
	ret = vq_store16(vq, vq->used + VIRTQ_USED_IDX, "used index", vq->used_idx);
	if (ret < 0)
		return ret;
	vq->published = vq->used_idx;
	return 0;
}

bool virtq_should_notify(struct virtq *vq)
{
	uint16_t v;
	bool need;

	/* Nothing published since the last decision (or since setup). */
	if (!vq->ready || vq->published == vq->signalled)
		return false;
	/* The used index store must be visible before the driver's
	 * suppression field is read, or a driver re-enabling interrupts
	 * just then would be missed. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		need = vq_load16(vq, vq_used_event_addr(vq), "used_event", &v) < 0 ||
		       !vq->signalled_valid || virtq_need_event(v, vq->published, vq->signalled);
	} else {
		/* An unreadable flag errs on the side of an interrupt. */
		need = vq_load16(vq, vq->avail + VIRTQ_AVAIL_FLAGS, "available flags", &v) < 0 ||
		       !(v & VIRTQ_AVAIL_F_NO_INTERRUPT);
	}
	vq->signalled = vq->published;
	vq->signalled_valid = true;
	if (need)
		vq->stats.notifies_sent++;
	else
		vq->stats.notifies_suppressed++;
	return need;
}
