/* 16550A UART. Register semantics follow the National/TI PC16550D data
 * sheet; where the sheet leaves room, QEMU's serial.c is the reference that
 * guests are known to work with (noted below). */
#include "devices/serial_16550.h"
#include "base/snapshot.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- Register definitions (offsets from base; PC16550D names) ---- */
#define UART_RBR 0      /* receiver buffer (read, DLAB=0) */
#define UART_THR 0      /* transmitter holding (write, DLAB=0) */
#define UART_DLL 0      /* divisor latch LSB (DLAB=1) */
#define UART_IER 1      /* interrupt enable (DLAB=0) */
#define UART_DLM 1      /* divisor latch MSB (DLAB=1) */
#define UART_IIR 2      /* interrupt identification (read) */
#define UART_FCR 2      /* FIFO control (write) */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_ERBFI  0x01    /* received data available */
#define UART_IER_ETBEI  0x02    /* THR empty */
#define UART_IER_ELSI   0x04    /* receiver line status */
#define UART_IER_EDSSI  0x08    /* modem status */
#define UART_IER_MASK   0x0f    /* bits 7:4 are always 0 on a 16550A */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00    /* priority 4: modem status */
#define UART_IIR_THRI   0x02    /* priority 3: THR empty */
#define UART_IIR_RDI    0x04    /* priority 2: received data available */
#define UART_IIR_RLSI   0x06    /* priority 1: receiver line status */
#define UART_IIR_CTI    0x0c    /* priority 2: character timeout (FIFO mode) */
#define UART_IIR_ID     0x0e
#define UART_IIR_FIFO   0xc0    /* "FIFOs enabled" on a 16550A */

#define UART_FCR_FE     0x01    /* FIFO enable */
#define UART_FCR_RFR    0x02    /* receiver FIFO reset (self-clearing) */
#define UART_FCR_XFR    0x04    /* transmitter FIFO reset (self-clearing) */
#define UART_FCR_DMS    0x08    /* DMA mode select */
#define UART_FCR_TRIG   0xc0    /* receiver trigger level: 1, 4, 8, 14 */
#define UART_FCR_STICKY (UART_FCR_FE | UART_FCR_DMS | UART_FCR_TRIG)

#define UART_LCR_DLAB   0x80

#define UART_MCR_DTR    0x01
#define UART_MCR_RTS    0x02
#define UART_MCR_OUT1   0x04
#define UART_MCR_OUT2   0x08
#define UART_MCR_LOOP   0x10
#define UART_MCR_MASK   0x1f

#define UART_LSR_DR     0x01
#define UART_LSR_OE     0x02
#define UART_LSR_PE     0x04
#define UART_LSR_FE     0x08
#define UART_LSR_BI     0x10
#define UART_LSR_THRE   0x20
#define UART_LSR_TEMT   0x40
#define UART_LSR_INT_ANY (UART_LSR_OE | UART_LSR_PE | UART_LSR_FE | UART_LSR_BI)

#define UART_MSR_DCTS   0x01
#define UART_MSR_DDSR   0x02
#define UART_MSR_TERI   0x04
#define UART_MSR_DDCD   0x08
#define UART_MSR_ANY_DELTA 0x0f
#define UART_MSR_CTS    0x10
#define UART_MSR_DSR    0x20
#define UART_MSR_RI     0x40
#define UART_MSR_DCD    0x80

/* With no modem behind the port, the inputs say "connected and ready". */
#define SERIAL_MSR_IDLE (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)
#define SERIAL_OUT_MAX_AGE_NS  10000000ull   /* 10 ms */
#define SERIAL_OUT_STALL_MS    1000

static const uint8_t serial_trigger_level[4] = { 1, 4, 8, 14 };

static uint64_t serial_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- Interrupts ---- */

static unsigned serial_rx_capacity(const struct serial_16550 *s)
{
	/* In 16450 mode the receiver is a single holding register. */
	return (s->fcr & UART_FCR_FE) ? SERIAL_FIFO_SIZE : 1;
}

