/* The NVMe controller as a PCI Express function, attached one of two ways.
 *
 * BAR0 (64-bit memory, 16 KiB, non-prefetchable):
 *   0x0000-0x0fff  controller registers            trapped (vCPU thread)
 *   0x1000-0x1fff  doorbells, CAP.DSTRD = 0        emulated: trapped
 *                                                  passthrough: host page, no exit
 *   0x2000-0x2fff  MSI-X table (max_ioqs + 1)      trapped, the PCI core's
 *   0x3000-0x3fff  MSI-X PBA                       trapped, the PCI core's
 *
 * emulated     a doorbell write exits to the vCPU thread, which runs the
 *              commands it made runnable to completion right there (submit
 *              to the backend, wait, post, notify).
 * passthrough  the controller runs on its own engine thread, as silicon:
 *              it polls the doorbell page the guest writes without exits,
 *              keeps up to the queue depth in flight on the backend, posts
 *              completions and raises MSI-X (which the vmm routes to
 *              irqfds). Register accesses still trap and take the
 *              controller lock the engine takes per round.
 *
 * Engine poll strategy (2-core hosts): spin, with a pause, while rounds find
 * work and for NVME_ENGINE_GRACE_NS after the last that did (the next
 * command of a burst is usually that close); then sleep, scanning the whole
 * doorbell page after each sleep. The first sleep step is
 * NVME_ENGINE_SLEEP_NS; it doubles each time the device has been idle for
 * NVME_ENGINE_BACKOFF steps, up to NVME_ENGINE_SLEEP_MAX_NS (or
 * NVME_ENGINE_SLEEP_BUSY_NS while the backend holds requests, whose
 * completions are only seen when the engine looks). Measured on the
 * 2-core development VM, a nanosleep wakeup costs 35-45 us of CPU and a
 * 30 us request sleeps 90 us (160 us with Linux's default 50 us timer
 * slack, so the thread sets 1 us): fixed 30 us steps cost 30-40% of a core
 * idle, while the backoff brings a long-idle device to about 1000 wakeups a
 * second (a few percent) and costs at most the ceiling in latency for the
 * first command after a long idle period. On bare metal a wakeup costs a
 * few microseconds and the short steps alone would do. */
#include "devices/nvme.h"
#include "base/log.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define NVME_ENGINE_TIMER_SLACK_NS  1000       /* for the short sleep steps */
#define NVME_ENGINE_FULL_SCAN_EVERY 1024   /* busy rounds between full page scans */

static inline void nvme_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t nvme_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Interrupts ---- */

static void nvme_pci_irq(void *opaque, unsigned vector)
{
	struct nvme_pci *n = opaque;

	if (pci_msix_notify(&n->dev, vector) == 0)
		__atomic_add_fetch(&n->irqs_delivered, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&n->irqs_dropped, 1, __ATOMIC_RELAXED);
}

/* ---- BAR0 ---- */

static uint32_t *nvme_pci_db_page(struct nvme_pci *n)
{
	return n->ctrl.db_page;
}

static void nvme_bar_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct nvme_pci *n = opaque;

	if (off < NVME_REG_SIZE) {
		nvme_ctrl_reg_read(&n->ctrl, off, data, len);
		return;
	}
	*data = 0;
	/* Doorbells are write-only; the passthrough page reads back what was
	 * written, as it does through the exit-free window. */
	if (off >= NVME_BAR0_DOORBELLS && off < NVME_BAR0_MSIX_TABLE && n->passthrough &&
	    len == 4 && !(off & 3))
		*data = __atomic_load_n(&nvme_pci_db_page(n)[(off - NVME_BAR0_DOORBELLS) / 4],
					__ATOMIC_RELAXED);
}

static void nvme_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct nvme_pci *n = opaque;
	unsigned slot;

	if (off < NVME_REG_SIZE) {
		nvme_ctrl_reg_write(&n->ctrl, off, data, len);
		return;
	}
	if (off >= NVME_BAR0_MSIX_TABLE) {
		guest_error("nvme %s: %u-byte write at unused BAR0 offset 0x%llx ignored",
			    n->ctrl.name, len, (unsigned long long)off);
		return;
	}
	if (len != 4 || (off & 3)) {
		guest_error("nvme %s: %u-byte doorbell write at BAR0 0x%llx ignored", n->ctrl.name,
			    len, (unsigned long long)off);
		return;
	}
	slot = (unsigned)(off - NVME_BAR0_DOORBELLS) / 4;
	if (n->passthrough)
		/* Trapped only while the exit-free window is not mapped (or was
		 * refused): the write lands where the engine looks. */
		__atomic_store_n(&nvme_pci_db_page(n)[slot], (uint32_t)data, __ATOMIC_RELEASE);
	else
		nvme_ctrl_doorbell_write(&n->ctrl, slot, (uint32_t)data);
}

static const struct bus_ops nvme_bar_ops = {
	.read = nvme_bar_read,
	.write = nvme_bar_write,
};

/* ---- PCI function ---- */

static void nvme_pci_reset(struct pci_device *d)
{
	struct nvme_pci *n = d->opaque;

	nvme_ctrl_reset(&n->ctrl);
}

