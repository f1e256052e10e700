/* 16550A UART through a real PIO bus, with a recording IRQ line and a pipe
 * as the console. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/bus.h"
#include "devices/serial_16550.h"
#include "devices/ioapic.h"

#define COM1 SERIAL_COM1_BASE
#define RBR (COM1 + 0)
#define THR (COM1 + 0)
#define IER (COM1 + 1)
#define IIR (COM1 + 2)
#define FCR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)

struct fake_irq {
	int level;
	unsigned rises, calls;
	unsigned pin;
};

static void fake_irq_set(void *opaque, unsigned pin, int level)
{
	struct fake_irq *f = opaque;

	f->calls++;
	f->pin = pin;
	if (level && !f->level)
		f->rises++;
	f->level = level;
}

struct ctx {
	struct bus pio;
	struct serial_16550 uart;
	struct fake_irq irq;
	int pipefd[2];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct irq_line line = { fake_irq_set, NULL, SERIAL_COM1_IRQ };

	if (!c || pipe2(c->pipefd, O_NONBLOCK))
		return -1;
	line.opaque = &c->irq;
	if (bus_init(&c->pio, "pio") || serial_init(&c->uart, c->pipefd[1], &line) ||
	    serial_attach(&c->uart, &c->pio, COM1))
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	serial_destroy(&c->uart);
	bus_destroy(&c->pio);
	close(c->pipefd[0]);
	close(c->pipefd[1]);
	free(c);
	return 0;
}

static uint8_t in8(struct ctx *c, uint16_t port)
{
	uint64_t v = 0;

	assert_true(bus_read(&c->pio, port, &v, 1));
	return (uint8_t)v;
}

static void out8(struct ctx *c, uint16_t port, uint8_t v)
{
	assert_true(bus_write(&c->pio, port, v, 1));
}

static ssize_t drain(struct ctx *c, char *buf, size_t len)
{
	ssize_t n = read(c->pipefd[0], buf, len);

	return n < 0 && errno == EAGAIN ? 0 : n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_reset_values(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(in8(c, IER), 0);
	assert_int_equal(in8(c, IIR), 0x01);
	assert_int_equal(in8(c, LCR), 0);
	assert_int_equal(in8(c, LSR), 0x60);          /* THRE | TEMT */
	assert_int_equal(in8(c, MSR) & 0xf0, 0xb0);   /* DCD | DSR | CTS */
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(c->irq.calls, 0);            /* init does not toggle the line */
}

static void test_dlab_divisor(void **state)
{
	struct ctx *c = *state;
	uint64_t v;

	out8(c, IER, 0x05);
	out8(c, LCR, 0x83);                 /* DLAB, 8N1 */
	out8(c, COM1 + 0, 0x01);            /* DLL: 115200 baud */
	out8(c, COM1 + 1, 0x02);            /* DLM */
	assert_int_equal(in8(c, COM1 + 0), 0x01);
	assert_int_equal(in8(c, COM1 + 1), 0x02);
	/* A 16-bit access is two byte cycles: DLL then DLM. */
	assert_true(bus_read(&c->pio, COM1, &v, 2));
	assert_int_equal(v, 0x0201);
	assert_int_equal(c->uart.divisor, 0x0201);
	/* Divisor writes never reach the transmitter. */
	assert_int_equal(serial_tx_bytes(&c->uart), 0);
	out8(c, LCR, 0x03);
	assert_int_equal(in8(c, IER), 0x05);
	assert_int_equal(in8(c, LCR), 0x03);
	/* IER bits 7:4 do not exist on a 16550A. */
	out8(c, IER, 0xff);
	assert_int_equal(in8(c, IER), 0x0f);
}

static void test_scratch_and_lsr_dr(void **state)
{
	struct ctx *c = *state;
	const uint8_t in[] = { 'k' };

	out8(c, SCR, 0x5a);
	assert_int_equal(in8(c, SCR), 0x5a);
	assert_int_equal(in8(c, LSR) & 0x01, 0);
	assert_int_equal(serial_push_input(&c->uart, in, 1), 1);
	assert_int_equal(in8(c, LSR), 0x61);          /* DR | THRE | TEMT */
	assert_int_equal(in8(c, RBR), 'k');
	assert_int_equal(in8(c, LSR), 0x60);
	assert_int_equal(in8(c, RBR), 0);             /* empty receiver */
}