/* The highest-priority pending source, as IIR bits 3:0 report it. */
static uint8_t serial_pending_id(const struct serial_16550 *s)
{
	if ((s->ier & UART_IER_ELSI) && (s->lsr_err & UART_LSR_INT_ANY))
		return UART_IIR_RLSI;
	if ((s->ier & UART_IER_ERBFI) && s->rx_count) {
		/* Below the trigger level hardware waits 4 character times and
		 * then reports a timeout. Input is pushed in bursts by the host,
		 * so that wait has always already elapsed: report it at once
		 * rather than leave data stranded without a timer. */
		if (!(s->fcr & UART_FCR_FE) ||
		    s->rx_count >= serial_trigger_level[s->fcr >> 6])
			return UART_IIR_RDI;
		return UART_IIR_CTI;
	}
	if ((s->ier & UART_IER_ETBEI) && s->thr_ipending)
		return UART_IIR_THRI;
	if ((s->ier & UART_IER_EDSSI) && (s->msr & UART_MSR_ANY_DELTA))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

/* Caller holds the lock. The line is driven under the lock so that level
 * changes from different vCPUs reach the interrupt controller in order.
 * MCR.OUT2 gating (a PC board detail) is not modelled, as in QEMU: guests
 * that poll never notice and guests that use interrupts set OUT2. */
static void serial_update_irq(struct serial_16550 *s)
{
	int level = serial_pending_id(s) != UART_IIR_NO_INT;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	if (level)
		s->stats.irqs_raised++;
	irq_line_set(&s->irq, level);
}

/* ---- Receiver ---- */

static void serial_rx_reset(struct serial_16550 *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* Caller holds the lock. Returns true if the byte entered the receiver. */
static bool serial_receive_byte(struct serial_16550 *s, uint8_t b)
{
	unsigned cap = serial_rx_capacity(s);

	if (s->rx_count < cap) {
		s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = b;
		s->rx_count++;
		s->stats.rx_bytes++;
		return true;
	}
	s->lsr_err |= UART_LSR_OE;
	s->stats.rx_overruns++;
	if (!(s->fcr & UART_FCR_FE)) {
		/* 16450 mode: the new character overwrites RBR (PC16550D
		 * "Overrun Error"); in FIFO mode it is the one that is lost. */
		s->rx_fifo[s->rx_head] = b;
		return true;
	}
	return false;
}

static uint8_t serial_rx_pop(struct serial_16550 *s)
{
	uint8_t b;

	if (!s->rx_count)
		return 0;
	b = s->rx_fifo[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	return b;
}

/* ---- Transmitter / output ---- */

static void serial_out_flush_locked(struct serial_16550 *s)
{
	size_t off = 0;

	if (s->out_fd < 0) {
		s->out_len = 0;
		return;
	}
	while (off < s->out_len) {
		ssize_t n = write(s->out_fd, s->outbuf + off, s->out_len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* A console shared with a non-blocking stdin is
			 * non-blocking too: wait for room, but never forever. */
			struct pollfd p = { .fd = s->out_fd, .events = POLLOUT };

			if (poll(&p, 1, SERIAL_OUT_STALL_MS) > 0)
				continue;
			errno = EAGAIN;
		}
		if (log_ratelimit_ok(&s->out_err_rl))
			log_error("serial 0x%x: writing to fd %d: %s; dropping %zu bytes",
				  s->base, s->out_fd, n < 0 ? strerror(errno) : "no progress",
				  s->out_len - off);
		s->stats.tx_dropped += s->out_len - off;
		break;
	}
	s->out_len = 0;
}

static void serial_transmit(struct serial_16550 *s, uint8_t b)
{
	uint64_t now = serial_now_ns();

	if (s->mcr & UART_MCR_LOOP) {
		/* Loopback: the serial output is wired to the receiver and the
		 * pin itself stays marking (PC16550D "MCR bit 4"). */
		serial_receive_byte(s, b);
		return;
	}
	if (!__atomic_load_n(&s->first_byte_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&s->first_byte_ns, now ? now : 1, __ATOMIC_RELEASE);
	s->stats.tx_bytes++;
	if (!s->out_len)
		s->out_oldest_ns = now;
	s->outbuf[s->out_len++] = b;
	if (b == '\n' || s->out_len == sizeof(s->outbuf) ||
	    now - s->out_oldest_ns >= SERIAL_OUT_MAX_AGE_NS)
		serial_out_flush_locked(s);
}

/* ---- Modem status ---- */

/* Caller holds the lock. Sets the delta bits for inputs that changed. */
static void serial_set_modem_inputs(struct serial_16550 *s, uint8_t status)
{
	uint8_t old = s->msr & 0xf0, changed = old ^ status;

	if (changed & UART_MSR_CTS)
		s->msr |= UART_MSR_DCTS;
	if (changed & UART_MSR_DSR)
		s->msr |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(status & UART_MSR_RI))
		s->msr |= UART_MSR_TERI;    /* trailing edge only */
	if (changed & UART_MSR_DCD)
		s->msr |= UART_MSR_DDCD;
	s->msr = (s->msr & UART_MSR_ANY_DELTA) | status;
}

/* In loopback the four modem outputs drive the four inputs. */
static uint8_t serial_loopback_inputs(uint8_t mcr)
{
	uint8_t st = 0;

	if (mcr & UART_MCR_RTS)
		st |= UART_MSR_CTS;
	if (mcr & UART_MCR_DTR)
		st |= UART_MSR_DSR;
	if (mcr & UART_MCR_OUT1)
		st |= UART_MSR_RI;
	if (mcr & UART_MCR_OUT2)
		st |= UART_MSR_DCD;
	return st;
}

/* ---- Register access ---- */

static uint8_t serial_read_reg(struct serial_16550 *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR:
		if (s->lcr & UART_LCR_DLAB)
			return s->divisor & 0xff;
		v = serial_rx_pop(s);
		serial_update_irq(s);
		return v;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB)
			return s->divisor >> 8;
		return s->ier;
	case UART_IIR:
		v = serial_pending_id(s);
		/* Reading IIR while it reports THRE acknowledges it. */
		if (v == UART_IIR_THRI) {
			s->thr_ipending = false;
			serial_update_irq(s);
		}
		if (s->fcr & UART_FCR_FE)
			v |= UART_IIR_FIFO;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = UART_LSR_THRE | UART_LSR_TEMT | s->lsr_err;
		if (s->rx_count)
			v |= UART_LSR_DR;
		/* Reading LSR clears the error bits and their interrupt. */
		if (s->lsr_err) {
			s->lsr_err = 0;
			serial_update_irq(s);
		}
		return v;
	case UART_MSR:
		v = s->msr;
		if (s->msr & UART_MSR_ANY_DELTA) {
			s->msr &= ~UART_MSR_ANY_DELTA;
			serial_update_irq(s);
		}
		return v;
	case UART_SCR:
		return s->scr;
	}
	return 0;
}

static void serial_write_fcr(struct serial_16550 *s, uint8_t val)
{
	/* Toggling the FIFO enable clears both FIFOs (PC16550D "FCR bit 0"). */
	if ((val ^ s->fcr) & UART_FCR_FE)
		val |= UART_FCR_RFR | UART_FCR_XFR;
	if (val & UART_FCR_RFR)
		serial_rx_reset(s);
	if (val & UART_FCR_XFR) {
		/* The transmit FIFO is always empty here: only THRE is news. */
		s->thr_ipending = true;
	}
	s->fcr = val & UART_FCR_STICKY;
	if (!(s->fcr & UART_FCR_FE))
		s->fcr = 0;     /* trigger bits mean nothing in 16450 mode */
	serial_update_irq(s);
}

static void serial_write_reg(struct serial_16550 *s, unsigned reg, uint8_t val)
{
	uint8_t changed;

	switch (reg) {
	case UART_THR:
		if (s->lcr & UART_LCR_DLAB) {
			s->divisor = (s->divisor & 0xff00) | val;
			return;
		}
		/* THRE drops while the byte moves to the shift register and
		 * comes back at once: the low-high pulse is what lets an edge
		 * triggered IRQ see the next THRE (QEMU does the same). */
		s->thr_ipending = false;
		serial_update_irq(s);
		serial_transmit(s, val);
		s->thr_ipending = true;
		serial_update_irq(s);
		return;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->divisor = (s->divisor & 0x00ff) | (uint16_t)(val << 8);
			return;
		}
		changed = (s->ier ^ val) & UART_IER_MASK;
		s->ier = val & UART_IER_MASK;
		/* Enabling ETBEI with THR empty raises THRE at once, even if it
		 * was acknowledged before: Linux probes for this and Windows
		 * relies on it (QEMU resamples on the 0->1 edge too). */
		if (changed & UART_IER_ETBEI)
			s->thr_ipending = !!(s->ier & UART_IER_ETBEI);
		serial_update_irq(s);
		return;
	case UART_FCR:
		serial_write_fcr(s, val);
		return;
	case UART_LCR:
		s->lcr = val;
		return;
	case UART_MCR:
		s->mcr = val & UART_MCR_MASK;
		serial_set_modem_inputs(s, (s->mcr & UART_MCR_LOOP) ?
					serial_loopback_inputs(s->mcr) : SERIAL_MSR_IDLE);
		serial_update_irq(s);
		return;
	case UART_LSR:
	case UART_MSR:
		/* Factory-test writes; the sheet leaves them undefined. */
		guest_error("serial 0x%x: write 0x%02x to read-only %s", s->base, val,
			    reg == UART_LSR ? "LSR" : "MSR");
		return;
	case UART_SCR:
		s->scr = val;
		return;
	}
}

