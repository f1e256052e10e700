/* Serial console: COM1 16550 at 0x3f8, polled, with a printf-style
 * formatter. Every port access is a VM exit (8-25 us on the development
 * hosts), so transmission checks LSR once per FIFO-full (16 bytes) instead of
 * once per byte. Output is serialised by a spinlock so lines from several
 * CPUs do not interleave. */
#include "priv.h"

#define COM1        0x3f8
#define UART_THR    0
#define UART_IER    1
#define UART_FCR    2
#define UART_IIR    2
#define UART_LCR    3
#define UART_MCR    4
#define UART_LSR    5
#define UART_DLL    0
#define UART_DLM    1
#define LSR_THRE    0x20
#define LCR_DLAB    0x80
#define LCR_8N1     0x03
#define FCR_ENABLE_CLEAR 0x07
#define MCR_DTR_RTS 0x03
#define IIR_FIFO_ON 0xc0

static rt_spinlock_t console_lock;
static volatile int console_owner = -1;
static unsigned tx_room;               /* bytes we may write before polling LSR */
static unsigned tx_fifo_size = 1;

void rt_console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, LCR_DLAB);
	outb(COM1 + UART_DLL, 1);      /* 115200 baud */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, LCR_8N1);
	outb(COM1 + UART_FCR, FCR_ENABLE_CLEAR);
	outb(COM1 + UART_MCR, MCR_DTR_RTS);
	tx_fifo_size = (inb(COM1 + UART_IIR) & IIR_FIFO_ON) == IIR_FIFO_ON ? 16 : 1;
	tx_room = 0;
}

static void serial_tx(char c)
{
	if (tx_room == 0) {
		while (!(inb(COM1 + UART_LSR) & LSR_THRE))
			cpu_relax();
		/* THRE with the FIFO on means the whole FIFO is empty. */
		tx_room = tx_fifo_size;
	}
	outb(COM1 + UART_THR, (uint8_t)c);
	tx_room--;
}

static void console_acquire(void)
{
	rt_spin_lock(&console_lock);
	console_owner = (int)cpu_index();
}

static void console_release(void)
{
	console_owner = -1;
	rt_spin_unlock(&console_lock);
}

void rt_console_panic_begin(void)
{
	/* Faulting while printing must not deadlock the report: steal the lock
	 * from ourselves at once, from another CPU after a bounded wait. */
	if (console_owner == (int)cpu_index()) {
		console_owner = -1;
		rt_spin_unlock(&console_lock);
	}
	for (unsigned i = 0; i < 20000; i++) {
		if (rt_spin_trylock(&console_lock)) {
			rt_spin_unlock(&console_lock);
			return;
		}
		cpu_relax();
	}
	console_owner = -1;
	rt_spin_unlock(&console_lock);
}

/* ---- formatter ---- */

struct fmt_out {
	void (*emit)(struct fmt_out *o, char c);
	char *buf;
	size_t len, pos;
	int count;
};

static void out_char(struct fmt_out *o, char c)
{
	o->emit(o, c);
	o->count++;
}

static void out_pad(struct fmt_out *o, char c, int n)
{
	while (n-- > 0)
		out_char(o, c);
}

static void out_number(struct fmt_out *o, uint64_t v, unsigned base, bool upper,
		       bool negative, int width, bool zero, bool left, const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0, plen = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (negative)
		plen = 1;
	else if (prefix)
		plen = (int)strlen(prefix);
	int pad = width - n - plen;
	if (!left && !zero)
		out_pad(o, ' ', pad);
	if (negative)
		out_char(o, '-');
	else if (prefix)
		for (const char *p = prefix; *p; p++)
			out_char(o, *p);
	if (!left && zero)
		out_pad(o, '0', pad);
	while (n)
		out_char(o, tmp[--n]);
	if (left)
		out_pad(o, ' ', pad);
}

static int format(struct fmt_out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_char(o, *fmt);
			continue;
		}
		bool left = false, zero = false;
		int width = 0, lng = 0;

		for (fmt++;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = true;
				width = -width;
			}
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' || *fmt == 't')
				lng++;
			else if (*fmt != 'h')
				break;
		}

		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
			uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
			out_number(o, u, 10, false, v < 0, width, zero, left, NULL);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			out_number(o, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width,
				   zero, left, NULL);
			break;
		}
		case 'p':
			out_number(o, (uintptr_t)va_arg(ap, void *), 16, false, false, width,
				   zero, left, "0x");
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = (int)strlen(s);
			if (!left)
				out_pad(o, ' ', width - n);
			while (*s)
				out_char(o, *s++);
			if (left)
				out_pad(o, ' ', width - n);
			break;
		}
		case 'c':
			if (!left)
				out_pad(o, ' ', width - 1);
			out_char(o, (char)va_arg(ap, int));
			if (left)
				out_pad(o, ' ', width - 1);
			break;
		case '%':
			out_char(o, '%');
			break;
		case '\0':
			return o->count;
		default:                       /* unknown: print it verbatim */
			out_char(o, '%');
			out_char(o, *fmt);
			break;
		}
	}
	return o->count;
}

static void emit_serial(struct fmt_out *o, char c)
{
	(void)o;
	serial_tx(c);
}

static void emit_buffer(struct fmt_out *o, char c)
{
	if (o->pos + 1 < o->len)
		o->buf[o->pos] = c;
	o->pos++;
}

int vprintf(const char *fmt, va_list ap)
{
	struct fmt_out o = { .emit = emit_serial };

	console_acquire();
	int n = format(&o, fmt, ap);
	console_release();
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct fmt_out o = { .emit = emit_buffer, .buf = buf, .len = len };
	int n = format(&o, fmt, ap);

	if (len)
		buf[o.pos < len ? o.pos : len - 1] = '\0';
	return n;
}

int snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

int puts(const char *s)
{
	int n = 0;

	console_acquire();
	for (; s[n]; n++)
		serial_tx(s[n]);
	serial_tx('\n');
	console_release();
	return n + 1;
}

int putchar(int c)
{
	console_acquire();
	serial_tx((char)c);
	console_release();
	return (uint8_t)c;
}
