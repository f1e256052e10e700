/* QEMU's educational PCI device, register-compatible, on Warden's PCI core
 * and DMA API. See edu.h for the interface and docs/edu.md for the
 * register map and the differences from QEMU.
 *
 * Threading: a register write that starts work (factorial at 0x08, DMA
 * command at 0x98) only records it and kicks the device thread, which runs
 * the job under the device lock, clears the busy bit and raises the
 * interrupt - as silicon would, and as QEMU's edu does for factorials (its
 * DMA runs from a 100 ms timer). A driver must therefore poll the busy
 * bits or wait for the interrupt, on both VMMs. */
#include "devices/edu.h"
#include "base/log.h"
#include "base/snapshot.h"
#include "iommu/dma.h"

#include <errno.h>
#include <string.h>

#define EDU_NAME(e)  ((e)->name)

#define edu_guest_error(e, fmt, ...) do {                                           \
		__atomic_add_fetch(&(e)->guest_errors, 1, __ATOMIC_RELAXED);        \
		guest_error("edu %s " PCI_BDF_FMT ": " fmt, EDU_NAME(e),            \
			    PCI_BDF_ARGS((e)->dev.bdf), ##__VA_ARGS__);             \
	} while (0)

/* ---- Interrupts ---- */

/* The wired level follows the interrupt status (the PCI core keeps the pin
 * quiet while MSI-X is on); each raise with a non-zero status is one MSI-X
 * message, as QEMU's edu sends one MSI per raise. */
static void edu_irq_raise_locked(struct edu *e, uint32_t bits)
{
	e->irq_status |= bits;
	if (e->irq_status) {
		e->stats.irqs++;
		if (pci_msix_notify(&e->dev, 0) == 0)
			e->stats.msix_sent++;
	}
	pci_set_intx(&e->dev, e->irq_status != 0);
}

static void edu_irq_lower_locked(struct edu *e, uint32_t bits)
{
	e->irq_status &= ~bits;
	pci_set_intx(&e->dev, e->irq_status != 0);
}

/* ---- Factorial ---- */

/* n! mod 2^32, as QEMU's 32-bit loop computes it. From 34! on the product
 * holds 2^32 (17 + 8 + 4 + 2 + 1 factors of two), so it is 0: a hostile
 * n = 0xffffffff costs nothing. */
static uint32_t edu_factorial(uint32_t n)
{
	uint32_t r = 1;

	if (n >= 34)
		return 0;
	while (n)
		r *= n--;
	return r;
}

static void edu_factorial_run_locked(struct edu *e)
{
	e->fact = edu_factorial(e->fact);
	e->status &= ~EDU_STATUS_COMPUTING;
	e->stats.factorials++;
	if (e->status & EDU_STATUS_IRQFACT)
		edu_irq_raise_locked(e, EDU_IRQ_FACT);
}

/* ---- DMA ---- */

/* The buffer side of a transfer must lie inside [0x40000, 0x41000); *off is
 * its offset in the buffer. Written to be overflow-safe for any values. */
static bool edu_dma_window_ok(uint64_t addr, uint64_t cnt, uint64_t *off)
{
	if (cnt > EDU_DMA_BUF_SIZE || addr < EDU_DMA_BUF_ADDR ||
	    addr - EDU_DMA_BUF_ADDR > EDU_DMA_BUF_SIZE - cnt)
		return false;
	*off = addr - EDU_DMA_BUF_ADDR;
	return true;
}

static uint32_t edu_dma_errno(ssize_t r)
{
	return r == -EPERM ? EDU_DMA_ERR_BLOCKED : EDU_DMA_ERR_FAULT;
}

/* Accounts one dma_read/dma_write of want bytes that returned r. */
static void edu_dma_account(ssize_t r, uint64_t want, uint64_t *done, uint32_t *err)
{
	if (r > 0)
		*done += (uint64_t)r;
	if (r < 0)
		*err = edu_dma_errno(r);
	else if ((uint64_t)r < want)
		*err = EDU_DMA_ERR_FAULT;    /* stopped at the faulting page */
}

/* Device writes inside the interrupt window become interrupt messages, one
 * per dword, with the function's requester id - what the platform does
 * with a memory write to 0xFEExxxxx. Only whole aligned dwords are
 * messages; anything else is refused before a message is sent. Bus Master
 * Enable is checked before each message. */
