#include "vmm/machine_viommu.h"
#include "vmm/acpi_dmar.h"
#include "vmm/machine.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool machine_viommu_enabled(const struct machine *m)
{
	return m->cfg.viommu != VM_VIOMMU_OFF;
}

/* The guest names its devices on bus 0; the host unit knows them on this
 * VM's own bus. Anything else is no device of this VM. */
static int host_sid_of(const struct machine *m, uint16_t guest_sid, uint16_t *host_sid)
{
	if (VTD_SID_BUS(guest_sid) != 0)
		return -ENODEV;
	*host_sid = host_vm_sid(m->index, (uint8_t)VTD_SID_DEVFN(guest_sid));
	return 0;
}

/* Nested mode's second stage: the guest unit's output (a GPA) through the
 * VM's host domain, looked up with the device's host source-id. */
static int stage2_translate(void *opaque, uint16_t sid, uint64_t gpa, unsigned req, uint64_t *out,
			    uint64_t *contig)
{
	struct machine_viommu *mv = opaque;
	struct machine *m = mv->m;
	struct vtd_xlate x;
	uint16_t host_sid;

	if (host_sid_of(m, sid, &host_sid) < 0)
		return -ENODEV;
	if (vtd_translate(&m->iommu->unit, host_sid, gpa, req & (IOPT_RW | VTD_REQ_PROBE), &x))
		return -EFAULT;
	*out = x.addr;
	*contig = x.page_size - (gpa & (x.page_size - 1));
	return 0;
}

static void hook_iotlb(void *opaque, enum viommu_inv_gran gran, uint16_t did, uint64_t addr,
		       uint64_t size)
{
	struct machine_viommu *mv = opaque;
	int g = gran == VIOMMU_INV_PAGE ? 2 : gran == VIOMMU_INV_DOMAIN ? 1 : 0;

	if (mv->shadow_ready)
		viommu_shadow_iotlb_invalidated(&mv->shadow, g, did, addr, size);
}

static void hook_context(void *opaque)
{
	struct machine_viommu *mv = opaque;

	if (mv->shadow_ready)
		viommu_shadow_context_changed(&mv->shadow);
}

/* A register write's hooks have all run: the shadow's entry budget, shared
 * by them, renews. */
static void hook_pass_done(void *opaque)
{
	struct machine_viommu *mv = opaque;

	if (mv->shadow_ready)
		viommu_shadow_pass_done(&mv->shadow);
}

/* IRTEs changed: every route derived from one (IOAPIC pins, irqfd
 * vectors) is recomputed from the table as it is now. */
static void hook_irq(void *opaque)
{
	struct machine_viommu *mv = opaque;

	__atomic_add_fetch(&mv->irq_refreshes, 1, __ATOMIC_RELAXED);
	machine_irq_routes_refresh(mv->m);
}

static int event_msi_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	(void)rid;
	return machine_deliver_msi(opaque, addr, data);
}

int machine_viommu_create(struct machine *m)
{
	struct machine_viommu *mv;
	struct viommu_cfg vc;
	int ret;

	if (!machine_viommu_enabled(m))
		return 0;
	mv = calloc(1, sizeof(*mv));
	if (!mv)
		return -ENOMEM;
	m->viommu = mv;
	mv->m = m;
	/* Stage 2 of both modes is the VM's host domain: exactly its RAM. */
	ret = machine_host_domain(m);
	if (ret < 0)
		return ret;
	mv->stage2 = (struct vtd_stage2){ stage2_translate, mv };
	mv->hooks = (struct viommu_hooks){ hook_iotlb, hook_context, hook_irq, hook_pass_done };
	mv->event_msi = (struct msi_sink){ event_msi_send, m };
	vc = (struct viommu_cfg){
		.mode = m->cfg.viommu == VM_VIOMMU_SHADOW ? VIOMMU_MODE_SHADOW : VIOMMU_MODE_NESTED,
		.gmem = &m->gmem,
		.msi = &mv->event_msi,
		.ioapic_sid = MACHINE_IOAPIC_RID,
		.mgaw = 48,
		.stage2 = m->cfg.viommu == VM_VIOMMU_NESTED ? &mv->stage2 : NULL,
		.hooks = &mv->hooks,
		.hooks_opaque = mv,
	};
	ret = viommu_init(&mv->v, &vc);
	if (ret < 0) {
		log_error("%svIOMMU: %s", m->tag, strerror(-ret));
		return ret;
	}
	mv->v_ready = true;
	ret = viommu_attach(&mv->v, &m->mmio, MACHINE_VTD_BASE);
	if (ret < 0) {
		log_error("%svIOMMU registers at 0x%llx: %s", m->tag,
			  (unsigned long long)MACHINE_VTD_BASE, strerror(-ret));
		return ret;
	}
	if (m->cfg.viommu == VM_VIOMMU_SHADOW) {
		struct viommu_shadow_cfg sc = {
			.guest = viommu_unit(&mv->v), .host = m->iommu, .gmem = &m->gmem,
			.vm_id = m->gmem.vm_id, .identity = m->domain, .passes = true,
		};

		ret = viommu_shadow_init(&mv->shadow, &sc);
		if (ret < 0) {
			log_error("%svIOMMU shadow: %s", m->tag, strerror(-ret));
			return ret;
		}
		mv->shadow_ready = true;
	}
	return 0;
}

