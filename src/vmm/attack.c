/* `warden attack`: runs the DMA attack gallery and judges every run from
 * its output; see attack.h and docs/security.md. */
#include "vmm/attack.h"
#include "base/arena.h"
#include "vmm/config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESULT_TAG       "attack-result: "
#define DEFAULT_MEM      (128ull << 20)
#define DEFAULT_TIMEOUT  120
#define KILL_GRACE_MS    5000
#define TAIL_BYTES       4096

/* The gallery: program name (guest/progs/attack-NAME.c) and the guest
 * fault reasons its defences must record ("host": the stats port counts
 * host IOMMU faults; "none": no fault at all may be recorded). */
static const struct gallery_entry {
	const char *name;
	const char *faults;
} gallery[] = {
	{ "unmapped",  "0x05,0x06" },
	{ "private",   "0x07,0x08,0x09,host" },
	{ "stale",     "0x05,0x06" },
	{ "identity",  "0x03" },
	{ "superpage", "0x05,0x06" },
	{ "msi-spoof", "0x20,0x21,0x22,0x25,0x26" },
	{ "bme",       "none" },
	{ "cross-vm",  "host" },
};

static const char *const modes[] = { "nested", "shadow" };

/* ---- the output parser ---- */

void attack_parser_init(struct attack_parser *p, struct attack_report *r)
{
	memset(r, 0, sizeof(*r));
	r->result_vm = -1;
	memset(p, 0, sizeof(*p));
	p->r = r;
	p->stats_vm = -1;
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((struct attack_report *)0)->name))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static bool lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* "none", or a comma list of 0xNN and "host". */
static bool faults_ok(const char *s, size_t n)
{
	if (n == 4 && !strncmp(s, "none", 4))
		return true;
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && s[j] != ',')
			j++;
		bool hex = j - i == 4 && s[i] == '0' && s[i + 1] == 'x' && lower_hex(s[i + 2]) && lower_hex(s[i + 3]);
		if (!hex && !(j - i == 4 && !strncmp(s + i, "host", 4)))
			return false;
		if (j < n && j + 1 == n)
			return false;           /* a trailing comma */
		i = j + 1;
	}
	return n > 0;
}

/* Takes "KEY=" at *s and the value up to the next space (or the end if
 * last); false if the key is not there. */
static bool take_field(const char **s, const char *key, bool last, const char **val, size_t *len)
{
	size_t k = strlen(key);

	if (strncmp(*s, key, k) || (*s)[k] != '=')
		return false;
	*val = *s + k + 1;
	*len = last ? strlen(*val) : strcspn(*val, " ");
	*s = *val + *len;
	if (!last && **s == ' ')
		(*s)++;
	return true;
}

static void result_line(struct attack_report *r, int vm, const char *s)
{
	const char *name, *outcome, *faults, *detail;
	size_t nl, ol, fl, dl;

	if (++r->result_lines > 1)
		return;                 /* the verdict refuses more than one */
	r->result_vm = vm;
	if (!take_field(&s, "name", false, &name, &nl) || !take_field(&s, "outcome", false, &outcome, &ol) ||
	    !take_field(&s, "fault", false, &faults, &fl) || !take_field(&s, "detail", true, &detail, &dl)) {
		snprintf(r->parse_error, sizeof(r->parse_error), "result line lacks name=, outcome=, fault= or "
			 "detail= in that order");
		return;
	}
	if (!name_ok(name, nl)) {
		snprintf(r->parse_error, sizeof(r->parse_error), "bad name '%.*s'", (int)(nl > 40 ? 40 : nl), name);
		return;
	}
	if (!faults_ok(faults, fl) || fl >= sizeof(r->faults)) {
		snprintf(r->parse_error, sizeof(r->parse_error), "bad fault list '%.*s'", (int)(fl > 60 ? 60 : fl),
			 faults);
		return;
	}
	if (ol == 7 && !strncmp(outcome, "blocked", 7))
		r->outcome = ATTACK_OUTCOME_BLOCKED;
	else if (ol == 6 && !strncmp(outcome, "BREACH", 6))
		r->outcome = ATTACK_OUTCOME_BREACH;
	else if (ol == 6 && !strncmp(outcome, "window", 6))
		r->outcome = ATTACK_OUTCOME_WINDOW;
	else if (ol == 5 && !strncmp(outcome, "error", 5))
		r->outcome = ATTACK_OUTCOME_ERROR;
	else {
		snprintf(r->parse_error, sizeof(r->parse_error), "bad outcome '%.*s'", (int)(ol > 20 ? 20 : ol),
			 outcome);
		return;
	}
	snprintf(r->name, sizeof(r->name), "%.*s", (int)nl, name);
	snprintf(r->faults, sizeof(r->faults), "%.*s", (int)fl, faults);
	snprintf(r->detail, sizeof(r->detail), "%.*s", (int)dl, detail);
}

