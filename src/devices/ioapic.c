/* I/O APIC for the split irqchip. Register model: Intel 82093AA data sheet
 * plus the version 0x20 EOI register (ICH9 "I/O APIC EOI"); remote IRR and
 * edge/level behaviour as QEMU's hw/intc/ioapic.c and KVM's in-kernel
 * IOAPIC, which guests are tuned against. */
#include "devices/ioapic.h"
#include "base/log.h"
#include "base/snapshot.h"

#include <errno.h>
#include <string.h>

/* ---- Register definitions ---- */
/* Direct (MMIO) registers. */
#define IOAPIC_IOREGSEL   0x00
#define IOAPIC_IOWIN      0x10
#define IOAPIC_EOI        0x40
/* Indirect registers, selected through IOREGSEL. */
#define IOAPIC_REG_ID     0x00
#define IOAPIC_REG_VER    0x01
#define IOAPIC_REG_ARB    0x02
#define IOAPIC_REG_REDTBL 0x10      /* two dwords per entry: low, high */
#define IOAPIC_REG_REDTBL_END (IOAPIC_REG_REDTBL + 2 * IOAPIC_NUM_PINS)

#define IOAPIC_ID_SHIFT   24
#define IOAPIC_ID_MASK    0x0f      /* 82093AA: 4-bit APIC ID */
#define IOAPIC_VER_MRE_SHIFT 16     /* maximum redirection entry */

/* ---- Delivery ---- */

void ioapic_rte_to_msi(uint64_t rte, uint64_t *addr, uint32_t *data)
{
	bool level = rte & IOAPIC_RTE_TRIGGER_LEVEL;

	/* Both formats put RTE bits 63:48 on address bits 19:4 and RTE bit 11
	 * on address bit 2 (Linux "x86/ioapic: Handle Extended Destination ID
	 * field in RTE"; QEMU does the same):
	 *  - compatibility: destination 63:56 -> 19:12, the extended
	 *    destination id 55:49 -> 11:5, bit 48 = 0 -> bit 4 (format),
	 *    destination mode -> bit 2;
	 *  - remappable (VT-d 5.1.5.1): index[14:0] 63:49 -> 19:5, bit 48 ->
	 *    bit 4 (format), index[15] (bit 11) -> bit 2.
	 * SHV (address bit 3) stays 0: an IOAPIC has no subhandle, so the
	 * remapper uses the index alone and only checks data's vector and
	 * trigger mode against the IRTE (VT-d 5.1.5.1 requires them to match,
	 * because the EOI comes back by vector). */
	*addr = IOAPIC_MSI_ADDR_BASE | ((rte >> 48) << 4) |
		(((rte >> 11) & 1) << 2);
	*data = (uint32_t)(rte & IOAPIC_RTE_VECTOR_MASK) |
		(uint32_t)(((rte & IOAPIC_RTE_DELMOD_MASK) >> IOAPIC_RTE_DELMOD_SHIFT)
			   << IOAPIC_MSI_DATA_DELMOD_SHIFT) |
		(level ? IOAPIC_MSI_DATA_TRIGGER_LEVEL | IOAPIC_MSI_DATA_LEVEL_ASSERT : 0);
}

/* Caller holds the lock. The MSI goes out under it, as KVM's and QEMU's
 * IOAPICs deliver under theirs: an EOI, a route update or another pin's
 * delivery cannot slip in between deciding to deliver and delivering. A
 * level entry becomes busy (remote IRR) until the EOI. */
static void ioapic_fire(struct ioapic *io, unsigned pin)
{
	uint64_t *rte = &io->rte[pin];
	uint64_t addr;
	uint32_t data;
	int ret;

	if (*rte & IOAPIC_RTE_TRIGGER_LEVEL)
		*rte |= IOAPIC_RTE_REMOTE_IRR;
	ioapic_rte_to_msi(*rte, &addr, &data);
	io->stats[pin].delivered++;
	ret = msi_send(&io->msi, addr, data, io->requester_id);
	if (ret) {
		static struct log_ratelimit rl;

		/* Remote IRR stays set, as on hardware whose message was
		 * dropped downstream: the guest's recovery (rewriting the
		 * entry) works here too. */
		io->stats[pin].send_errors++;
		if (log_ratelimit_ok(&rl))
			log_warn("ioapic: pin %u: MSI addr 0x%llx data 0x%x from %04x not "
				 "delivered: %s", pin, (unsigned long long)addr, data,
				 io->requester_id, strerror(-ret));
	}
}