static void edu_dma_msi_locked(struct edu *e, uint64_t addr, const uint8_t *src, uint64_t len,
			       uint64_t *done, uint32_t *err)
{
	if ((addr | len) & 3) {
		edu_guest_error(e, "DMA of %llu bytes to interrupt address 0x%llx is not whole "
				"aligned dwords; refused", (unsigned long long)len,
				(unsigned long long)addr);
		*err = EDU_DMA_ERR_MSI;
		return;
	}
	for (uint64_t i = 0; i < len; i += 4) {
		uint32_t data;
		int r;

		if (!pci_device_bus_master(&e->dev)) {
			*err = EDU_DMA_ERR_BLOCKED;
			return;
		}
		memcpy(&data, src + i, 4);      /* little-endian, as the bus */
		r = msi_send(e->raw_msi, addr + i, data, e->dev.bdf);
		if (r < 0) {
			edu_guest_error(e, "interrupt message 0x%x to 0x%llx refused: %s", data,
					(unsigned long long)(addr + i), strerror(-r));
			*err = EDU_DMA_ERR_MSI;
			return;
		}
		e->stats.raw_msis++;
		*done += 4;
	}
}

/* Buffer -> RAM. With a raw MSI sink the transfer is split at the
 * interrupt window: the parts outside go to dma_write, the part inside
 * becomes messages. */
static void edu_dma_to_ram_locked(struct edu *e, uint64_t bus, const uint8_t *src, uint64_t cnt,
				  uint64_t *done, uint32_t *err)
{
	while (*done < cnt && !*err) {
		uint64_t cur = bus + *done, n = cnt - *done;

		if (e->raw_msi && cur >= EDU_MSI_WINDOW_BASE &&
		    cur - EDU_MSI_WINDOW_BASE < EDU_MSI_WINDOW_SIZE) {
			uint64_t room = EDU_MSI_WINDOW_BASE + EDU_MSI_WINDOW_SIZE - cur;

			edu_dma_msi_locked(e, cur, src + *done, n < room ? n : room, done, err);
			continue;
		}
		if (e->raw_msi && cur < EDU_MSI_WINDOW_BASE && EDU_MSI_WINDOW_BASE - cur < n)
			n = EDU_MSI_WINDOW_BASE - cur;
		edu_dma_account(dma_write(e->dma, cur, src + *done, n), n, done, err);
	}
}

static const char *edu_dma_err_name(uint32_t err)
{
	switch (err) {
	case EDU_DMA_ERR_RANGE:   return "out of range";
	case EDU_DMA_ERR_FAULT:   return "fault";
	case EDU_DMA_ERR_BLOCKED: return "bus mastering off";
	case EDU_DMA_ERR_MSI:     return "bad interrupt message";
	default:                  return "error";
	}
}

static void edu_dma_run_locked(struct edu *e)
{
	bool to_ram = e->dma_cmd & EDU_DMA_CMD_TO_RAM;
	uint64_t win = to_ram ? e->dma_src : e->dma_dst;
	uint64_t bus = to_ram ? e->dma_dst : e->dma_src;
	uint64_t cnt = e->dma_cnt, off = 0, done = 0;
	uint32_t err = 0;

	if (!edu_dma_window_ok(win, cnt, &off)) {
		edu_guest_error(e, "DMA of %llu bytes at buffer address 0x%llx is outside the "
				"buffer [0x%x, 0x%x); refused", (unsigned long long)cnt,
				(unsigned long long)win, EDU_DMA_BUF_ADDR,
				EDU_DMA_BUF_ADDR + EDU_DMA_BUF_SIZE);
		err = EDU_DMA_ERR_RANGE;
	} else if (to_ram) {
		edu_dma_to_ram_locked(e, bus, e->buf + off, cnt, &done, &err);
	} else if (cnt) {
		edu_dma_account(dma_read(e->dma, bus, e->buf + off, cnt), cnt, &done, &err);
	}
	if (err && err != EDU_DMA_ERR_RANGE)
		edu_guest_error(e, "DMA %s bus address 0x%llx, %llu bytes: %s after %llu bytes",
				to_ram ? "to" : "from", (unsigned long long)bus,
				(unsigned long long)cnt, edu_dma_err_name(err),
				(unsigned long long)done);

	if (to_ram)
		e->stats.dma_to_ram++;
	else
		e->stats.dma_to_device++;
	e->stats.dma_bytes += done;
	e->dma_done = done;
	e->dma_error = err;
	if (err) {
		e->stats.dma_errors++;
		e->status |= EDU_STATUS_DMA_ERROR;
	}
	e->dma_cmd &= ~(uint64_t)EDU_DMA_CMD_RUN;
	/* A failed transfer has still finished: its interrupt is raised, so
	 * an interrupt-driven driver sees the error instead of hanging. */
	if (e->dma_cmd & EDU_DMA_CMD_IRQ)
		edu_irq_raise_locked(e, EDU_IRQ_DMA);
}

