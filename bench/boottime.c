/* boottime: runs a command N times and reports, from fork to event, the time
 * to its first byte on stdout and to its exit (median, min, max). Measuring
 * from outside treats Warden and QEMU alike.
 *   usage: boottime N LABEL -- command [args...] */
#include <errno.h>
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

static int run_once(char **argv, double *first, double *total, int *status)
{
	int p[2], ws;
	char buf[4096];
	double t0;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	t0 = now_ms();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*first = -1;
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));

		if (n > 0 && *first < 0)
			*first = now_ms() - t0;
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
	int n, status = 0, dash = 3;
	double *first, *total;

	if (argc < 5 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: boottime N LABEL -- command [args...]\n");
		return 2;
	}
	n = atoi(argv[1]);
	if (n < 1 || n > 1000)
		return 2;
	first = calloc(n, sizeof(double));
	total = calloc(n, sizeof(double));
	for (int i = 0; i < n; i++) {
		if (run_once(argv + dash + 1, &first[i], &total[i], &status) < 0) {
			perror("boottime");
			return 1;
		}
	}
	qsort(first, n, sizeof(double), cmp);
	qsort(total, n, sizeof(double), cmp);
	printf("%-10s runs=%d first-byte median %.1f ms (min %.1f, max %.1f)  "
	       "exit median %.1f ms (min %.1f, max %.1f)  last status %d\n",
	       argv[2], n, first[n / 2], first[0], first[n - 1], total[n / 2], total[0],
	       total[n - 1], status);
	free(first);
	free(total);
	return 0;
}
