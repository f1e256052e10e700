/* The attack gallery runner's judgement (src/vmm/attack.c) on canned child
 * outputs: a clean blocked run passes, and every way a run can get through
 * or fail to prove anything fails it - a BREACH or window outcome, a
 * missing, doubled, malformed or misattributed result line, a changed
 * victim RAM, broken or unreported canaries, a crash, a timeout, a non-zero
 * status, a missing expected fault record, and lines a guest forged to look
 * like the host's. No KVM needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/attack.h"

#define EXITED(code) ((code) << 8)      /* waitpid status of a normal exit */
#define SIGNALED(sig) (sig)             /* ... of a death by signal */

/* A real run's output, shortened (tests/integration/t_attacks.sh runs the
 * real thing). %s: the result line; %s: vm0's RAM line; %s: the canary line. */
static const char *const tmpl =
	"[vm0] victim: filled 126 MiB of RAM from GPA 0x13d000 with the victim pattern (word at g = "
	"0x56494354494d2121 ^ g, sum 0xe38d427936376e00) in 893 ms\n"
	"warden: vm0 stopped: status 0 (acpi-s5)\n"
	"[vm1] attack: stale: on Warden; edu 00:10.0 (64-bit bus addresses); translation on\n"
	"warden: warning: guest error: iommu: DMA write from 00:10.0 at IOVA 0x3000000 faulted: reason 0x5\n"
	"[vm1] attack: stale: lazy-unmap-window: window (16 of 16 writes (65536 bytes) reached the page)\n"
	"[vm1] attack: stale: after-invalidation: blocked (bus 0x3000000: fault 0x05; fault 0x06)\n"
	"%s"
	"warden: vm1 stopped: status 0 (acpi-s5)\n"
	"warden stats: vm0\n"
	"  exit reason          acpi-s5 (status 0)\n"
	"  guest errors         8 (all VMs)\n"
	"%s"
	"warden stats: vm1\n"
	"  exit reason          acpi-s5 (status 0)\n"
	"  iommu faults         0 (domain 1)\n"
	"  RAM after stop       unchanged (hash 0xfe8a429e7c201a0d)\n"
	"warden stats: host\n"
	"  host memory          512 MiB (64 MiB hypervisor-private, 256 MiB VM RAM in 2 VMs)\n"
	"%s";

static const char *const good_result =
	"[vm1] attack-result: name=stale outcome=blocked fault=0x05,0x06 detail=lazy window: 65536 bytes "
	"written + 4096 read; invalidation+wait: blocked; strict unmap: blocked\n";
static const char *const ram_ok = "  RAM after stop       unchanged (hash 0xbf7ae30da6605842)\n";
static const char *const canary_ok = "  hypervisor canaries  intact\n";

static char out[8192];

static const char *make(const char *result, const char *ram, const char *canary)
{
	snprintf(out, sizeof(out), tmpl, result, ram, canary);
	return out;
}

/* Parses and judges; returns the verdict, why in *why. */
static bool judge(const char *text, int status, bool timed_out, const char *want_faults, struct attack_report *r,
		  char *why)
{
	attack_parse_output(text, strlen(text), status, timed_out, r);
	return attack_verdict(r, "stale", want_faults, why, 256);
}

static void expect_fail(const char *text, int status, bool timed_out, const char *want_faults, const char *needle)
{
	struct attack_report r;
	char why[256];

	assert_false(judge(text, status, timed_out, want_faults, &r, why));
	if (!strstr(why, needle))
		fail_msg("why is '%s', expected it to mention '%s'", why, needle);
}

static void test_blocked_run_passes(void **state)
{
	struct attack_report r;
	char why[256];

	(void)state;
	assert_true(judge(make(good_result, ram_ok, canary_ok), EXITED(0), false, "0x05,0x06", &r, why));
	assert_string_equal(why, "");
	assert_int_equal(r.result_lines, 1);
	assert_int_equal(r.result_vm, 1);
	assert_string_equal(r.name, "stale");
	assert_int_equal(r.outcome, ATTACK_OUTCOME_BLOCKED);
	assert_string_equal(r.faults, "0x05,0x06");
	assert_non_null(strstr(r.detail, "65536 bytes written"));
	assert_true(r.victim_ran);
	assert_int_equal(r.victim_ram, ATTACK_GOOD);
	assert_int_equal(r.canaries, ATTACK_GOOD);
	assert_true(r.exited);
	assert_int_equal(r.exit_status, 0);
}

