/* vmrun: runs one VMM process (Warden or QEMU - it does not care which)
 * with its console on a pipe and, as each line of output arrives, samples
 * the process's CPU time and its VM's exit counters. scripts/bench.sh
 * turns the samples at a workload's window markers (blkbench.h: marks=1)
 * into CPU time and exits per I/O; measuring from outside treats Warden and
 * QEMU alike.
 *
 *   usage: vmrun [--timeout S] -- command [args...]
 *
 * Output, tab-separated, one record per line (times in ms since the fork):
 *   V  2                       the record format (first line)
 *   F  ms                      the first byte of output
 *   L  ms  cpu_ns  stat_ns  guest_ns  host_ns  exits  pio_exits  mmio_exits  text
 *                              a line of output (stdout and stderr merged)
 *                              with the samples taken when it arrived:
 *        cpu_ns     user+sys CPU of the process's live threads, summed
 *                   from /proc/PID/task/T/schedstat (ns resolution)
 *        stat_ns    the same from /proc/PID/stat utime+stime (clock-tick
 *                   resolution; what getrusage reports, dead threads too)
 *        guest_ns   the part of it the kernel accounted as guest time
 *                   (running a vCPU): guest_time of every live thread,
 *                   /proc/PID/task/T/stat field 43, clock ticks
 *        host_ns    CPU time the whole host has spent busy since boot, all
 *                   CPUs (/proc/stat "cpu": all but idle and iowait, clock
 *                   ticks): its growth minus cpu_ns's over a window is
 *                   what other work took from the measurement
 *        exits      KVM_RUN returns to the VMM's userspace so far, all
 *                   threads: the kvm:kvm_userspace_exit tracepoint counted
 *                   by perf_event_open (inherited by every thread, from the
 *                   exec on); pio_exits / mmio_exits: the same filtered on
 *                   reason KVM_EXIT_IO / KVM_EXIT_MMIO. -1 where the
 *                   tracepoint cannot be opened (no tracefs, no permission).
 *                   KVM's debugfs counters would do too, but they are not
 *                   readable on every host (EPERM on the development VMs).
 *   X  ms  status  ru_cpu_ns  ru_utime_ns  ru_stime_ns  exits  pio_exits  mmio_exits
 *                              exit: status as a shell reports it
 *                              (124 after --timeout), the rusage of the
 *                              whole run (wait4) and its exit counts
 * The runner raises its own priority a little (nice -5, where allowed) so
 * that it reads a marker promptly on a host whose cores the VMM keeps
 * busy; the command runs at the caller's priority. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TP_ID_PATH   "events/kvm/kvm_userspace_exit/id"
#define KVM_EXIT_IO   2
#define KVM_EXIT_MMIO 6

static int exit_fd[3] = { -1, -1, -1 };   /* all, IO, MMIO */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* guest_time (field 43) of a /proc stat line, in clock ticks; -1 if absent. */
static long long stat_guest_ticks(const char *buf)
{
	const char *p = strrchr(buf, ')');
	int field = 2;

	if (!p)
		return -1;
	for (p++; *p; p++)
		if (*p == ' ' && ++field == 43)
			return strtoll(p + 1, NULL, 10);
	return -1;
}

/* Over every live thread: the first field of schedstat (time on CPU, ns)
 * into *cpu, guest_time into *guest (ns). */
static void thread_cpu_ns(pid_t pid, int64_t *cpu, int64_t *guest)
{
	char path[64], buf[1024];
	struct dirent *e;
	DIR *d;

	*cpu = *guest = -1;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	*cpu = *guest = 0;
	while ((e = readdir(d))) {
		char p[300];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		if (read_file(p, buf, sizeof(buf)) == 0)
			*cpu += strtoll(buf, NULL, 10);
		snprintf(p, sizeof(p), "/proc/%d/task/%s/stat", (int)pid, e->d_name);
		long long g = read_file(p, buf, sizeof(buf)) == 0 ? stat_guest_ticks(buf) : -1;
		if (g > 0)
			*guest += g * (1000000000ll / sysconf(_SC_CLK_TCK));
	}
	closedir(d);
}

/* utime + stime (fields 14 and 15) of /proc/PID/stat, in ns. */
static int64_t stat_cpu_ns(pid_t pid)
{
	char path[64], buf[1024], *p;
	long long ut, st;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')))
		return -1;
	/* After "pid (comm)": state is field 3, utime 14, stime 15. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut, &st) != 2)
		return -1;
	return (int64_t)(ut + st) * (1000000000ll / sysconf(_SC_CLK_TCK));
}

/* Busy time of the whole host since boot, ns (clock-tick resolution). */
static int64_t host_busy_ns(void)
{
	char buf[512];
	long long v[10] = { 0 };

	if (read_file("/proc/stat", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "cpu %lld %lld %lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		   &v[7]) != 8)
		return -1;
	/* user nice system idle iowait irq softirq steal: guest time is
	 * inside user already. */
	return (int64_t)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (1000000000ll / sysconf(_SC_CLK_TCK));
}

/* The tracepoint's id from tracefs, mounting tracefs where it is not (as
 * perf does). -1 if it cannot be found. */
static long tracepoint_id(void)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char path[128], buf[32];

	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < 2; i++) {
			snprintf(path, sizeof(path), "%s/" TP_ID_PATH, roots[i]);
			if (read_file(path, buf, sizeof(buf)) == 0)
				return strtol(buf, NULL, 10);
		}
		if (pass == 0 && mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) < 0)
			break;
	}
	return -1;
}

