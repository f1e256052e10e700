/* The edu device on a real PCI host and MMIO bus, its thread running:
 * identity and config space, identification and liveness registers,
 * factorials (values, the busy bit, the completion interrupt), interrupt
 * raise/acknowledge over INTx and MSI-X, DMA in both directions through a
 * direct DMA address space over an arena, Bus Master Enable gating, faults
 * outside RAM with the arena's canaries intact, the interrupt-window hook,
 * refused counts and windows, access-size rules, reset, and save/load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sched.h>
#include <time.h>
#include <cmocka.h>

#include "devices/edu.h"
#include "iommu/dma.h"
#include "base/log.h"

#define MiB         (1ull << 20)
#define T_RAM       (64 * MiB)
#define T_ECAM      0xb0000000ull
#define T_DEVFN     PCI_DEVFN(4, 0)
#define T_BDF       PCI_BDF(0, T_DEVFN)
#define T_GSI_BASE  16
#define T_MSI_DATA  0x45
#define T_SRC       0x100000ull        /* guest RAM used by the tests */
#define T_DST       0x200000ull
#define T_OUTSIDE   0x10000000ull      /* above the 64 MiB of RAM */

struct tfx {
	struct arena a;
	struct gmem g;
	struct dma_as as;
	struct bus pio, mmio;
	struct pci_host host;
	struct msi_sink msi, raw;
	struct edu e;
	uint64_t bar0;
	/* MSI-X messages through the PCI core */
	unsigned msis;
	uint64_t msi_addr;
	uint32_t msi_data;
	uint16_t msi_rid;
	/* the raw interrupt-window hook */
	unsigned raws;
	uint64_t raw_addr[8];
	uint32_t raw_data[8];
	uint16_t raw_rid;
	int raw_ret;
	/* INTx levels by GSI */
	int level[24];
	unsigned level_changes;
};

static struct tfx tf;

/* ---- Fakes ---- */

static int t_msi_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct tfx *f = opaque;

	f->msi_addr = addr;
	f->msi_data = data;
	f->msi_rid = rid;
	__atomic_add_fetch(&f->msis, 1, __ATOMIC_RELEASE);
	return 0;
}

static int t_raw_send(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct tfx *f = opaque;

	if (f->raw_ret)
		return f->raw_ret;
	if (f->raws < 8) {
		f->raw_addr[f->raws] = addr;
		f->raw_data[f->raws] = data;
	}
	f->raw_rid = rid;
	f->raws++;
	return 0;
}

static void t_intx_set(void *opaque, unsigned pin, int level)
{
	struct tfx *f = opaque;

	assert_true(pin < 24);
	__atomic_store_n(&f->level[pin], level, __ATOMIC_RELEASE);
	__atomic_add_fetch(&f->level_changes, 1, __ATOMIC_RELEASE);
}

/* Slot 4, INTA: GSI 16 + ((4 + 1 - 1) & 3) = 16. */
static int t_intx(struct tfx *f)
{
	return __atomic_load_n(&f->level[T_GSI_BASE], __ATOMIC_ACQUIRE);
}

/* ---- Helpers ---- */

static uint64_t t_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t t_rd(struct tfx *f, uint64_t off, unsigned len)
{
	uint64_t v;

	assert_true(bus_read(&f->mmio, f->bar0 + off, &v, len));
	return v;
}

static uint32_t t_r32(struct tfx *f, uint64_t off)
{
	return (uint32_t)t_rd(f, off, 4);
}

static void t_wr(struct tfx *f, uint64_t off, uint64_t v, unsigned len)
{
	assert_true(bus_write(&f->mmio, f->bar0 + off, v, len));
}

static void t_w32(struct tfx *f, uint64_t off, uint32_t v)
{
	t_wr(f, off, v, 4);
}

static void t_w64(struct tfx *f, uint64_t off, uint64_t v)
{
	t_wr(f, off, v, 8);
}

static void *t_gp(struct tfx *f, uint64_t gpa, uint64_t len)
{
	void *p = gmem_gpa_to_ptr(&f->g, gpa, len);

	assert_non_null(p);
	return p;
}

/* Spins (up to 2 s) until (reg & mask) == 0, as a polling driver does. */
static void t_wait_clear(struct tfx *f, uint64_t reg, uint64_t mask)
{
	uint64_t deadline = t_now_ns() + 2000000000ull;

	while (t_rd(f, reg, reg >= 0x80 ? 8 : 4) & mask) {
		if (t_now_ns() > deadline)
			fail_msg("register 0x%llx bits 0x%llx never cleared", (unsigned long long)reg,
				 (unsigned long long)mask);
		sched_yield();
	}
}

static void t_wait_msis(struct tfx *f, unsigned n)
{
	uint64_t deadline = t_now_ns() + 2000000000ull;

	while (__atomic_load_n(&f->msis, __ATOMIC_ACQUIRE) < n) {
		if (t_now_ns() > deadline)
			fail_msg("expected %u MSI-X messages, got %u", n, f->msis);
		sched_yield();
	}
}

static uint32_t t_factorial(struct tfx *f, uint32_t n)
{
	t_w32(f, EDU_REG_FACTORIAL, n);
	t_wait_clear(f, EDU_REG_STATUS, EDU_STATUS_COMPUTING);
	return t_r32(f, EDU_REG_FACTORIAL);
}

/* Programs and runs one transfer, waits for it; returns the error register. */
static uint32_t t_dma(struct tfx *f, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	t_w64(f, EDU_REG_DMA_SRC, src);
	t_w64(f, EDU_REG_DMA_DST, dst);
	t_w64(f, EDU_REG_DMA_CNT, cnt);
	t_w32(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN | cmd);
	t_wait_clear(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN);
	return t_r32(f, EDU_REG_DMA_ERROR);
}

