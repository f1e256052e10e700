/* Virtio over PCI, modern transport (Virtio 1.2, 4.1; see virtio_pci.h for
 * the BAR layout and the threading rules).
 *
 * Status machine (2.1, 3.1): the driver sets ACKNOWLEDGE, DRIVER, then
 * FEATURES_OK (granted only if its features are a subset of the offer and
 * include VERSION_1; otherwise the bit reads back clear), sets up queues,
 * then DRIVER_OK, after which queues are processed. Writing 0 resets the
 * device once the requests in flight have completed (the status reads 0
 * only then, as 4.1.4.3.2 asks). Bad input sets DEVICE_NEEDS_RESET with a
 * configuration change interrupt and stops all processing until reset.
 *
 * Register accesses must have the field's width (64-bit fields also as two
 * 32-bit halves, 4.1.3.1); others are guest errors (reads 0, writes
 * dropped). */
#include "devices/virtio_pci.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define VP_FMT          "virtio %s " PCI_BDF_FMT ": "
#define VP_ARGS(t)      (t)->name, PCI_BDF_ARGS((t)->pci.bdf)
#define VP_ALL_STATUS   (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
			 VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK | \
			 VIRTIO_CONFIG_S_FAILED)
#define VP_WAKE_KEY     UINT32_MAX      /* epoll key of the wake eventfd */
#define VP_WAIT_RETRY_NS 1000000        /* after a backend wait failed */
#define VP_POLL_MISSES  8               /* fruitless ring watches in a row ... */
#define VP_POLL_BACKOFF_NS 100000000ull /* ... turn watching off this long */

static uint64_t vp_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct virtio_pci_queue *vp_selected(struct virtio_pci *t)
{
	return t->queue_select < t->num_queues ? &t->queues[t->queue_select] : NULL;
}

static void vp_kick(int fd)
{
	uint64_t one = 1;

	/* Only fails when the counter would overflow: already signalled. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

/* Consumes a notification eventfd; the count it held. */
static uint64_t vp_drain_fd(int fd)
{
	uint64_t n;

	return read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n) ? n : 0;
}

/* ---- Interrupts ---- */

/* MSI-X when enabled (a vector of NO_VECTOR means none), else INTx driven
 * by the ISR (4.1.5.3, 4.1.5.4). */
static void vp_raise_locked(struct virtio_pci *t, uint16_t vector, uint8_t isr_bit)
{
	t->isr |= isr_bit;
	if (pci_msix_enabled(&t->pci)) {
		if (vector == VIRTIO_MSI_NO_VECTOR)
			return;
		if (pci_msix_notify(&t->pci, vector) < 0)
			t->stats.irq_errors++;
	} else {
		pci_set_intx(&t->pci, 1);
	}
}

void virtio_pci_queue_done(struct virtio_pci *t, struct virtq *vq)
{
	struct virtio_pci_queue *q = &t->queues[vq->index];

	if (virtq_flush(vq) < 0) {
		virtio_pci_device_error(t);
		return;
	}
	if (virtq_should_notify(vq)) {
		t->stats.interrupts++;
		vp_raise_locked(t, q->msix_vector, VIRTIO_PCI_ISR_QUEUE);
	} else {
		t->stats.interrupts_suppressed++;
	}
}

static void vp_config_interrupt_locked(struct virtio_pci *t)
{
	if (!(t->status & VIRTIO_CONFIG_S_DRIVER_OK))
		return;
	t->stats.config_interrupts++;
	vp_raise_locked(t, t->config_vector, VIRTIO_PCI_ISR_CONFIG);
}

void virtio_pci_device_error(struct virtio_pci *t)
{
	if (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)
		return;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	t->stats.needs_reset++;
	guest_error(VP_FMT "bad input: DEVICE_NEEDS_RESET set, requests stopped until reset",
		    VP_ARGS(t));
	vp_config_interrupt_locked(t);
}

void virtio_pci_config_changed(struct virtio_pci *t)
{
	t->config_generation++;
	vp_config_interrupt_locked(t);
}

bool virtio_pci_has_feature(const struct virtio_pci *t, unsigned bit)
{
	return bit < 64 && (t->driver_features & VIRTIO_BIT(bit));
}

/* ---- Processing ---- */

static bool vp_processing_allowed(const struct virtio_pci *t)
{
	return (t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(t->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)) &&
	       !t->resetting && !t->io_stop;
}

/* Marks every enabled queue for processing and wakes the I/O thread (not
 * through the queues' eventfds: those count the driver's notifications). */
static void vp_kick_all_locked(struct virtio_pci *t)
{
	for (unsigned i = 0; i < t->num_queues; i++)
		if (t->queues[i].enabled)
			t->queues[i].pending = true;
	vp_kick(t->wake_fd);
}

/* One round: finish what completed, start what is available on queues
 * that were notified, deferred, or are being polled, finish what completed
 * inline. A queue taken up has its notifications off until the device
 * goes idle (vp_idle_locked). True if anything was started or finished. */
