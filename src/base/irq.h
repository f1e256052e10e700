/* How devices raise interrupts without knowing KVM: the vmm layer implements
 * these sinks (KVM_SIGNAL_MSI, irqfd, the userspace IOAPIC). */
#ifndef WARDEN_BASE_IRQ_H
#define WARDEN_BASE_IRQ_H

#include <stdint.h>

/* An MSI as it appears on the bus: a DWORD write to 0xFEExxxxx tagged with
 * the requester id (bus:dev.fn) of the device that made it, so an interrupt
 * remapper can validate the source. Returns 0 or -errno. */
struct msi_sink {
	int (*send)(void *opaque, uint64_t addr, uint32_t data, uint16_t requester_id);
	void *opaque;
};

static inline int msi_send(const struct msi_sink *s, uint64_t addr, uint32_t data,
			   uint16_t requester_id)
{
	return s && s->send ? s->send(s->opaque, addr, data, requester_id) : -19 /* ENODEV */;
}

/* A wired interrupt line (INTx, ISA IRQ) into an interrupt controller pin. */
struct irq_line {
	void (*set)(void *opaque, unsigned pin, int level);
	void *opaque;
	unsigned pin;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l && l->set)
		l->set(l->opaque, l->pin, level);
}

#endif