static void t_fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static void t_bus_master(struct tfx *f, bool on)
{
	struct pci_device *d = edu_pci_dev(&f->e);
	uint16_t cmd = (uint16_t)pci_config_read(d, PCI_COMMAND, 2);

	cmd = on ? cmd | PCI_COMMAND_MASTER : cmd & ~PCI_COMMAND_MASTER;
	pci_config_write(d, PCI_COMMAND, cmd, 2);
}

static void t_msix(struct tfx *f, bool enable, bool masked)
{
	struct pci_device *d = edu_pci_dev(&f->e);

	t_w32(f, EDU_BAR0_MSIX_TABLE + 0, 0xfee00000);
	t_w32(f, EDU_BAR0_MSIX_TABLE + 4, 0);
	t_w32(f, EDU_BAR0_MSIX_TABLE + 8, T_MSI_DATA);
	t_w32(f, EDU_BAR0_MSIX_TABLE + 12, masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
	pci_config_write(d, d->msix.cap_off + PCI_MSIX_FLAGS, enable ? PCI_MSIX_FLAGS_ENABLE : 0, 2);
}

/* ---- Fixture ---- */

static void t_init(struct tfx *f)
{
	struct edu_config cfg = { .name = "edu0" };
	struct pci_device *d;

	memset(f, 0, sizeof(*f));
	log_threshold = LOG_ERROR;
	assert_int_equal(arena_init(&f->a, 128 * MiB, 16 * MiB), 0);
	assert_int_equal(gmem_init(&f->g, &f->a, 1, T_RAM), 0);
	dma_as_init_direct(&f->as, &f->g, T_BDF);
	assert_int_equal(bus_init(&f->pio, "pio"), 0);
	assert_int_equal(bus_init(&f->mmio, "mmio"), 0);
	f->msi = (struct msi_sink){ .send = t_msi_send, .opaque = f };
	f->raw = (struct msi_sink){ .send = t_raw_send, .opaque = f };
	struct irq_line intx = { .set = t_intx_set, .opaque = f, .pin = T_GSI_BASE };
	assert_int_equal(pci_host_init(&f->host, &f->pio, &f->mmio, T_ECAM, 1 * MiB, &f->msi, &intx,
				       NULL, NULL), 0);
	cfg.dma = &f->as;
	cfg.raw_msi = &f->raw;
	assert_int_equal(edu_init(&f->e, &cfg), 0);
	d = edu_pci_dev(&f->e);
	assert_int_equal(pci_host_plug(&f->host, d, T_DEVFN), 0);
	assert_int_equal(pci_host_assign_resources(&f->host, 0xc0000000ull, 0xfec00000ull, 0, 0,
						   0x1000, 0x10000), 0);
	f->bar0 = d->bars[0].addr;
	assert_int_not_equal(f->bar0, 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(edu_start(&f->e), 0);
}

static void t_fini(struct tfx *f)
{
	edu_destroy(&f->e);
	pci_host_destroy(&f->host);
	bus_destroy(&f->mmio);
	bus_destroy(&f->pio);
	assert_int_equal(arena_check_canaries(&f->a), 0);
	gmem_destroy(&f->g);
	arena_destroy(&f->a);
	log_threshold = LOG_WARN;
}

static int setup(void **state)
{
	t_init(&tf);
	*state = &tf;
	return 0;
}

static int teardown(void **state)
{
	t_fini(*state);
	return 0;
}

/* ---- Identity ---- */

static void test_identity(void **state)
{
	struct tfx *f = *state;
	struct pci_device *d = edu_pci_dev(&f->e);
	uint8_t cap;

	assert_int_equal(pci_config_read(d, PCI_VENDOR_ID, 2), EDU_VENDOR_ID);
	assert_int_equal(pci_config_read(d, PCI_DEVICE_ID, 2), EDU_DEVICE_ID);
	assert_int_equal(pci_config_read(d, PCI_REVISION_ID, 1), 0x10);
	assert_int_equal(pci_config_read(d, PCI_CLASS_PROG, 1), 0x00);
	assert_int_equal(pci_config_read(d, PCI_CLASS_DEVICE, 2), 0x00ff);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(pci_config_read(d, PCI_SUBSYSTEM_ID, 2), 0x1100);
	assert_int_equal(pci_config_read(d, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(pci_config_read(d, PCI_HEADER_TYPE, 1), 0);

	/* BAR0: 1 MiB, 32-bit, non-prefetchable memory (sizing probe). */
	uint32_t bar = pci_config_read(d, PCI_BASE_ADDRESS_0, 4);
	assert_int_equal(bar & 0xf, 0);
	pci_config_write(d, PCI_COMMAND, 0, 2);
	pci_config_write(d, PCI_BASE_ADDRESS_0, 0xffffffff, 4);
	assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0, 4), 0xfff00000);
	pci_config_write(d, PCI_BASE_ADDRESS_0, bar, 4);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	for (unsigned i = 1; i < PCI_NUM_BARS; i++)
		assert_int_equal(pci_config_read(d, PCI_BASE_ADDRESS_0 + 4 * i, 4), 0);

	/* MSI-X: one vector, table at 0x80000 and PBA at 0x81000 of BAR0. */
	assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	cap = (uint8_t)pci_config_read(d, PCI_CAPABILITY_LIST, 1);
	assert_int_not_equal(cap, 0);
	assert_int_equal(pci_config_read(d, cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(pci_config_read(d, cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE, 0);
	assert_int_equal(pci_config_read(d, cap + PCI_MSIX_TABLE, 4), EDU_BAR0_MSIX_TABLE | 0);
	assert_int_equal(pci_config_read(d, cap + PCI_MSIX_PBA, 4), EDU_BAR0_MSIX_PBA | 0);

	/* Identification: version 1.0. */
	assert_int_equal(t_r32(f, EDU_REG_ID), 0x010000ed);
	/* The Warden extension registers read 0 on a fresh device. */
	assert_int_equal(t_r32(f, EDU_REG_DMA_ERROR), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);
}

static void test_init_errors(void **state)
{
	struct edu e;
	struct edu_config cfg = { .name = "nodma" };

	(void)state;
	assert_int_equal(edu_init(&e, &cfg), -EINVAL);
	assert_int_equal(edu_init(&e, NULL), -EINVAL);
	edu_destroy(&e);        /* harmless on a device that never came up */
}

/* ---- Liveness ---- */

static void test_liveness(void **state)
{
	struct tfx *f = *state;
	static const uint32_t vals[] = { 0, 1, 0x12345678, 0xffffffff, 0xdeadbeef };

	assert_int_equal(t_r32(f, EDU_REG_LIVENESS), 0);
	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		t_w32(f, EDU_REG_LIVENESS, vals[i]);
		assert_int_equal(t_r32(f, EDU_REG_LIVENESS), (uint32_t)~vals[i]);
	}
	/* 8-byte access below 0x80 is invalid: ignored, reads all ones. */
	t_w64(f, EDU_REG_LIVENESS, 0);
	assert_int_equal(t_r32(f, EDU_REG_LIVENESS), (uint32_t)~0xdeadbeefu);
	assert_int_equal(t_rd(f, EDU_REG_LIVENESS, 8), ~0ull);
	assert_int_equal(t_rd(f, EDU_REG_LIVENESS, 2), 0xffff);
	assert_int_equal(t_rd(f, EDU_REG_ID, 1), 0xff);
}

/* ---- Factorial ---- */

static uint32_t naive_factorial(uint32_t n)
{
	uint32_t r = 1;

	while (n)
		r *= n--;
	return r;
}

static void test_factorial(void **state)
{
	struct tfx *f = *state;
	static const uint32_t expect[13] = { 1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880,
					     3628800, 39916800, 479001600 };
	struct edu_stats st;

	for (uint32_t n = 0; n <= 12; n++)
		assert_int_equal(t_factorial(f, n), expect[n]);
	/* Beyond 12! the 32-bit product wraps as QEMU's does. */
	for (uint32_t n = 13; n <= 40; n++)
		assert_int_equal(t_factorial(f, n), naive_factorial(n));
	assert_int_equal(t_factorial(f, 0xffffffffu), 0);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);      /* IRQFACT off */
	assert_int_equal(t_intx(f), 0);
	edu_stats(&f->e, &st);
	assert_int_equal(st.factorials, 13 + 28 + 1);

	/* With the thread stopped the job stays pending and visibly busy;
	 * a second write is dropped, as QEMU drops it. */
	assert_int_equal(edu_stop(&f->e), 0);
	t_w32(f, EDU_REG_FACTORIAL, 5);
	assert_int_equal(t_r32(f, EDU_REG_STATUS) & EDU_STATUS_COMPUTING, EDU_STATUS_COMPUTING);
	assert_int_equal(t_r32(f, EDU_REG_FACTORIAL), 5);
	t_w32(f, EDU_REG_FACTORIAL, 6);
	assert_int_equal(t_r32(f, EDU_REG_FACTORIAL), 5);
	/* The computing bit is read-only; writing status leaves it. */
	t_w32(f, EDU_REG_STATUS, 0);
	assert_int_equal(t_r32(f, EDU_REG_STATUS), EDU_STATUS_COMPUTING);
	assert_int_equal(edu_start(&f->e), 0);
	t_wait_clear(f, EDU_REG_STATUS, EDU_STATUS_COMPUTING);
	assert_int_equal(t_r32(f, EDU_REG_FACTORIAL), 120);
}

static void test_factorial_irq(void **state)
{
	struct tfx *f = *state;
	struct pci_device *d = edu_pci_dev(&f->e);

	/* INTx (MSI-X off). */
	t_w32(f, EDU_REG_STATUS, EDU_STATUS_IRQFACT);
	assert_int_equal(t_r32(f, EDU_REG_STATUS), EDU_STATUS_IRQFACT);
	assert_int_equal(t_factorial(f, 7), 5040);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_FACT);
	assert_int_equal(t_intx(f), 1);
	assert_true(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	t_w32(f, EDU_REG_IRQ_ACK, EDU_IRQ_FACT);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);
	assert_int_equal(t_intx(f), 0);
	assert_false(pci_config_read(d, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);

	/* MSI-X: one message per completion, the pin stays quiet. */
	t_msix(f, true, false);
	assert_int_equal(t_factorial(f, 3), 6);
	t_wait_msis(f, 1);
	assert_int_equal(f->msi_addr, 0xfee00000ull);
	assert_int_equal(f->msi_data, T_MSI_DATA);
	assert_int_equal(f->msi_rid, T_BDF);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_FACT);
	assert_int_equal(t_intx(f), 0);
	t_w32(f, EDU_REG_IRQ_ACK, EDU_IRQ_FACT);

	/* Interrupt enable off again: no interrupt. */
	t_w32(f, EDU_REG_STATUS, 0);
	assert_int_equal(t_factorial(f, 4), 24);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);
	assert_int_equal(f->msis, 1);
}

/* ---- Interrupt raise / acknowledge ---- */

static void test_irq_raise_ack(void **state)
{
	struct tfx *f = *state;
	struct pci_device *d = edu_pci_dev(&f->e);
	struct edu_stats st;

	/* INTx: the level follows the interrupt status. */
	t_w32(f, EDU_REG_IRQ_RAISE, 0x1234);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0x1234);
	assert_int_equal(t_intx(f), 1);
	t_w32(f, EDU_REG_IRQ_RAISE, 0x8000);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0x9234);
	t_w32(f, EDU_REG_IRQ_ACK, 0x9000);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0x0234);
	assert_int_equal(t_intx(f), 1);
	t_w32(f, EDU_REG_IRQ_ACK, 0xffffffff);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);
	assert_int_equal(t_intx(f), 0);
	/* The status register is read-only, the raise/ack ones write-only. */
	t_w32(f, EDU_REG_IRQ_STATUS, 0x5);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_RAISE), 0xffffffff);
	/* Raising nothing with nothing pending is no interrupt. */
	t_w32(f, EDU_REG_IRQ_RAISE, 0);
	assert_int_equal(t_intx(f), 0);

	/* INTx Disable in COMMAND keeps the pin low, the status stays. */
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			 PCI_COMMAND_INTX_DISABLE, 2);
	t_w32(f, EDU_REG_IRQ_RAISE, 0x1);
	assert_int_equal(t_intx(f), 0);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(t_intx(f), 1);
	t_w32(f, EDU_REG_IRQ_ACK, 0x1);
	assert_int_equal(t_intx(f), 0);

	/* MSI-X: each raise is one message with the function's requester id. */
	t_msix(f, true, false);
	t_w32(f, EDU_REG_IRQ_RAISE, 0x10);
	assert_int_equal(f->msis, 1);
	assert_int_equal(f->msi_data, T_MSI_DATA);
	assert_int_equal(f->msi_rid, T_BDF);
	t_w32(f, EDU_REG_IRQ_RAISE, 0x20);
	assert_int_equal(f->msis, 2);
	assert_int_equal(t_intx(f), 0);
	t_w32(f, EDU_REG_IRQ_ACK, 0x30);
	/* Masked: pending in the PBA, delivered on unmask. */
	t_msix(f, true, true);
	t_w32(f, EDU_REG_IRQ_RAISE, 0x40);
	assert_int_equal(f->msis, 2);
	assert_int_equal(t_r32(f, EDU_BAR0_MSIX_PBA) & 1, 1);
	t_w32(f, EDU_BAR0_MSIX_TABLE + 12, 0);
	assert_int_equal(f->msis, 3);
	t_w32(f, EDU_REG_IRQ_ACK, 0x40);
	/* MSI-X off with a bit still set: the pin carries it. */
	t_w32(f, EDU_REG_IRQ_RAISE, 0x80);
	assert_int_equal(f->msis, 4);
	t_msix(f, false, false);
	assert_int_equal(t_intx(f), 1);
	t_w32(f, EDU_REG_IRQ_ACK, 0x80);
	assert_int_equal(t_intx(f), 0);

	edu_stats(&f->e, &st);
	assert_int_equal(st.msix_sent, 4);
}