static bool vp_run_locked(struct virtio_pci *t)
{
	unsigned done = t->ops->complete(t->dev);
	uint64_t popped = 0, before = 0;

	for (unsigned i = 0; i < t->num_queues && vp_processing_allowed(t); i++) {
		struct virtio_pci_queue *q = &t->queues[i];
		int ret;

		if (!(q->pending || q->polling) || !q->vq.ready)
			continue;
		q->pending = false;
		if (!q->polling) {
			virtq_disable_notify(&q->vq);
			q->polling = true;
		}
		before += q->vq.stats.popped;
		ret = t->ops->process_queue(t->dev, &q->vq);
		popped += q->vq.stats.popped;
		if (ret == -EAGAIN)
			q->pending = true;
		else if (ret == -EPROTO)
			virtio_pci_device_error(t);
		/* -EPERM: bus mastering is off; turning it on kicks again. */
	}
	done += t->ops->complete(t->dev);
	if (!t->ops->inflight(t->dev))
		pthread_cond_broadcast(&t->idle);
	return done || popped != before;
}

/* Queues waiting for a round that can run now. */
static bool vp_any_pending(const struct virtio_pci *t)
{
	if (!vp_processing_allowed(t))
		return false;
	for (unsigned i = 0; i < t->num_queues; i++)
		if (t->queues[i].pending)
			return true;
	return false;
}

/* Before sleeping: notifications back on for the queues being polled.
 * True if entries arrived meanwhile (they are marked pending; the driver
 * may not notify for them). A ring the device cannot reach is bad input;
 * with bus mastering off there is nothing to do until it comes back on
 * (the COMMAND write kicks every queue). */
static bool vp_idle_locked(struct virtio_pci *t)
{
	bool more = false;
	int n;

	for (unsigned i = 0; i < t->num_queues; i++) {
		struct virtio_pci_queue *q = &t->queues[i];

		if (!q->polling)
			continue;
		q->polling = false;
		n = virtq_enable_notify(&q->vq);
		if (n == -EPROTO)
			virtio_pci_device_error(t);
		if (n > 0 && vp_processing_allowed(t)) {
			q->pending = true;
			more = true;
		}
	}
	return more;
}

static inline void vp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Drops the lock for a moment, so a vCPU waiting for it gets it before
 * this thread takes it again. */
static void vp_yield_lock(struct virtio_pci *t)
{
	pthread_mutex_unlock(&t->lock);
	for (unsigned k = 0; k < 16; k++)
		vp_cpu_relax();
	pthread_mutex_lock(&t->lock);
}

/* The I/O thread, after a round that did work with nothing in flight:
 * watch the polled queues' available indices for a while before going to
 * sleep, so a driver issuing requests back to back costs neither a
 * notification exit nor a thread wakeup. The lock is dropped between
 * looks so register accesses are not held up. True if work turned up.
 *
 * Watching only pays when the driver's vCPU runs meanwhile. On a host
 * with no core to spare it does not (measured on the 2-core development
 * VM with one core busy: QD1 latency 165 us polling against 118 us not),
 * so VP_POLL_MISSES watches in a row that find nothing turn it off for
 * VP_POLL_BACKOFF_NS; on a quiet host QD1 latency drops to a few us. */
static bool vp_spin_locked(struct virtio_pci *t)
{
	uint64_t now = vp_clock_ns(CLOCK_MONOTONIC), end = now + t->poll_ns;

	if (now < t->poll_off_until)
		return false;
	for (;;) {
		if (t->io_stop || !vp_processing_allowed(t))
			return false;
		for (unsigned i = 0; i < t->num_queues; i++) {
			struct virtio_pci_queue *q = &t->queues[i];

			if (q->pending)
				return true;
			if (q->polling && virtq_avail_count(&q->vq) != 0) {
				q->pending = true;
				t->stats.io_poll_hits++;
				t->poll_misses = 0;
				return true;
			}
		}
		now = vp_clock_ns(CLOCK_MONOTONIC);
		if (now >= end)
			break;
		vp_yield_lock(t);
	}
	t->stats.io_poll_misses++;
	if (++t->poll_misses >= VP_POLL_MISSES) {
		t->poll_misses = 0;
		t->poll_off_until = now + VP_POLL_BACKOFF_NS;
	}
	return false;
}

/* Takes the notifications that arrived, marking their queues. */
static void vp_take_kicks_locked(struct virtio_pci *t)
{
	for (unsigned i = 0; i < t->num_queues; i++) {
		uint64_t n = vp_drain_fd(t->queues[i].kick_fd);

		if (n) {
			t->stats.notifies += n;
			t->queues[i].pending = true;
		}
	}
}

/* With no I/O thread: the caller polls the backend itself, under the lock. */
static int vp_wait_locked(struct virtio_pci *t)
{
	int ret = t->ops->wait(t->dev);

	if (ret < 0)
		log_error(VP_FMT "waiting for the backend: %s", VP_ARGS(t), strerror(-ret));
	t->ops->complete(t->dev);
	return ret;
}

int virtio_pci_poll(struct virtio_pci *t, bool drain)
{
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->io_running) {
		ret = -EBUSY;
		goto out;
	}
	vp_take_kicks_locked(t);
	vp_run_locked(t);
	while (drain && t->ops->inflight(t->dev)) {
		ret = vp_wait_locked(t);
		if (ret < 0)
			break;
		vp_run_locked(t);
	}
	/* Entries found on the way to idle wait for the next call. */
	vp_idle_locked(t);
