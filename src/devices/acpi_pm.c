/* ACPI PM registers (ICH9 PMIO). Accesses are taken apart into bytes, as
 * ACPI allows any access width to fixed hardware registers and firmware
 * uses several; only the PM timer needs one sample per access, so that a
 * 32-bit read sees a single instant. */
#include "devices/acpi_pm.h"
#include "base/log.h"
#include "base/snapshot.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* ---- Register definitions: see acpi_pm.h (shared with the ACPI tables) ---- */
#define ACPI_SCI_SOURCES (ACPI_PM1_TMR | ACPI_PM1_GBL | ACPI_PM1_PWRBTN | ACPI_PM1_RTC)
#define ACPI_PM1_CNT_RW  (ACPI_PM1_CNT_SCI_EN | ACPI_PM1_CNT_BM_RLD | ACPI_PM1_CNT_SLP_TYP_MASK)

static uint64_t acpi_pm_ticks_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Split so the product cannot overflow; monotonic in the input. */
	return (uint64_t)ts.tv_sec * ACPI_PM_TIMER_HZ +
	       (uint64_t)ts.tv_nsec * ACPI_PM_TIMER_HZ / 1000000000ull;
}

static uint64_t acpi_pm_ticks(const struct acpi_pm *pm)
{
	return acpi_pm_ticks_now() + (uint64_t)pm->tmr_offset;
}

/* Caller holds the lock; drives SCI under it so levels stay ordered. */
static void acpi_pm_update_sci(struct acpi_pm *pm)
{
	int level = 0;
	unsigned i;

	if (pm->pm1_cnt & ACPI_PM1_CNT_SCI_EN) {
		level = !!(pm->pm1_sts & pm->pm1_en & ACPI_SCI_SOURCES);
		for (i = 0; i < ACPI_GPE0_HALF && !level; i++)
			level = !!(pm->gpe0_sts[i] & pm->gpe0_en[i]);
	}
	if (level == pm->sci_level)
		return;
	pm->sci_level = level;
	irq_line_set(&pm->sci, level);
}

/* ---- Handlers ---- */

static uint8_t acpi_pm_read_byte(struct acpi_pm *pm, unsigned off, uint32_t tmr)
{
	switch (off) {
	case ACPI_PM1_STS:
	case ACPI_PM1_STS + 1:
		return (uint8_t)(pm->pm1_sts >> (8 * (off - ACPI_PM1_STS)));
	case ACPI_PM1_EN:
	case ACPI_PM1_EN + 1:
		return (uint8_t)(pm->pm1_en >> (8 * (off - ACPI_PM1_EN)));
	case ACPI_PM1_CNT:
	case ACPI_PM1_CNT + 1:
		return (uint8_t)(pm->pm1_cnt >> (8 * (off - ACPI_PM1_CNT)));
	case ACPI_PM_TMR ... ACPI_PM_TMR + 3:
		return (uint8_t)(tmr >> (8 * (off - ACPI_PM_TMR)));
	case ACPI_GPE0_STS ... ACPI_GPE0_STS + ACPI_GPE0_HALF - 1:
		return pm->gpe0_sts[off - ACPI_GPE0_STS];
	case ACPI_GPE0_EN ... ACPI_GPE0_EN + ACPI_GPE0_HALF - 1:
		return pm->gpe0_en[off - ACPI_GPE0_EN];
	case ACPI_SMI_EN ... ACPI_SMI_EN + 3:
		return (uint8_t)(pm->smi_en >> (8 * (off - ACPI_SMI_EN)));
	}
	/* Reserved and unmodelled (TCO, SMI_STS, ...) registers read 0. */
	return 0;
}

