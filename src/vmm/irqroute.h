/* KVM's GSI routing table, kept in one place: KVM_SET_GSI_ROUTING replaces
 * the whole table, and both the IOAPIC (GSIs 0..23, which tell KVM which
 * vectors need EOI exits) and passthrough MSI-X vectors (irqfd GSIs from
 * 24 up) live in it. */
#ifndef WARDEN_VMM_IRQROUTE_H
#define WARDEN_VMM_IRQROUTE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IRQROUTE_MAX_GSI 1024

struct irqroute {
	int vm_fd;
	pthread_mutex_t lock;
	unsigned first_dynamic;         /* GSIs below are fixed (IOAPIC pins) */
	bool used[IRQROUTE_MAX_GSI];
	bool allocated[IRQROUTE_MAX_GSI];
	uint64_t addr[IRQROUTE_MAX_GSI];
	uint32_t data[IRQROUTE_MAX_GSI];
	uint64_t commits;
};

int irqroute_init(struct irqroute *r, int vm_fd, unsigned first_dynamic);
void irqroute_destroy(struct irqroute *r);
/* A GSI of our own from first_dynamic up, or -ENOSPC. */
int irqroute_alloc(struct irqroute *r);
/* Set (or clear, with present = false) the MSI route of gsi; commit pushes
 * the table to KVM. Batch several sets with commit = false. */
void irqroute_set_msi(struct irqroute *r, unsigned gsi, bool present, uint64_t addr, uint32_t data);
int irqroute_commit(struct irqroute *r);
/* Bind an eventfd to gsi (KVM_IRQFD): a write to it injects the MSI in the
 * kernel, never through a VMM thread. */
int irqroute_bind_irqfd(struct irqroute *r, unsigned gsi, int efd);
int irqroute_unbind_irqfd(struct irqroute *r, unsigned gsi, int efd);

#endif