/* ---- DMA ---- */

static void test_dma_roundtrip(void **state)
{
	struct tfx *f = *state;
	uint8_t *src = t_gp(f, T_SRC, 4096), *dst = t_gp(f, T_DST, 8192);
	struct edu_stats st;

	t_fill(src, 4096, 0x11);
	memset(dst, 0xaa, 8192);

	/* RAM -> buffer, all 4 KiB; then buffer -> RAM. */
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 4096, 0), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 4096);
	assert_int_equal(t_r32(f, EDU_REG_STATUS) & EDU_STATUS_DMA_ERROR, 0);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST + 1, 4096, EDU_DMA_CMD_TO_RAM), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 4096);
	assert_memory_equal(dst + 1, src, 4096);
	assert_int_equal(dst[0], 0xaa);
	assert_int_equal(dst[4097], 0xaa);

	/* The spec's example: 100 bytes in at the start, out from +100. */
	t_fill(src, 100, 0x77);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR + 100, 100, 0), 0);
	memset(dst, 0, 8192);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR + 100, T_DST + 100, 100, EDU_DMA_CMD_TO_RAM), 0);
	assert_memory_equal(dst + 100, src, 100);
	assert_int_equal(dst[99], 0);
	assert_int_equal(dst[200], 0);
	/* The last byte of the buffer. */
	src[0] = 0x5c;
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR + 4095, 1, 0), 0);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR + 4095, T_DST, 1, EDU_DMA_CMD_TO_RAM), 0);
	assert_int_equal(dst[0], 0x5c);
	/* A zero-byte transfer completes and moves nothing. */
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 0, 0), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);

	/* The registers read back; 4-byte writes zero-extend (QEMU). */
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 8), T_SRC);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DST, 8), EDU_DMA_BUF_ADDR);
	t_w64(f, EDU_REG_DMA_SRC, 0x123456789abcdef0ull);
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 8), 0x123456789abcdef0ull);
	assert_int_equal(t_r32(f, EDU_REG_DMA_SRC), 0x9abcdef0u);
	t_w32(f, EDU_REG_DMA_SRC, 0x1000);
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 8), 0x1000);
	/* A command without the start bit does nothing. */
	t_w32(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_TO_RAM);
	assert_int_equal(t_r32(f, EDU_REG_DMA_CMD), 0);

	edu_stats(&f->e, &st);
	assert_int_equal(st.dma_to_device, 4);
	assert_int_equal(st.dma_to_ram, 3);
	assert_int_equal(st.dma_bytes, 2 * 4096 + 2 * 100 + 2);
	assert_int_equal(st.dma_errors, 0);
	assert_int_equal(f->as.stats.bytes_read, 4096 + 100 + 1);
}