static const struct pci_device_ops nvme_pci_ops = {
	.reset = nvme_pci_reset,
};

int nvme_pci_init(struct nvme_pci *n, const struct nvme_pci_config *cfg)
{
	const struct pci_device_id id = {
		.vendor = PCI_VENDOR_ID_WARDEN,
		.device = NVME_PCI_DEVICE_ID,
		.subsys_vendor = PCI_VENDOR_ID_WARDEN,
		.subsys = NVME_PCI_DEVICE_ID,
		.class_code = NVME_PCI_CLASS,
		.interrupt_pin = 0,             /* MSI-X only */
	};
	struct nvme_ctrl_config ccfg = {
		.name = cfg->name,
		.backend = cfg->backend,
		.dma = cfg->dma,
		.max_ioqs = cfg->max_ioqs,
		.mqes = cfg->mqes,
		.serial = cfg->serial,
		.vid = PCI_VENDOR_ID_WARDEN,
		.ssvid = PCI_VENDOR_ID_WARDEN,
		.doorbell_page = cfg->passthrough ? cfg->doorbell_page : NULL,
		.irq = nvme_pci_irq,
		.irq_opaque = n,
	};
	const char *name = cfg->name ? cfg->name : "nvme";
	int ret;

	memset(n, 0, sizeof(*n));
	if (cfg->passthrough && (!cfg->doorbell_page ||
				 ((uintptr_t)cfg->doorbell_page & (NVME_PAGE_SIZE - 1)))) {
		log_error("nvme %s: passthrough needs a page-aligned 4 KiB doorbell page", name);
		return -EINVAL;
	}
	n->passthrough = cfg->passthrough;
	ret = -pthread_mutex_init(&n->engine_lock, NULL);
	if (ret < 0)
		return ret;
	ret = nvme_ctrl_init(&n->ctrl, &ccfg);
	if (ret < 0)
		goto err_lock;
	ret = pci_device_init(&n->dev, n->ctrl.name, &id, &nvme_pci_ops, n);
	if (ret < 0)
		goto err_ctrl;
	ret = pci_device_add_bar(&n->dev, 0, PCI_BAR_MEM64, NVME_BAR0_SIZE, false, &nvme_bar_ops, n);
	if (ret < 0)
		goto err_dev;
	ret = pci_device_add_pcie_cap(&n->dev);
	if (ret < 0)
		goto err_dev;
	ret = pci_device_add_msix(&n->dev, n->ctrl.max_ioqs + 1u, 0, NVME_BAR0_MSIX_TABLE,
				  NVME_BAR0_MSIX_PBA);
	if (ret < 0)
		goto err_dev;
	if (n->passthrough) {
		ret = pci_bar_set_direct(&n->dev, 0, NVME_BAR0_DOORBELLS, NVME_PAGE_SIZE,
					 cfg->doorbell_page);
		if (ret < 0)
			goto err_dev;
	}
	pci_device_set_dma(&n->dev, cfg->dma);
	return 0;

err_dev:
	log_error("nvme %s: building the PCI function: %s", name, strerror(-ret));
	pci_device_destroy(&n->dev);
err_ctrl:
	nvme_ctrl_destroy(&n->ctrl);
err_lock:
	pthread_mutex_destroy(&n->engine_lock);
	return ret;
}

struct pci_device *nvme_pci_dev(struct nvme_pci *n)
{
	return &n->dev;
}

/* ---- The passthrough engine ---- */

static void nvme_engine_publish(struct nvme_pci *n, const struct nvme_engine_stats *s)
{
	struct nvme_engine_stats *o = &n->engine_stats;

	__atomic_store_n(&o->polls, s->polls, __ATOMIC_RELAXED);
	__atomic_store_n(&o->busy_polls, s->busy_polls, __ATOMIC_RELAXED);
	__atomic_store_n(&o->idle_sleeps, s->idle_sleeps, __ATOMIC_RELAXED);
}

static void *nvme_engine_main(void *arg)
{
	struct nvme_pci *n = arg;
	struct nvme_engine_stats s = n->engine_stats;
	uint64_t last_work = nvme_clock_ns(CLOCK_MONOTONIC), step = NVME_ENGINE_SLEEP_NS;
	bool full_scan = true;

	prctl(PR_SET_TIMERSLACK, NVME_ENGINE_TIMER_SLACK_NS, 0, 0, 0);
	while (!__atomic_load_n(&n->engine_stop, __ATOMIC_ACQUIRE)) {
		unsigned inflight, work = nvme_ctrl_poll(&n->ctrl, full_scan, &inflight);
		uint64_t now = nvme_clock_ns(CLOCK_MONOTONIC), idle, ceiling;

		s.polls++;
		full_scan = !(s.polls % NVME_ENGINE_FULL_SCAN_EVERY);
		if (work) {
			s.busy_polls++;
			last_work = now;
			step = NVME_ENGINE_SLEEP_NS;
		}
		idle = now - last_work;
		if (idle < NVME_ENGINE_GRACE_NS) {
			nvme_cpu_relax();
			if (full_scan)
				nvme_engine_publish(n, &s);
			continue;
		}
		/* A slow backend request should not wait out a long step: its
		 * completion is only seen when the engine looks. */
		ceiling = inflight ? NVME_ENGINE_SLEEP_BUSY_NS : NVME_ENGINE_SLEEP_MAX_NS;
		if (idle > step * NVME_ENGINE_BACKOFF && step < ceiling)
			step *= 2;
		if (step > ceiling)
			step = ceiling;
		s.idle_sleeps++;
		nvme_engine_publish(n, &s);
		nanosleep(&(struct timespec){ .tv_sec = (time_t)(step / 1000000000ull),
					      .tv_nsec = (long)(step % 1000000000ull) }, NULL);
		full_scan = true;
	}
	nvme_engine_publish(n, &s);
	return NULL;
}