static void test_thre_interrupt(void **state)
{
	struct ctx *c = *state;
	unsigned rises;

	/* Enabling ETBEI with THR empty raises THRE at once. */
	out8(c, IER, 0x02);
	assert_int_equal(c->irq.level, 1);
	assert_int_equal(c->irq.pin, SERIAL_COM1_IRQ);
	assert_int_equal(in8(c, IIR), 0x02);
	/* Reading IIR while it says THRE acknowledges it. */
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(in8(c, IIR), 0x01);
	/* Rewriting the same IER does not resample THRE. */
	out8(c, IER, 0x02);
	assert_int_equal(in8(c, IIR), 0x01);
	/* A THR write empties at once: THRE again, as a fresh rising edge. */
	rises = c->irq.rises;
	out8(c, THR, 'a');
	assert_int_equal(c->irq.level, 1);
	assert_int_equal(c->irq.rises, rises + 1);
	assert_int_equal(in8(c, IIR), 0x02);
	/* A write while THRE is still pending pulses the line low-high, so an
	 * edge-triggered IOAPIC pin sees another edge. */
	out8(c, THR, 'b');
	out8(c, THR, 'c');
	assert_int_equal(c->irq.rises, rises + 3);
	/* Disabling ETBEI drops the line. */
	out8(c, IER, 0x00);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(in8(c, IIR), 0x01);
	/* Toggling ETBEI back on re-raises (Windows and Linux rely on it). */
	out8(c, IER, 0x02);
	assert_int_equal(in8(c, IIR), 0x02);
}

static void test_iir_priorities(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[2] = { '1', '2' };

	out8(c, MCR, 0x00);                 /* inputs 0xb0 -> 0x00: modem deltas */
	out8(c, MCR, 0x10);                 /* loopback: CTS/DSR/DCD drop */
	out8(c, MCR, 0x00);
	assert_int_equal(in8(c, MSR) & 0x0f, 0x0b);  /* DCTS | DDSR | DDCD, read clears */
	out8(c, MCR, 0x10);                 /* deltas again (inputs 0xb0 -> 0) */
	out8(c, MCR, 0x00);
	/* 16450 mode: the second byte overruns the first. */
	assert_int_equal(serial_push_input(&c->uart, buf, 2), 2);
	out8(c, IER, 0x0f);
	/* Receiver line status first. */
	assert_int_equal(in8(c, IIR), 0x06);
	assert_int_equal(c->irq.level, 1);
	assert_int_equal(in8(c, LSR), 0x63);          /* DR | OE | THRE | TEMT; clears OE */
	assert_int_equal(in8(c, LSR), 0x61);
	/* Then received data. */
	assert_int_equal(in8(c, IIR), 0x04);
	assert_int_equal(in8(c, RBR), '2');           /* the overrun replaced '1' */
	/* Then THRE, cleared by reading IIR. */
	assert_int_equal(in8(c, IIR), 0x02);
	/* Then modem status, cleared by reading MSR. */
	assert_int_equal(in8(c, IIR), 0x00);
	assert_int_equal(c->irq.level, 1);
	assert_int_not_equal(in8(c, MSR) & 0x0f, 0);
	assert_int_equal(in8(c, IIR), 0x01);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(c->uart.stats.rx_overruns, 1);
}