static void test_dma_irq(void **state)
{
	struct tfx *f = *state;

	/* INTx. */
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 64, EDU_DMA_CMD_IRQ), 0);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_DMA);
	assert_int_equal(t_intx(f), 1);
	assert_int_equal(t_r32(f, EDU_REG_DMA_CMD), EDU_DMA_CMD_IRQ);
	t_w32(f, EDU_REG_IRQ_ACK, EDU_IRQ_DMA);
	assert_int_equal(t_intx(f), 0);

	/* MSI-X. */
	t_msix(f, true, false);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 64, EDU_DMA_CMD_TO_RAM | EDU_DMA_CMD_IRQ), 0);
	t_wait_msis(f, 1);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_DMA);
	t_w32(f, EDU_REG_IRQ_ACK, EDU_IRQ_DMA);
	/* Without the interrupt bit, no message. */
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 64, 0), 0);
	assert_int_equal(f->msis, 1);
	/* A failed transfer still finishes with its interrupt. */
	assert_int_equal(t_dma(f, T_OUTSIDE, EDU_DMA_BUF_ADDR, 64, EDU_DMA_CMD_IRQ),
			 EDU_DMA_ERR_FAULT);
	t_wait_msis(f, 2);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_DMA);
}

static void test_dma_bus_master_off(void **state)
{
	struct tfx *f = *state;
	uint8_t *src = t_gp(f, T_SRC, 4096), *dst = t_gp(f, T_DST, 4096);
	struct edu_stats st;

	t_fill(src, 4096, 0x21);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 4096, 0), 0);
	memset(dst, 0xcc, 4096);

	t_bus_master(f, false);
	/* Neither direction moves anything; the error says why. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 4096, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_BLOCKED);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);
	assert_int_equal(t_r32(f, EDU_REG_STATUS) & EDU_STATUS_DMA_ERROR, EDU_STATUS_DMA_ERROR);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(dst[i], 0xcc);
	assert_int_equal(t_dma(f, T_DST, EDU_DMA_BUF_ADDR, 4096, 0), EDU_DMA_ERR_BLOCKED);
	assert_true(f->as.stats.blocked >= 2);

	/* On again: the buffer still holds the first transfer's bytes. */
	t_bus_master(f, true);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 4096, EDU_DMA_CMD_TO_RAM), 0);
	assert_int_equal(t_r32(f, EDU_REG_STATUS) & EDU_STATUS_DMA_ERROR, 0);
	assert_memory_equal(dst, src, 4096);
	edu_stats(&f->e, &st);
	assert_int_equal(st.dma_errors, 2);
}