out:
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* ---- Reset ---- */

/* Device reset (status 0, or the PCI function's reset): requests in flight
 * complete first - their buffers belong to the driver until then - and no
 * new ones start meanwhile. May drop the lock while waiting. */
static void vp_reset_locked(struct virtio_pci *t)
{
	t->resetting = true;
	while (t->ops->inflight(t->dev)) {
		if (t->io_running)
			pthread_cond_wait(&t->idle, &t->lock);
		else if (vp_wait_locked(t) < 0)
			break;
	}
	t->ops->reset(t->dev);
	t->status = 0;
	t->driver_features = 0;
	t->dfselect = t->gfselect = 0;
	t->config_vector = VIRTIO_MSI_NO_VECTOR;
	t->queue_select = 0;
	if (t->isr)
		pci_set_intx(&t->pci, 0);
	t->isr = 0;
	for (unsigned i = 0; i < t->num_queues; i++) {
		struct virtio_pci_queue *q = &t->queues[i];

		q->size = t->queue_size_max;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->enabled = false;
		q->desc = q->driver = q->device = 0;
		q->pending = q->polling = false;
		virtq_reset(&q->vq);
		vp_drain_fd(q->kick_fd);
	}
	t->stats.resets++;
	t->resetting = false;
}

/* ---- Common configuration ---- */

static bool vp_features_acceptable(struct virtio_pci *t)
{
	uint64_t extra = t->driver_features & ~t->device_features;

	if (!(t->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)) || extra) {
		guest_error(VP_FMT "FEATURES_OK refused: driver features 0x%llx (%s%s)", VP_ARGS(t),
			    (unsigned long long)t->driver_features,
			    extra ? "not offered: " : "VERSION_1 missing",
			    extra ? "bits beyond the offer" : "");
		return false;
	}
	return !t->ops->set_features || t->ops->set_features(t->dev, t->driver_features) == 0;
}

static void vp_status_write_locked(struct virtio_pci *t, uint8_t v)
{
	uint8_t old = t->status, now;

	if (v == 0) {
		vp_reset_locked(t);
		return;
	}
	/* 2.1.2: the driver never clears a bit (only a reset does), and
	 * DEVICE_NEEDS_RESET is the device's to set. */
	if (old & ~v & VP_ALL_STATUS)
		guest_error(VP_FMT "device_status 0x%02x clears bits of 0x%02x; kept", VP_ARGS(t), v,
			    old);
	now = old | (v & VP_ALL_STATUS);
	if ((now & ~old) & VIRTIO_CONFIG_S_FEATURES_OK) {
		if (!vp_features_acceptable(t)) {
			now &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
			t->stats.features_refused++;
		}
	}
	if (((now & ~old) & VIRTIO_CONFIG_S_DRIVER_OK) && !(now & VIRTIO_CONFIG_S_FEATURES_OK)) {
		guest_error(VP_FMT "DRIVER_OK without FEATURES_OK", VP_ARGS(t));
		t->status = now & (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
		virtio_pci_device_error(t);
		return;
	}
	t->status = now;
	/* Buffers made available before DRIVER_OK are processed now. */
	if ((now & ~old) & VIRTIO_CONFIG_S_DRIVER_OK)
		vp_kick_all_locked(t);
}

static void vp_queue_enable_locked(struct virtio_pci *t, struct virtio_pci_queue *q, uint16_t v)
{
	unsigned idx = (unsigned)(q - t->queues);
	int ret;

	if (v != 1) {
		/* 4.1.4.3.2: the driver MUST NOT write 0 (queue_reset does that,
		 * and VIRTIO_F_RING_RESET is not offered). */
		guest_error(VP_FMT "queue %u: queue_enable = %u ignored", VP_ARGS(t), idx, v);
		return;
	}
	if (q->enabled)
		return;
	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
	    (t->status & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		guest_error(VP_FMT "queue %u enabled before FEATURES_OK (status 0x%02x); ignored",
			    VP_ARGS(t), idx, t->status);
		return;
	}
	ret = virtq_setup(&q->vq, q->size, t->queue_size_max, q->desc, q->driver, q->device,
			  virtio_pci_has_feature(t, VIRTIO_F_RING_EVENT_IDX),
			  virtio_pci_has_feature(t, VIRTIO_F_RING_INDIRECT_DESC));
	if (ret < 0) {
		virtio_pci_device_error(t);
		return;
	}
	q->enabled = true;
	q->pending = true;
}

static uint16_t vp_vector_or_none(struct virtio_pci *t, uint16_t v)
{
	/* 4.1.5.1.2: a vector the device cannot map reads back as NO_VECTOR. */
	return v < t->num_queues + 1u ? v : VIRTIO_MSI_NO_VECTOR;
}

/* Width of the field at off (8 for 64-bit ones), 0 where there is none. */
static unsigned vp_common_width(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT: case VIRTIO_PCI_COMMON_GF:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX: case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT: case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF: case VIRTIO_PCI_COMMON_Q_NDATA:
	case VIRTIO_PCI_COMMON_Q_RESET:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS: case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return 8;
	default:
		return 0;
	}
}

/* Accepts an access of the field's width, or a 32-bit half of a 64-bit
 * field; *field is the field's offset, *shift the half's bit offset. */