static void test_fifo_trigger_and_overrun(void **state)
{
	struct ctx *c = *state;
	uint8_t buf[20];
	unsigned i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('a' + i);
	out8(c, FCR, 0xc7);                 /* enable, clear both, trigger 14 */
	assert_int_equal(in8(c, IIR), 0xc1);          /* FIFO bits, no interrupt */
	out8(c, IER, 0x01);
	assert_int_equal(serial_rx_space(&c->uart), 16);
	/* Below the trigger level: character timeout. */
	assert_int_equal(serial_push_input(&c->uart, buf, 4), 4);
	assert_int_equal(in8(c, IIR), 0xcc);
	assert_int_equal(c->irq.level, 1);
	/* At the trigger level: received data available. */
	assert_int_equal(serial_push_input(&c->uart, buf + 4, 10), 10);
	assert_int_equal(in8(c, IIR), 0xc4);
	/* 16 fit; the rest overrun and are lost. */
	assert_int_equal(serial_push_input(&c->uart, buf + 14, 6), 2);
	assert_int_equal(serial_rx_space(&c->uart), 0);
	out8(c, IER, 0x05);
	assert_int_equal(in8(c, IIR), 0xc6);
	assert_int_equal(in8(c, LSR) & 0x03, 0x03);
	assert_int_equal(in8(c, LSR) & 0x03, 0x01);
	for (i = 0; i < 16; i++)
		assert_int_equal(in8(c, RBR), 'a' + i);
	assert_int_equal(in8(c, LSR) & 0x01, 0);
	assert_int_equal(in8(c, IIR), 0xc1);
	assert_int_equal(c->irq.level, 0);
	assert_int_equal(c->uart.stats.rx_overruns, 4);
	/* Clearing the receiver FIFO empties it. */
	assert_int_equal(serial_push_input(&c->uart, buf, 3), 3);
	out8(c, FCR, 0xc3);
	assert_int_equal(in8(c, LSR) & 0x01, 0);
	/* Turning the FIFO off drops back to a one-byte receiver. */
	out8(c, FCR, 0x00);
	assert_int_equal(in8(c, IIR) & 0xc0, 0);
	assert_int_equal(serial_rx_space(&c->uart), 1);
}

static void test_loopback(void **state)
{
	struct ctx *c = *state;
	const uint8_t in[] = { 'z' };
	char out[8];

	out8(c, MCR, 0x1a);                 /* LOOP | OUT2 | RTS */
	assert_int_equal(in8(c, MCR), 0x1a);
	/* Linux's 8250 autoconfig expects exactly this. */
	assert_int_equal(in8(c, MSR) & 0xf0, 0x90);   /* DCD | CTS */
	out8(c, MCR, 0x1d);                 /* LOOP | OUT2 | OUT1 | DTR */
	assert_int_equal(in8(c, MSR) & 0xf0, 0xe0);   /* DCD | RI | DSR */
	/* Transmitted bytes come back to the receiver, not the console. */
	out8(c, THR, 'x');
	assert_int_equal(in8(c, LSR) & 0x01, 1);
	assert_int_equal(in8(c, RBR), 'x');
	/* The wire is disconnected from the receiver. */
	assert_int_equal(serial_push_input(&c->uart, in, 1), 0);
	assert_int_equal(in8(c, LSR) & 0x01, 0);
	serial_flush(&c->uart);
	assert_int_equal(drain(c, out, sizeof(out)), 0);
	assert_int_equal(serial_tx_bytes(&c->uart), 0);
	assert_int_equal(serial_first_byte_ns(&c->uart), 0);
	out8(c, MCR, 0x0b);
	assert_int_equal(in8(c, MSR) & 0xf0, 0xb0);
}

static void test_output_buffering(void **state)
{
	struct ctx *c = *state;
	char out[64];
	uint64_t t0, t1;

	assert_int_equal(serial_first_byte_ns(&c->uart), 0);
	t0 = now_ns();
	out8(c, THR, 'h');
	t1 = now_ns();
	out8(c, THR, 'i');
	assert_true(serial_first_byte_ns(&c->uart) >= t0);
	assert_true(serial_first_byte_ns(&c->uart) <= t1);
	/* No newline yet: buffered. */
	assert_int_equal(drain(c, out, sizeof(out)), 0);
	out8(c, THR, '\n');
	assert_int_equal(drain(c, out, sizeof(out)), 3);
	assert_memory_equal(out, "hi\n", 3);
	/* A prompt without newline shows on an explicit flush. */
	out8(c, THR, '$');
	out8(c, THR, ' ');
	assert_int_equal(drain(c, out, sizeof(out)), 0);
	serial_flush(&c->uart);
	assert_int_equal(drain(c, out, sizeof(out)), 2);
	assert_memory_equal(out, "$ ", 2);
	/* Bytes older than 10 ms go out with the next byte. */
	out8(c, THR, 'a');
	usleep(15000);
	out8(c, THR, 'b');
	assert_int_equal(drain(c, out, sizeof(out)), 2);
	/* The first-byte time never moves. */
	assert_true(serial_first_byte_ns(&c->uart) <= t1);
	assert_int_equal(serial_tx_bytes(&c->uart), 7);
}