static void test_dma_fault_outside_ram(void **state)
{
	struct tfx *f = *state;
	uint64_t last = T_RAM - 4096;
	uint8_t *src = t_gp(f, T_SRC, 4096), *tail = t_gp(f, last, 4096);
	uint8_t buf_out[4096];

	t_fill(src, 4096, 0x31);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 4096, 0), 0);

	/* Straddling the end of RAM: the bytes before the fault land. */
	memset(tail, 0, 4096);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_RAM - 1024, 4096, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_FAULT);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 1024);
	assert_memory_equal(tail + 3072, src, 1024);
	for (unsigned i = 0; i < 3072; i++)
		assert_int_equal(tail[i], 0);

	/* Wholly outside: nothing moves; the MMIO hole, the top of the
	 * address space and a wrapping transfer are refused the same way. */
	static const uint64_t bad[] = { T_OUTSIDE, 0xc0000000ull, 0xfec00000ull,
					0xfffffffffffff800ull, ~0ull };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, bad[i], 4096, EDU_DMA_CMD_TO_RAM),
				 EDU_DMA_ERR_FAULT);
		assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);
		assert_int_equal(t_dma(f, bad[i], EDU_DMA_BUF_ADDR, 4096, 0), EDU_DMA_ERR_FAULT);
	}
	assert_int_equal(arena_check_canaries(&f->a), 0);

	/* RAM -> buffer from the straddling range: the first 1 KiB arrives,
	 * the rest of the buffer keeps what it held. */
	memset(tail + 3072, 0x99, 1024);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 4096, 0), 0);
	assert_int_equal(t_dma(f, T_RAM - 1024, EDU_DMA_BUF_ADDR, 4096, 0), EDU_DMA_ERR_FAULT);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 1024);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 4096, EDU_DMA_CMD_TO_RAM), 0);
	memcpy(buf_out, t_gp(f, T_DST, 4096), 4096);
	for (unsigned i = 0; i < 1024; i++)
		assert_int_equal(buf_out[i], 0x99);
	assert_memory_equal(buf_out + 1024, src + 1024, 3072);

	/* The device carries on. */
	assert_int_equal(t_factorial(f, 5), 120);
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