/* Returns a sleep type to act on once the lock is dropped, or -1. */
static int acpi_pm_write_byte(struct acpi_pm *pm, unsigned off, uint8_t val)
{
	unsigned shift;
	uint16_t v16;

	switch (off) {
	case ACPI_PM1_STS:
	case ACPI_PM1_STS + 1:
		shift = 8 * (off - ACPI_PM1_STS);
		pm->pm1_sts &= ~(((uint16_t)val << shift) & ACPI_PM1_STS_MASK);  /* W1C */
		return -1;
	case ACPI_PM1_EN:
	case ACPI_PM1_EN + 1:
		shift = 8 * (off - ACPI_PM1_EN);
		pm->pm1_en = (pm->pm1_en & ~(0xffu << shift)) |
			     (((uint16_t)val << shift) & ACPI_PM1_EN_MASK);
		return -1;
	case ACPI_PM1_CNT:
	case ACPI_PM1_CNT + 1:
		shift = 8 * (off - ACPI_PM1_CNT);
		v16 = (uint16_t)val << shift;
		pm->pm1_cnt = (pm->pm1_cnt & ~(0xffu << shift)) | (v16 & ACPI_PM1_CNT_RW);
		if (v16 & ACPI_PM1_CNT_SLP_EN)
			return (v16 & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
		return -1;
	case ACPI_GPE0_STS ... ACPI_GPE0_STS + ACPI_GPE0_HALF - 1:
		pm->gpe0_sts[off - ACPI_GPE0_STS] &= ~val;                       /* W1C */
		return -1;
	case ACPI_GPE0_EN ... ACPI_GPE0_EN + ACPI_GPE0_HALF - 1:
		pm->gpe0_en[off - ACPI_GPE0_EN] = val;
		return -1;
	case ACPI_SMI_EN ... ACPI_SMI_EN + 3:
		/* Kept for firmware that reads it back; there is no SMM. */
		shift = 8 * (off - ACPI_SMI_EN);
		pm->smi_en = (pm->smi_en & ~(0xffu << shift)) | ((uint32_t)val << shift);
		return -1;
	}
	/* Read-only (the PM timer), reserved and unmodelled bytes. */
	return -1;
}

static void acpi_pm_pio_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct acpi_pm *pm = opaque;
	uint64_t v = 0;
	uint32_t tmr;
	unsigned i;

	pthread_mutex_lock(&pm->lock);
	tmr = (uint32_t)acpi_pm_ticks(pm) & ACPI_PM_TIMER_MASK;
	for (i = 0; i < len && i < 8; i++) {
		uint64_t off = offset + i;
		uint8_t b = off < ACPI_PM_SIZE ? acpi_pm_read_byte(pm, (unsigned)off, tmr) : 0xff;

		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&pm->lock);
	*data = v;
}

static void acpi_pm_pio_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct acpi_pm *pm = opaque;
	int slp_typ = -1;
	unsigned i;

	if (offset < ACPI_PM_TMR + 4 && offset + len > ACPI_PM_TMR)
		guest_error("acpi_pm: %u-byte write of 0x%llx at offset 0x%llx hits the "
			    "read-only PM timer", len, (unsigned long long)data,
			    (unsigned long long)offset);
	pthread_mutex_lock(&pm->lock);
	for (i = 0; i < len && i < 8; i++) {
		uint64_t off = offset + i;
		int t;

		if (off >= ACPI_PM_SIZE)
			break;
		t = acpi_pm_write_byte(pm, (unsigned)off, (uint8_t)(data >> (8 * i)));
		if (t >= 0)
			slp_typ = t;
	}
	acpi_pm_update_sci(pm);
	if (slp_typ >= 0)
		pm->sleep_requests++;
	pthread_mutex_unlock(&pm->lock);

	if (slp_typ == ACPI_SLP_TYP_S5) {
		log_info("acpi_pm: guest entered S5 (soft off)");
		power_request_exit(&pm->power, WARDEN_EXIT_CLEAN, "acpi-s5");
	} else if (slp_typ >= 0) {
		/* S3/S4 would need wake support; the DSDT should not offer
		 * them. The guest finds itself still running, as if the
		 * transition had failed. */
		guest_error("acpi_pm: sleep type %d (%s) is not supported; ignored", slp_typ,
			    slp_typ == ACPI_SLP_TYP_S3 ? "_S3 in QEMU's DSDT" :
			    slp_typ == ACPI_SLP_TYP_S4 ? "_S4 in QEMU's DSDT" : "undefined");
	}
}

static const struct bus_ops acpi_pm_ops = {
	.read = acpi_pm_pio_read,
	.write = acpi_pm_pio_write,
};

/* ---- Host side ---- */

uint32_t acpi_pm_timer(struct acpi_pm *pm)
{
	uint32_t v;

	pthread_mutex_lock(&pm->lock);
	v = (uint32_t)acpi_pm_ticks(pm) & ACPI_PM_TIMER_MASK;
	pthread_mutex_unlock(&pm->lock);
	return v;
}

int acpi_pm_power_button(struct acpi_pm *pm)
{
	int ret;

	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts |= ACPI_PM1_PWRBTN;
	acpi_pm_update_sci(pm);
	ret = pm->sci_level && (pm->pm1_en & ACPI_PM1_PWRBTN) ? 0 : -ENODEV;
	pthread_mutex_unlock(&pm->lock);
	return ret;
}