static bool vp_common_access_ok(struct virtio_pci *t, uint32_t off, unsigned len, bool write,
				uint32_t *field, unsigned *shift)
{
	unsigned w = vp_common_width(off);

	*field = off;
	*shift = 0;
	if (w == 0 && off >= 4 && vp_common_width(off - 4) == 8 && len == 4) {
		*field = off - 4;
		*shift = 32;
		return true;
	}
	if (w && (len == w || (w == 8 && len == 4)))
		return true;
	guest_error(VP_FMT "common config %s of %u bytes at 0x%x ignored", VP_ARGS(t),
		    write ? "write" : "read", len, off);
	return false;
}

static uint64_t *vp_queue_addr(struct virtio_pci_queue *q, uint32_t field)
{
	return field == VIRTIO_PCI_COMMON_Q_DESCLO ? &q->desc :
	       field == VIRTIO_PCI_COMMON_Q_AVAILLO ? &q->driver : &q->device;
}

static uint64_t vp_common_read_locked(struct virtio_pci *t, uint32_t field)
{
	struct virtio_pci_queue *q = vp_selected(t);

	switch (field) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return t->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return t->dfselect < 2 ? (uint32_t)(t->device_features >> (32 * t->dfselect)) : 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return t->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return t->gfselect < 2 ? (uint32_t)(t->driver_features >> (32 * t->gfselect)) : 0;
	case VIRTIO_PCI_COMMON_MSIX:
		return t->config_vector;
	case VIRTIO_PCI_COMMON_NUMQ:
		return t->num_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return t->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return t->config_generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return t->queue_select;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return q ? q->size : 0;         /* 0: the queue does not exist */
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return q ? q->msix_vector : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return q ? q->enabled : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return q ? t->queue_select : 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return q ? *vp_queue_addr(q, field) : 0;
	default:                        /* queue_notify_data, queue_reset */
		return 0;
	}
}

static void vp_common_write_locked(struct virtio_pci *t, uint32_t field, unsigned shift,
				   unsigned len, uint64_t v)
{
	struct virtio_pci_queue *q = vp_selected(t);
	uint64_t *addr, mask;

	switch (field) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		t->dfselect = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT:
		t->gfselect = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_GF:
		if (t->status & VIRTIO_CONFIG_S_FEATURES_OK) {
			guest_error(VP_FMT "driver_feature written after FEATURES_OK; ignored",
				    VP_ARGS(t));
		} else if (t->gfselect < 2) {
			mask = 0xffffffffull << (32 * t->gfselect);
			t->driver_features = (t->driver_features & ~mask) |
					     ((v & 0xffffffffull) << (32 * t->gfselect));
		} else if (v) {
			guest_error(VP_FMT "driver_feature 0x%llx for select %u ignored", VP_ARGS(t),
				    (unsigned long long)v, t->gfselect);
		}
		return;
	case VIRTIO_PCI_COMMON_MSIX:
		t->config_vector = vp_vector_or_none(t, (uint16_t)v);
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		vp_status_write_locked(t, (uint8_t)v);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		t->queue_select = (uint16_t)v;
		return;
	default:
		break;
	}
	if (!q) {
		guest_error(VP_FMT "common config write at 0x%x for queue %u, which does not exist",
			    VP_ARGS(t), field + shift / 8, t->queue_select);
		return;
	}
	switch (field) {
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q->msix_vector = vp_vector_or_none(t, (uint16_t)v);
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		vp_queue_enable_locked(t, q, (uint16_t)v);
		return;
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		if (q->enabled) {
			guest_error(VP_FMT "queue %u: layout written while enabled; ignored",
				    VP_ARGS(t), t->queue_select);
			return;
		}
		if (field == VIRTIO_PCI_COMMON_Q_SIZE) {
			q->size = (uint16_t)v;  /* checked at enable */
			return;
		}
		addr = vp_queue_addr(q, field);
		mask = len == 8 ? ~0ull : 0xffffffffull << shift;
		*addr = (*addr & ~mask) | ((v << shift) & mask);
		return;
	default:
		guest_error(VP_FMT "write to read-only common config field 0x%x ignored", VP_ARGS(t),
			    field);
		return;
	}
}

/* ---- BAR4 ---- */

static uint64_t vp_isr_read_locked(struct virtio_pci *t)
{
	uint8_t v = t->isr;

	/* 4.1.4.5: reading clears, and de-asserts INTx. */
	t->isr = 0;
	if (v)
		pci_set_intx(&t->pci, 0);
	return v;
}

