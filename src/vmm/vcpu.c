#include "vmm/vcpu.h"
#include "vmm/machine.h"
#include "base/log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define VCPU_KICK_SIGNAL SIGUSR1

static const char *const exit_names[] = {
	[KVM_EXIT_UNKNOWN] = "unknown", [KVM_EXIT_EXCEPTION] = "exception",
	[KVM_EXIT_IO] = "io", [KVM_EXIT_HYPERCALL] = "hypercall", [KVM_EXIT_DEBUG] = "debug",
	[KVM_EXIT_HLT] = "hlt", [KVM_EXIT_MMIO] = "mmio",
	[KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open", [KVM_EXIT_SHUTDOWN] = "shutdown",
	[KVM_EXIT_FAIL_ENTRY] = "fail_entry", [KVM_EXIT_INTR] = "intr",
	[KVM_EXIT_SET_TPR] = "set_tpr", [KVM_EXIT_TPR_ACCESS] = "tpr_access",
	[KVM_EXIT_NMI] = "nmi", [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVM_EXIT_OSI] = "osi", [KVM_EXIT_WATCHDOG] = "watchdog", [KVM_EXIT_EPR] = "epr",
	[KVM_EXIT_SYSTEM_EVENT] = "system_event", [KVM_EXIT_IOAPIC_EOI] = "ioapic_eoi",
	[KVM_EXIT_HYPERV] = "hyperv",
};

const char *vcpu_exit_reason_name(unsigned reason)
{
	if (reason < sizeof(exit_names) / sizeof(exit_names[0]) && exit_names[reason])
		return exit_names[reason];
	return "other";
}

static void kick_handler(int sig)
{
	(void)sig;
}

static void kick_handler_init(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	/* No SA_RESTART: the signal must make KVM_RUN return EINTR. */
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

static void install_kick_handler(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, kick_handler_init);
}

int vcpu_create(struct machine *m, unsigned id, struct vcpu *v)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->m = m;
	v->id = id;
	v->fd = ioctl(m->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		ret = -errno;
		log_error("vcpu %u: KVM_CREATE_VCPU: %s", id, strerror(errno));
		return ret;
	}
	v->run = mmap(NULL, (size_t)m->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		v->run = NULL;
		log_error("vcpu %u: mmap kvm_run: %s", id, strerror(errno));
		close(v->fd);
		v->fd = -1;
		return ret;
	}
	install_kick_handler();
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->m->kvm.vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

int vcpu_setup_cpuid(struct vcpu *v, const struct kvm_cpuid2 *supported, uint32_t tsc_khz,
		     unsigned nr_vcpus)
{
	size_t sz = sizeof(*supported) + (supported->nent + 1) * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	struct kvm_cpuid_entry2 *e;
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sizeof(*supported) + supported->nent * sizeof(supported->entries[0]));
	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (v->id << 24) | ((nr_vcpus & 0xff) << 16);
			e->ecx |= 1u << 31;                 /* running under a hypervisor */
			if (nr_vcpus > 1)
				e->edx |= 1u << 28;         /* HTT: EBX[23:16] is valid */
			break;
		case 0xb:
		case 0x1f:
			e->edx = v->id;                     /* x2APIC id */
			break;
		case 0x8000001e:
			e->eax = v->id;                     /* AMD extended APIC id */
			break;
		}
	}
	/* Guests (and our runtime) read the TSC frequency from the timing leaf
	 * QEMU and VMware define, instead of calibrating in slow ring-0 code. */
	e = cpuid_find(c, 0x40000000, 0);
	if (e && tsc_khz) {
		if (e->eax < 0x40000010)
			e->eax = 0x40000010;
		e = cpuid_find(c, 0x40000010, 0);
		if (!e)
			e = &c->entries[c->nent++];
		*e = (struct kvm_cpuid_entry2){ .function = 0x40000010, .eax = tsc_khz,
						.ebx = 1000000 /* LAPIC timer: 1 GHz in KVM */ };
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
		ret = -errno;
		log_error("vcpu %u: KVM_SET_CPUID2: %s", v->id, strerror(errno));
	}
	free(c);
	return ret;
}