void machine_viommu_destroy(struct machine *m)
{
	struct machine_viommu *mv = m->viommu;

	if (!mv)
		return;
	/* Shadow domains detach their devices; the VM's own domain (the
	 * identity and nested stage 2) goes with the machine's. */
	if (mv->shadow_ready)
		viommu_shadow_destroy(&mv->shadow);
	if (mv->v_ready)
		viommu_destroy(&mv->v);
	free(mv);
	m->viommu = NULL;
}

int machine_viommu_dma_init(struct machine *m, struct dma_as *as, uint16_t guest_sid)
{
	struct machine_viommu *mv = m->viommu;
	uint16_t host_sid;
	int ret;

	if (!mv) {
		dma_as_init_direct(as, &m->gmem, guest_sid);
		return 0;
	}
	ret = host_sid_of(m, guest_sid, &host_sid);
	if (ret < 0)
		return ret;
	if (mv->shadow_ready) {
		ret = viommu_shadow_add_device(&mv->shadow, guest_sid, host_sid);
		if (ret < 0)
			goto err;
		dma_as_init_shadow(as, &m->iommu->unit, host_sid, viommu_unit(&mv->v), guest_sid,
				   m->arena);
		return 0;
	}
	/* Nested: the second stage looks the device up on the host unit. */
	ret = iommu_domain_attach(m->domain, host_sid, 0);
	if (ret < 0)
		goto err;
	dma_as_init_nested(as, viommu_unit(&mv->v), &m->iommu->unit, m->arena, guest_sid);
	return 0;
err:
	log_error("%s" SID_FMT " behind the vIOMMU: %s", m->tag, SID_ARGS(guest_sid), strerror(-ret));
	return ret;
}

int machine_viommu_remap(struct machine *m, uint16_t guest_sid, uint64_t *addr, uint32_t *data,
			 bool probe)
{
	struct viommu_irq out;
	int ret;

	if (!m->viommu)
		return 0;
	ret = probe ? viommu_irq_lookup(&m->viommu->v, guest_sid, *addr, *data, &out)
		    : viommu_irq_remap(&m->viommu->v, guest_sid, *addr, *data, &out);
	if (ret < 0)
		return ret;
	*addr = out.addr;
	*data = out.data;
	return 0;
}

int machine_viommu_acpi(struct acpi_builder *b, void *opaque)
{
	struct acpi_dmar_config dc = {
		.haw = VIOMMU_HAW,
		.intr_remap = true,
		.x2apic_opt_out = true,   /* no EIM: xAPIC destinations only */
		.reg_base = MACHINE_VTD_BASE,
		.ioapic_id = 0,
		.ioapic_sid = MACHINE_IOAPIC_RID,
	};

	(void)opaque;
	return acpi_build_dmar(b, &dc);
}

void machine_viommu_print_stats(struct machine *m, FILE *out)
{
	struct machine_viommu *mv = m->viommu;
	struct viommu_stats s;
	struct vtd_fault_stats fs;

	if (!mv || !mv->v_ready)
		return;
	viommu_stats_get(&mv->v, &s);
	vtd_fault_stats_get(viommu_unit(&mv->v), &fs);
	fprintf(out, "  viommu               %s, translation %s\n",
		m->cfg.viommu == VM_VIOMMU_SHADOW ? "shadow" : "nested",
		viommu_translation_enabled(&mv->v) ? "on" : "off");
	fprintf(out, "    invalidations      context %llu, iotlb global %llu domain %llu page %llu, "
		"iec %llu (%llu by register, %llu queued descriptors, %llu waits)\n",
		(unsigned long long)(s.inv_context_global + s.inv_context_domain + s.inv_context_device),
		(unsigned long long)s.inv_iotlb_global, (unsigned long long)s.inv_iotlb_domain,
		(unsigned long long)s.inv_iotlb_page, (unsigned long long)s.inv_iec,
		(unsigned long long)s.inv_by_register, (unsigned long long)s.qi_descriptors,
		(unsigned long long)s.qi_waits);
	fprintf(out, "    interrupts         %llu remapped, %llu blocked, %llu passed (IR off / CFI), "
		"%llu route refreshes\n", (unsigned long long)s.ir_remapped,
		(unsigned long long)s.ir_blocked, (unsigned long long)s.ir_passthrough,
		(unsigned long long)mv->irq_refreshes);
	fprintf(out, "    guest faults       %llu (recorded %llu, overflow %llu), %llu fault events\n",
		(unsigned long long)fs.total, (unsigned long long)fs.recorded,
		(unsigned long long)fs.dropped, (unsigned long long)s.fault_events);
	if (mv->shadow_ready) {
		struct viommu_shadow_stats ss;

		viommu_shadow_stats_get(&mv->shadow, &ss);
		fprintf(out, "    shadow             %llu syncs, %llu pages mapped, %llu unmapped, "
			"%llu refused, %llu domains, %.3f ms\n", (unsigned long long)ss.syncs,
			(unsigned long long)ss.pages_mapped, (unsigned long long)ss.pages_unmapped,
			(unsigned long long)ss.refused, (unsigned long long)ss.domains, ss.ns / 1e6);
	}
}