static void vp_bar_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct virtio_pci *t = opaque;
	uint32_t roff = (uint32_t)(off % VIRTIO_PCI_REGION_SIZE), field;
	uint8_t buf[8] = { 0 };
	unsigned shift;

	*data = 0;
	switch (off - roff) {
	case VIRTIO_PCI_COMMON_OFF:
		if (!vp_common_access_ok(t, roff, len, false, &field, &shift))
			return;
		pthread_mutex_lock(&t->lock);
		*data = vp_common_read_locked(t, field) >> shift;
		pthread_mutex_unlock(&t->lock);
		if (len < 8)
			*data &= (1ull << (8 * len)) - 1;
		return;
	case VIRTIO_PCI_ISR_OFF:
		if (roff == 0) {
			pthread_mutex_lock(&t->lock);
			*data = vp_isr_read_locked(t);
			pthread_mutex_unlock(&t->lock);
		}
		return;
	case VIRTIO_PCI_DEVICE_OFF:
		/* Bytes beyond the structure read as zero. */
		if (roff >= t->config_size || len > t->config_size - roff)
			return;
		pthread_mutex_lock(&t->lock);
		t->ops->config_read(t->dev, roff, buf, len);
		pthread_mutex_unlock(&t->lock);
		for (unsigned i = 0; i < len; i++)
			*data |= (uint64_t)buf[i] << (8 * i);
		return;
	default:                        /* notifications are write-only */
		return;
	}
}

static void vp_notify_write(struct virtio_pci *t, uint32_t roff, unsigned len)
{
	unsigned q = roff / VIRTIO_PCI_NOTIFY_MULT;

	if (roff % VIRTIO_PCI_NOTIFY_MULT || q >= t->num_queues) {
		guest_error(VP_FMT "notify write of %u bytes at 0x%x names no queue", VP_ARGS(t), len,
			    VIRTIO_PCI_NOTIFY_OFF + roff);
		return;
	}
	/* No KVM ioeventfd caught it (none assigned, or a size the kernel
	 * did not match): the same eventfd, one exit later. */
	__atomic_add_fetch(&t->stats.notify_traps, 1, __ATOMIC_RELAXED);
	vp_kick(t->queues[q].kick_fd);
}

static void vp_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct virtio_pci *t = opaque;
	uint32_t roff = (uint32_t)(off % VIRTIO_PCI_REGION_SIZE), field;
	uint8_t buf[8];
	unsigned shift;

	switch (off - roff) {
	case VIRTIO_PCI_COMMON_OFF:
		if (!vp_common_access_ok(t, roff, len, true, &field, &shift))
			return;
		pthread_mutex_lock(&t->lock);
		vp_common_write_locked(t, field, shift, len, data);
		pthread_mutex_unlock(&t->lock);
		return;
	case VIRTIO_PCI_DEVICE_OFF:
		if (roff >= t->config_size || len > t->config_size - roff || !t->ops->config_write) {
			guest_error(VP_FMT "device config write of %u bytes at 0x%x ignored",
				    VP_ARGS(t), len, roff);
			return;
		}
		for (unsigned i = 0; i < len; i++)
			buf[i] = (uint8_t)(data >> (8 * i));
		pthread_mutex_lock(&t->lock);
		t->ops->config_write(t->dev, roff, buf, len);
		pthread_mutex_unlock(&t->lock);
		return;
	case VIRTIO_PCI_NOTIFY_OFF:
		vp_notify_write(t, roff, len);
		return;
	default:
		guest_error(VP_FMT "write of %u bytes to read-only BAR%u offset 0x%llx ignored",
			    VP_ARGS(t), len, VIRTIO_PCI_BAR, (unsigned long long)off);
		return;
	}
}

static const struct bus_ops vp_bar_ops = {
	.read = vp_bar_read,
	.write = vp_bar_write,
};

/* ---- PCI configuration hooks ---- */

/* The PCI_CFG capability (4.1.4.9): a window into BAR4 through config
 * space, for firmware without a BAR mapping. The core has no read hook, so
 * a read is performed when the window's bar/offset/length is written and
 * its result left in pci_cfg_data (a following read returns it; reading
 * ISR that way clears it at that moment). A write of pci_cfg_data goes
 * through at once. */
static bool vp_overlap(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool vp_cfg_window(struct virtio_pci *t, uint32_t *off, unsigned *len)
{
	struct pci_device *d = &t->pci;
	uint8_t c = t->cfg_cap;
	uint32_t bar = pci_config_read(d, c + VIRTIO_PCI_CAP_BAR, 1);

	*off = pci_config_read(d, c + VIRTIO_PCI_CAP_OFFSET, 4);
	*len = pci_config_read(d, c + VIRTIO_PCI_CAP_LENGTH, 4);
	return bar == VIRTIO_PCI_BAR && (*len == 1 || *len == 2 || *len == 4) && *off % *len == 0 &&
	       *off < VIRTIO_PCI_BAR_SIZE;
}

static void vp_cfg_cap_written(struct virtio_pci *t, uint32_t off, unsigned len)
{
	struct pci_device *d = &t->pci;
	uint8_t c = t->cfg_cap;
	uint32_t boff, data;
	uint64_t v = 0;
	unsigned blen;

	if (!vp_overlap(off, len, c + VIRTIO_PCI_CAP_BAR,
			VIRTIO_PCI_CFG_CAP_SIZE - VIRTIO_PCI_CAP_BAR))
		return;
	if (!vp_cfg_window(t, &boff, &blen)) {
		if (off >= c + (uint32_t)VIRTIO_PCI_CFG_CAP_DATA)
			guest_error(VP_FMT "PCI_CFG window access with bar/offset/length unusable",
				    VP_ARGS(t));
		return;
	}
	if (off >= c + (uint32_t)VIRTIO_PCI_CFG_CAP_DATA) {
		data = pci_config_read(d, c + VIRTIO_PCI_CFG_CAP_DATA, 4);
		vp_bar_write(t, boff, data & (uint32_t)((1ull << (8 * blen)) - 1), blen);
		return;
	}
	vp_bar_read(t, boff, &v, blen);
	/* The data bytes are the window's, not the guest's to see stale. */
	pthread_mutex_lock(&d->lock);
	for (unsigned i = 0; i < 4; i++)
		d->config[c + VIRTIO_PCI_CFG_CAP_DATA + i] = (uint8_t)(v >> (8 * i));
	pthread_mutex_unlock(&d->lock);
}

static void vp_config_write(struct pci_device *d, uint32_t off, uint32_t val, unsigned len)
{
	struct virtio_pci *t = d->opaque;

	vp_cfg_cap_written(t, off, len);
	/* Work refused while bus mastering was off goes on once it is back. */
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND && pci_device_bus_master(d)) {
		pthread_mutex_lock(&t->lock);
		if (vp_processing_allowed(t))
			vp_kick_all_locked(t);
		pthread_mutex_unlock(&t->lock);
	}
}

