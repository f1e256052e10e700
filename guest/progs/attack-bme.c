/* attack-bme: DMA with Bus Master Enable off. The device is aimed at an
 * IOVA that is validly mapped, so the only thing in the way is the PCI
 * command register: with BME clear the function may not master the bus at
 * all. Expected: nothing moves in either direction, Warden's edu reports
 * "blocked" (not "fault": no translation is even attempted), no guest
 * fault is recorded and the host's fault counter does not move. On Warden
 * also a DMA write into the interrupt window (a valid-looking MSI) with
 * BME off: no interrupt arrives. Then BME goes back on and the same
 * transfer lands - the control that shows the mapping was good. */
#include "attack.h"

#define IOVA_BME 0x05000000ul
#define SEED     0xb3e0000000ul
#define VEC_BME  0x6b

static struct attack A;

static int arm_bme(struct attack *a, bool on)
{
	if (on)
		pci_command(a->dev.bdf, 0, RT_PCI_CMD_MASTER);
	else
		pci_command(a->dev.bdf, RT_PCI_CMD_MASTER, 0);
	return 0;
}

/* Warden's edu turns a DMA write into 0xFEExxxxx into interrupt messages
 * (one per dword); with BME off not even that may leave the device. */
static void message_with_bme_off(struct attack *a)
{
	uint32_t word = VEC_BME;        /* fixed, edge, vector VEC_BME */
	uint64_t addr = RT_LAPIC_BASE | (uint64_t)(lapic_id() & 0xff) << 12;
	char e[64];
	int r;

	memcpy((void *)a->stage, &word, 4);
	r = attack_dma_read(a, attack_stage_bus(a), 4);
	memset((void *)a->stage, 0xd5, ATTACK_PAGE);
	if (r) {
		attack_fail(a, "loading the message: %s", edu_err_name(r));
		return;
	}
	/* Control first: with BME on the message is delivered. */
	uint64_t before = attack_irqs, dl;
	r = attack_dma_write(a, addr, 4);
	for (dl = now_ns() + 1000000000ul; attack_irqs == before && now_ns() < dl;)
		cpu_relax();
	if (attack_irqs == before) {
		attack_fail(a, "control: a DMA-written MSI to 0x%lx with BME on was not delivered (%s)", addr,
			    edu_err_name(r));
		return;
	}
	before = attack_irqs;
	arm_bme(a, true);
	r = attack_dma_write(a, addr, 4);
	attack_edu_str(a, r, e, sizeof(e));
	for (dl = now_ns() + ATTACK_QUIET_US * 1000; attack_irqs == before && now_ns() < dl;)
		cpu_relax();
	arm_bme(a, false);
	bool reported = r == EDU_E_DMA && (a->dev.dma_error & EDU_DMA_ERR_BLOCKED);
	attack_step(a, attack_irqs != before ? ATTACK_BREACH : ATTACK_BLOCKED, "msi-write-bme-off",
		    "DMA of vector 0x%x to 0x%lx: %s; %lu interrupts in %lu ms%s", VEC_BME, addr, e,
		    attack_irqs - before, ATTACK_QUIET_US / 1000, reported ? "" : "; edu did not say blocked");
}

static long body(struct attack *a)
{
	uint64_t page, host = 0;
	int r;

	if (attack_open(a, 0))
		return -1;
	if (!(page = attack_alloc(a, ATTACK_PAGE, ATTACK_PAGE)))
		return -1;
	if ((r = vtd_map(&a->dom, IOVA_BME, page, ATTACK_PAGE, VTD_R | VTD_W)))
		return attack_fail(a, "map: %s: %s", vtd_err_name(r), a->unit.err);

	/* No fault expected: the transfer must never reach the unit. */
	struct attack_probe p = { .bus = IOVA_BME, .watch = true, .own = page, .seed = SEED, .arm = arm_bme };
	enum attack_verdict v = attack_probe(a, "dma-bme-off", &p, &host);
	if (a->err[0])
		return -1;
	bool edu_blocked = !a->dev.ext ||
			   ((a->probe_werr & EDU_DMA_ERR_BLOCKED) && (a->probe_rerr & EDU_DMA_ERR_BLOCKED));
	unsigned gfaults = a->probe_faults;
	/* A fault of either kind means the transfer reached translation. */
	attack_step(a, host || gfaults ? ATTACK_BREACH : ATTACK_BLOCKED, "no-translation",
		    "%lu host IOMMU faults, %u guest faults while BME was off", host, gfaults);

	/* Control: BME on, the same mapping works. */
	struct attack_probe on = { .bus = IOVA_BME, .watch = true, .own = page, .expect_land = true, .seed = SEED + 1 };
	if (attack_probe(a, "control-bme-on", &on, NULL) != ATTACK_CONTAINED && !a->err[0])
		return attack_fail(a, "control: with BME on the mapped IOVA 0x%lx did not work", IOVA_BME);
	if (a->err[0])
		return -1;

	if (a->dev.ext)
		message_with_bme_off(a);
	if (a->err[0])
		return -1;
	attack_detail(a, "BME off, edu aimed at mapped IOVA 0x%lx: %s, edu %s, %lu host and %u guest faults%s",
		      IOVA_BME, attack_verdict_name(v), !a->dev.ext ? "has no error register" :
		      edu_blocked ? "said blocked" : "did NOT say blocked", host,
		      gfaults, a->dev.ext ? "; a DMA-written MSI with BME off was not delivered" : "");
	return 0;
}

int main(void)
{
	return attack_run(&A, "bme", body);
}