/* CPU time of the running engine (caller holds engine_lock). */
static uint64_t nvme_engine_cpu_ns(struct nvme_pci *n)
{
	clockid_t cid;

	if (!n->engine_running || pthread_getcpuclockid(n->engine, &cid))
		return 0;
	return nvme_clock_ns(cid);
}

int nvme_pci_start(struct nvme_pci *n)
{
	int ret = 0;

	if (!n->passthrough)
		return 0;
	pthread_mutex_lock(&n->engine_lock);
	if (n->engine_running)
		goto out;
	__atomic_store_n(&n->engine_stop, 0, __ATOMIC_RELEASE);
	n->engine_t0 = nvme_clock_ns(CLOCK_MONOTONIC);
	ret = -pthread_create(&n->engine, NULL, nvme_engine_main, n);
	if (ret < 0) {
		log_error("nvme %s: starting the engine thread: %s", n->ctrl.name, strerror(-ret));
		goto out;
	}
	pthread_setname_np(n->engine, "nvme-engine");
	n->engine_running = true;
out:
	pthread_mutex_unlock(&n->engine_lock);
	return ret;
}

void nvme_pci_stop(struct nvme_pci *n)
{
	uint64_t cpu;

	pthread_mutex_lock(&n->engine_lock);
	if (n->engine_running) {
		__atomic_store_n(&n->engine_stop, 1, __ATOMIC_RELEASE);
		/* Read before the join: the thread's clock goes with it. The
		 * final round after this is not counted. */
		cpu = nvme_engine_cpu_ns(n);
		pthread_join(n->engine, NULL);
		n->engine_running = false;
		n->engine_stats.cpu_ns += cpu;
		n->engine_stats.wall_ns += nvme_clock_ns(CLOCK_MONOTONIC) - n->engine_t0;
	}
	/* The engine stops between rounds, with requests possibly still on
	 * the backend: finish them, so a save after a stop finds none. */
	nvme_ctrl_quiesce(&n->ctrl);
	pthread_mutex_unlock(&n->engine_lock);
}

void nvme_pci_destroy(struct nvme_pci *n)
{
	if (!n->ctrl.inited)
		return;
	nvme_pci_stop(n);
	pci_device_destroy(&n->dev);
	nvme_ctrl_destroy(&n->ctrl);
	pthread_mutex_destroy(&n->engine_lock);
}

void nvme_pci_stats(struct nvme_pci *n, struct nvme_pci_stats *out)
{
	const struct nvme_engine_stats *e = &n->engine_stats;

	nvme_ctrl_stats(&n->ctrl, &out->ctrl);
	out->engine.polls = __atomic_load_n(&e->polls, __ATOMIC_RELAXED);
	out->engine.busy_polls = __atomic_load_n(&e->busy_polls, __ATOMIC_RELAXED);
	out->engine.idle_sleeps = __atomic_load_n(&e->idle_sleeps, __ATOMIC_RELAXED);
	pthread_mutex_lock(&n->engine_lock);
	out->engine.cpu_ns = e->cpu_ns + nvme_engine_cpu_ns(n);
	out->engine.wall_ns = e->wall_ns +
			      (n->engine_running ? nvme_clock_ns(CLOCK_MONOTONIC) - n->engine_t0 : 0);
	pthread_mutex_unlock(&n->engine_lock);
	out->irqs_delivered = __atomic_load_n(&n->irqs_delivered, __ATOMIC_RELAXED);
	out->irqs_dropped = __atomic_load_n(&n->irqs_dropped, __ATOMIC_RELAXED);
}

/* The engine must not run while its state is taken or replaced. */
int nvme_pci_save(struct nvme_pci *n, void *buf, size_t len)
{
	int ret = -EBUSY;

	pthread_mutex_lock(&n->engine_lock);
	if (!n->engine_running)
		ret = nvme_ctrl_save(&n->ctrl, buf, len);
	pthread_mutex_unlock(&n->engine_lock);
	return ret;
}

int nvme_pci_load(struct nvme_pci *n, const void *buf, size_t len)
{
	int ret = -EBUSY;

	pthread_mutex_lock(&n->engine_lock);
	if (!n->engine_running)
		ret = nvme_ctrl_load(&n->ctrl, buf, len);
	pthread_mutex_unlock(&n->engine_lock);
	return ret;
}