int acpi_pm_raise_gpe(struct acpi_pm *pm, unsigned gpe)
{
	if (gpe >= 8 * ACPI_GPE0_HALF)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->gpe0_sts[gpe / 8] |= (uint8_t)(1u << (gpe % 8));
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

/* ---- Reset ---- */

static void acpi_pm_reset_locked(struct acpi_pm *pm)
{
	pm->pm1_sts = 0;
	pm->pm1_en = 0;
	/* Always in ACPI mode: there is no SMI_CMD to switch into it. */
	pm->pm1_cnt = ACPI_PM1_CNT_SCI_EN;
	memset(pm->gpe0_sts, 0, sizeof(pm->gpe0_sts));
	memset(pm->gpe0_en, 0, sizeof(pm->gpe0_en));
	pm->smi_en = 0;
	/* The PM timer is free-running from power-on; reset does not stop it. */
	acpi_pm_update_sci(pm);
}

void acpi_pm_reset(struct acpi_pm *pm)
{
	pthread_mutex_lock(&pm->lock);
	acpi_pm_reset_locked(pm);
	pthread_mutex_unlock(&pm->lock);
}

/* ---- Save / load ---- */

#define ACPI_PM_STATE_MAGIC   0x4d504341u   /* "ACPM" */
#define ACPI_PM_STATE_VERSION 1

struct acpi_pm_state_v1 {
	struct snapshot_hdr hdr;
	uint16_t pm1_sts, pm1_en, pm1_cnt, reserved;
	uint32_t smi_en;
	uint8_t gpe0_sts[ACPI_GPE0_HALF], gpe0_en[ACPI_GPE0_HALF];
	uint64_t timer_ticks;           /* full count at save time */
};

int acpi_pm_save(const struct acpi_pm *pm, void *buf, size_t len)
{
	struct acpi_pm *p = (struct acpi_pm *)pm;   /* the lock is not state */
	struct acpi_pm_state_v1 st;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), ACPI_PM_STATE_MAGIC,
				  ACPI_PM_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	st.pm1_sts = p->pm1_sts;
	st.pm1_en = p->pm1_en;
	st.pm1_cnt = p->pm1_cnt;
	st.smi_en = p->smi_en;
	memcpy(st.gpe0_sts, p->gpe0_sts, sizeof(st.gpe0_sts));
	memcpy(st.gpe0_en, p->gpe0_en, sizeof(st.gpe0_en));
	st.timer_ticks = acpi_pm_ticks(p);
	pthread_mutex_unlock(&p->lock);
	return snapshot_save_end(buf, &st.hdr);
}

int acpi_pm_load(struct acpi_pm *pm, const void *buf, size_t len)
{
	struct acpi_pm_state_v1 st;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), ACPI_PM_STATE_MAGIC,
			    ACPI_PM_STATE_VERSION);
	if (ret)
		return ret;
	if ((st.pm1_sts & ~ACPI_PM1_STS_MASK) || (st.pm1_en & ~ACPI_PM1_EN_MASK) ||
	    (st.pm1_cnt & ~ACPI_PM1_CNT_RW))
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	pm->pm1_sts = st.pm1_sts;
	pm->pm1_en = st.pm1_en;
	pm->pm1_cnt = st.pm1_cnt;
	pm->smi_en = st.smi_en;
	memcpy(pm->gpe0_sts, st.gpe0_sts, sizeof(pm->gpe0_sts));
	memcpy(pm->gpe0_en, st.gpe0_en, sizeof(pm->gpe0_en));
	/* Carry on counting from the saved value on this host's clock. */
	pm->tmr_offset = (int64_t)(st.timer_ticks - acpi_pm_ticks_now());
	acpi_pm_update_sci(pm);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

/* ---- Registration ---- */

int acpi_pm_init(struct acpi_pm *pm, const struct power_ctl *power)
{
	int ret;

	memset(pm, 0, sizeof(*pm));
	ret = -pthread_mutex_init(&pm->lock, NULL);
	if (ret)
		return ret;
	if (power)
		pm->power = *power;
	/* The count starts near 0 at power-on, like a freshly reset ICH9. */
	pm->tmr_offset = -(int64_t)acpi_pm_ticks_now();
	acpi_pm_reset_locked(pm);
	pm->inited = true;
	return 0;
}

int acpi_pm_attach(struct acpi_pm *pm, struct bus *pio, uint16_t base)
{
	int ret;

	if ((uint32_t)base + ACPI_PM_SIZE > 0x10000)
		return -EINVAL;
	pm->base = base;
	ret = bus_register(pio, base, ACPI_PM_SIZE, &acpi_pm_ops, pm, "acpi-pm");
	if (ret)
		log_error("acpi_pm: registering ports 0x%x-0x%x: %s", base,
			  base + ACPI_PM_SIZE - 1, strerror(-ret));
	return ret;
}

void acpi_pm_set_sci(struct acpi_pm *pm, const struct irq_line *sci)
{
	pthread_mutex_lock(&pm->lock);
	pm->sci = sci ? *sci : (struct irq_line){ 0 };
	/* The new line starts from the current state. */
	if (pm->sci_level)
		irq_line_set(&pm->sci, 1);
	pthread_mutex_unlock(&pm->lock);
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	if (!pm->inited)
		return;
	pthread_mutex_destroy(&pm->lock);
	pm->inited = false;
}