static void test_output_buffer_full(void **state)
{
	struct ctx *c = *state;
	static char out[SERIAL_OUTBUF_SIZE * 2];
	size_t i, got = 0;
	ssize_t n;

	for (i = 0; i < SERIAL_OUTBUF_SIZE + 100; i++)
		out8(c, THR, (uint8_t)('A' + i % 26));
	while ((n = drain(c, out + got, sizeof(out) - got)) > 0)
		got += (size_t)n;
	assert_int_equal(got, SERIAL_OUTBUF_SIZE);
	serial_flush(&c->uart);
	while ((n = drain(c, out + got, sizeof(out) - got)) > 0)
		got += (size_t)n;
	assert_int_equal(got, SERIAL_OUTBUF_SIZE + 100);
	for (i = 0; i < got; i++)
		assert_int_equal(out[i], 'A' + i % 26);
}

static void test_input_flushes_output(void **state)
{
	struct ctx *c = *state;
	const uint8_t in[] = { 'y' };
	char out[8];

	out8(c, THR, '?');
	assert_int_equal(drain(c, out, sizeof(out)), 0);
	serial_push_input(&c->uart, in, 1);
	assert_int_equal(drain(c, out, sizeof(out)), 1);
}

static void test_output_fd_error(void **state)
{
	struct serial_16550 s;
	struct bus pio;
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);                      /* writes now fail with EPIPE */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(bus_init(&pio, "pio"), 0);
	assert_int_equal(serial_init(&s, fds[1], NULL), 0);
	assert_int_equal(serial_attach(&s, &pio, COM1), 0);
	/* A dead console is the host's problem: logged, counted, no crash. */
	assert_true(bus_write(&pio, THR, 'x', 1));
	assert_true(bus_write(&pio, THR, '\n', 1));
	assert_int_equal(s.stats.tx_dropped, 2);
	assert_int_equal(s.stats.tx_bytes, 2);
	serial_destroy(&s);
	bus_destroy(&pio);
	close(fds[1]);
}

static void test_save_load(void **state)
{
	struct ctx *c = *state;
	struct serial_16550 copy;
	struct fake_irq irq2 = { 0 };
	struct irq_line line = { fake_irq_set, &irq2, SERIAL_COM1_IRQ };
	const uint8_t in[] = { 'q', 'r', 's' };
	uint8_t buf[256];
	struct bus pio2;
	uint64_t v;
	int n;

	out8(c, LCR, 0x80);
	out8(c, COM1 + 0, 0x03);
	out8(c, LCR, 0x03);
	out8(c, FCR, 0x81);                 /* FIFO, trigger 8 */
	out8(c, SCR, 0x77);
	out8(c, MCR, 0x0b);
	serial_push_input(&c->uart, in, 3);
	(void)in8(c, RBR);                  /* 'q' consumed: ring no longer at 0 */
	out8(c, IER, 0x01);

	n = serial_save(&c->uart, NULL, 0);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	assert_int_equal(serial_save(&c->uart, buf, (size_t)n - 1), -ENOSPC);
	assert_int_equal(serial_save(&c->uart, buf, sizeof(buf)), n);

	assert_int_equal(serial_init(&copy, -1, &line), 0);
	assert_int_equal(bus_init(&pio2, "pio2"), 0);
	assert_int_equal(serial_attach(&copy, &pio2, COM1), 0);
	assert_int_equal(serial_load(&copy, buf, (size_t)n), 0);
	assert_int_equal(irq2.level, 1);    /* the pending CTI comes back */
	assert_true(bus_read(&pio2, IIR, &v, 1));
	assert_int_equal(v, 0xcc);
	assert_true(bus_read(&pio2, SCR, &v, 1));
	assert_int_equal(v, 0x77);
	assert_true(bus_read(&pio2, MCR, &v, 1));
	assert_int_equal(v, 0x0b);
	assert_true(bus_read(&pio2, RBR, &v, 1));
	assert_int_equal(v, 'r');
	assert_true(bus_read(&pio2, RBR, &v, 1));
	assert_int_equal(v, 's');
	assert_int_equal(irq2.level, 0);
	assert_int_equal(copy.divisor, 3);

	/* Corrupt states are refused and change nothing. */
	buf[0] ^= 1;
	assert_int_equal(serial_load(&copy, buf, (size_t)n), -EINVAL);
	buf[0] ^= 1;
	assert_int_equal(serial_load(&copy, buf, (size_t)n - 1), -EINVAL);
	buf[4] = 99;                        /* version */
	assert_int_equal(serial_load(&copy, buf, (size_t)n), -EINVAL);
	bus_destroy(&pio2);
	serial_destroy(&copy);
}

