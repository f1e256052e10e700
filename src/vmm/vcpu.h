/* vCPU threads: one per vCPU, running KVM_RUN and dispatching exits to the
 * machine's PIO/MMIO buses. */
#ifndef WARDEN_VMM_VCPU_H
#define WARDEN_VMM_VCPU_H

#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/kvm.h>

#include "vmm/boot.h"

#define VCPU_EXIT_REASONS 64

struct machine;

struct vcpu {
	struct machine *m;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t exits[VCPU_EXIT_REASONS];   /* by KVM exit reason */
	uint64_t pio_accesses;              /* string I/O counts each element */
};

int vcpu_create(struct machine *m, unsigned id, struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* CPUID from KVM_GET_SUPPORTED_CPUID with this vCPU's APIC id, the
 * hypervisor bit and a TSC-frequency leaf (0x40000010, as QEMU/VMware). */
int vcpu_setup_cpuid(struct vcpu *v, const struct kvm_cpuid2 *supported, uint32_t tsc_khz,
		     unsigned nr_vcpus);
/* 32-bit protected mode, paging off, flat segments: what PVH and multiboot
 * ask for. gdt_gpa is a small GDT the caller wrote into guest RAM. */
int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *e, uint64_t gdt_gpa);
int vcpu_start(struct vcpu *v);
/* Make KVM_RUN return now (or immediately on next entry). */
void vcpu_kick(struct vcpu *v);
/* Waits up to timeout_ms for the thread to end: 0, or -ETIMEDOUT when it is
 * stuck (e.g. blocked on a device lock outside KVM_RUN, where no kick can
 * reach it). */
int vcpu_join(struct vcpu *v, unsigned timeout_ms);
void vcpu_dump_state(struct vcpu *v, FILE *out);
const char *vcpu_exit_reason_name(unsigned reason);
/* Writes the boot GDT (null, unused, code 0x10, data 0x18, TSS 0x20). */
void vcpu_boot_gdt(uint64_t gdt[5]);

#endif
