/* Split virtqueues (Virtio 1.2, 2.7), device side.
 *
 * A virtqueue is three areas in guest memory that the driver placed: the
 * descriptor table, the available ring (driver area) and the used ring
 * (device area). Every access goes through the device's DMA address space,
 * so with an IOMMU the addresses are IOVAs; nothing is cached between
 * calls, so an unmap takes effect at the next access.
 *
 * The driver is not trusted. Everything that could make the device loop,
 * read or write out of bounds, or misframe a request is detected and
 * reported as bad input (-EPROTO, with a guest error naming the queue, the
 * index and the reason); the transport then sets DEVICE_NEEDS_RESET. A
 * chain's buffers are not touched here: the element lists them (as IOVA
 * segments) for the device model to move with the DMA API.
 *
 * Not thread-safe: the transport serializes every call for a queue. */
#ifndef WARDEN_DEVICES_VIRTQUEUE_H
#define WARDEN_DEVICES_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu/dma.h"

/* ---- Ring layout (2.7.5 - 2.7.8) ---- */
struct virtq_desc {
	uint64_t addr;                  /* le64 */
	uint32_t len;                   /* le32 */
	uint16_t flags;                 /* le16 */
	uint16_t next;                  /* le16 */
};
#define VIRTQ_DESC_F_NEXT       1
#define VIRTQ_DESC_F_WRITE      2       /* device-writable (else device-readable) */
#define VIRTQ_DESC_F_INDIRECT   4

/* struct virtq_avail { le16 flags; le16 idx; le16 ring[size]; le16 used_event; } */
#define VIRTQ_AVAIL_FLAGS       0
#define VIRTQ_AVAIL_IDX         2
#define VIRTQ_AVAIL_RING        4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* struct virtq_used { le16 flags; le16 idx; struct virtq_used_elem ring[size];
 *                     le16 avail_event; } */
#define VIRTQ_USED_FLAGS        0
#define VIRTQ_USED_IDX          2
#define VIRTQ_USED_RING         4
#define VIRTQ_USED_ELEM_SIZE    8       /* le32 id, le32 len */
#define VIRTQ_USED_F_NO_NOTIFY  1

/* Alignment of the three areas (2.7, table "Virtqueue Part Alignment"). */
#define VIRTQ_DESC_ALIGN        16
#define VIRTQ_AVAIL_ALIGN       2
#define VIRTQ_USED_ALIGN        4

#define VIRTQ_MAX_SIZE          32768   /* 2.7: queue size at most 32768 */

/* One buffer of a chain: device-readable ones first, then device-writable
 * (2.7.4.2: the driver places writable descriptors after readable ones). */
struct virtq_elem {
	uint16_t head;                  /* descriptor index, the used element's id */
	unsigned nout, nin;             /* readable, writable segments */
	uint64_t out_len, in_len;       /* bytes of each */
	struct dma_sg *sg;              /* nout readable, then nin writable */
	unsigned sg_cap;                /* allocated entries (grows; free with virtq_elem_free) */
};

struct virtq_stats {
	uint64_t popped, pushed;
	uint64_t notifies_sent, notifies_suppressed;
	uint64_t indirect;              /* chains through an indirect table */
};

struct virtq {
	struct dma_as *dma;
	const char *name;               /* device name, for messages */
	unsigned index;
	bool ready;
	uint16_t size;                  /* power of two */
	uint64_t desc, avail, used;     /* IOVAs */
	bool event_idx;                 /* VIRTIO_F_RING_EVENT_IDX negotiated */
	bool indirect;                  /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	uint16_t last_avail;            /* next available entry to consume */
	uint16_t used_idx;              /* used entries written (published by flush) */
	uint16_t published;             /* used->idx as last stored */
	uint16_t signalled;             /* used idx at the last interrupt decision */
	bool signalled_valid;
	struct virtq_stats stats;
};

void virtq_init(struct virtq *vq, struct dma_as *dma, const char *name, unsigned index);
/* Checks the driver's layout (size a power of two, 1..max_size; areas
 * aligned, not wrapping) and makes the queue ready with fresh indices.
 * -EINVAL with a guest error when it is unusable; the queue stays off. */
int virtq_setup(struct virtq *vq, uint16_t size, uint16_t max_size, uint64_t desc,
		uint64_t avail, uint64_t used, bool event_idx, bool indirect);
/* Back to not ready; indices cleared. */
void virtq_reset(struct virtq *vq);

/* Driver notifications (2.7.10): off while the device is busy with the
 * queue anyway (VIRTQ_USED_F_NO_NOTIFY; with EVENT_IDX avail_event is
 * simply left behind), on before it goes idle. Enabling returns how many
 * entries are available after the full barrier that follows the store (or
 * -errno as virtq_pop): non-zero means they must be processed now, since
 * the driver may have added them without notifying. */
void virtq_disable_notify(struct virtq *vq);
int virtq_enable_notify(struct virtq *vq);
/* Takes the next available chain into e:
 *   1        e filled, the entry consumed
 *   0        nothing available
 *   -EPERM   DMA refused by the Bus Master Enable gate (not the driver's
 *            data's fault; nothing consumed)
 *   -EPROTO  bad input (guest error logged): a ring or descriptor the DMA
 *            API cannot reach, avail idx more than size ahead, a head or
 *            next index >= size, a chain longer than its table (a loop) or
 *            with more buffers than the queue size (indirect ones
 *            included), an indirect table nested, with NEXT, not
 *            negotiated, longer than the queue or not a multiple of 16
 *            bytes, readable after writable
 *   -ENOMEM  host out of memory for the segment list (nothing consumed) */
int virtq_pop(struct virtq *vq, struct virtq_elem *e);
/* Gives back the last popped entry (the device could not start it yet). */
void virtq_unpop(struct virtq *vq);
/* Number of entries the driver has made available beyond last_avail, or
 * -errno (as virtq_pop). */
int virtq_avail_count(struct virtq *vq);
/* Writes a used element (id, bytes written); visible to the driver only
 * after virtq_flush. 0 or -EPROTO (used ring unreachable) / -EPERM. */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t len);
/* Publishes the used elements pushed so far: elements before the index
 * (release). 0 or -errno. */
int virtq_flush(struct virtq *vq);
/* After a flush: whether the driver wants an interrupt for the new used
 * entries (EVENT_IDX: used_event crossed; else: NO_INTERRUPT clear).
 * Orders the used-index store before the read of the driver's flag with a
 * full barrier (2.7.10 / 2.7.7.2). */
bool virtq_should_notify(struct virtq *vq);

void virtq_elem_free(struct virtq_elem *e);

/* VIRTIO spec's vring_need_event: whether new_idx passed event_idx since old. */
static inline bool virtq_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

#endif