/* ---- The device thread ---- */

static bool edu_job_pending_locked(const struct edu *e)
{
	return (e->status & EDU_STATUS_COMPUTING) || (e->dma_cmd & EDU_DMA_CMD_RUN);
}

static void *edu_thread_main(void *arg)
{
	struct edu *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->stopping && !edu_job_pending_locked(e))
			pthread_cond_wait(&e->kick, &e->lock);
		if (e->stopping)
			break;
		if (e->status & EDU_STATUS_COMPUTING)
			edu_factorial_run_locked(e);
		if (e->dma_cmd & EDU_DMA_CMD_RUN)
			edu_dma_run_locked(e);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- BAR0 ---- */

/* QEMU's access rules: 4 bytes below 0x80, 4 or 8 from there. */
static bool edu_access_ok(uint64_t off, unsigned len)
{
	return off < 0x80 ? len == 4 : (len == 4 || len == 8);
}

static uint64_t edu_all_ones(unsigned len)
{
	return len >= 8 ? ~0ull : (1ull << (8 * len)) - 1;
}

static void edu_bar_read(void *opaque, uint64_t off, uint64_t *data, unsigned len)
{
	struct edu *e = opaque;
	uint64_t v = ~0ull;

	if (!edu_access_ok(off, len)) {
		edu_guest_error(e, "%u-byte read at BAR0 0x%llx (registers take 4%s bytes)", len,
				(unsigned long long)off, off < 0x80 ? "" : " or 8");
		*data = edu_all_ones(len);
		return;
	}
	pthread_mutex_lock(&e->lock);
	switch (off) {
	case EDU_REG_ID:          v = EDU_ID_VALUE; break;
	case EDU_REG_LIVENESS:    v = e->liveness; break;
	case EDU_REG_FACTORIAL:   v = e->fact; break;
	case EDU_REG_STATUS:      v = e->status; break;
	case EDU_REG_IRQ_STATUS:  v = e->irq_status; break;
	case EDU_REG_DMA_SRC:     v = e->dma_src; break;
	case EDU_REG_DMA_DST:     v = e->dma_dst; break;
	case EDU_REG_DMA_CNT:     v = e->dma_cnt; break;
	case EDU_REG_DMA_CMD:     v = e->dma_cmd; break;
	case EDU_REG_DMA_ERROR:   v = e->dma_error; break;
	case EDU_REG_DMA_DONE:    v = e->dma_done; break;
	default:
		/* Unused offsets (the DMA buffer included, as QEMU) read all
		 * ones; that is how a driver tells QEMU from Warden at 0xa0. */
		break;
	}
	pthread_mutex_unlock(&e->lock);
	*data = v & edu_all_ones(len);
}

/* DMA registers are frozen while a transfer runs (QEMU ignores the write). */
static void edu_dma_reg_write_locked(struct edu *e, uint64_t off, uint64_t *reg, uint64_t v)
{
	if (e->dma_cmd & EDU_DMA_CMD_RUN) {
		edu_guest_error(e, "write to DMA register 0x%llx while a transfer runs; ignored",
				(unsigned long long)off);
		return;
	}
	*reg = v;
}

