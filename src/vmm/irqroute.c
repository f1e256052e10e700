#include "vmm/irqroute.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

int irqroute_init(struct irqroute *r, int vm_fd, unsigned first_dynamic)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	r->first_dynamic = first_dynamic;
	return -pthread_mutex_init(&r->lock, NULL);
}

void irqroute_destroy(struct irqroute *r)
{
	pthread_mutex_destroy(&r->lock);
}

int irqroute_alloc(struct irqroute *r)
{
	int gsi = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = r->first_dynamic; i < IRQROUTE_MAX_GSI; i++) {
		if (!r->allocated[i]) {
			r->allocated[i] = true;
			gsi = (int)i;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

void irqroute_set_msi(struct irqroute *r, unsigned gsi, bool present, uint64_t addr, uint32_t data)
{
	if (gsi >= IRQROUTE_MAX_GSI)
		return;
	pthread_mutex_lock(&r->lock);
	r->used[gsi] = present;
	r->addr[gsi] = addr;
	r->data[gsi] = data;
	pthread_mutex_unlock(&r->lock);
}

int irqroute_commit(struct irqroute *r)
{
	struct kvm_irq_routing *t;
	unsigned n = 0;
	int ret = 0;

	t = calloc(1, sizeof(*t) + IRQROUTE_MAX_GSI * sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	for (unsigned gsi = 0; gsi < IRQROUTE_MAX_GSI; gsi++) {
		if (!r->used[gsi])
			continue;
		t->entries[n].gsi = gsi;
		t->entries[n].type = KVM_IRQ_ROUTING_MSI;
		t->entries[n].u.msi.address_lo = (uint32_t)r->addr[gsi];
		t->entries[n].u.msi.address_hi = (uint32_t)(r->addr[gsi] >> 32);
		t->entries[n].u.msi.data = r->data[gsi];
		n++;
	}
	t->nr = n;
	/* Under the lock: two committers must not push tables out of order. */
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		ret = -errno;
		log_error("KVM_SET_GSI_ROUTING (%u routes): %s", n, strerror(errno));
	} else {
		r->commits++;
	}
	pthread_mutex_unlock(&r->lock);
	free(t);
	return ret;
}

static int irqfd_ioctl(struct irqroute *r, unsigned gsi, int efd, uint32_t flags)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)efd, .gsi = gsi, .flags = flags };

	if (ioctl(r->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		int ret = -errno;

		log_error("KVM_IRQFD %s gsi %u fd %d: %s", flags ? "unbind" : "bind", gsi, efd,
			  strerror(errno));
		return ret;
	}
	return 0;
}

int irqroute_bind_irqfd(struct irqroute *r, unsigned gsi, int efd)
{
	return irqfd_ioctl(r, gsi, efd, 0);
}

int irqroute_unbind_irqfd(struct irqroute *r, unsigned gsi, int efd)
{
	return irqfd_ioctl(r, gsi, efd, KVM_IRQFD_FLAG_DEASSIGN);
}
