/* The host shared by several VMs: one arena, one host IOMMU with a domain
 * per VM, the RAM hash behind the "RAM unchanged after stop" check, and
 * the console mux. No KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/power.h"
#include "iommu/dma.h"
#include "vmm/conmux.h"
#include "vmm/host.h"
#include "vmm/vmset.h"

#define VM_RAM   (8ull << 20)
#define DEVFN    0x18            /* 00:03.0, where every VM's first disk sits */

static void *gpa_ptr(struct gmem *g, uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(g, gpa, len);

	assert_non_null(p);
	return p;
}

/* Two VMs' domains on one unit: each maps exactly its own RAM, and no
 * mapping, attachment or DMA of one reaches the other's RAM. */
static void test_two_domains_isolated(void **state)
{
	struct host h;
	struct gmem g0, g1;
	struct iommu_domain *d0, *d1;
	struct iommu *mmu;
	struct dma_as as0, as1;
	uint64_t hpa, hpa_other;
	unsigned prot;
	uint8_t buf[64];

	(void)state;
	assert_int_equal(host_init(&h, 96ull << 20, 16ull << 20), 0);
	assert_int_equal(gmem_init(&g0, &h.arena, 0, VM_RAM), 0);
	assert_int_equal(gmem_init(&g1, &h.arena, 1, VM_RAM), 0);
	assert_false(h.iommu_ready);               /* created on first need */
	assert_int_equal(host_vm_domain_create(&h, &g0, &d0), 0);
	assert_int_equal(host_vm_domain_create(&h, &g1, &d1), 0);
	assert_int_equal(host_iommu(&h, &mmu), 0);
	assert_ptr_equal(mmu, &h.iommu);
	assert_ptr_equal(d0->mmu, mmu);
	assert_ptr_equal(d1->mmu, mmu);
	assert_int_equal(mmu->nr_domains, 2);
	assert_int_not_equal(d0->did, d1->did);

	/* IOVA = GPA, each onto its own RAM. */
	assert_int_equal(iommu_domain_iova_to_phys(d0, 0x1000, &hpa, &prot), 0);
	assert_int_equal(hpa, g0.ranges[0].hpa + 0x1000);
	assert_int_equal(iommu_domain_iova_to_phys(d1, 0x1000, &hpa, &prot), 0);
	assert_int_equal(hpa, g1.ranges[0].hpa + 0x1000);
	assert_int_equal(iommu_domain_iova_to_phys(d0, VM_RAM, &hpa, &prot), -ENOENT);

	/* The other VM's RAM (first, middle and last page, the whole of it)
	 * and ranges straddling both are refused in either direction (each
	 * refusal logs a line, hence not every page). */
	static const uint64_t offs[] = { 0, 0x1000, VM_RAM / 2, VM_RAM - 0x1000 };

	for (unsigned i = 0; i < 4; i++) {
		uint64_t off = offs[i];

		assert_int_equal(iommu_domain_map(d0, 1ull << 32, g1.ranges[0].hpa + off, 0x1000,
						  IOPT_READ | IOPT_WRITE), -EPERM);
		assert_int_equal(iommu_domain_map(d1, 1ull << 32, g0.ranges[0].hpa + off, 0x1000,
						  IOPT_READ), -EPERM);
	}
	assert_int_equal(iommu_domain_map(d0, 1ull << 32, g1.ranges[0].hpa, VM_RAM,
					  IOPT_READ), -EPERM);
	assert_int_equal(iommu_domain_map(d0, 1ull << 32, g0.ranges[0].hpa + VM_RAM - 0x1000,
					  0x2000, IOPT_READ), -EPERM);
	assert_int_equal(iommu_domain_map(d1, 1ull << 32, 0, 0x1000, IOPT_READ), -EPERM);
	assert_int_equal(iommu_domain_iova_to_phys(d0, 1ull << 32, &hpa, &prot), -ENOENT);

	/* Both VMs have a disk at guest 00:03.0; on the shared unit they are
	 * distinct source-ids, and one cannot be attached to both domains. */
	assert_int_not_equal(host_vm_sid(0, DEVFN), host_vm_sid(1, DEVFN));
	assert_int_equal(host_vm_sid(0, DEVFN), DEVFN);   /* one VM: as before */
	assert_int_equal(iommu_domain_attach(d0, host_vm_sid(0, DEVFN), 0), 0);
	assert_int_equal(iommu_domain_attach(d1, host_vm_sid(1, DEVFN), 0), 0);
	assert_int_equal(iommu_domain_attach(d1, host_vm_sid(0, DEVFN), 0), -EBUSY);

	/* DMA: each device writes its own VM's RAM, and cannot reach past it
	 * (VM 1's RAM lies right after VM 0's in the arena). */
	dma_as_init_vtd(&as0, &mmu->unit, &h.arena, host_vm_sid(0, DEVFN));
	dma_as_init_vtd(&as1, &mmu->unit, &h.arena, host_vm_sid(1, DEVFN));
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(dma_write(&as0, 0x2000, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(*(uint8_t *)gpa_ptr(&g0, 0x2000, 1), 0xa5);
	assert_int_equal(*(uint8_t *)gpa_ptr(&g1, 0x2000, 1), 0);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(dma_write(&as1, 0x2000, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(*(uint8_t *)gpa_ptr(&g0, 0x2000, 1), 0xa5);
	assert_int_equal(*(uint8_t *)gpa_ptr(&g1, 0x2000, 1), 0x5a);
	hpa_other = g1.ranges[0].hpa - g0.ranges[0].hpa;   /* VM 1's RAM as a VM 0 IOVA */
	assert_true(dma_write(&as0, hpa_other, buf, sizeof(buf)) < 0);
	assert_true(dma_read(&as0, VM_RAM, buf, sizeof(buf)) < 0);
	assert_int_equal(*(uint8_t *)gpa_ptr(&g1, 0, 1), 0);
	assert_true(as0.stats.faults >= 2);
	assert_int_equal(as1.stats.faults, 0);

	/* One VM's domain goes; the other's keeps working on the same unit. */
	iommu_domain_destroy(d0);
	assert_int_equal(mmu->nr_domains, 1);
	assert_int_equal(dma_read(&as1, 0x2000, buf, 1), 1);
	assert_int_equal(buf[0], 0x5a);
	assert_true(dma_read(&as0, 0x2000, buf, 1) < 0);
	iommu_domain_destroy(d1);
	gmem_destroy(&g0);
	gmem_destroy(&g1);
	assert_int_equal(arena_check_canaries(&h.arena), 0);
	host_destroy(&h);
}

/* The hash sees every change to a VM's RAM, and only to that VM's. */
static void test_ram_hash(void **state)
{
	struct host h;
	struct gmem g0, g1;
	uint64_t fresh0, fresh1, one, hash;
	uint8_t *p;

	(void)state;
	assert_int_equal(host_init(&h, 96ull << 20, 16ull << 20), 0);
	assert_int_equal(gmem_init(&g0, &h.arena, 0, VM_RAM), 0);
	assert_int_equal(gmem_init(&g1, &h.arena, 1, VM_RAM), 0);
	fresh0 = host_ram_hash(&h, &g0);
	fresh1 = host_ram_hash(&h, &g1);
	assert_int_equal(host_ram_hash(&h, &g0), fresh0);

	p = gpa_ptr(&g0, 0x300000, 1);
	*p = 1;
	one = host_ram_hash(&h, &g0);
	assert_int_not_equal(one, fresh0);
	assert_int_equal(host_ram_hash(&h, &g1), fresh1);
	/* Position counts: the same byte one page on is another RAM. */
	*p = 0;
	*(uint8_t *)gpa_ptr(&g0, 0x301000, 1) = 1;
	assert_int_not_equal(host_ram_hash(&h, &g0), one);
	*(uint8_t *)gpa_ptr(&g0, 0x301000, 1) = 0;
	/* Content, not allocation: touched pages of zeroes hash as untouched. */
	memset(gpa_ptr(&g0, 0x400000, 0x10000), 0, 0x10000);
	assert_int_equal(host_ram_hash(&h, &g0), fresh0);

	/* One flipped bit in a full RAM, first and last page included. */
	for (uint64_t gpa = 0; gpa < VM_RAM; gpa += 8)
		*(uint64_t *)gpa_ptr(&g0, gpa, 8) = gpa * 0x9e3779b97f4a7c15ull;
	hash = host_ram_hash(&h, &g0);
	p = gpa_ptr(&g0, VM_RAM - 1, 1);
	*p ^= 0x80;
	assert_int_not_equal(host_ram_hash(&h, &g0), hash);
	*p ^= 0x80;
	assert_int_equal(host_ram_hash(&h, &g0), hash);
	p = gpa_ptr(&g0, 0, 1);
	*p ^= 1;
	assert_int_not_equal(host_ram_hash(&h, &g0), hash);
	*p ^= 1;
	/* Two words swapped within a page. */
	{
		uint64_t *w = gpa_ptr(&g0, 0x5000, 16), t = w[0];

		w[0] = w[1];
		w[1] = t;
		assert_int_not_equal(host_ram_hash(&h, &g0), hash);
		w[1] = w[0];
		w[0] = t;
	}
	assert_int_equal(host_ram_hash(&h, &g0), hash);
	assert_int_equal(host_ram_hash(&h, &g1), fresh1);
	gmem_destroy(&g0);
	gmem_destroy(&g1);
	host_destroy(&h);
}

/* A full 256 MiB VM is hashed twice per run: it must stay cheap. */
static void test_ram_hash_speed(void **state)
{
	struct host h;
	struct gmem g;
	struct timespec t0, t1;
	double secs;

	(void)state;
	assert_int_equal(host_init(&h, (256ull + 32) << 20, 16ull << 20), 0);
	assert_int_equal(gmem_init(&g, &h.arena, 0, 256ull << 20), 0);
	memset(gpa_ptr(&g, 0, g.ranges[0].size), 0x6b, g.ranges[0].size);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	(void)host_ram_hash(&h, &g);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("hash of 256 MiB of touched RAM: %.3f s\n", secs);
	/* Generous for a shared machine and the sanitizer build; typically
	 * well under a tenth of this. */
	assert_true(secs < 2.0);
	gmem_destroy(&g);
	host_destroy(&h);
}

static void run_config_two(struct run_config *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->nr_vms = 2;
	rc->kvm_path = "/dev/kvm";
	for (unsigned i = 0; i < 2; i++) {
		rc->vms[i].mem_size = VM_RAM;
		rc->vms[i].cpus = 1;
		rc->vms[i].after = -1;
		rc->vms[i].kernel_path = "unused.elf";
	}
}

static char *check_ram_report(struct vmset *s, unsigned *changed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	*changed = vmset_check_ram(s, f);
	fclose(f);
	return text;
}

/* The detector itself: a write into a stopped VM's RAM is reported, with
 * the host-error status; the other VM's is not. */
static void test_vmset_ram_changed_detector(void **state)
{
	struct run_config rc;
	struct vmset *s = calloc(1, sizeof(*s));
	char *text, *stats = NULL;
	size_t len = 0;
	unsigned changed;
	FILE *f;

	(void)state;
	assert_non_null(s);
	run_config_two(&rc);
	assert_int_equal(vmset_create(s, &rc), 0);
	assert_int_equal(s->nr, 2);
	/* Each VM its own region of the one arena, with its own owner id. */
	assert_ptr_equal(s->vms[0]->arena, &s->host.arena);
	assert_ptr_equal(s->vms[1]->arena, &s->host.arena);
	assert_int_equal(s->vms[0]->gmem.vm_id, 0);
	assert_int_equal(s->vms[1]->gmem.vm_id, 1);
	assert_int_equal(arena_range_owner(&s->host.arena, s->vms[1]->gmem.ranges[0].hpa, VM_RAM), 1);

	*(uint32_t *)gpa_ptr(&s->vms[0]->gmem, 0x1000, 4) = 0xfeedface;
	*(uint32_t *)gpa_ptr(&s->vms[1]->gmem, 0x1000, 4) = 0xcafe;
	machine_seal_ram(s->vms[0]);     /* what the stop of each VM does */
	machine_seal_ram(s->vms[1]);
	text = check_ram_report(s, &changed);
	assert_int_equal(changed, 0);
	assert_string_equal(text, "");
	free(text);
	assert_int_equal(vmset_exit_status(s), 0);

	/* Something writes vm0's RAM after it stopped. */
	*(uint8_t *)gpa_ptr(&s->vms[0]->gmem, 0x7ff000, 1) = 1;
	text = check_ram_report(s, &changed);
	assert_int_equal(changed, 1);
	assert_non_null(strstr(text, "warden: vm0 RAM changed after it stopped"));
	assert_null(strstr(text, "vm1"));
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text));   /* one line */
	free(text);
	assert_int_equal(vmset_exit_status(s), WARDEN_EXIT_HOST);

	f = open_memstream(&stats, &len);
	assert_non_null(f);
	vmset_print_stats(s, f);
	fclose(f);
	assert_non_null(strstr(stats, "warden stats: vm0\n"));
	assert_non_null(strstr(stats, "warden stats: vm1\n"));
	assert_non_null(strstr(stats, "  RAM after stop       CHANGED (hash 0x"));
	assert_non_null(strstr(stats, "  RAM after stop       unchanged (hash 0x"));
	assert_true(strstr(stats, "CHANGED") < strstr(stats, "warden stats: vm1"));
	assert_non_null(strstr(stats, "hypervisor canaries  intact"));
	free(stats);

	/* A VM that never stopped (never sealed) is not compared. */
	s->vms[1]->ram_sealed = false;
	*(uint8_t *)gpa_ptr(&s->vms[1]->gmem, 0x1000, 1) = 7;
	text = check_ram_report(s, &changed);
	assert_int_equal(changed, 1);
	assert_null(strstr(text, "vm1"));
	free(text);
	vmset_destroy(s);
	free(s);
}

static void test_exit_status_rules(void **state)
{
	struct vmset s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.nr = 1;
	s.status[0] = 11;
	assert_int_equal(vmset_exit_status(&s), 11);
	s.nr = 3;
	s.status[0] = 0;
	s.status[1] = 11;
	s.status[2] = 1;
	assert_int_equal(vmset_exit_status(&s), 11);
	s.status[1] = 0;
	assert_int_equal(vmset_exit_status(&s), 1);
	s.status[2] = 0;
	assert_int_equal(vmset_exit_status(&s), 0);
	s.ram_changed = true;
	assert_int_equal(vmset_exit_status(&s), WARDEN_EXIT_HOST);
}

static char *read_all(int fd)
{
	static char buf[65536];
	size_t n = 0;
	ssize_t r;

	while ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return buf;
}

/* Lines of several consoles come out whole, each with its prefix. */
static void test_conmux_lines(void **state)
{
	struct conmux *mx;
	int out[2], a, b;
	char longline[CONMUX_LINE_MAX + 10];
	char *text;

	(void)state;
	assert_int_equal(pipe(out), 0);
	assert_int_equal(fcntl(out[0], F_SETPIPE_SZ, 1 << 20) > 0, 1);
	assert_int_equal(conmux_create(out[1], &mx), 0);
	a = conmux_add(mx, "[vm0] ");
	b = conmux_add(mx, "[vm1] ");
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(conmux_start(mx), 0);
	assert_int_equal(write(a, "one-", 4), 4);
	assert_int_equal(write(b, "other line\n", 11), 11);
	usleep(20000);          /* the thread sees a half line and must keep it */
	assert_int_equal(write(a, "two\nlast", 8), 8);
	conmux_drain(mx, 0);   /* vm0 stopped: its last half line is ended */
	memset(longline, 'x', sizeof(longline));
	assert_int_equal(write(b, longline, sizeof(longline)), (ssize_t)sizeof(longline));
	close(a);
	close(b);
	conmux_destroy(mx);
	close(out[1]);
	text = read_all(out[0]);
	close(out[0]);
	assert_non_null(strstr(text, "[vm0] one-two\n"));
	assert_non_null(strstr(text, "[vm1] other line\n"));
	assert_non_null(strstr(text, "[vm0] last\n"));
	assert_non_null(strstr(text, "\n[vm1] xxxxxxxxxx\n"));   /* the over-long line's tail */
	/* Every line starts with a prefix: nothing landed mid-line. */
	for (char *line = text; *line; line = strchr(line, '\n') + 1)
		assert_true(!strncmp(line, "[vm0] ", 6) || !strncmp(line, "[vm1] ", 6));
}

int main(void)
{
	/* Faults are expected here: keep guest errors quiet. */
	log_threshold = LOG_ERROR;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_domains_isolated),
		cmocka_unit_test(test_ram_hash),
		cmocka_unit_test(test_ram_hash_speed),
		cmocka_unit_test(test_vmset_ram_changed_detector),
		cmocka_unit_test(test_exit_status_rules),
		cmocka_unit_test(test_conmux_lines),
	};
	return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