static void edu_bar_write(void *opaque, uint64_t off, uint64_t data, unsigned len)
{
	struct edu *e = opaque;
	uint32_t v32 = (uint32_t)data;

	if (!edu_access_ok(off, len)) {
		edu_guest_error(e, "%u-byte write at BAR0 0x%llx (registers take 4%s bytes); ignored",
				len, (unsigned long long)off, off < 0x80 ? "" : " or 8");
		return;
	}
	pthread_mutex_lock(&e->lock);
	switch (off) {
	case EDU_REG_LIVENESS:
		e->liveness = ~v32;
		break;
	case EDU_REG_FACTORIAL:
		/* The spec computes only after the busy bit cleared: a write
		 * while computing is dropped, as QEMU drops it. */
		if (e->status & EDU_STATUS_COMPUTING) {
			edu_guest_error(e, "factorial write while computing; ignored");
			break;
		}
		e->fact = v32;
		e->status |= EDU_STATUS_COMPUTING;
		pthread_cond_signal(&e->kick);
		break;
	case EDU_REG_STATUS:
		/* Only the interrupt-enable bit is writable. */
		if (v32 & EDU_STATUS_IRQFACT)
			e->status |= EDU_STATUS_IRQFACT;
		else
			e->status &= ~EDU_STATUS_IRQFACT;
		break;
	case EDU_REG_IRQ_RAISE:
		edu_irq_raise_locked(e, v32);
		break;
	case EDU_REG_IRQ_ACK:
		edu_irq_lower_locked(e, v32);
		break;
	case EDU_REG_DMA_SRC:
		edu_dma_reg_write_locked(e, off, &e->dma_src, data);
		break;
	case EDU_REG_DMA_DST:
		edu_dma_reg_write_locked(e, off, &e->dma_dst, data);
		break;
	case EDU_REG_DMA_CNT:
		edu_dma_reg_write_locked(e, off, &e->dma_cnt, data);
		break;
	case EDU_REG_DMA_CMD:
		/* A command without the start bit does nothing (QEMU). */
		if (!(data & EDU_DMA_CMD_RUN))
			break;
		if (e->dma_cmd & EDU_DMA_CMD_RUN) {
			edu_guest_error(e, "DMA command 0x%llx while a transfer runs; ignored",
					(unsigned long long)data);
			break;
		}
		e->dma_cmd = data & EDU_DMA_CMD_MASK;
		e->dma_error = 0;
		e->dma_done = 0;
		e->status &= ~EDU_STATUS_DMA_ERROR;
		pthread_cond_signal(&e->kick);
		break;
	default:
		edu_guest_error(e, "%u-byte write of 0x%llx to %s BAR0 offset 0x%llx; ignored", len,
				(unsigned long long)data,
				off == EDU_REG_ID || off == EDU_REG_IRQ_STATUS ||
				off == EDU_REG_DMA_ERROR || off == EDU_REG_DMA_DONE ?
				"read-only" : "unused", (unsigned long long)off);
		break;
	}
	pthread_mutex_unlock(&e->lock);
}

static const struct bus_ops edu_bar_ops = {
	.read = edu_bar_read,
	.write = edu_bar_write,
};

/* ---- Reset ---- */

static void edu_reset_locked(struct edu *e)
{
	e->liveness = 0;
	e->fact = 0;
	e->status = 0;
	e->irq_status = 0;
	e->dma_src = e->dma_dst = e->dma_cnt = e->dma_cmd = 0;
	e->dma_error = 0;
	e->dma_done = 0;
	memset(e->buf, 0, sizeof(e->buf));
}

/* After the core's conventional reset (decode, bus mastering and MSI-X
 * off). A job in progress finishes first (it holds the lock); pending
 * ones are dropped with the rest of the state. */
static void edu_pci_reset(struct pci_device *d)
{
	struct edu *e = d->opaque;

	pthread_mutex_lock(&e->lock);
	edu_reset_locked(e);
	pci_set_intx(&e->dev, 0);
	pthread_mutex_unlock(&e->lock);
}

static const struct pci_device_ops edu_pci_ops = {
	.reset = edu_pci_reset,
};

/* ---- Save / load ---- */

#define EDU_STATE_MAGIC   0x55444520u   /* "EDU " */
#define EDU_STATE_VERSION 1

struct edu_state_v1 {
	struct snapshot_hdr hdr;
	uint32_t liveness, fact, status, irq_status;
	uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
	uint32_t dma_error, reserved;
	uint64_t dma_done;
	uint8_t buf[EDU_DMA_BUF_SIZE];
};

int edu_save(struct edu *e, void *buf, size_t len)
{
	struct edu_state_v1 st;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), EDU_STATE_MAGIC,
				  EDU_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&e->lock);
	if (e->running) {
		pthread_mutex_unlock(&e->lock);
		return -EBUSY;
	}
	st.liveness = e->liveness;
	st.fact = e->fact;
	st.status = e->status;
	st.irq_status = e->irq_status;
	st.dma_src = e->dma_src;
	st.dma_dst = e->dma_dst;
	st.dma_cnt = e->dma_cnt;
	st.dma_cmd = e->dma_cmd;
	st.dma_error = e->dma_error;
	st.dma_done = e->dma_done;
	memcpy(st.buf, e->buf, sizeof(st.buf));
	pthread_mutex_unlock(&e->lock);
	return snapshot_save_end(buf, &st.hdr);
}

/* A pending job (busy bit set) is restored as pending: the thread picks it
 * up once started. The INTx level is driven again from the status; MSI-X
 * messages are edges and are not replayed. */