static void vp_pci_reset(struct pci_device *d)
{
	struct virtio_pci *t = d->opaque;

	pthread_mutex_lock(&t->lock);
	vp_reset_locked(t);
	pthread_mutex_unlock(&t->lock);
}

static const struct pci_device_ops vp_pci_ops = {
	.config_write = vp_config_write,
	.reset = vp_pci_reset,
};

/* ---- I/O thread ---- */

/* Nothing in flight: whether to go round again rather than sleep. Each
 * true answer has work to do that the next round takes from the rings,
 * so this cannot spin on its own. */
static bool vp_more_work_locked(struct virtio_pci *t, bool worked)
{
	if (vp_any_pending(t))
		return true;
	if (worked && t->poll_ns && vp_spin_locked(t))
		return true;
	return vp_idle_locked(t);
}

static void *vp_io_main(void *arg)
{
	struct virtio_pci *t = arg;
	struct epoll_event ev[8];
	unsigned inflight;
	bool worked;
	int n, ret;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		worked = vp_run_locked(t);
		inflight = t->ops->inflight(t->dev);
		if (t->io_stop && !inflight)
			break;
		if (!inflight && vp_more_work_locked(t, worked)) {
			/* Let a waiting vCPU in between rounds. */
			vp_yield_lock(t);
			continue;
		}
		pthread_mutex_unlock(&t->lock);
		if (inflight) {
			/* Sole user of the backend now: wait without the lock
			 * so vCPUs are not held up by a slow request. */
			ret = t->ops->wait(t->dev);
			if (ret < 0) {
				log_error(VP_FMT "waiting for the backend: %s", VP_ARGS(t),
					  strerror(-ret));
				nanosleep(&(struct timespec){ .tv_nsec = VP_WAIT_RETRY_NS }, NULL);
			}
			n = epoll_wait(t->epoll_fd, ev, 8, 0);
		} else {
			n = epoll_wait(t->epoll_fd, ev, 8, -1);
		}
		if (n < 0 && errno != EINTR)
			log_error(VP_FMT "epoll_wait: %s", VP_ARGS(t), strerror(errno));
		pthread_mutex_lock(&t->lock);
		t->stats.io_wakeups++;
		/* Level-triggered: an eventfd not reported this time (more
		 * ready than ev[] holds) is reported by the next call. */
		for (int i = 0; i < n; i++) {
			uint32_t key = ev[i].data.u32;
			uint64_t kicks;

			if (key == VP_WAKE_KEY) {
				vp_drain_fd(t->wake_fd);
				continue;
			}
			kicks = vp_drain_fd(t->queues[key].kick_fd);
			t->stats.notifies += kicks;
			t->queues[key].pending = true;
		}
	}
	/* Notifications on, for whoever runs the queues next. */
	vp_idle_locked(t);
	pthread_cond_broadcast(&t->idle);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static uint64_t vp_io_cpu_ns_locked(struct virtio_pci *t)
{
	clockid_t cid;

	if (!t->io_running || pthread_getcpuclockid(t->thread, &cid))
		return 0;
	return vp_clock_ns(cid);
}

int virtio_pci_start(struct virtio_pci *t)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	if (t->io_running)
		goto out;
	t->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epoll_fd < 0) {
		ret = -errno;
		goto err;
	}
	ev.data.u32 = VP_WAKE_KEY;
	if (epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, t->wake_fd, &ev) < 0) {
		ret = -errno;
		goto err_epoll;
	}
	for (unsigned i = 0; i < t->num_queues; i++) {
		ev.data.u32 = i;
		if (epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, t->queues[i].kick_fd, &ev) < 0) {
			ret = -errno;
			goto err_epoll;
		}
	}
	t->io_stop = false;
	vp_drain_fd(t->wake_fd);
	t->io_t0 = vp_clock_ns(CLOCK_MONOTONIC);
	ret = -pthread_create(&t->thread, NULL, vp_io_main, t);
	if (ret < 0)
		goto err_epoll;
	pthread_setname_np(t->thread, "virtio-io");
	t->io_running = true;
out:
	pthread_mutex_unlock(&t->lock);
	return ret;