static void *writer(void *arg)
{
	struct bus *pio = arg;
	unsigned i;

	for (i = 0; i < 5000; i++)
		bus_write(pio, THR, 'a' + i % 26, 1);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct serial_16550 s;
	struct bus pio;
	pthread_t t[4];
	unsigned i;
	int fd = open("/dev/null", O_WRONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bus_init(&pio, "pio"), 0);
	assert_int_equal(serial_init(&s, fd, NULL), 0);
	assert_int_equal(serial_attach(&s, &pio, COM1), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, &pio), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(serial_tx_bytes(&s), 20000);
	serial_destroy(&s);
	bus_destroy(&pio);
	close(fd);
}

/* The UART's line wired to a real IOAPIC pin: THRE becomes an MSI. */
struct msi_log {
	unsigned n;
	uint64_t addr;
	uint32_t data;
};

static int record_msi(void *opaque, uint64_t addr, uint32_t data, uint16_t rid)
{
	struct msi_log *m = opaque;

	m->n++;
	m->addr = addr;
	m->data = data;
	return 0;
}

static void test_drives_ioapic(void **state)
{
	struct msi_log log = { 0 };
	struct msi_sink sink = { record_msi, &log };
	struct ioapic io;
	struct irq_line line;
	struct serial_16550 s;
	struct bus pio, mmio;

	(void)state;
	assert_int_equal(ioapic_init(&io, &sink, IOAPIC_DEFAULT_REQUESTER_ID, NULL, NULL), 0);
	line = ioapic_irq_line(&io, SERIAL_COM1_IRQ);
	assert_int_equal(bus_init(&pio, "pio"), 0);
	assert_int_equal(bus_init(&mmio, "mmio"), 0);
	assert_int_equal(ioapic_attach(&io, &mmio, IOAPIC_DEFAULT_BASE), 0);
	assert_int_equal(serial_init(&s, -1, &line), 0);
	assert_int_equal(serial_attach(&s, &pio, COM1), 0);
	/* Pin 4: vector 0x24, edge, unmasked, destination 0. */
	assert_true(bus_write(&mmio, IOAPIC_DEFAULT_BASE, 0x10 + 2 * 4, 4));
	assert_true(bus_write(&mmio, IOAPIC_DEFAULT_BASE + 0x10, 0x24, 4));
	assert_true(bus_write(&pio, IER, 0x02, 1));
	assert_int_equal(log.n, 1);
	assert_int_equal(log.addr, 0xfee00000);
	assert_int_equal(log.data, 0x24);
	/* The guest's handler writes THR: the pulse makes a new edge. */
	assert_true(bus_write(&pio, THR, 'x', 1));
	assert_int_equal(log.n, 2);
	serial_destroy(&s);
	ioapic_destroy(&io);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static void test_destroy_uninitialized(void **state)
{
	struct serial_16550 s;

	(void)state;
	/* The vmm destroys every device on its error path, inited or not. */
	memset(&s, 0, sizeof(s));
	serial_destroy(&s);
	assert_int_equal(serial_init(&s, -1, NULL), 0);
	serial_destroy(&s);
	serial_destroy(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab_divisor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch_and_lsr_dr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_trigger_and_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_buffering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_buffer_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_flushes_output, setup, teardown),
		cmocka_unit_test(test_output_fd_error),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test(test_concurrent_writers),
		cmocka_unit_test(test_drives_ioapic),
		cmocka_unit_test(test_destroy_uninitialized),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