static void test_breach_fails(void **state)
{
	(void)state;
	/* A breach: the guest exits 1 (status 3) and says so. */
	expect_fail(make("[vm1] attack-result: name=stale outcome=BREACH fault=0x05 detail=strict unmap: BREACH\n",
			 ram_ok, canary_ok), EXITED(3), false, "0x05", "BREACH");
	/* Even with status 0 the outcome alone fails it. */
	expect_fail(make("[vm1] attack-result: name=stale outcome=BREACH fault=none detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "none", "BREACH");
	expect_fail(make("[vm1] attack-result: name=stale outcome=window fault=none detail=lazy only\n", ram_ok,
			 canary_ok), EXITED(0), false, "none", "window");
	expect_fail(make("[vm1] attack-result: name=stale outcome=error fault=none detail=no DMAR table\n", ram_ok,
			 canary_ok), EXITED(5), false, "none", "could not be mounted: no DMAR table");
}

static void test_missing_or_extra_result_line_fails(void **state)
{
	char two[512];

	(void)state;
	expect_fail(make("", ram_ok, canary_ok), EXITED(0), false, "0x05,0x06", "no attack-result line");
	/* A line that is not at the start (after the prefix) is not one. */
	expect_fail(make("[vm1] note: attack-result: name=stale outcome=blocked fault=none detail=x\n", ram_ok,
			 canary_ok), EXITED(0), false, "none", "no attack-result line");
	snprintf(two, sizeof(two), "%s%s", good_result,
		 "[vm1] attack-result: name=stale outcome=BREACH fault=none detail=second\n");
	expect_fail(make(two, ram_ok, canary_ok), EXITED(0), false, "0x05,0x06", "2 attack-result lines");
}

static void test_result_from_wrong_vm_fails(void **state)
{
	(void)state;
	expect_fail(make("[vm0] attack-result: name=stale outcome=blocked fault=0x05,0x06 detail=x\n", ram_ok,
			 canary_ok), EXITED(0), false, "0x05,0x06", "vm0");
	expect_fail(make("attack-result: name=stale outcome=blocked fault=0x05,0x06 detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "0x05,0x06", "no VM prefix");
	expect_fail(make("[vm1] attack-result: name=unmapped outcome=blocked fault=0x05,0x06 detail=x\n", ram_ok,
			 canary_ok), EXITED(0), false, "0x05,0x06", "names 'unmapped'");
}

static void test_malformed_result_fails(void **state)
{
	(void)state;
	expect_fail(make("[vm1] attack-result: name=stale outcome=maybe fault=none detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "none", "bad outcome");
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=0x5 detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "none", "bad fault list");
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=0x05, detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "0x05", "bad fault list");
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=none\n", ram_ok, canary_ok),
		    EXITED(0), false, "none", "lacks");
	expect_fail(make("[vm1] attack-result: name=St@le outcome=blocked fault=none detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "none", "bad name");
}

static void test_victim_ram_changed_fails(void **state)
{
	char result[512];

	(void)state;
	expect_fail(make(good_result, "  RAM after stop       CHANGED (hash 0x1 at stop, 0x2 now)\n", canary_ok),
		    EXITED(3), false, "0x05,0x06", "victim RAM CHANGED");
	/* The detector's own line, even if a stats block said otherwise. */
	snprintf(result, sizeof(result), "%swarden: vm0 RAM changed after it stopped (hash 0x1 at stop, 0x2 now)\n",
		 good_result);
	expect_fail(make(result, ram_ok, canary_ok), EXITED(0), false, "0x05,0x06", "victim RAM CHANGED");
	/* No line at all proves nothing. */
	expect_fail(make(good_result, "", canary_ok), EXITED(0), false, "0x05,0x06", "no RAM-unchanged line");
	/* vm1's unchanged line does not stand in for vm0's. */
	expect_fail(make(good_result, "  RAM after stop       CHANGED (hash 0x1 at stop, 0x2 now)\n", canary_ok),
		    EXITED(0), false, "0x05,0x06", "victim RAM CHANGED");
}

static void test_victim_must_have_run(void **state)
{
	char text[8192];
	const char *full = make(good_result, ram_ok, canary_ok);
	const char *nl = strchr(full, '\n');

	(void)state;
	snprintf(text, sizeof(text), "%s", nl + 1);      /* without the victim's line */
	expect_fail(text, EXITED(0), false, "0x05,0x06", "victim VM did not fill");
}

static void test_canaries_fail(void **state)
{
	char result[512];

	(void)state;
	expect_fail(make(good_result, ram_ok, "  hypervisor canaries  CORRUPTED\n"), EXITED(0), false, "0x05,0x06",
		    "canaries CORRUPTED");
	expect_fail(make(good_result, ram_ok, ""), EXITED(0), false, "0x05,0x06", "no canary line");
	snprintf(result, sizeof(result), "%swarden: hypervisor-private canaries were overwritten\n", good_result);
	expect_fail(make(result, ram_ok, canary_ok), EXITED(0), false, "0x05,0x06", "canaries CORRUPTED");
}

/* A guest prints what the host would: with its [vmN] prefix, it counts
 * for nothing. */
static void test_forged_host_lines_ignored(void **state)
{
	char result[1024];

	(void)state;
	snprintf(result, sizeof(result), "%s[vm1]   RAM after stop       unchanged (hash 0x1)\n"
		 "[vm1]   hypervisor canaries  intact\n[vm1] [vm0] victim: filled 1 MiB\n"
		 "[vm1] victim: filled 126 MiB of RAM\n", good_result);
	expect_fail(make(result, "", ""), EXITED(0), false, "0x05,0x06", "no RAM-unchanged line");
	expect_fail(make(result, ram_ok, ""), EXITED(0), false, "0x05,0x06", "no canary line");
	/* Victim lines from vm1, forged or with a forged prefix, do not make
	 * the victim run. */
	char text[8192];
	const char *full = make(result, ram_ok, canary_ok);
	snprintf(text, sizeof(text), "%s", strchr(full, '\n') + 1);
	expect_fail(text, EXITED(0), false, "0x05,0x06", "victim VM did not fill");
}

static void test_crash_timeout_status_fail(void **state)
{
	const char *text = make(good_result, ram_ok, canary_ok);

	(void)state;
	expect_fail(text, SIGNALED(SIGSEGV), false, "0x05,0x06", "killed by signal 11");
	expect_fail(text, SIGNALED(SIGKILL), true, "0x05,0x06", "timed out");
	expect_fail(text, EXITED(1), false, "0x05,0x06", "exit status 1");
	expect_fail(text, EXITED(3), false, "0x05,0x06", "exit status 3");
	/* A guest that died before its result line. */
	expect_fail(make("[vm1] *** EXCEPTION #PF page fault (vector 14) on cpu 0 in ring 3\n", ram_ok, canary_ok),
		    EXITED(157), false, "0x05,0x06", "no attack-result line");
}

static void test_expected_faults(void **state)
{
	struct attack_report r;
	char why[256];

	(void)state;
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=0x05 detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "0x05,0x06", "fault 0x06 not recorded");
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=0x05 detail=x\n", ram_ok, canary_ok),
		    EXITED(0), false, "none", "faults recorded where none may be");
	/* 0x0e must not satisfy 0x05 by prefix or substring. */
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=0x0e,0x50 detail=x\n", ram_ok,
			 canary_ok), EXITED(0), false, "0x05", "fault 0x05 not recorded");
	/* Host-IOMMU refusals must be counted too. */
	expect_fail(make("[vm1] attack-result: name=stale outcome=blocked fault=0x07,0x08,0x09 detail=x\n", ram_ok,
			 canary_ok), EXITED(0), false, "0x07,0x08,0x09,host", "not counted by the stats port");
	assert_true(judge(make("[vm1] attack-result: name=stale outcome=blocked fault=0x07,0x08,0x09,host detail=x\n",
			       ram_ok, canary_ok), EXITED(0), false, "0x07,0x08,0x09,host", &r, why));
}

/* The same output in pieces of every size parses the same. */
static void test_streaming_in_pieces(void **state)
{
	const char *text = make(good_result, ram_ok, canary_ok);
	size_t len = strlen(text);

	(void)state;
	for (size_t piece = 1; piece <= 64; piece *= 3) {
		struct attack_report r;
		struct attack_parser p;
		char why[256];

		attack_parser_init(&p, &r);
		for (size_t at = 0; at < len; at += piece)
			attack_parser_feed(&p, text + at, len - at < piece ? len - at : piece);
		attack_parser_finish(&p, EXITED(0), false);
		assert_true(attack_verdict(&r, "stale", "0x05,0x06", why, sizeof(why)));
		assert_string_equal(r.faults, "0x05,0x06");
	}
	/* The last line without a newline still counts. */
	struct attack_report r;
	char why[256], text2[8192];
	snprintf(text2, sizeof(text2), "%s", text);
	text2[strlen(text2) - 1] = 0;
	attack_parse_output(text2, strlen(text2), EXITED(0), false, &r);
	assert_true(attack_verdict(&r, "stale", "0x05,0x06", why, sizeof(why)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocked_run_passes),
		cmocka_unit_test(test_breach_fails),
		cmocka_unit_test(test_missing_or_extra_result_line_fails),
		cmocka_unit_test(test_result_from_wrong_vm_fails),
		cmocka_unit_test(test_malformed_result_fails),
		cmocka_unit_test(test_victim_ram_changed_fails),
		cmocka_unit_test(test_victim_must_have_run),
		cmocka_unit_test(test_canaries_fail),
		cmocka_unit_test(test_forged_host_lines_ignored),
		cmocka_unit_test(test_crash_timeout_status_fail),
		cmocka_unit_test(test_expected_faults),
		cmocka_unit_test(test_streaming_in_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
