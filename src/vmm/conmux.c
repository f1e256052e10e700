#include "vmm/conmux.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct conmux_source {
	int rfd;
	char prefix[16];
	size_t prefix_len;
	char line[CONMUX_LINE_MAX];
	size_t len;
	bool eof;
};

struct conmux {
	int out_fd;
	int stop_fd;                    /* eventfd: tells the thread to end */
	pthread_mutex_t lock;           /* reads, line buffers and writes */
	pthread_t thread;
	bool started;
	unsigned nr;
	struct conmux_source src[CONMUX_MAX_SOURCES];
};

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			poll(&p, 1, 100);
			continue;
		}
		if (n <= 0) {
			log_warn("console: writing to fd %d: %s; output lost", fd,
				 n < 0 ? strerror(errno) : "no progress");
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* One write per line: the prefix, the line and its newline go out
 * together, so nothing else lands in the middle. */
static void emit_line(struct conmux *mx, struct conmux_source *s, bool add_newline)
{
	char buf[sizeof(s->prefix) + CONMUX_LINE_MAX + 1];
	size_t n = 0;

	memcpy(buf, s->prefix, s->prefix_len);
	n += s->prefix_len;
	memcpy(buf + n, s->line, s->len);
	n += s->len;
	if (add_newline)
		buf[n++] = '\n';
	write_all(mx->out_fd, buf, n);
	s->len = 0;
}

/* Under mx->lock: takes what the pipe holds and writes out whole lines. */
static void pump(struct conmux *mx, struct conmux_source *s)
{
	char buf[4096];

	while (!s->eof) {
		ssize_t n = read(s->rfd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			s->eof = true;
		if (n <= 0)
			break;          /* EAGAIN: the pipe is empty for now */
		for (ssize_t i = 0; i < n; i++) {
			s->line[s->len++] = buf[i];
			if (buf[i] == '\n')
				emit_line(mx, s, false);
			else if (s->len == CONMUX_LINE_MAX)
				emit_line(mx, s, true);
		}
	}
	if (s->eof && s->len)
		emit_line(mx, s, true);
}

static void *conmux_thread(void *arg)
{
	struct conmux *mx = arg;

	for (;;) {
		struct pollfd p[CONMUX_MAX_SOURCES + 1];
		unsigned idx[CONMUX_MAX_SOURCES], n = 0;

		pthread_mutex_lock(&mx->lock);
		for (unsigned i = 0; i < mx->nr; i++) {
			if (mx->src[i].eof)
				continue;
			p[n] = (struct pollfd){ .fd = mx->src[i].rfd, .events = POLLIN };
			idx[n++] = i;
		}
		pthread_mutex_unlock(&mx->lock);
		p[n] = (struct pollfd){ .fd = mx->stop_fd, .events = POLLIN };
		if (poll(p, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("console: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[n].revents)
			return NULL;    /* conmux_destroy drains what is left */
		pthread_mutex_lock(&mx->lock);
		for (unsigned k = 0; k < n; k++)
			if (p[k].revents)
				pump(mx, &mx->src[idx[k]]);
		pthread_mutex_unlock(&mx->lock);
	}
}

int conmux_create(int out_fd, struct conmux **out)
{
	struct conmux *mx = calloc(1, sizeof(*mx));

	if (!mx)
		return -ENOMEM;
	mx->out_fd = out_fd;
	mx->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (mx->stop_fd < 0) {
		int ret = -errno;

		free(mx);
		return ret;
	}
	pthread_mutex_init(&mx->lock, NULL);
	*out = mx;
	return 0;
}

int conmux_add(struct conmux *mx, const char *prefix)
{
	struct conmux_source *s;
	int fds[2];

	if (mx->started || mx->nr == CONMUX_MAX_SOURCES)
		return -ENOSPC;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	/* The reader never blocks on one source while others have lines; the
	 * writer (a UART) blocks when the pipe is full, as a slow terminal
	 * would make it. */
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		int ret = -errno;

		close(fds[0]);
		close(fds[1]);
		return ret;
	}
	s = &mx->src[mx->nr++];
	s->rfd = fds[0];
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	s->prefix_len = strlen(s->prefix);
	return fds[1];
}

int conmux_start(struct conmux *mx)
{
	int ret = pthread_create(&mx->thread, NULL, conmux_thread, mx);

	if (ret) {
		log_error("console: starting the output thread: %s", strerror(ret));
		return -ret;
	}
	mx->started = true;
	return 0;
}

void conmux_drain(struct conmux *mx, unsigned source)
{
	struct conmux_source *s;

	if (!mx || source >= mx->nr)
		return;
	s = &mx->src[source];
	pthread_mutex_lock(&mx->lock);
	pump(mx, s);
	if (s->len)
		emit_line(mx, s, true);
	pthread_mutex_unlock(&mx->lock);
}

void conmux_destroy(struct conmux *mx)
{
	uint64_t one = 1;

	if (!mx)
		return;
	if (mx->started) {
		if (write(mx->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("console: cannot signal the output thread: %s", strerror(errno));
		pthread_join(mx->thread, NULL);
	}
	for (unsigned i = 0; i < mx->nr; i++) {
		conmux_drain(mx, i);
		close(mx->src[i].rfd);
	}
	close(mx->stop_fd);
	pthread_mutex_destroy(&mx->lock);
	free(mx);
}