/* Caller holds the lock. A level entry whose input is high, unmasked and
 * not waiting for an EOI is delivered. */
static void ioapic_service_level(struct ioapic *io, unsigned pin)
{
	uint64_t rte = io->rte[pin];

	if (!(rte & IOAPIC_RTE_TRIGGER_LEVEL) || !(io->line & (1u << pin)) ||
	    (rte & (IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR)))
		return;
	ioapic_fire(io, pin);
}

/* Caller holds the lock, and keeps it across the callback (the mutex is
 * recursive, so the callback may read entries back): a level interrupt
 * must not be sent before KVM knows its vector needs an EOI exit, or the
 * EOI never reaches us and remote IRR sticks. */
static void ioapic_routes_changed(struct ioapic *io)
{
	if (io->routes_changed)
		io->routes_changed(io->routes_opaque);
}

/* ---- Register access ---- */

static uint32_t ioapic_read_indirect(struct ioapic *io)
{
	unsigned reg = io->ioregsel;
	uint64_t rte;

	switch (reg) {
	case IOAPIC_REG_ID:
		return (uint32_t)io->id << IOAPIC_ID_SHIFT;
	case IOAPIC_REG_VER:
		return IOAPIC_VERSION | ((IOAPIC_NUM_PINS - 1) << IOAPIC_VER_MRE_SHIFT);
	case IOAPIC_REG_ARB:
		/* Loaded from the ID (82093AA 3.2.3), as KVM reports it. */
		return (uint32_t)io->id << IOAPIC_ID_SHIFT;
	}
	if (reg >= IOAPIC_REG_REDTBL && reg < IOAPIC_REG_REDTBL_END) {
		rte = io->rte[(reg - IOAPIC_REG_REDTBL) / 2];
		return (reg & 1) ? (uint32_t)(rte >> 32) : (uint32_t)rte;
	}
	/* Undefined registers read as 0; Linux reads register 3 on version
	 * 0x20 parts when it dumps the IOAPIC, so this is no guest error. */
	log_debug("ioapic: read of undefined register 0x%02x", reg);
	return 0;
}

static void ioapic_write_rte(struct ioapic *io, unsigned reg, uint32_t val)
{
	unsigned pin = (reg - IOAPIC_REG_REDTBL) / 2;
	uint64_t old = io->rte[pin], rte = old;

	if (reg & 1)
		rte = (rte & 0xffffffffull) | ((uint64_t)val << 32);
	else
		rte = (rte & ~0xffffffffull) | val;
	/* Delivery status and remote IRR are the IOAPIC's to set. Other bits
	 * are kept as written, reserved ones too, as QEMU does: the
	 * remappable format reuses some of them. */
	rte = (rte & ~IOAPIC_RTE_RO_BITS) | (old & IOAPIC_RTE_RO_BITS);
	/* Switching an entry to edge clears remote IRR: Linux relies on this
	 * to unstick a level interrupt (QEMU ioapic_fix_edge_remote_irr). */
	if (!(rte & IOAPIC_RTE_TRIGGER_LEVEL))
		rte &= ~IOAPIC_RTE_REMOTE_IRR;
	io->rte[pin] = rte;
	/* The route first: the delivery just below may be a level one. */
	if ((old ^ rte) & ~IOAPIC_RTE_RO_BITS)
		ioapic_routes_changed(io);
	/* Unmasking a level entry whose input is high delivers it; a masked
	 * edge was lost and stays lost (82093AA "Interrupt Mask"). */
	ioapic_service_level(io, pin);
}

static void ioapic_write_indirect(struct ioapic *io, uint32_t val)
{
	unsigned reg = io->ioregsel;

	switch (reg) {
	case IOAPIC_REG_ID:
		io->id = (val >> IOAPIC_ID_SHIFT) & IOAPIC_ID_MASK;
		return;
	case IOAPIC_REG_VER:
	case IOAPIC_REG_ARB:
		guest_error("ioapic: write 0x%x to read-only register 0x%02x", val, reg);
		return;
	}
	if (reg >= IOAPIC_REG_REDTBL && reg < IOAPIC_REG_REDTBL_END) {
		ioapic_write_rte(io, reg, val);
		return;
	}
	guest_error("ioapic: write 0x%x to undefined register 0x%02x", val, reg);
}