err_epoll:
	close(t->epoll_fd);
	t->epoll_fd = -1;
err:
	log_error(VP_FMT "starting the I/O thread: %s", VP_ARGS(t), strerror(-ret));
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void virtio_pci_stop(struct virtio_pci *t)
{
	uint64_t cpu;

	pthread_mutex_lock(&t->lock);
	if (!t->io_running) {
		pthread_mutex_unlock(&t->lock);
		return;
	}
	t->io_stop = true;
	vp_kick(t->wake_fd);
	/* The thread finishes what is in flight first. Its CPU clock goes
	 * with it, so it is read before the join (the final round after
	 * this is not counted). */
	cpu = vp_io_cpu_ns_locked(t);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->thread, NULL);
	pthread_mutex_lock(&t->lock);
	t->io_running = false;
	t->io_stop = false;
	t->stats.io_cpu_ns += cpu;
	t->stats.io_wall_ns += vp_clock_ns(CLOCK_MONOTONIC) - t->io_t0;
	close(t->epoll_fd);
	t->epoll_fd = -1;
	/* Kicks that arrived while stopping are served at the next start. */
	for (unsigned i = 0; i < t->num_queues; i++)
		if (t->queues[i].enabled)
			t->queues[i].pending = true;
	pthread_mutex_unlock(&t->lock);
}

void virtio_pci_stats(struct virtio_pci *t, struct virtio_pci_stats *out)
{
	pthread_mutex_lock(&t->lock);
	*out = t->stats;
	out->notify_traps = __atomic_load_n(&t->stats.notify_traps, __ATOMIC_RELAXED);
	out->io_cpu_ns += vp_io_cpu_ns_locked(t);
	if (t->io_running)
		out->io_wall_ns += vp_clock_ns(CLOCK_MONOTONIC) - t->io_t0;
	pthread_mutex_unlock(&t->lock);
}

/* ---- Construction ---- */

static int vp_add_cap(struct virtio_pci *t, uint8_t cfg_type, uint32_t offset, uint32_t length,
		      uint8_t size, uint32_t extra, uint8_t *at)
{
	uint8_t body[VIRTIO_PCI_CFG_CAP_SIZE - 2] = { 0 };

	/* body[] starts after the id/next pair. */
	body[VIRTIO_PCI_CAP_LEN - 2] = size;
	body[VIRTIO_PCI_CAP_CFG_TYPE - 2] = cfg_type;
	body[VIRTIO_PCI_CAP_BAR - 2] = cfg_type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : VIRTIO_PCI_BAR;
	memcpy(body + VIRTIO_PCI_CAP_OFFSET - 2, &offset, 4);
	memcpy(body + VIRTIO_PCI_CAP_LENGTH - 2, &length, 4);
	if (size > VIRTIO_PCI_CAP_SIZE)
		memcpy(body + VIRTIO_PCI_CAP_SIZE - 2, &extra, 4);
	return pci_device_add_cap(&t->pci, PCI_CAP_ID_VNDR, body, (uint8_t)(size - 2), at);
}

static int vp_add_caps(struct virtio_pci *t)
{
	struct pci_device *d = &t->pci;
	uint8_t c;
	int ret;

	ret = vp_add_cap(t, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_REGION_SIZE,
			 VIRTIO_PCI_CAP_SIZE, 0, NULL);
	if (!ret)
		ret = vp_add_cap(t, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
				 VIRTIO_PCI_REGION_SIZE, VIRTIO_PCI_NOTIFY_CAP_SIZE,
				 VIRTIO_PCI_NOTIFY_MULT, NULL);
	if (!ret)
		ret = vp_add_cap(t, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_REGION_SIZE,
				 VIRTIO_PCI_CAP_SIZE, 0, NULL);
	if (!ret)
		ret = vp_add_cap(t, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				 VIRTIO_PCI_REGION_SIZE, VIRTIO_PCI_CAP_SIZE, 0, NULL);
	if (!ret)
		ret = vp_add_cap(t, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VIRTIO_PCI_CFG_CAP_SIZE, 0, &c);
	if (ret < 0)
		return ret;
	/* bar, offset, length and the data window are the driver's. The
	 * core has no call for opening capability bytes, so it is done here
	 * under its lock, as pci_device_add_pcie_cap does inside the core. */
	pthread_mutex_lock(&d->lock);
	d->wmask[c + VIRTIO_PCI_CAP_BAR] = 0xff;
	memset(d->wmask + c + VIRTIO_PCI_CAP_OFFSET, 0xff, 4);
	memset(d->wmask + c + VIRTIO_PCI_CAP_LENGTH, 0xff, 4);
	memset(d->wmask + c + VIRTIO_PCI_CFG_CAP_DATA, 0xff, 4);
	pthread_mutex_unlock(&d->lock);
	t->cfg_cap = c;
	return 0;
}

static int vp_open_queues(struct virtio_pci *t)
{
	int ret;

	for (unsigned i = 0; i < t->num_queues; i++) {
		struct virtio_pci_queue *q = &t->queues[i];

		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick_fd < 0)
			return -errno;
		q->size = t->queue_size_max;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		virtq_init(&q->vq, t->dma, t->name, i);
		ret = pci_bar_add_ioeventfd(&t->pci, VIRTIO_PCI_BAR,
					    VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * i, 0,
					    q->kick_fd);
		if (ret == -ENOSPC) {
			log_debug(VP_FMT "queue %u: no ioeventfd window left; notifications trap",
				  VP_ARGS(t), i);
			continue;
		}
		if (ret < 0)
			return ret;
		q->ioeventfd = true;
	}
	return 0;
}

