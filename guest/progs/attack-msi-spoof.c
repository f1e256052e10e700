/* attack-msi-spoof: interrupt messages forged by the device. On x86 a
 * device's memory write to 0xFEE00000-0xFEEFFFFF is an interrupt request;
 * with interrupt remapping on (and Compatibility Format Interrupts off)
 * only remappable-format messages naming a present IRTE whose source-id
 * check the requester passes may become interrupts. With Warden's edu the
 * messages are DMA writes of the buffer into the window (the device puts
 * exactly that on the bus, with its own source-id). QEMU's edu cannot
 * address the window (28-bit DMA): there the attack cannot be mounted and
 * says so (outcome error). QEMU 7.2's intel-iommu would not pass it anyway:
 * it delivers compatibility-format messages with CFIS = 0 and records no
 * interrupt-remapping faults (vtd-selftest's "qemu-deviation" lines).
 *
 * Control: a remappable message naming IRTE 5 (vector 0x65, edu's
 * source-id) is delivered. Then, each of which must deliver nothing (every
 * vector 0x30-0xfd counts) and record its fault with edu's source-id:
 *   compatibility format, vector 0x66             -> 0x25
 *   remappable, IRTE 8 never written (not present) -> 0x22
 *   remappable, IRTE 9 names another source-id     -> 0x26
 *   remappable, index = table size (beyond it)     -> 0x21
 *   remappable, IRTE 5 but reserved data bits set  -> 0x20
 * The fault numbers are the VT-d specification's (rev 3+, table 26). */
#include "attack.h"

#define IRT_LOG2   8
#define IRTE_OK    5
#define IRTE_NP    8
#define IRTE_SID   9
#define VEC_OK     0x65
#define VEC_COMPAT 0x66
#define VEC_SID    0x69
#define WAIT_US    1000000ul

static struct attack A;

/* Puts one message on the bus from edu: the buffer's first dword, DMA-
 * written to addr. The edu result. */
static int send(struct attack *a, uint64_t addr, uint32_t data, char *how, size_t len)
{
	int r;

	memcpy((void *)a->stage, &data, 4);
	r = attack_dma_read(a, attack_stage_bus(a), 4);
	memset((void *)a->stage, 0xd5, ATTACK_PAGE);
	if (r)
		return r;
	r = attack_dma_write(a, addr, 4);
	attack_edu_str(a, r, how, len);
	return r;
}

static bool irq_within(uint64_t before, uint64_t us)
{
	for (uint64_t dl = now_ns() + us * 1000; attack_irqs == before && now_ns() < dl;)
		cpu_relax();
	return attack_irqs != before;
}

static int irte(struct attack *a, unsigned index, uint8_t vector, uint16_t sid)
{
	struct vtd_irte_cfg c = { .vector = vector, .dest = (uint8_t)lapic_id(), .svt = VTD_SVT_SID, .sid = sid };
	int r = vtd_irte_set(&a->unit, index, &c);

	return r ? attack_fail(a, "IRTE %u: %s: %s", index, vtd_err_name(r), a->unit.err) : 0;
}

static void spoof(struct attack *a, const char *step, uint64_t addr, uint32_t data, uint8_t reason,
		  unsigned *blocked)
{
	char how[64];
	uint64_t before = attack_irqs;

	vtd_fault_take(&a->unit, NULL, 0, NULL);
	int r = send(a, addr, data, how, sizeof(how));
	bool arrived = irq_within(before, ATTACK_QUIET_US);
	bool fault = attack_expect_fault(a, reason, ~0ul, false);
	bool refused = (r == EDU_E_DMA && (a->dev.dma_error & EDU_DMA_ERR_MSI));
	if (!arrived)
		(*blocked)++;
	attack_step(a, arrived ? ATTACK_BREACH : ATTACK_BLOCKED, step,
		    "message 0x%08lx data 0x%08x (%s): %lu interrupts in %lu ms, fault 0x%02x %s%s", addr, data, how,
		    attack_irqs - before, ATTACK_QUIET_US / 1000, reason, fault ? "recorded" : "NOT recorded",
		    refused ? "" : "; edu did not see the message refused");
}

static long body(struct attack *a)
{
	uint64_t addr;
	uint32_t data;
	unsigned blocked = 0;
	char how[64];
	int r;

	if (attack_open(a, ATTACK_QI))
		return -1;
	if (!a->wide)
		return attack_fail(a, "this edu cannot address the interrupt window (28-bit DMA addresses)");
	if ((r = vtd_ir_enable(&a->unit, IRT_LOG2)))
		return attack_fail(a, "interrupt remapping: %s: %s", vtd_err_name(r), a->unit.err);
	if (vtd_gsts(&a->unit) & (1u << 23))
		return attack_fail(a, "GSTS.CFIS is set: compatibility format would pass");
	/* Another function of edu's device: a source-id edu does not have. */
	uint16_t other = a->dev.bdf ^ 0x7;
	if (irte(a, IRTE_OK, VEC_OK, a->dev.bdf) || irte(a, IRTE_SID, VEC_SID, other))
		return -1;

	/* Control: the remapped message arrives, so silence below means
	 * blocked, not a dead path. */
	vtd_msi_remappable(IRTE_OK, &addr, &data);
	uint64_t before = attack_irqs;
	r = send(a, addr, data, how, sizeof(how));
	if (!irq_within(before, WAIT_US))
		return attack_fail(a, "control: remappable message 0x%lx (IRTE %u) was not delivered (%s)", addr,
				   IRTE_OK, how);
	printf("attack: %s: control: remappable message 0x%lx via IRTE %u delivered vector 0x%x (%s)\n", a->name,
	       addr, IRTE_OK, VEC_OK, how);

	spoof(a, "compatibility-format", RT_LAPIC_BASE | (uint64_t)(lapic_id() & 0xff) << 12, VEC_COMPAT,
	      VTD_FR_IR_COMPAT_BLOCKED, &blocked);
	vtd_msi_remappable(IRTE_NP, &addr, &data);
	spoof(a, "irte-not-present", addr, VEC_COMPAT, VTD_FR_IR_NOT_PRESENT, &blocked);
	vtd_msi_remappable(IRTE_SID, &addr, &data);
	spoof(a, "irte-of-another-source-id", addr, data, VTD_FR_IR_SID_MISMATCH, &blocked);
	vtd_msi_remappable(a->unit.irt_len, &addr, &data);
	spoof(a, "index-beyond-table", addr, VEC_COMPAT, VTD_FR_IR_INDEX_OVER, &blocked);
	vtd_msi_remappable(IRTE_OK, &addr, &data);
	spoof(a, "reserved-data-bits", addr, 0xffff0000u | VEC_COMPAT, VTD_FR_IR_REQ_RSVD, &blocked);
	if (a->err[0])
		return -1;
	attack_detail(a, "IR on, CFI off; %u of 5 messages DMA-written to 0xFEExxxxx delivered nothing; control "
		      "via IRTE %u delivered", blocked, IRTE_OK);
	return 0;
}

int main(void)
{
	return attack_run(&A, "msi-spoof", body);
}