static void test_dma_msi_window(void **state)
{
	struct tfx *f = *state;
	uint8_t *src = t_gp(f, T_SRC, 4096);
	uint32_t words[4] = { 0x000000fe, 0x12345641, 0xcafe0042, 0x00000043 };
	uint64_t ram_written = f->as.stats.bytes_written;
	struct edu_stats st;

	memcpy(src, words, sizeof(words));
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, sizeof(words), 0), 0);

	/* Device -> 0xFEE00000: two dwords become two messages with the
	 * function's requester id, nothing is written as memory. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfee00000ull, 8, EDU_DMA_CMD_TO_RAM), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 8);
	assert_int_equal(f->raws, 2);
	assert_int_equal(f->raw_addr[0], 0xfee00000ull);
	assert_int_equal(f->raw_data[0], words[0]);
	assert_int_equal(f->raw_addr[1], 0xfee00004ull);
	assert_int_equal(f->raw_data[1], words[1]);
	assert_int_equal(f->raw_rid, T_BDF);
	assert_int_equal(f->as.stats.bytes_written, ram_written);
	assert_int_equal(f->msis, 0);   /* not the device's own MSI-X path */

	/* Anywhere in the 1 MiB window, e.g. a destination APIC id. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR + 8, 0xfeeff000ull, 4, EDU_DMA_CMD_TO_RAM), 0);
	assert_int_equal(f->raws, 3);
	assert_int_equal(f->raw_addr[2], 0xfeeff000ull);
	assert_int_equal(f->raw_data[2], words[2]);

	/* Not whole aligned dwords: refused, no message. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfee00000ull, 6, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_MSI);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfee00002ull, 4, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_MSI);
	assert_int_equal(f->raws, 3);
	/* Reaching the window from below: the part below is a memory write,
	 * which faults (no RAM there), so no message follows. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfedffffcull, 8, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_FAULT);
	assert_int_equal(f->raws, 3);
	/* Running past the window's end: messages, then a memory write that
	 * faults. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfeeffffcull, 8, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_FAULT);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 4);
	assert_int_equal(f->raws, 4);
	/* The sink refusing a message stops the transfer. */
	f->raw_ret = -EINVAL;
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfee00000ull, 8, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_MSI);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);
	f->raw_ret = 0;
	/* Bus mastering off: no message either. */
	t_bus_master(f, false);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, 0xfee00000ull, 8, EDU_DMA_CMD_TO_RAM),
			 EDU_DMA_ERR_BLOCKED);
	assert_int_equal(f->raws, 4);
	t_bus_master(f, true);
	/* Reading from the window is not a message: it faults. */
	assert_int_equal(t_dma(f, 0xfee00000ull, EDU_DMA_BUF_ADDR, 4, 0), EDU_DMA_ERR_FAULT);
	assert_int_equal(f->raws, 4);

	edu_stats(&f->e, &st);
	assert_int_equal(st.raw_msis, 4);
	assert_int_equal(arena_check_canaries(&f->a), 0);
}

/* Without a raw sink an interrupt-window write is an ordinary DMA write,
 * which the direct address space refuses. */
static void test_dma_msi_window_no_sink(void **state)
{
	struct tfx *f = *state;
	struct edu_config cfg = { .name = "edu1", .dma = &f->as };
	struct edu *e = calloc(1, sizeof(*e));
	struct pci_device *d;
	uint64_t bar0, v;
	uint64_t deadline = t_now_ns() + 2000000000ull;

	assert_non_null(e);
	/* The second function shares the first one's DMA space here; only
	 * one of them is exercised. */
	edu_destroy(&f->e);
	assert_int_equal(edu_init(e, &cfg), 0);
	d = edu_pci_dev(e);
	assert_int_equal(pci_host_plug(&f->host, d, PCI_DEVFN(5, 0)), 0);
	assert_int_equal(pci_host_assign_resources(&f->host, 0xc0000000ull, 0xfec00000ull, 0, 0,
						   0x1000, 0x10000), 0);
	bar0 = d->bars[0].addr;
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(edu_start(e), 0);
	assert_true(bus_write(&f->mmio, bar0 + EDU_REG_DMA_SRC, EDU_DMA_BUF_ADDR, 8));
	assert_true(bus_write(&f->mmio, bar0 + EDU_REG_DMA_DST, 0xfee00000ull, 8));
	assert_true(bus_write(&f->mmio, bar0 + EDU_REG_DMA_CNT, 8, 8));
	assert_true(bus_write(&f->mmio, bar0 + EDU_REG_DMA_CMD, 3, 4));
	do {
		assert_true(t_now_ns() < deadline);
		sched_yield();
		assert_true(bus_read(&f->mmio, bar0 + EDU_REG_DMA_CMD, &v, 4));
	} while (v & 1);
	assert_true(bus_read(&f->mmio, bar0 + EDU_REG_DMA_ERROR, &v, 4));
	assert_int_equal(v, EDU_DMA_ERR_FAULT);
	assert_int_equal(f->raws, 0);
	edu_destroy(e);
	free(e);
}

static void test_dma_bad_counts(void **state)
{
	struct tfx *f = *state;
	uint8_t *src = t_gp(f, T_SRC, 8192), *dst = t_gp(f, T_DST, 8192);
	struct edu_stats st;
	static const struct { uint64_t win, cnt; } bad[] = {
		{ EDU_DMA_BUF_ADDR, 4097 },
		{ EDU_DMA_BUF_ADDR, 1ull << 32 },
		{ EDU_DMA_BUF_ADDR, ~0ull },
		{ EDU_DMA_BUF_ADDR + 4064, 64 },         /* runs past the buffer */
		{ EDU_DMA_BUF_ADDR + 4096, 1 },          /* starts past it */
		{ EDU_DMA_BUF_ADDR - 1, 16 },            /* starts before it */
		{ 0, 16 },
		{ ~0ull - 8, 16 },                       /* would wrap */
		{ EDU_DMA_BUF_ADDR + 1, ~0ull },
	};

	t_fill(src, 8192, 0x41);
	memset(dst, 0x5a, 8192);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 4096, 0), 0);
	edu_stats(&f->e, &st);
	uint64_t ge = st.guest_errors, bytes = st.dma_bytes;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Either direction: refused whole, nothing moves. */
		assert_int_equal(t_dma(f, T_SRC + 4096, bad[i].win, bad[i].cnt, 0), EDU_DMA_ERR_RANGE);
		assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);
		assert_int_equal(t_r32(f, EDU_REG_STATUS) & EDU_STATUS_DMA_ERROR,
				 EDU_STATUS_DMA_ERROR);
		assert_int_equal(t_dma(f, bad[i].win, T_DST, bad[i].cnt, EDU_DMA_CMD_TO_RAM),
				 EDU_DMA_ERR_RANGE);
	}
	for (unsigned i = 0; i < 8192; i++)
		assert_int_equal(dst[i], 0x5a);
	/* The buffer was not touched by the refused inbound transfers. */
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 4096, EDU_DMA_CMD_TO_RAM), 0);
	assert_memory_equal(dst, src, 4096);

	edu_stats(&f->e, &st);
	assert_int_equal(st.guest_errors - ge, 2 * (sizeof(bad) / sizeof(bad[0])));
	assert_int_equal(st.dma_bytes - bytes, 4096);
	assert_int_equal(st.dma_errors, 2 * (sizeof(bad) / sizeof(bad[0])));
}