int edu_load(struct edu *e, const void *buf, size_t len)
{
	struct edu_state_v1 st;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), EDU_STATE_MAGIC, EDU_STATE_VERSION);
	if (ret)
		return ret;
	if ((st.status & ~(uint32_t)(EDU_STATUS_COMPUTING | EDU_STATUS_DMA_ERROR |
				     EDU_STATUS_IRQFACT)) ||
	    (st.dma_cmd & ~(uint64_t)EDU_DMA_CMD_MASK) || (st.dma_error & ~EDU_DMA_ERR_MASK) ||
	    st.dma_done > EDU_DMA_BUF_SIZE || st.reserved)
		return -EINVAL;

	pthread_mutex_lock(&e->lock);
	if (e->running) {
		pthread_mutex_unlock(&e->lock);
		return -EBUSY;
	}
	e->liveness = st.liveness;
	e->fact = st.fact;
	e->status = st.status;
	e->irq_status = st.irq_status;
	e->dma_src = st.dma_src;
	e->dma_dst = st.dma_dst;
	e->dma_cnt = st.dma_cnt;
	e->dma_cmd = st.dma_cmd;
	e->dma_error = st.dma_error;
	e->dma_done = st.dma_done;
	memcpy(e->buf, st.buf, sizeof(e->buf));
	pci_set_intx(&e->dev, e->irq_status != 0);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/* ---- Registration and lifecycle ---- */

int edu_init(struct edu *e, const struct edu_config *cfg)
{
	const struct pci_device_id id = {
		.vendor = EDU_VENDOR_ID,
		.device = EDU_DEVICE_ID,
		.subsys_vendor = EDU_SUBSYS_VENDOR_ID,
		.subsys = EDU_SUBSYS_ID,
		.revision = EDU_REVISION,
		.class_code = EDU_CLASS,
		.interrupt_pin = 1,             /* INTA */
	};
	int ret;

	memset(e, 0, sizeof(*e));
	e->name = cfg && cfg->name ? cfg->name : "edu";
	if (!cfg || !cfg->dma) {
		log_error("edu %s: a DMA address space is required", e->name);
		return -EINVAL;
	}
	e->dma = cfg->dma;
	e->raw_msi = cfg->raw_msi;
	ret = -pthread_mutex_init(&e->lock, NULL);
	if (ret < 0)
		goto err;
	ret = -pthread_cond_init(&e->kick, NULL);
	if (ret < 0)
		goto err_lock;
	ret = pci_device_init(&e->dev, e->name, &id, &edu_pci_ops, e);
	if (ret < 0)
		goto err_cond;
	ret = pci_device_add_bar(&e->dev, 0, PCI_BAR_MEM32, EDU_BAR0_SIZE, false, &edu_bar_ops, e);
	if (ret < 0)
		goto err_dev;
	ret = pci_device_add_msix(&e->dev, EDU_MSIX_VECTORS, 0, EDU_BAR0_MSIX_TABLE,
				  EDU_BAR0_MSIX_PBA);
	if (ret < 0)
		goto err_dev;
	/* Blocked until the guest's driver sets Bus Master Enable. */
	pci_device_set_dma(&e->dev, e->dma);
	e->inited = true;
	return 0;

err_dev:
	pci_device_destroy(&e->dev);
err_cond:
	pthread_cond_destroy(&e->kick);
err_lock:
	pthread_mutex_destroy(&e->lock);
err:
	log_error("edu %s: building the PCI function: %s", e->name, strerror(-ret));
	return ret;
}

struct pci_device *edu_pci_dev(struct edu *e)
{
	return &e->dev;
}

int edu_start(struct edu *e)
{
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	if (e->running || e->stopping)
		goto out;
	ret = -pthread_create(&e->thread, NULL, edu_thread_main, e);
	if (ret < 0) {
		log_error("edu %s: starting the device thread: %s", e->name, strerror(-ret));
		goto out;
	}
	pthread_setname_np(e->thread, "edu");
	e->running = true;
out:
	pthread_mutex_unlock(&e->lock);
	return ret;
}

int edu_stop(struct edu *e)
{
	pthread_t t;

	pthread_mutex_lock(&e->lock);
	/* stopping also keeps a second caller from joining twice. */
	if (!e->running || e->stopping) {
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	e->stopping = true;
	t = e->thread;
	pthread_cond_broadcast(&e->kick);
	pthread_mutex_unlock(&e->lock);

	pthread_join(t, NULL);

	pthread_mutex_lock(&e->lock);
	e->running = false;
	e->stopping = false;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

void edu_destroy(struct edu *e)
{
	if (!e->inited)
		return;
	edu_stop(e);
	pci_device_destroy(&e->dev);
	pthread_cond_destroy(&e->kick);
	pthread_mutex_destroy(&e->lock);
	e->inited = false;
}

void edu_stats(struct edu *e, struct edu_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->stats;
	out->guest_errors = __atomic_load_n(&e->guest_errors, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&e->lock);
}