void vcpu_boot_gdt(uint64_t gdt[5])
{
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00cf9b000000ffffull;   /* 0x10: flat 32-bit code */
	gdt[3] = 0x00cf93000000ffffull;   /* 0x18: flat 32-bit data */
	gdt[4] = 0x00008b0000000067ull;   /* 0x20: 32-bit TSS (busy), as PVH asks */
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *e, uint64_t gdt_gpa)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb, .present = 1,
		.dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_segment tss = {
		.base = 0, .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1, .s = 0,
	};

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		goto err;
	data.selector = 0x18;
	data.type = 0x3;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tss;
	sregs.gdt.base = gdt_gpa;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = 0x11;                 /* PE | ET, paging off */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		goto err;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = e->eip;
	regs.rax = e->eax;
	regs.rbx = e->ebx;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		goto err;
	return 0;
err:
	log_error("vcpu %u: setting boot registers: %s", v->id, strerror(errno));
	return -errno;
}

static void seg_dump(FILE *out, const char *name, const struct kvm_segment *s)
{
	fprintf(out, "  %-3s sel=%04x base=%016llx limit=%08x type=%x dpl=%u p=%u l=%u db=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl,
		s->present, s->l, s->db);
}

void vcpu_dump_state(struct vcpu *v, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_vcpu_events ev;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "vcpu %u: registers unavailable: %s\n", v->id, strerror(errno));
		return;
	}
	fprintf(out, "vcpu %u registers:\n", v->id);
	fprintf(out, "  rip=%016llx rsp=%016llx rflags=%016llx\n", r.rip, r.rsp, r.rflags);
	fprintf(out, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", r.rax, r.rbx, r.rcx, r.rdx);
	fprintf(out, "  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx\n", r.rsi, r.rdi, r.rbp, r.r8);
	fprintf(out, "  r9 =%016llx r10=%016llx r11=%016llx r12=%016llx\n", r.r9, r.r10, r.r11, r.r12);
	fprintf(out, "  r13=%016llx r14=%016llx r15=%016llx\n", r.r13, r.r14, r.r15);
	fprintf(out, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%llx\n",
		s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	seg_dump(out, "cs", &s.cs);
	seg_dump(out, "ss", &s.ss);
	seg_dump(out, "ds", &s.ds);
	seg_dump(out, "tr", &s.tr);
	fprintf(out, "  gdt=%016llx/%x idt=%016llx/%x\n", s.gdt.base, s.gdt.limit, s.idt.base,
		s.idt.limit);
	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == 0 && ev.exception.injected)
		fprintf(out, "  pending exception %u error code %#x\n", ev.exception.nr,
			ev.exception.error_code);
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *p = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;

	/* String I/O (rep outsb) arrives as `count` elements back to back. */
	for (uint32_t i = 0; i < run->io.count; i++, p += size) {
		uint64_t val = 0;

		bool hit;

		if (run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&val, p, size);
			hit = bus_write(&v->m->pio, run->io.port, val, size);
		} else {
			hit = bus_read(&v->m->pio, run->io.port, &val, size);
			memcpy(p, &val, size);
		}
		if (!hit)
			log_debug("vcpu %u: unhandled port %s 0x%x, %u bytes", v->id,
				  run->io.direction == KVM_EXIT_IO_OUT ? "write" : "read",
				  run->io.port, size);
	}
	v->pio_accesses += run->io.count;
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	unsigned len = run->mmio.len;
	uint64_t val = 0;

	if (len == 0 || len > 8) {
		guest_error("vcpu %u: MMIO access of %u bytes at 0x%llx", v->id, len,
			    (unsigned long long)run->mmio.phys_addr);
		return;
	}
	bool hit;

	if (run->mmio.is_write) {
		memcpy(&val, run->mmio.data, len);
		hit = bus_write(&v->m->mmio, run->mmio.phys_addr, val, len);
	} else {
		hit = bus_read(&v->m->mmio, run->mmio.phys_addr, &val, len);
		memcpy(run->mmio.data, &val, len);
	}
	if (!hit)
		log_debug("vcpu %u: unhandled MMIO %s 0x%llx, %u bytes", v->id,
			  run->mmio.is_write ? "write" : "read",
			  (unsigned long long)run->mmio.phys_addr, len);
}

