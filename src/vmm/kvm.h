/* Thin, error-reporting wrappers over the KVM ioctls Warden uses. */
#ifndef WARDEN_VMM_KVM_H
#define WARDEN_VMM_KVM_H

#include <stdint.h>
#include <stdbool.h>
#include <linux/kvm.h>

struct kvm_sys {
	int fd;                 /* /dev/kvm */
	int vcpu_mmap_size;
	int max_vcpus;
};

/* Opens the KVM device (path, normally "/dev/kvm"); on failure prints one
 * line saying why and returns -errno. */
int kvm_sys_open(struct kvm_sys *k, const char *path);
void kvm_sys_close(struct kvm_sys *k);
int kvm_check_extension(int fd, long cap);

/* A VM with the local APIC in the kernel and the IOAPIC in userspace. */
int kvm_vm_create(struct kvm_sys *k, unsigned ioapic_pins);
int kvm_vm_set_memslot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *host);
/* > 0 delivered, 0 blocked by the guest (e.g. masked), < 0 error */
int kvm_vm_signal_msi(int vm_fd, uint64_t addr, uint32_t data);
struct kvm_supported_cpuid { struct kvm_cpuid2 *cpuid; };
struct kvm_cpuid2 *kvm_get_supported_cpuid(struct kvm_sys *k);

#endif
