#include "vmm/kvm.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvm_sys_open(struct kvm_sys *k, const char *path)
{
	int ret, ver;

	memset(k, 0, sizeof(*k));
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		ret = -errno;
		log_error("cannot open %s: %s (is KVM available on this host?)", path, strerror(errno));
		return ret;
	}
	ver = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		log_error("%s: KVM API version %d, need %d", path, ver, KVM_API_VERSION);
		ret = -ENOTSUP;
		goto err;
	}
	static const struct { long cap; const char *name; } needed[] = {
		{ KVM_CAP_SPLIT_IRQCHIP, "split irqchip" },
		{ KVM_CAP_SIGNAL_MSI, "KVM_SIGNAL_MSI" },
		{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
		{ KVM_CAP_IMMEDIATE_EXIT, "immediate_exit" },
		{ KVM_CAP_EXT_CPUID, "KVM_GET_SUPPORTED_CPUID" },
		{ KVM_CAP_USER_MEMORY, "user memory slots" },
	};
	for (unsigned i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (kvm_check_extension(k->fd, needed[i].cap) <= 0) {
			log_error("%s lacks %s, which Warden needs", path, needed[i].name);
			ret = -ENOTSUP;
			goto err;
		}
	}
	k->vcpu_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->vcpu_mmap_size <= 0) {
		ret = -errno;
		log_error("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto err;
	}
	k->max_vcpus = kvm_check_extension(k->fd, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = kvm_check_extension(k->fd, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4;
	return 0;
err:
	close(k->fd);
	k->fd = -1;
	return ret;
}

void kvm_sys_close(struct kvm_sys *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

int kvm_check_extension(int fd, long cap)
{
	return ioctl(fd, KVM_CHECK_EXTENSION, cap);
}

int kvm_vm_create(struct kvm_sys *k, unsigned ioapic_pins)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { ioapic_pins } };
	int vm, ret;

	vm = ioctl(k->fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		ret = -errno;
		log_error("KVM_CREATE_VM: %s", strerror(errno));
		return ret;
	}
	/* Intel needs these for real-mode emulation (APs start in real mode);
	 * they are placed in the reserved area just below the BIOS. */
	if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0 && errno != ENOTTY && errno != EINVAL)
		log_warn("KVM_SET_TSS_ADDR: %s", strerror(errno));
	uint64_t ident = 0xfffbc000ul;
	if (kvm_check_extension(k->fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
	    ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		log_warn("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	/* Split irqchip: LAPIC in the kernel, IOAPIC (and later its interrupt
	 * remapping) in userspace, so the IOMMU model sees IOAPIC interrupts. */
	if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0) {
		ret = -errno;
		log_error("enabling the split irqchip: %s", strerror(errno));
		close(vm);
		return ret;
	}
	return vm;
}

int kvm_vm_set_memslot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)host,
	};

	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		int ret = -errno;

		log_error("memslot %u [0x%llx+0x%llx]: %s", slot, (unsigned long long)gpa,
			  (unsigned long long)size, strerror(errno));
		return ret;
	}
	return 0;
}

int kvm_vm_signal_msi(int vm_fd, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data,
	};
	int r = ioctl(vm_fd, KVM_SIGNAL_MSI, &msi);

	return r < 0 ? -errno : r;
}

struct kvm_cpuid2 *kvm_get_supported_cpuid(struct kvm_sys *k)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG) {
			log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return NULL;
		}
	}
	return NULL;
}
