/* `warden attack`: the DMA attack gallery (docs/security.md).
 *
 * Runs every guest/progs/attack-*.c program as its own `warden run` child
 * process, behind the guest-visible vIOMMU in each mode: VM 0 is the
 * victim (guest/progs/victim.c: its RAM filled with a pattern), VM 1 the
 * attacker (--after 0 --viommu mode=M --device edu), told the host's
 * layout on its command line. From each child's output it takes the
 * attacker's one "attack-result:" line, the victim's RAM-unchanged line,
 * the canary line and the exit status, and prints one table row per run.
 *
 * The output parser is separate (and unit-tested, tests/unit/test_attack.c)
 * so that the runner provably fails when a run breaches, lies or crashes. */
#ifndef WARDEN_VMM_ATTACK_H
#define WARDEN_VMM_ATTACK_H

#include <stdbool.h>
#include <stddef.h>

enum attack_outcome {
	ATTACK_OUTCOME_NONE,            /* no (valid) result line */
	ATTACK_OUTCOME_BLOCKED,
	ATTACK_OUTCOME_BREACH,
	ATTACK_OUTCOME_WINDOW,
	ATTACK_OUTCOME_ERROR,           /* the attack could not be mounted */
};

enum attack_tristate { ATTACK_UNKNOWN, ATTACK_GOOD, ATTACK_BAD };

/* What one child run said. */
struct attack_report {
	unsigned result_lines;          /* "attack-result:" lines seen (exactly 1 wanted) */
	int result_vm;                  /* the [vmN] prefix of the first, -1 without */
	char name[32];
	enum attack_outcome outcome;
	char faults[96];                /* as printed: "0x05,0x06", "host", "none" */
	char detail[256];
	char parse_error[160];          /* the first malformed result line: why */
	bool victim_ran;                /* VM 0 printed "victim: filled ..." */
	enum attack_tristate victim_ram;  /* GOOD: "RAM after stop unchanged" in vm0's stats */
	enum attack_tristate canaries;    /* GOOD: "hypervisor canaries  intact" */
	bool exited;                    /* the child exited (else: killed by term_signal) */
	int exit_status;
	int term_signal;
	bool timed_out;
	double seconds;
};

/* Streams a child's output (stdout and stderr together) line by line. */
struct attack_parser {
	struct attack_report *r;
	int stats_vm;                   /* inside "warden stats: vmN" (-1: not) */
	size_t len;                     /* of the partial line below */
	char line[1024];                /* longer lines are cut (result lines are short) */
};

void attack_parser_init(struct attack_parser *p, struct attack_report *r);
void attack_parser_feed(struct attack_parser *p, const char *data, size_t len);
/* The last line without a newline, and the child's end: wait_status as
 * waitpid gives it (ignored when timed_out). */
void attack_parser_finish(struct attack_parser *p, int wait_status, bool timed_out);
/* All of it at once: for tests and for saved logs. */
void attack_parse_output(const char *out, size_t len, int wait_status, bool timed_out,
			 struct attack_report *r);

/* One row's verdict: true only if the run was blocked and proven so - the
 * result line present, well-formed, from the attacker, with this name and
 * outcome "blocked"; every expected guest fault reason recorded
 * (want_faults: a comma list of 0xNN, "host" or "none"); the victim ran
 * and its RAM is unchanged; the canaries intact; status 0, in time. why
 * gets the first reason it fails. "host": the paravirtual stats port
 * counted host-IOMMU refusals of the attacker's devices. */
bool attack_verdict(const struct attack_report *r, const char *want_name, const char *want_faults, char *why,
		    size_t why_len);

/* `warden attack [options]`; argv[0] is "attack". Returns the process's
 * exit status: 0 every run blocked, 1 anything got through or could not be
 * proven, 2 usage error. */
int attack_main(int argc, char **argv);

#endif