/* Counting events on pid, disabled until its exec and inherited by every
 * thread it creates; a read gives the total over all of them. */
static void exits_open(pid_t pid)
{
	long id = tracepoint_id();
	const int reasons[3] = { -1, KVM_EXIT_IO, KVM_EXIT_MMIO };

	if (id < 0)
		return;
	for (int i = 0; i < 3; i++) {
		char filter[32];
		struct perf_event_attr a;
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_TRACEPOINT;
		a.config = (uint64_t)id;
		a.disabled = 1;
		a.enable_on_exec = 1;
		a.inherit = 1;
		int fd = (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
		snprintf(filter, sizeof(filter), "reason == %d", reasons[i]);
		if (fd >= 0 && reasons[i] >= 0 && ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter) < 0) {
			close(fd);
			fd = -1;
		}
		exit_fd[i] = fd;
	}
}

static void exits_read(int64_t out[3])
{
	for (int i = 0; i < 3; i++) {
		uint64_t v;
		out[i] = exit_fd[i] >= 0 && read(exit_fd[i], &v, sizeof(v)) == sizeof(v) ? (int64_t)v : -1;
	}
}

static void emit_line(const char *line, size_t len, double t, pid_t pid)
{
	char text[4096];

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, line, len);
	text[len] = '\0';
	if (len && text[len - 1] == '\r')
		text[len - 1] = '\0';
	/* Tabs would split the record. */
	for (char *p = text; *p; p++)
		if (*p == '\t')
			*p = ' ';
	int64_t k[3], c, g, s = stat_cpu_ns(pid), h = host_busy_ns();
	thread_cpu_ns(pid, &c, &g);
	exits_read(k);
	printf("L\t%.3f\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64
	       "\t%s\n", t, c, s, g, h, k[0], k[1], k[2], text);
}

int main(int argc, char **argv)
{
	double timeout_s = 600, t0, t_first = -1;
	int argi = 1, p[2], ws = 0, status;
	char buf[65536], line[8192];
	size_t line_len = 0;
	struct rusage ru;
	bool timed_out = false;
	pid_t pid;

	for (; argi < argc && strcmp(argv[argi], "--"); argi++) {
		if (!strcmp(argv[argi], "--timeout") && argi + 1 < argc)
			timeout_s = atof(argv[++argi]);
		else
			break;
	}
	if (argi >= argc - 1 || strcmp(argv[argi], "--")) {
		fprintf(stderr, "usage: vmrun [--timeout S] -- command [args...]\n");
		return 2;
	}
	argi++;
	int go[2];
	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		perror("vmrun: pipe");
		return 3;
	}
	int prio = getpriority(PRIO_PROCESS, 0);
	t0 = now_ms();
	pid = fork();
	if (pid < 0) {
		perror("vmrun: fork");
		return 3;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		char c;

		/* Wait until the parent has its counters on this process. */
		close(go[1]);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;

		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execvp(argv[argi], argv + argi);
		fprintf(stderr, "vmrun: %s: %s\n", argv[argi], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	close(go[0]);
	exits_open(pid);
	close(go[1]);
	printf("V\t2\n");
	/* Best effort; an unprivileged caller keeps its priority. */
	if (setpriority(PRIO_PROCESS, 0, prio - 5) < 0)
		errno = 0;
	for (;;) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		double left = timeout_s * 1e3 - (now_ms() - t0);
		if (left <= 0 && !timed_out) {
			kill(pid, SIGKILL);
			timed_out = true;
		}
		int r = poll(&pfd, 1, timed_out ? 1000 : (int)(left < 1000 ? left + 1 : 1000));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			continue;
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		double t = now_ms() - t0;
		if (t_first < 0) {
			t_first = t;
			printf("F\t%.3f\n", t);
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				emit_line(line, line_len, t, pid);
				line_len = 0;
			} else if (line_len < sizeof(line)) {
				line[line_len++] = buf[i];
			}
		}
		fflush(stdout);
	}
	if (line_len)
		emit_line(line, line_len, now_ms() - t0, pid);
	close(p[0]);
	while (wait4(pid, &ws, 0, &ru) < 0 && errno == EINTR)
		;
	double t_end = now_ms() - t0;
	status = timed_out ? 124 : WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	int64_t ut = (int64_t)ru.ru_utime.tv_sec * 1000000000ll + (int64_t)ru.ru_utime.tv_usec * 1000ll;
	int64_t st = (int64_t)ru.ru_stime.tv_sec * 1000000000ll + (int64_t)ru.ru_stime.tv_usec * 1000ll;
	int64_t k[3];
	exits_read(k);
	printf("X\t%.3f\t%d\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n", t_end,
	       status, ut + st, ut, st, k[0], k[1], k[2]);
	return 0;
}
