/* ACPI fixed-hardware PM registers of the ICH9 LPC (q35), at the PM base
 * SeaBIOS programs on QEMU's q35 (0x600): PM1a event and control blocks,
 * the 3.579545 MHz PM timer and GPE0. Sleep type values are those of
 * QEMU's q35 DSDT (_S5 = 0), since the tables we give guests mirror it.
 *
 * The FADT that goes with it: PM1a_EVT_BLK 0x600 (len 4), PM1a_CNT_BLK
 * 0x604 (len 2), PM_TMR_BLK 0x608 (len 4, 24-bit: TMR_VAL_EXT clear),
 * GPE0_BLK 0x620 (len 16), SCI_INT 9, and SMI_CMD 0: there is no SMM, so
 * the machine is always in ACPI mode and SCI_EN is set from reset. */
#ifndef WARDEN_DEVICES_ACPI_PM_H
#define WARDEN_DEVICES_ACPI_PM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"
#include "base/irq.h"
#include "base/power.h"

#define ACPI_PM_BASE          0x600
#define ACPI_PM_SIZE          0x80      /* ICH9 PMIO block */
#define ACPI_PM_SCI_IRQ       9
#define ACPI_PM_TIMER_HZ      3579545ull
#define ACPI_PM_TIMER_MASK    0xffffffu /* 24-bit counter */

/* Offsets in the block (ICH9 datasheet 13.8.3, ACPI 6.x 4.8). */
#define ACPI_PM1_STS          0x00
#define ACPI_PM1_EN           0x02
#define ACPI_PM1_CNT          0x04
#define ACPI_PM_TMR           0x08
#define ACPI_GPE0_STS         0x20
#define ACPI_GPE0_EN          0x28
#define ACPI_GPE0_HALF        8         /* bytes of STS (and of EN) */
#define ACPI_SMI_EN           0x30

/* PM1_STS / PM1_EN bits. */
#define ACPI_PM1_TMR          (1u << 0)
#define ACPI_PM1_BM_STS       (1u << 4)
#define ACPI_PM1_GBL          (1u << 5)
#define ACPI_PM1_PWRBTN       (1u << 8)
#define ACPI_PM1_RTC          (1u << 10)
#define ACPI_PM1_PCIEXP_WAKE  (1u << 14)
#define ACPI_PM1_WAK_STS      (1u << 15)
#define ACPI_PM1_STS_MASK     0xc531u
#define ACPI_PM1_EN_MASK      0x4521u
/* PM1_CNT bits. */
#define ACPI_PM1_CNT_SCI_EN   (1u << 0)
#define ACPI_PM1_CNT_BM_RLD   (1u << 1)
#define ACPI_PM1_CNT_GBL_RLS  (1u << 2)   /* write-only */
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK  (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN   (1u << 13)  /* write-only */
/* SLP_TYP values of QEMU's q35 DSDT. */
#define ACPI_SLP_TYP_S5       0
#define ACPI_SLP_TYP_S3       1
#define ACPI_SLP_TYP_S4       2         /* QEMU's default s4_val */

struct acpi_pm {
	pthread_mutex_t lock;
	bool inited;
	uint16_t base;                  /* set by acpi_pm_attach() */
	struct power_ctl power;
	struct irq_line sci;
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	uint8_t gpe0_sts[ACPI_GPE0_HALF], gpe0_en[ACPI_GPE0_HALF];
	uint32_t smi_en;
	int64_t tmr_offset;             /* ticks added to the CLOCK_MONOTONIC count */
	int sci_level;
	uint64_t sleep_requests;
};

/* power: copied (NULL: power-off requests are logged only). */
int acpi_pm_init(struct acpi_pm *pm, const struct power_ctl *power);
/* Claims ACPI_PM_SIZE ports from base (ACPI_PM_BASE). */
int acpi_pm_attach(struct acpi_pm *pm, struct bus *pio, uint16_t base);
/* Wires SCI (IOAPIC pin ACPI_PM_SCI_IRQ, level) once the vmm has it;
 * without it SCI events are only visible in PM1_STS/GPE0_STS. */
void acpi_pm_set_sci(struct acpi_pm *pm, const struct irq_line *sci);
void acpi_pm_reset(struct acpi_pm *pm);
/* Versioned state (the PM timer carries on from its saved value). Returns
 * its size or -ENOSPC (buf == NULL: the size). */
int acpi_pm_save(const struct acpi_pm *pm, void *buf, size_t len);
int acpi_pm_load(struct acpi_pm *pm, const void *buf, size_t len);
/* Safe on a zeroed or failed-to-init device. */
void acpi_pm_destroy(struct acpi_pm *pm);

/* The PM timer as the guest reads it (24 bits). */
uint32_t acpi_pm_timer(struct acpi_pm *pm);
/* A power-button press (the vmm's graceful shutdown): sets PWRBTN_STS.
 * 0 if an SCI went out, -ENODEV if the guest has not enabled the button
 * (no ACPI OS listening): the caller then stops the machine itself. */
int acpi_pm_power_button(struct acpi_pm *pm);
/* Sets GPE0 status bit gpe (0..63), raising SCI if enabled; -EINVAL. */
int acpi_pm_raise_gpe(struct acpi_pm *pm, unsigned gpe);

#endif