/* Returns false when the vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct machine *m = v->m;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(v);
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		machine_ioapic_eoi(m, run->eoi.vector);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only seen without an in-kernel LAPIC: a halted CPU that nothing
		 * can wake is a powered-down machine. */
		log_info("vcpu %u: halted", v->id);
		machine_request_exit(m, WARDEN_EXIT_CLEAN, "hlt");
		return false;
	case KVM_EXIT_SHUTDOWN:
		fprintf(stderr, "warden: guest crash: vcpu %u triple fault (KVM_EXIT_SHUTDOWN)\n", v->id);
		vcpu_dump_state(v, stderr);
		machine_request_exit(m, WARDEN_EXIT_GUEST_CRASH, "triple-fault");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			machine_request_exit(m, WARDEN_EXIT_CLEAN, "system-event-shutdown");
		} else {
			fprintf(stderr, "warden: vcpu %u: system event %u\n", v->id, run->system_event.type);
			machine_request_exit(m, WARDEN_EXIT_GUEST_CRASH, "system-event");
		}
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, "warden: guest crash: vcpu %u KVM internal error, suberror %u",
			v->id, run->internal.suberror);
		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, " %#llx", (unsigned long long)run->internal.data[i]);
		fprintf(stderr, "\n");
		vcpu_dump_state(v, stderr);
		machine_request_exit(m, WARDEN_EXIT_GUEST_CRASH, "internal-error");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "warden: guest crash: vcpu %u VM entry failed, reason %#llx\n", v->id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_dump_state(v, stderr);
		machine_request_exit(m, WARDEN_EXIT_GUEST_CRASH, "fail-entry");
		return false;
	default:
		fprintf(stderr, "warden: guest crash: vcpu %u unexpected exit %u (%s)\n", v->id,
			run->exit_reason, vcpu_exit_reason_name(run->exit_reason));
		vcpu_dump_state(v, stderr);
		machine_request_exit(m, WARDEN_EXIT_GUEST_CRASH, "unexpected-exit");
		return false;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct machine *m = v->m;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	while (!__atomic_load_n(&m->stopping, __ATOMIC_ACQUIRE)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_add_fetch(&v->exits[KVM_EXIT_INTR], 1, __ATOMIC_RELAXED);
				continue;
			}
			log_error("vcpu %u: KVM_RUN: %s", v->id, strerror(errno));
			vcpu_dump_state(v, stderr);
			machine_request_exit(m, WARDEN_EXIT_HOST, "kvm-run-failed");
			break;
		}
		/* Relaxed atomics: the stats port reads these from other threads. */
		if (v->run->exit_reason < VCPU_EXIT_REASONS)
			__atomic_add_fetch(&v->exits[v->run->exit_reason], 1, __ATOMIC_RELAXED);
		if (!vcpu_handle_exit(v))
			break;
	}
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret) {
		log_error("vcpu %u: creating thread: %s", v->id, strerror(ret));
		return -ret;
	}
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers the window between the stopping check and
	 * KVM_RUN; the signal interrupts a KVM_RUN already in progress. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

int vcpu_join(struct vcpu *v, unsigned timeout_ms)
{
	struct timespec ts;
	int ret;

	if (!v->started)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	ret = pthread_timedjoin_np(v->thread, NULL, &ts);
	if (ret)
		return -ret;
	v->started = false;
	return 0;
}