/* Host lines carry no prefix; with several VMs on stdout every guest line
 * is "[vmN] ...", so no guest can forge a host line (or another VM's). */
static void parse_line(struct attack_parser *p, char *s)
{
	struct attack_report *r = p->r;
	size_t n = strlen(s);
	int vm = -1;

	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = 0;
	if (!strncmp(s, "[vm", 3)) {
		char *end;
		long v = strtol(s + 3, &end, 10);

		if (end == s + 3 || v < 0 || v > 99 || strncmp(end, "] ", 2))
			return;         /* a prefix we do not know: no host line either */
		vm = (int)v;
		s = end + 2;
	}
	if (!strncmp(s, RESULT_TAG, strlen(RESULT_TAG))) {
		result_line(r, vm, s + strlen(RESULT_TAG));
		return;
	}
	if (vm == 0 && !strncmp(s, "victim: filled ", 15)) {
		r->victim_ran = true;
		return;
	}
	if (vm >= 0)
		return;
	if (!strncmp(s, "warden stats: vm", 16)) {
		p->stats_vm = atoi(s + 16);
	} else if (!strncmp(s, "warden stats:", 13)) {
		p->stats_vm = -1;
	} else if (!strncmp(s, "warden: vm0 RAM changed after it stopped", 40)) {
		r->victim_ram = ATTACK_BAD;
	} else if (p->stats_vm == 0 && strstr(s, "RAM after stop")) {
		if (strstr(s, " unchanged ") && r->victim_ram != ATTACK_BAD)
			r->victim_ram = ATTACK_GOOD;
		else
			r->victim_ram = ATTACK_BAD;
	} else if (strstr(s, "hypervisor canaries  ")) {
		if (strstr(s, "  intact") && r->canaries != ATTACK_BAD)
			r->canaries = ATTACK_GOOD;
		else
			r->canaries = ATTACK_BAD;
	} else if (strstr(s, "hypervisor-private canaries were overwritten")) {
		r->canaries = ATTACK_BAD;
	}
}

void attack_parser_feed(struct attack_parser *p, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			p->line[p->len] = 0;
			parse_line(p, p->line);
			p->len = 0;
		} else if (p->len + 1 < sizeof(p->line)) {
			p->line[p->len++] = data[i];
		}
	}
}

void attack_parser_finish(struct attack_parser *p, int wait_status, bool timed_out)
{
	struct attack_report *r = p->r;

	if (p->len) {
		p->line[p->len] = 0;
		parse_line(p, p->line);
		p->len = 0;
	}
	r->timed_out = timed_out;
	if (WIFEXITED(wait_status)) {
		r->exited = true;
		r->exit_status = WEXITSTATUS(wait_status);
	} else if (WIFSIGNALED(wait_status)) {
		r->term_signal = WTERMSIG(wait_status);
	}
}

void attack_parse_output(const char *out, size_t len, int wait_status, bool timed_out, struct attack_report *r)
{
	struct attack_parser p;

	attack_parser_init(&p, r);
	attack_parser_feed(&p, out, len);
	attack_parser_finish(&p, wait_status, timed_out);
}

/* ---- the verdict ---- */

static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *s = list; *s;) {
		size_t k = strcspn(s, ",");
		if (k == n && !strncmp(s, item, n))
			return true;
		s += k + (s[k] == ',');
	}
	return false;
}