/* A wider access to an 8-bit device is split into byte cycles, as the ISA
 * bridge does; bytes past the 8 registers float high. */
static void serial_pio_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct serial_16550 *s = opaque;
	uint64_t v = 0;
	unsigned i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len && i < 8; i++) {
		uint64_t reg = offset + i;
		uint8_t b = reg < SERIAL_NR_PORTS ? serial_read_reg(s, (unsigned)reg) : 0xff;

		v |= (uint64_t)b << (8 * i);
	}
	pthread_mutex_unlock(&s->lock);
	*data = v;
}

static void serial_pio_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct serial_16550 *s = opaque;
	unsigned i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < len && i < 8; i++) {
		uint64_t reg = offset + i;

		if (reg < SERIAL_NR_PORTS)
			serial_write_reg(s, (unsigned)reg, (uint8_t)(data >> (8 * i)));
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = {
	.read = serial_pio_read,
	.write = serial_pio_write,
};

/* ---- Host side ---- */

size_t serial_push_input(struct serial_16550 *dev, const uint8_t *buf, size_t len)
{
	size_t i, taken = 0;

	pthread_mutex_lock(&dev->lock);
	/* In loopback the receiver is disconnected from the wire. */
	if (!(dev->mcr & UART_MCR_LOOP)) {
		for (i = 0; i < len; i++)
			taken += serial_receive_byte(dev, buf[i]);
		serial_update_irq(dev);
	}
	/* Someone is typing: make the guest's last output (a prompt) visible. */
	serial_out_flush_locked(dev);
	pthread_mutex_unlock(&dev->lock);
	return taken;
}

size_t serial_rx_space(struct serial_16550 *dev)
{
	size_t space;

	pthread_mutex_lock(&dev->lock);
	space = (dev->mcr & UART_MCR_LOOP) ? 0 : serial_rx_capacity(dev) - dev->rx_count;
	pthread_mutex_unlock(&dev->lock);
	return space;
}

void serial_flush(struct serial_16550 *dev)
{
	pthread_mutex_lock(&dev->lock);
	serial_out_flush_locked(dev);
	pthread_mutex_unlock(&dev->lock);
}

uint64_t serial_first_byte_ns(const struct serial_16550 *dev)
{
	return __atomic_load_n(&dev->first_byte_ns, __ATOMIC_ACQUIRE);
}

uint64_t serial_tx_bytes(struct serial_16550 *dev)
{
	uint64_t n;

	pthread_mutex_lock(&dev->lock);
	n = dev->stats.tx_bytes;
	pthread_mutex_unlock(&dev->lock);
	return n;
}

/* ---- Reset ---- */

static void serial_reset_locked(struct serial_16550 *s)
{
	s->divisor = 12;        /* 9600 baud from the 1.8432 MHz clock */
	s->ier = 0;
	s->lcr = 0;
	s->mcr = 0;
	s->scr = 0;
	s->fcr = 0;
	s->lsr_err = 0;
	s->msr = SERIAL_MSR_IDLE;
	s->thr_ipending = false;
	serial_rx_reset(s);
	serial_update_irq(s);
}

void serial_reset(struct serial_16550 *dev)
{
	pthread_mutex_lock(&dev->lock);
	serial_reset_locked(dev);
	pthread_mutex_unlock(&dev->lock);
}

/* ---- Save / load ---- */

#define SERIAL_STATE_MAGIC   0x54524155u   /* "UART" */
#define SERIAL_STATE_VERSION 1

struct serial_state_v1 {
	struct snapshot_hdr hdr;
	uint16_t divisor;
	uint8_t ier, lcr, mcr, scr, fcr, lsr_err, msr, thr_ipending;
	uint8_t rx_count, reserved[3];
	uint8_t rx_fifo[SERIAL_FIFO_SIZE];      /* oldest first */
};

int serial_save(const struct serial_16550 *dev, void *buf, size_t len)
{
	struct serial_16550 *s = (struct serial_16550 *)dev;   /* the lock is not state */
	struct serial_state_v1 st;
	unsigned i;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), SERIAL_STATE_MAGIC,
				  SERIAL_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&s->lock);
	st.divisor = s->divisor;
	st.ier = s->ier;
	st.lcr = s->lcr;
	st.mcr = s->mcr;
	st.scr = s->scr;
	st.fcr = s->fcr;
	st.lsr_err = s->lsr_err;
	st.msr = s->msr;
	st.thr_ipending = s->thr_ipending;
	st.rx_count = (uint8_t)s->rx_count;
	for (i = 0; i < s->rx_count; i++)
		st.rx_fifo[i] = s->rx_fifo[(s->rx_head + i) % SERIAL_FIFO_SIZE];
	pthread_mutex_unlock(&s->lock);
	return snapshot_save_end(buf, &st.hdr);
}

