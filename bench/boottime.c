/* boottime: runs a command N times and reports, from fork to event, the time
 * to its first byte on stdout, to the first appearance of MARKER (the guest's
 * own first line: a firmware banner can come before it) and to its exit
 * (median, min, max). Measuring from outside treats Warden and QEMU alike.
 *   usage: boottime N LABEL MARKER -- command [args...] */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int run_once(char **argv, const char *marker, double *first, double *mark,
		    double *total, int *status)
{
	int p[2], ws;
	char buf[4096], tail[8192];
	size_t tail_len = 0, mlen = strlen(marker);
	double t0;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(p[1], STDOUT_FILENO);
		if (devnull >= 0)
			dup2(devnull, STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*first = -1;
	*mark = -1;
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n > 0 && *first < 0)
			*first = now_ms() - t0;
		if (n > 0 && *mark < 0) {
			/* Keep the last bytes so a marker split across reads is found. */
			if (tail_len + (size_t)n > sizeof(tail)) {
				size_t keep = mlen < tail_len ? mlen : tail_len;

				memmove(tail, tail + tail_len - keep, keep);
				tail_len = keep;
			}
			if ((size_t)n <= sizeof(tail) - tail_len) {
				memcpy(tail + tail_len, buf, (size_t)n);
				tail_len += (size_t)n;
			}
			if (memmem(tail, tail_len, marker, mlen))
				*mark = now_ms() - t0;
		}
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	close(p[0]);
	waitpid(pid, &ws, 0);
	*total = now_ms() - t0;
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return 0;
}

int main(int argc, char **argv)
{
	int n, status = 0, dash = 4;
	double *first, *mark, *total;

	if (argc < 6 || strcmp(argv[4], "--") || !argv[3][0]) {
		fprintf(stderr, "usage: boottime N LABEL MARKER -- command [args...]\n");
		return 2;
	}
	n = atoi(argv[1]);
	if (n < 1 || n > 1000)
		return 2;
	first = calloc(n, sizeof(double));
	mark = calloc(n, sizeof(double));
	total = calloc(n, sizeof(double));
	for (int i = 0; i < n; i++) {
		if (run_once(argv + dash + 1, argv[3], &first[i], &mark[i], &total[i], &status) < 0) {
			perror("boottime");
			return 1;
		}
	}
	qsort(first, n, sizeof(double), cmp);
	qsort(mark, n, sizeof(double), cmp);
	qsort(total, n, sizeof(double), cmp);
	printf("%-8s runs=%d  first byte %.1f ms [%.1f-%.1f]  first guest line (\"%s\") %.1f ms "
	       "[%.1f-%.1f]  exit %.1f ms [%.1f-%.1f]  (median [min-max]; last status %d)\n",
	       argv[2], n, first[n / 2], first[0], first[n - 1], argv[3], mark[n / 2], mark[0],
	       mark[n - 1], total[n / 2], total[0], total[n - 1], status);
	if (mark[0] < 0)
		printf("%-8s marker \"%s\" not seen in at least one run\n", argv[2], argv[3]);
	free(first);
	free(mark);
	free(total);
	return 0;
}