static const char *outcome_name(enum attack_outcome o)
{
	switch (o) {
	case ATTACK_OUTCOME_BLOCKED: return "blocked";
	case ATTACK_OUTCOME_BREACH:  return "BREACH";
	case ATTACK_OUTCOME_WINDOW:  return "window";
	case ATTACK_OUTCOME_ERROR:   return "error";
	default:                     return "-";
	}
}

bool attack_verdict(const struct attack_report *r, const char *want_name, const char *want_faults, char *why,
		    size_t why_len)
{
	why[0] = 0;
	if (r->timed_out)
		snprintf(why, why_len, "timed out after %.0f s", r->seconds);
	else if (!r->exited)
		snprintf(why, why_len, "warden killed by signal %d (%s)", r->term_signal, strsignal(r->term_signal));
	else if (r->result_lines == 0 && r->exit_status == 127)
		snprintf(why, why_len, "the warden binary could not be run (exit status 127)");
	else if (r->result_lines == 0)
		snprintf(why, why_len, "no attack-result line");
	else if (r->result_lines > 1)
		snprintf(why, why_len, "%u attack-result lines", r->result_lines);
	else if (r->parse_error[0])
		snprintf(why, why_len, "malformed result: %s", r->parse_error);
	else if (r->result_vm != 1)
		snprintf(why, why_len, "result line from %s, not the attacker (vm1)",
			 r->result_vm < 0 ? "no VM prefix" : r->result_vm == 0 ? "vm0" : "another VM");
	else if (strcmp(r->name, want_name))
		snprintf(why, why_len, "result names '%s', expected '%s'", r->name, want_name);
	else if (r->outcome != ATTACK_OUTCOME_BLOCKED)
		snprintf(why, why_len, "%s: %s",
			 r->outcome == ATTACK_OUTCOME_BREACH ? "BREACH" :
			 r->outcome == ATTACK_OUTCOME_WINDOW ? "window left open" : "attack could not be mounted",
			 r->detail);
	else if (!r->victim_ran)
		snprintf(why, why_len, "the victim VM did not fill its RAM");
	else if (r->victim_ram != ATTACK_GOOD)
		snprintf(why, why_len, "%s", r->victim_ram == ATTACK_BAD ? "victim RAM CHANGED" :
			 "no RAM-unchanged line for vm0");
	else if (r->canaries != ATTACK_GOOD)
		snprintf(why, why_len, "%s", r->canaries == ATTACK_BAD ? "hypervisor canaries CORRUPTED" :
			 "no canary line");
	else if (r->exit_status != 0)
		snprintf(why, why_len, "warden exit status %d", r->exit_status);
	if (why[0])
		return false;

	for (const char *s = want_faults; *s;) {
		size_t k = strcspn(s, ",");
		char item[8];

		snprintf(item, sizeof(item), "%.*s", (int)(k < 7 ? k : 7), s);
		s += k + (s[k] == ',');
		if (!strcmp(item, "none")) {
			if (strcmp(r->faults, "none")) {
				snprintf(why, why_len, "faults recorded where none may be: %s", r->faults);
				return false;
			}
		} else if (!strcmp(item, "host")) {
			if (!list_has(r->faults, "host")) {
				snprintf(why, why_len, "host IOMMU refusals not counted by the stats port");
				return false;
			}
		} else if (!list_has(r->faults, item)) {
			snprintf(why, why_len, "fault %s not recorded (got %s)", item, r->faults);
			return false;
		}
	}
	return true;
}

/* ---- running the children ---- */

struct runner {
	const char *warden;             /* the binary the children run */
	char guest_dir[PATH_MAX];
	const char *log_dir;
	uint64_t mem;
	unsigned timeout_s;
	char cmdline[256];              /* the host layout, for the attacker */
	char host_mem[32];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The last TAIL_BYTES of the output, to show with a failure. */
struct tail {
	char buf[TAIL_BYTES];
	size_t len;
};

static void tail_add(struct tail *t, const char *d, size_t n)
{
	if (n >= sizeof(t->buf)) {
		memcpy(t->buf, d + n - sizeof(t->buf), sizeof(t->buf));
		t->len = sizeof(t->buf);
		return;
	}
	if (t->len + n > sizeof(t->buf)) {
		size_t drop = t->len + n - sizeof(t->buf);
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, d, n);
	t->len += n;
}

/* fork/exec argv with stdout+stderr into a pipe, stdin from /dev/null,
 * bounded by timeout_s (SIGTERM, then SIGKILL after a grace period). */
static int run_child(const struct runner *rn, char *const argv[], FILE *log, struct attack_report *r,
		     struct tail *tail)
{
	struct attack_parser p;
	bool timed_out = false, killed = false;
	double t0 = now_s(), deadline = t0 + rn->timeout_s, hard = 0;
	int fds[2], status = 0;
	pid_t pid;