int virtio_pci_init(struct virtio_pci *t, const struct virtio_pci_config *cfg)
{
	const struct pci_device_id id = {
		.vendor = VIRTIO_PCI_VENDOR_ID,
		.device = (uint16_t)(VIRTIO_PCI_DEVICE_ID_MODERN + cfg->device_id),
		.subsys_vendor = VIRTIO_PCI_VENDOR_ID,
		.subsys = VIRTIO_PCI_SUBSYS_ID,
		.revision = VIRTIO_PCI_REVISION,
		.class_code = cfg->class_code,
		.interrupt_pin = 1,             /* INTA, when MSI-X is off */
	};
	struct pci_device *d = &t->pci;
	int ret;

	memset(t, 0, sizeof(*t));
	t->wake_fd = t->epoll_fd = -1;
	for (unsigned i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++)
		t->queues[i].kick_fd = -1;
	if (!cfg->ops || !cfg->ops->features || !cfg->ops->config_read || !cfg->ops->process_queue ||
	    !cfg->ops->complete || !cfg->ops->inflight || !cfg->ops->wait || !cfg->ops->reset ||
	    !cfg->dma || !cfg->num_queues || cfg->num_queues > VIRTIO_PCI_MAX_QUEUES ||
	    cfg->queue_size_max < 2 || (cfg->queue_size_max & (cfg->queue_size_max - 1)) ||
	    cfg->queue_size_max > VIRTQ_MAX_SIZE || cfg->config_size > VIRTIO_PCI_MAX_CONFIG_SIZE)
		return -EINVAL;
	snprintf(t->name, sizeof(t->name), "%s", cfg->name ? cfg->name : "virtio");
	t->ops = cfg->ops;
	t->dev = cfg->dev;
	t->dma = cfg->dma;
	t->num_queues = cfg->num_queues;
	t->queue_size_max = cfg->queue_size_max;
	t->config_size = cfg->config_size;
	t->config_vector = VIRTIO_MSI_NO_VECTOR;
	t->poll_ns = cfg->poll_ns;
	t->device_features = (cfg->ops->features(cfg->dev) & (VIRTIO_BIT(VIRTIO_TRANSPORT_F_FIRST) - 1)) |
			     VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) |
			     VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM);
	ret = -pthread_mutex_init(&t->lock, NULL);
	if (ret < 0)
		return ret;
	ret = -pthread_cond_init(&t->idle, NULL);
	if (ret < 0)
		goto err_mutex;
	ret = pci_device_init(d, t->name, &id, &vp_pci_ops, t);
	if (ret < 0)
		goto err_cond;
	ret = pci_device_add_bar(d, VIRTIO_PCI_MSIX_BAR, PCI_BAR_MEM32, VIRTIO_PCI_MSIX_BAR_SIZE,
				 false, NULL, NULL);
	if (!ret)
		ret = pci_device_add_bar(d, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false,
					 &vp_bar_ops, t);
	if (!ret)
		ret = vp_add_caps(t);
	if (!ret)
		ret = pci_device_add_msix(d, t->num_queues + 1, VIRTIO_PCI_MSIX_BAR,
					  VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA);
	if (!ret)
		ret = pci_device_add_pcie_cap(d);
	if (ret < 0)
		goto err_dev;
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0) {
		ret = -errno;
		goto err_dev;
	}
	ret = vp_open_queues(t);
	if (ret < 0)
		goto err_fds;
	pci_device_set_dma(d, t->dma);
	t->inited = true;
	return 0;

err_fds:
	pci_device_destroy(d);
	for (unsigned i = 0; i < t->num_queues; i++)
		if (t->queues[i].kick_fd >= 0)
			close(t->queues[i].kick_fd);
	close(t->wake_fd);
	goto err_cond;
err_dev:
	pci_device_destroy(d);
err_cond:
	log_error("virtio %s: building the PCI function: %s", t->name, strerror(-ret));
	pthread_cond_destroy(&t->idle);
err_mutex:
	pthread_mutex_destroy(&t->lock);
	return ret;
}

struct pci_device *virtio_pci_dev(struct virtio_pci *t)
{
	return &t->pci;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t->inited)
		return;
	virtio_pci_stop(t);
	/* Requests still on the backend (no I/O thread ran them to the end)
	 * own buffers the device is about to free. */
	pthread_mutex_lock(&t->lock);
	t->resetting = true;
	while (t->ops->inflight(t->dev) && vp_wait_locked(t) == 0)
		;
	pthread_mutex_unlock(&t->lock);
	/* The ioeventfd windows are deassigned here, before their fds close. */
	pci_device_destroy(&t->pci);
	for (unsigned i = 0; i < t->num_queues; i++)
		close(t->queues[i].kick_fd);
	close(t->wake_fd);
	pthread_cond_destroy(&t->idle);
	pthread_mutex_destroy(&t->lock);
	t->inited = false;
}