/* Registers are frozen while a transfer is pending (thread stopped). */
static void test_dma_registers_busy(void **state)
{
	struct tfx *f = *state;

	assert_int_equal(edu_stop(&f->e), 0);
	t_w64(f, EDU_REG_DMA_SRC, T_SRC);
	t_w64(f, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR);
	t_w64(f, EDU_REG_DMA_CNT, 16);
	t_w32(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN | EDU_DMA_CMD_IRQ);
	assert_int_equal(t_r32(f, EDU_REG_DMA_CMD), EDU_DMA_CMD_RUN | EDU_DMA_CMD_IRQ);
	t_w64(f, EDU_REG_DMA_SRC, 0x1234);
	t_w64(f, EDU_REG_DMA_CNT, 99);
	t_w32(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN | EDU_DMA_CMD_TO_RAM);
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 8), T_SRC);
	assert_int_equal(t_rd(f, EDU_REG_DMA_CNT, 8), 16);
	assert_int_equal(t_r32(f, EDU_REG_DMA_CMD), EDU_DMA_CMD_RUN | EDU_DMA_CMD_IRQ);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);
	assert_int_equal(edu_start(&f->e), 0);
	t_wait_clear(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 16);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_DMA);
}

/* ---- Access rules, unused space ---- */

static void test_access_rules(void **state)
{
	struct tfx *f = *state;
	struct edu_stats st;

	edu_stats(&f->e, &st);
	uint64_t ge = st.guest_errors;

	/* Unused offsets and the DMA buffer itself read all ones (QEMU). */
	assert_int_equal(t_r32(f, 0x0c), 0xffffffff);
	assert_int_equal(t_r32(f, 0x84), 0xffffffff);
	assert_int_equal(t_rd(f, 0x100, 8), ~0ull);
	assert_int_equal(t_r32(f, EDU_DMA_BUF_ADDR), 0xffffffff);
	assert_int_equal(t_r32(f, EDU_BAR0_SIZE - 4), 0xffffffff);
	assert_int_equal(t_r32(f, EDU_BAR0_MSIX_TABLE + 0x100), 0xffffffff);
	/* Writes there and to read-only registers are dropped. */
	t_w32(f, EDU_REG_ID, 0);
	assert_int_equal(t_r32(f, EDU_REG_ID), EDU_ID_VALUE);
	t_w32(f, EDU_REG_DMA_ERROR, 0xf);
	t_w64(f, EDU_REG_DMA_DONE, 77);
	assert_int_equal(t_r32(f, EDU_REG_DMA_ERROR), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 0);
	t_w32(f, EDU_DMA_BUF_ADDR, 0x1234);
	/* Sizes: 1 and 2 bytes anywhere, 8 below 0x80. */
	t_wr(f, EDU_REG_FACTORIAL, 5, 8);
	t_wr(f, EDU_REG_FACTORIAL, 5, 2);
	assert_int_equal(t_r32(f, EDU_REG_STATUS) & EDU_STATUS_COMPUTING, 0);
	t_wr(f, EDU_REG_DMA_SRC, 0x55, 1);
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 8), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 2), 0xffff);
	edu_stats(&f->e, &st);
	assert_int_equal(st.guest_errors - ge, 8);
	/* Still working. */
	assert_int_equal(t_factorial(f, 6), 720);
}

/* ---- Reset ---- */

static void test_reset(void **state)
{
	struct tfx *f = *state;
	struct pci_device *d = edu_pci_dev(&f->e);

	t_w32(f, EDU_REG_LIVENESS, 1);
	t_w32(f, EDU_REG_STATUS, EDU_STATUS_IRQFACT);
	assert_int_equal(t_factorial(f, 4), 24);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 16, 0), 0);
	assert_int_equal(t_intx(f), 1);

	pci_device_reset(d);
	assert_int_equal(t_intx(f), 0);
	/* The core turned decode off; the firmware's part again. */
	pci_config_write(d, PCI_BASE_ADDRESS_0, (uint32_t)f->bar0, 4);
	pci_config_write(d, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(t_r32(f, EDU_REG_LIVENESS), 0);
	assert_int_equal(t_r32(f, EDU_REG_FACTORIAL), 0);
	assert_int_equal(t_r32(f, EDU_REG_STATUS), 0);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_SRC, 8), 0);
	assert_int_equal(t_rd(f, EDU_REG_DMA_CNT, 8), 0);
	/* The buffer is zero again. */
	memset(t_gp(f, T_DST, 16), 0xff, 16);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 16, EDU_DMA_CMD_TO_RAM), 0);
	for (unsigned i = 0; i < 16; i++)
		assert_int_equal(((uint8_t *)t_gp(f, T_DST, 16))[i], 0);
}

/* ---- Save / load ---- */