	attack_parser_init(&p, r);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(fds[0]);
		close(fds[1]);
		return -e;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		execv(argv[0], argv);
		fprintf(stderr, "warden attack: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		double now = now_s(), until = killed ? hard : deadline;
		struct pollfd pf = { .fd = fds[0], .events = POLLIN };
		char buf[8192];
		int ms = until > now ? (int)((until - now) * 1000) + 1 : 0;

		if (ms == 0) {
			if (killed) {
				kill(pid, SIGKILL);
				break;
			}
			timed_out = killed = true;
			kill(pid, SIGTERM);
			hard = now_s() + KILL_GRACE_MS / 1000.0;
			continue;
		}
		int n = poll(&pf, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		ssize_t got = read(fds[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;                  /* EOF: the child (and its threads) closed it */
		attack_parser_feed(&p, buf, (size_t)got);
		tail_add(tail, buf, (size_t)got);
		if (log)
			fwrite(buf, 1, (size_t)got, log);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->seconds = now_s() - t0;
	attack_parser_finish(&p, status, timed_out);
	r->seconds = now_s() - t0;
	return 0;
}

static bool file_ok(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct row {
	const struct gallery_entry *g;
	const char *mode;
	struct attack_report r;
	bool ok;
	char why[320];
};

static void run_one(const struct runner *rn, struct row *row, unsigned index, unsigned total)
{
	char victim[PATH_MAX + 16], attacker[PATH_MAX + 32], viommu[32], mem[32], log_path[PATH_MAX];
	struct tail tail = { .len = 0 };
	FILE *log = NULL;
	int ret;

	snprintf(victim, sizeof(victim), "%s/victim.elf", rn->guest_dir);
	snprintf(attacker, sizeof(attacker), "%s/attack-%s.elf", rn->guest_dir, row->g->name);
	snprintf(viommu, sizeof(viommu), "mode=%s", row->mode);
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(rn->mem >> 20));
	char *const argv[] = {
		(char *)rn->warden, "run", "--stats", "--host-mem", (char *)rn->host_mem, "--mem", mem, victim,
		"--vm", "--after", "0", "--viommu", viommu, "--device", "edu", "--mem", mem,
		"--cmdline", (char *)rn->cmdline, attacker, NULL,
	};

	if (rn->log_dir) {
		snprintf(log_path, sizeof(log_path), "%s/attack-%s-%s.log", rn->log_dir, row->g->name, row->mode);
		log = fopen(log_path, "w");
		if (!log)
			fprintf(stderr, "warden attack: cannot write %s: %s\n", log_path, strerror(errno));
	}
	fprintf(stderr, "warden attack: [%u/%u] %s (%s) ...\n", index, total, row->g->name, row->mode);
	ret = run_child(rn, argv, log, &row->r, &tail);
	if (log)
		fclose(log);
	if (ret < 0) {
		row->ok = false;
		snprintf(row->why, sizeof(row->why), "cannot start warden: %s", strerror(-ret));
	} else {
		row->ok = attack_verdict(&row->r, row->g->name, row->g->faults, row->why, sizeof(row->why));
	}
	fprintf(stderr, "warden attack: [%u/%u] %s (%s): %s%s (%.1f s)\n", index, total, row->g->name,
		row->mode, row->ok ? "blocked" : "FAILED: ", row->ok ? "" : row->why, row->r.seconds);
	if (!row->ok && tail.len) {
		fprintf(stderr, "warden attack: last output of that run:\n");
		fwrite(tail.buf, 1, tail.len, stderr);
		if (tail.buf[tail.len - 1] != '\n')
			fputc('\n', stderr);
	}
}

static const char *tristate(enum attack_tristate t, const char *good, const char *bad)
{
	return t == ATTACK_GOOD ? good : t == ATTACK_BAD ? bad : "unknown";
}

static void print_table(const struct row *rows, unsigned n, double secs)
{
	unsigned failed = 0;

	printf("%-10s %-7s %-9s %-8s %-27s %-10s %-9s %s\n", "attack", "mode", "expected", "outcome",
	       "fault reason recorded", "other VM", "canaries", "result");
	for (unsigned i = 0; i < n; i++) {
		const struct row *w = &rows[i];
		const char *other = !w->r.victim_ran ? "no victim" : tristate(w->r.victim_ram, "unchanged", "CHANGED");

		printf("%-10s %-7s %-9s %-8s %-27s %-10s %-9s %s%s (%.1f s)\n", w->g->name, w->mode, "blocked",
		       outcome_name(w->r.outcome), w->r.faults[0] ? w->r.faults : "-", other,
		       tristate(w->r.canaries, "intact", "CORRUPTED"), w->ok ? "ok" : "FAIL: ", w->ok ? "" : w->why,
		       w->r.seconds);
		failed += !w->ok;
	}
	printf("%u run%s, %u blocked, %u failed, %.1f s\n", n, n == 1 ? "" : "s", n - failed, failed, secs);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: warden attack [--mode nested|shadow] [--only NAME] [--guest-dir DIR]\n"
		"                     [--warden PATH] [--mem SIZE] [--timeout SECS] [--log DIR]\n\n"
		"Runs the DMA attack gallery (docs/security.md): each guest/progs/attack-NAME\n"
		"program as VM 1 of its own `warden run`, behind the guest-visible vIOMMU in\n"
		"both modes, after a victim VM 0 filled its RAM. Prints one row per run and\n"
		"exits 0 only if every attack was blocked, the victim's RAM is unchanged and\n"
		"the hypervisor canaries are intact.\n\n"
		"  --mode M        only vIOMMU mode M (default: nested and shadow)\n"
		"  --only NAME     only this attack (");
	for (size_t i = 0; i < sizeof(gallery) / sizeof(gallery[0]); i++)
		fprintf(out, "%s%s", i ? ", " : "", gallery[i].name);
	fprintf(out, ")\n"
		"  --guest-dir DIR where victim.elf and attack-*.elf are (default: guest/ next\n"
		"                  to the warden binary)\n"
		"  --warden PATH   the warden binary the runs use (default: this one)\n"
		"  --mem SIZE      each VM's RAM (default 128M)\n"
		"  --timeout SECS  per run (default %d)\n"
		"  --log DIR       keep each run's output as DIR/attack-NAME-MODE.log\n", DEFAULT_TIMEOUT);
}

/* The host layout the children will have (vmm/vmset.c, base/arena.c):
 * the private region first, then each VM's RAM in VM order, 2 MiB-aligned. */
static int layout(struct runner *rn)
{
	struct run_config *rc = calloc(1, sizeof(*rc));
	uint64_t ram = (rn->mem + ARENA_VM_ALIGN - 1) & ~(ARENA_VM_ALIGN - 1), host;

	if (!rc)
		return -ENOMEM;
	rc->nr_vms = 2;
	rc->vms[0].mem_size = rc->vms[1].mem_size = rn->mem;
	host = config_run_host_mem(rc);
	free(rc);
	snprintf(rn->host_mem, sizeof(rn->host_mem), "%lluM", (unsigned long long)(host >> 20));
	snprintf(rn->cmdline, sizeof(rn->cmdline),
		 "priv=0x0+0x%llx victim=0x%llx+0x%llx self=0x%llx+0x%llx hostmem=0x0+0x%llx",
		 (unsigned long long)CONFIG_DEFAULT_PRIVATE, (unsigned long long)CONFIG_DEFAULT_PRIVATE,
		 (unsigned long long)ram, (unsigned long long)(CONFIG_DEFAULT_PRIVATE + ram),
		 (unsigned long long)ram, (unsigned long long)host);
	return 0;
}

int attack_main(int argc, char **argv)
{
	static char self[PATH_MAX];
	struct runner rn = { .mem = DEFAULT_MEM, .timeout_s = DEFAULT_TIMEOUT };
	const char *only = NULL, *mode = NULL, *guest_dir = NULL;
	struct row *rows;
	unsigned n = 0, total, failed = 0;
	ssize_t len;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v || strncmp(a, "--", 2)) {
			fprintf(stderr, "warden attack: %s '%s' (see warden attack --help)\n",
				strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--mode")) {
			if (strcmp(v, "nested") && strcmp(v, "shadow")) {
				fprintf(stderr, "warden attack: invalid --mode '%s' (nested or shadow)\n", v);
				return 2;
			}
			mode = v;
		} else if (!strcmp(a, "--only")) {
			only = v;
		} else if (!strcmp(a, "--guest-dir")) {
			guest_dir = v;
		} else if (!strcmp(a, "--warden")) {
			rn.warden = v;
		} else if (!strcmp(a, "--log")) {
			rn.log_dir = v;
		} else if (!strcmp(a, "--mem")) {
			if (config_parse_size(v, &rn.mem) < 0 || rn.mem < (16ull << 20) || rn.mem > (2ull << 30)) {
				fprintf(stderr, "warden attack: invalid --mem '%s' (16M to 2G)\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--timeout")) {
			char *end;
			unsigned long t = strtoul(v, &end, 10);
			if (*end || t == 0 || t > 3600) {
				fprintf(stderr, "warden attack: invalid --timeout '%s' (1 to 3600 seconds)\n", v);
				return 2;
			}
			rn.timeout_s = (unsigned)t;
		} else {
			fprintf(stderr, "warden attack: unknown option '%s' (see warden attack --help)\n", a);
			return 2;
		}
	}

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0) {
		fprintf(stderr, "warden attack: cannot find this binary (/proc/self/exe): %s\n", strerror(errno));
		return 2;
	}
	self[len] = 0;
	if (!rn.warden)
		rn.warden = self;
	if (guest_dir) {
		snprintf(rn.guest_dir, sizeof(rn.guest_dir), "%s", guest_dir);
	} else {
		char *slash = strrchr(self, '/');
		snprintf(rn.guest_dir, sizeof(rn.guest_dir), "%.*s/guest", slash ? (int)(slash - self) : 1,
			 slash ? self : ".");
	}
	if (layout(&rn) < 0)
		return 2;

	/* Every image before anything runs. */
	total = 0;
	for (size_t i = 0; i < sizeof(gallery) / sizeof(gallery[0]); i++)
		total += !only || !strcmp(only, gallery[i].name);
	if (!total) {
		fprintf(stderr, "warden attack: no attack named '%s' (see warden attack --help)\n", only);
		return 2;
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/victim.elf", rn.guest_dir);
	if (!file_ok(path)) {
		fprintf(stderr, "warden attack: %s not found (make guest, or --guest-dir)\n", path);
		return 2;
	}
	for (size_t i = 0; i < sizeof(gallery) / sizeof(gallery[0]); i++) {
		snprintf(path, sizeof(path), "%s/attack-%s.elf", rn.guest_dir, gallery[i].name);
		if ((!only || !strcmp(only, gallery[i].name)) && !file_ok(path)) {
			fprintf(stderr, "warden attack: %s not found (make guest, or --guest-dir)\n", path);
			return 2;
		}
	}
	total *= mode ? 1 : 2;
	rows = calloc(total, sizeof(*rows));
	if (!rows)
		return 2;
	fprintf(stderr, "warden attack: %u runs; host layout for the attacker: %s\n", total, rn.cmdline);

	double t0 = now_s();
	for (size_t m = 0; m < 2; m++) {
		if (mode && strcmp(mode, modes[m]))
			continue;
		for (size_t i = 0; i < sizeof(gallery) / sizeof(gallery[0]); i++) {
			if (only && strcmp(only, gallery[i].name))
				continue;
			rows[n].g = &gallery[i];
			rows[n].mode = modes[m];
			run_one(&rn, &rows[n], n + 1, total);
			failed += !rows[n].ok;
			n++;
		}
	}
	print_table(rows, n, now_s() - t0);
	free(rows);
	return failed ? 1 : 0;
}