/* Caller holds the lock. */
static void ioapic_eoi_locked(struct ioapic *io, uint8_t vector)
{
	unsigned pin;

	for (pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
		uint64_t rte = io->rte[pin];

		/* The vector field is bits 7:0 in both formats; VT-d makes
		 * software keep it equal to the IRTE's for exactly this. */
		if ((rte & IOAPIC_RTE_VECTOR_MASK) != vector ||
		    !(rte & IOAPIC_RTE_TRIGGER_LEVEL) || !(rte & IOAPIC_RTE_REMOTE_IRR))
			continue;
		io->rte[pin] = rte & ~IOAPIC_RTE_REMOTE_IRR;
		io->stats[pin].eois++;
		ioapic_service_level(io, pin);
	}
}

static void ioapic_mmio_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct ioapic *io = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&io->lock);
	switch (offset) {
	case IOAPIC_IOREGSEL:
		v = io->ioregsel;
		break;
	case IOAPIC_IOWIN:
		/* The window is a dword register (QEMU refuses other sizes). */
		if (len == 4)
			v = ioapic_read_indirect(io);
		else
			guest_error("ioapic: %u-byte read of IOWIN (register 0x%02x)", len,
				    io->ioregsel);
		break;
	case IOAPIC_EOI:
		break;          /* write-only */
	default:
		guest_error("ioapic: %u-byte read at reserved offset 0x%llx", len,
			    (unsigned long long)offset);
		break;
	}
	pthread_mutex_unlock(&io->lock);
	*data = len >= 8 ? v : v & ((1ull << (8 * len)) - 1);
}

static void ioapic_mmio_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct ioapic *io = opaque;

	pthread_mutex_lock(&io->lock);
	switch (offset) {
	case IOAPIC_IOREGSEL:
		io->ioregsel = (uint8_t)data;   /* bits 31:8 are reserved */
		break;
	case IOAPIC_IOWIN:
		if (len == 4)
			ioapic_write_indirect(io, (uint32_t)data);
		else
			guest_error("ioapic: %u-byte write of IOWIN (register 0x%02x) ignored",
				    len, io->ioregsel);
		break;
	case IOAPIC_EOI:
		ioapic_eoi_locked(io, (uint8_t)data);
		break;
	default:
		guest_error("ioapic: %u-byte write of 0x%llx at reserved offset 0x%llx", len,
			    (unsigned long long)data, (unsigned long long)offset);
		break;
	}
	pthread_mutex_unlock(&io->lock);
}

static const struct bus_ops ioapic_ops = {
	.read = ioapic_mmio_read,
	.write = ioapic_mmio_write,
};

/* ---- Input pins and EOI ---- */

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	uint32_t bit;
	bool rising;
	uint64_t rte;

	if (pin >= IOAPIC_NUM_PINS) {
		static struct log_ratelimit rl;

		if (log_ratelimit_ok(&rl))
			log_error("ioapic: set_irq on pin %u; it has %d pins", pin, IOAPIC_NUM_PINS);
		return;
	}
	bit = 1u << pin;
	pthread_mutex_lock(&io->lock);
	rising = level && !(io->line & bit);
	if (level)
		io->line |= bit;
	else
		io->line &= ~bit;
	rte = io->rte[pin];
	if (rising) {
		io->stats[pin].asserts++;
		if (rte & IOAPIC_RTE_MASKED)
			io->stats[pin].masked++;
	}
	if (rte & IOAPIC_RTE_TRIGGER_LEVEL)
		ioapic_service_level(io, pin);
	else if (rising && !(rte & IOAPIC_RTE_MASKED))
		ioapic_fire(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void ioapic_irq_line_set(void *opaque, unsigned pin, int level)
{
	ioapic_set_irq(opaque, pin, level);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	ioapic_eoi_locked(io, vector);
	pthread_mutex_unlock(&io->lock);
}

bool ioapic_pin_msi(struct ioapic *io, unsigned pin, uint64_t *addr, uint32_t *data)
{
	if (pin >= IOAPIC_NUM_PINS)
		return false;
	pthread_mutex_lock(&io->lock);
	ioapic_rte_to_msi(io->rte[pin], addr, data);
	pthread_mutex_unlock(&io->lock);
	return true;
}

uint64_t ioapic_read_rte(struct ioapic *io, unsigned pin)
{
	uint64_t rte;

	if (pin >= IOAPIC_NUM_PINS)
		return 0;
	pthread_mutex_lock(&io->lock);
	rte = io->rte[pin];
	pthread_mutex_unlock(&io->lock);
	return rte;
}

int ioapic_pin_stats(struct ioapic *io, unsigned pin, struct ioapic_pin_stats *out)
{
	if (pin >= IOAPIC_NUM_PINS)
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	*out = io->stats[pin];
	pthread_mutex_unlock(&io->lock);
	return 0;
}

/* ---- Reset ---- */

static void ioapic_reset_locked(struct ioapic *io)
{
	unsigned pin;

	io->id = 0;
	io->ioregsel = 0;
	for (pin = 0; pin < IOAPIC_NUM_PINS; pin++)
		io->rte[pin] = IOAPIC_RTE_MASKED;
}

void ioapic_reset(struct ioapic *io)
{
	pthread_mutex_lock(&io->lock);
	ioapic_reset_locked(io);
	ioapic_routes_changed(io);
	pthread_mutex_unlock(&io->lock);
}

/* ---- Save / load ---- */

#define IOAPIC_STATE_MAGIC   0x43504149u   /* "IAPC" */
#define IOAPIC_STATE_VERSION 1

struct ioapic_state_v1 {
	struct snapshot_hdr hdr;
	uint8_t id, ioregsel, reserved[2];
	uint32_t line;
	uint64_t rte[IOAPIC_NUM_PINS];
};

int ioapic_save(const struct ioapic *io, void *buf, size_t len)
{
	struct ioapic *s = (struct ioapic *)io;    /* the lock is not state */
	struct ioapic_state_v1 st;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), IOAPIC_STATE_MAGIC,
				  IOAPIC_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	st.id = s->id;
	st.ioregsel = s->ioregsel;
	st.line = s->line;
	memcpy(st.rte, s->rte, sizeof(st.rte));
	pthread_mutex_unlock(&s->lock);
	return snapshot_save_end(buf, &st.hdr);
}

