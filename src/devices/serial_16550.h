/* 16550A UART (PC COM port), as the Linux 8250 driver and firmware expect
 * it. Transmission is immediate: THR bytes go straight to an output fd, so
 * LSR.THRE|TEMT always read as set. */
#ifndef WARDEN_DEVICES_SERIAL_16550_H
#define WARDEN_DEVICES_SERIAL_16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"
#include "base/irq.h"
#include "base/log.h"

#define SERIAL_COM1_BASE    0x3f8
#define SERIAL_COM1_IRQ     4
#define SERIAL_NR_PORTS     8
#define SERIAL_FIFO_SIZE    16
#define SERIAL_OUTBUF_SIZE  4096

struct serial_stats {
	uint64_t tx_bytes;      /* bytes the guest transmitted (loopback excluded) */
	uint64_t tx_dropped;    /* bytes lost because the output fd failed */
	uint64_t rx_bytes;      /* bytes that entered the receiver */
	uint64_t rx_overruns;   /* bytes lost to overrun (LSR.OE) */
	uint64_t irqs_raised;   /* rising edges on the interrupt line */
};

struct serial_16550 {
	pthread_mutex_t lock;
	bool inited;
	uint16_t base;                  /* set by serial_attach() */
	struct irq_line irq;
	int out_fd;                     /* < 0: output is counted and discarded */

	/* Guest-visible registers. IIR and LSR.DR/THRE/TEMT are derived. */
	uint16_t divisor;
	uint8_t ier, lcr, mcr, scr, fcr;
	uint8_t lsr_err;                /* LSR.OE (sticky until LSR is read) */
	uint8_t msr;                    /* status nibble (7:4) and deltas (3:0) */
	bool thr_ipending;              /* THRE interrupt not yet acknowledged */
	uint8_t rx_fifo[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	int irq_level;

	/* Host-side output buffer; see serial_flush(). */
	uint8_t outbuf[SERIAL_OUTBUF_SIZE];
	size_t out_len;
	uint64_t out_oldest_ns;
	uint64_t first_byte_ns;         /* atomic; 0 until the first byte */
	struct log_ratelimit out_err_rl;

	struct serial_stats stats;
};

/* out_fd: stdout or an opened file, not owned (never closed here); < 0
 * discards output. irq: the ISA line (copied; NULL: none). */
int serial_init(struct serial_16550 *dev, int out_fd, const struct irq_line *irq);
/* Claims the 8 ports from base (SERIAL_COM1_BASE for COM1). */
int serial_attach(struct serial_16550 *dev, struct bus *pio, uint16_t base);
void serial_reset(struct serial_16550 *dev);
/* Writes the versioned state to buf. Returns its size, or -ENOSPC if len
 * is too small; buf == NULL just returns the size. */
int serial_save(const struct serial_16550 *dev, void *buf, size_t len);
/* 0, or -EINVAL for a state of another device, version or shape. */
int serial_load(struct serial_16550 *dev, const void *buf, size_t len);
/* Flushes buffered output; the fd is not closed. Safe on a zeroed or
 * failed-to-init device. */
void serial_destroy(struct serial_16550 *dev);

/* Host input (a console): feeds the receiver as if bytes arrived on the
 * wire. Bytes the receiver cannot hold are an overrun (LSR.OE), as on
 * hardware; callers that want no loss push at most serial_rx_space().
 * Returns how many bytes entered the receiver. */
size_t serial_push_input(struct serial_16550 *dev, const uint8_t *buf, size_t len);
size_t serial_rx_space(struct serial_16550 *dev);

/* Output is buffered and written at a newline, when the buffer fills or
 * gets old (10 ms, checked on the next byte), and here: the vmm calls this
 * from a periodic tick so a prompt without a newline shows up. */
void serial_flush(struct serial_16550 *dev);

/* CLOCK_MONOTONIC time of the first byte the guest ever transmitted, in ns;
 * 0 if none yet. Lock-free: callable from any thread. */
uint64_t serial_first_byte_ns(const struct serial_16550 *dev);
uint64_t serial_tx_bytes(struct serial_16550 *dev);

#endif