static void test_save_load(void **state)
{
	struct tfx *f = *state;
	uint8_t *src = t_gp(f, T_SRC, 4096), *dst = t_gp(f, T_DST, 4096);
	int size = edu_save(&f->e, NULL, 0);
	uint8_t *rec, *bad;

	assert_true(size > EDU_DMA_BUF_SIZE);
	rec = malloc((size_t)size);
	bad = malloc((size_t)size);
	assert_non_null(rec);
	assert_non_null(bad);

	t_fill(src, 4096, 0x61);
	assert_int_equal(t_dma(f, T_SRC, EDU_DMA_BUF_ADDR, 4096, 0), 0);
	t_w32(f, EDU_REG_LIVENESS, 0x0f0f0f0f);
	t_w32(f, EDU_REG_STATUS, EDU_STATUS_IRQFACT);
	t_w32(f, EDU_REG_IRQ_RAISE, 0x800);
	assert_int_equal(t_intx(f), 1);
	assert_int_equal(edu_save(&f->e, rec, (size_t)size), -EBUSY);     /* thread running */
	assert_int_equal(edu_stop(&f->e), 0);
	/* A job pending at save time is restored pending. */
	t_w32(f, EDU_REG_FACTORIAL, 6);
	assert_int_equal(edu_save(&f->e, rec, (size_t)size - 1), -ENOSPC);
	assert_int_equal(edu_save(&f->e, rec, (size_t)size), size);

	/* Back to power-on state, then the record. */
	pci_device_reset(edu_pci_dev(&f->e));
	assert_int_equal(t_intx(f), 0);
	pci_config_write(edu_pci_dev(&f->e), PCI_BASE_ADDRESS_0, (uint32_t)f->bar0, 4);
	pci_config_write(edu_pci_dev(&f->e), PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	assert_int_equal(t_r32(f, EDU_REG_LIVENESS), 0);

	/* Refused records change nothing. */
	memcpy(bad, rec, (size_t)size);
	bad[0] ^= 1;                                            /* magic */
	assert_int_equal(edu_load(&f->e, bad, (size_t)size), -EINVAL);
	assert_int_equal(edu_load(&f->e, rec, (size_t)size - 1), -EINVAL);
	assert_int_equal(edu_load(&f->e, NULL, (size_t)size), -EINVAL);
	memcpy(bad, rec, (size_t)size);
	bad[8 + 8] |= 0x40;                                     /* status: undefined bit */
	assert_int_equal(edu_load(&f->e, bad, (size_t)size), -EINVAL);
	assert_int_equal(t_r32(f, EDU_REG_LIVENESS), 0);

	assert_int_equal(edu_load(&f->e, rec, (size_t)size), 0);
	assert_int_equal(t_r32(f, EDU_REG_LIVENESS), (uint32_t)~0x0f0f0f0fu);
	assert_int_equal(t_r32(f, EDU_REG_STATUS), EDU_STATUS_IRQFACT | EDU_STATUS_COMPUTING);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0x800);
	assert_int_equal(t_intx(f), 1);                         /* level driven again */
	assert_int_equal(t_rd(f, EDU_REG_DMA_DONE, 8), 4096);
	assert_int_equal(edu_start(&f->e), 0);
	assert_int_equal(edu_load(&f->e, rec, (size_t)size), -EBUSY);
	t_wait_clear(f, EDU_REG_STATUS, EDU_STATUS_COMPUTING);
	assert_int_equal(t_r32(f, EDU_REG_FACTORIAL), 720);
	assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), 0x800 | EDU_IRQ_FACT);
	/* The buffer came back too. */
	memset(dst, 0, 4096);
	assert_int_equal(t_dma(f, EDU_DMA_BUF_ADDR, T_DST, 4096, EDU_DMA_CMD_TO_RAM), 0);
	assert_memory_equal(dst, src, 4096);

	free(bad);
	free(rec);
}

/* ---- Concurrency: registers hammered while jobs run ---- */

static void test_concurrent_jobs(void **state)
{
	struct tfx *f = *state;
	uint8_t *src = t_gp(f, T_SRC, 4096), *dst = t_gp(f, T_DST, 4096);

	t_msix(f, true, false);
	t_w32(f, EDU_REG_STATUS, EDU_STATUS_IRQFACT);
	t_fill(src, 4096, 0x71);
	for (unsigned i = 0; i < 200; i++) {
		/* Factorial and DMA in flight together. */
		t_w32(f, EDU_REG_FACTORIAL, i % 13);
		t_w64(f, EDU_REG_DMA_SRC, i & 1 ? EDU_DMA_BUF_ADDR : T_SRC);
		t_w64(f, EDU_REG_DMA_DST, i & 1 ? T_DST : EDU_DMA_BUF_ADDR);
		t_w64(f, EDU_REG_DMA_CNT, 4096);
		t_w32(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN | EDU_DMA_CMD_IRQ |
		      (i & 1 ? EDU_DMA_CMD_TO_RAM : 0));
		t_w32(f, EDU_REG_LIVENESS, i);
		assert_int_equal(t_r32(f, EDU_REG_LIVENESS), ~i);
		t_wait_clear(f, EDU_REG_STATUS, EDU_STATUS_COMPUTING);
		t_wait_clear(f, EDU_REG_DMA_CMD, EDU_DMA_CMD_RUN);
		assert_int_equal(t_r32(f, EDU_REG_FACTORIAL), naive_factorial(i % 13));
		assert_int_equal(t_r32(f, EDU_REG_DMA_ERROR), 0);
		assert_int_equal(t_r32(f, EDU_REG_IRQ_STATUS), EDU_IRQ_FACT | EDU_IRQ_DMA);
		t_w32(f, EDU_REG_IRQ_ACK, EDU_IRQ_FACT | EDU_IRQ_DMA);
	}
	assert_memory_equal(dst, src, 4096);
	t_wait_msis(f, 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test_setup_teardown(test_liveness, setup, teardown),
		cmocka_unit_test_setup_teardown(test_factorial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_factorial_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_raise_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_bus_master_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_fault_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_msi_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_msi_window_no_sink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_bad_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_registers_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_jobs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