int ioapic_load(struct ioapic *io, const void *buf, size_t len)
{
	struct ioapic_state_v1 st;
	unsigned pin;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), IOAPIC_STATE_MAGIC,
			    IOAPIC_STATE_VERSION);
	if (ret)
		return ret;
	if (st.id > IOAPIC_ID_MASK || (st.line >> IOAPIC_NUM_PINS))
		return -EINVAL;
	for (pin = 0; pin < IOAPIC_NUM_PINS; pin++)
		if ((st.rte[pin] & IOAPIC_RTE_DELIVS) ||
		    ((st.rte[pin] & IOAPIC_RTE_REMOTE_IRR) &&
		     !(st.rte[pin] & IOAPIC_RTE_TRIGGER_LEVEL)))
			return -EINVAL;
	pthread_mutex_lock(&io->lock);
	io->id = st.id;
	io->ioregsel = st.ioregsel;
	io->line = st.line;
	memcpy(io->rte, st.rte, sizeof(io->rte));
	/* In-flight level interrupts keep remote IRR: their EOI will come. */
	ioapic_routes_changed(io);
	pthread_mutex_unlock(&io->lock);
	return 0;
}

/* ---- Registration ---- */

int ioapic_init(struct ioapic *io, const struct msi_sink *msi, uint16_t requester_id,
		ioapic_routes_changed_fn *routes_changed, void *opaque)
{
	pthread_mutexattr_t attr;
	int ret;

	memset(io, 0, sizeof(*io));
	if (msi)
		io->msi = *msi;
	io->requester_id = requester_id;
	io->routes_changed = routes_changed;
	io->routes_opaque = opaque;
	ret = -pthread_mutexattr_init(&attr);
	if (ret)
		return ret;
	ret = -pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (!ret)
		ret = -pthread_mutex_init(&io->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (ret)
		return ret;
	/* The vmm is still wiring things up: no routes_changed yet. */
	ioapic_reset_locked(io);
	io->inited = true;
	return 0;
}

int ioapic_attach(struct ioapic *io, struct bus *mmio, uint64_t base)
{
	int ret;

	io->base = base;
	ret = bus_register(mmio, base, IOAPIC_MMIO_SIZE, &ioapic_ops, io, "ioapic");
	if (ret)
		log_error("ioapic: registering MMIO 0x%llx+0x%x: %s", (unsigned long long)base,
			  IOAPIC_MMIO_SIZE, strerror(-ret));
	return ret;
}

void ioapic_destroy(struct ioapic *io)
{
	if (!io->inited)
		return;
	pthread_mutex_destroy(&io->lock);
	io->inited = false;
}