int serial_load(struct serial_16550 *dev, const void *buf, size_t len)
{
	struct serial_state_v1 st;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), SERIAL_STATE_MAGIC,
			    SERIAL_STATE_VERSION);
	if (ret)
		return ret;
	if ((st.ier & ~UART_IER_MASK) || (st.mcr & ~UART_MCR_MASK) ||
	    (st.fcr & ~UART_FCR_STICKY) || (st.lsr_err & ~UART_LSR_INT_ANY) ||
	    st.thr_ipending > 1 ||
	    st.rx_count > ((st.fcr & UART_FCR_FE) ? SERIAL_FIFO_SIZE : 1))
		return -EINVAL;

	pthread_mutex_lock(&dev->lock);
	serial_out_flush_locked(dev);
	dev->divisor = st.divisor;
	dev->ier = st.ier;
	dev->lcr = st.lcr;
	dev->mcr = st.mcr;
	dev->scr = st.scr;
	dev->fcr = st.fcr;
	dev->lsr_err = st.lsr_err;
	dev->msr = st.msr;
	dev->thr_ipending = st.thr_ipending;
	dev->rx_head = 0;
	dev->rx_count = st.rx_count;
	memcpy(dev->rx_fifo, st.rx_fifo, sizeof(dev->rx_fifo));
	serial_update_irq(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* ---- Registration ---- */

int serial_init(struct serial_16550 *dev, int out_fd, const struct irq_line *irq)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	ret = -pthread_mutex_init(&dev->lock, NULL);
	if (ret)
		return ret;
	if (irq)
		dev->irq = *irq;
	dev->out_fd = out_fd;
	/* The line starts low; reset must not toggle it. */
	dev->irq_level = 0;
	serial_reset_locked(dev);
	dev->inited = true;
	return 0;
}

int serial_attach(struct serial_16550 *dev, struct bus *pio, uint16_t base)
{
	int ret;

	dev->base = base;
	ret = bus_register(pio, base, SERIAL_NR_PORTS, &serial_ops, dev, "serial-16550");
	if (ret)
		log_error("serial: registering ports 0x%x-0x%x: %s", base,
			  base + SERIAL_NR_PORTS - 1, strerror(-ret));
	return ret;
}

void serial_destroy(struct serial_16550 *dev)
{
	if (!dev->inited)
		return;
	pthread_mutex_lock(&dev->lock);
	serial_out_flush_locked(dev);
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_destroy(&dev->lock);
	dev->inited = false;
}
