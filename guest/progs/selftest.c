/* Runtime self-test: the formatter, string helpers and the allocator, run
 * in ring 3 (fast everywhere). Prints each failure; "selftest: ok" and
 * exit 0 when all pass. */
#include "rt.h"

static unsigned failures;

static void expect_fmt(const char *want, const char *fmt, ...) RT_PRINTF(2, 3);
static void expect_fmt(const char *want, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (strcmp(buf, want) || n != (int)strlen(want)) {
		printf("FAIL format \"%s\": got \"%s\" (%d), want \"%s\"\n", fmt, buf, n, want);
		failures++;
	}
}

#define EXPECT(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); failures++; } } while (0)

static long run_tests(void *arg)
{
	(void)arg;
	expect_fmt("42 -7 4294967295", "%d %i %u", 42, -7, 4294967295u);
	expect_fmt("ff FF 0xdeadbeef", "%x %X 0x%lx", 255, 255, 0xdeadbeefUL);
	expect_fmt("ffffffffffffffff 18446744073709551615", "%llx %lu", ~0ull, ~0ul);
	expect_fmt("-9223372036854775808", "%ld", (long)(-9223372036854775807L - 1));
	expect_fmt("[   42][42   ][00042][-0042]", "[%5d][%-5d][%05d][%05d]", 42, 42, 42, -42);
	expect_fmt("[  abc][abc  ][x][  y]", "[%5s][%-5s][%c][%3c]", "abc", "abc", 'x', 'y');
	expect_fmt("0x1000 (null) 100%", "%p %s 100%%", (void *)0x1000, (char *)NULL);
	expect_fmt("[0000000000000abc]", "[%016lx]", 0xabcUL);
	expect_fmt("[  7]", "[%*d]", 3, 7);

	char small[4];
	EXPECT(snprintf(small, sizeof(small), "%s", "abcdef") == 6 && !strcmp(small, "abc"));

	const char *end;
	EXPECT(rt_strtou64("0x1F", &end, 0) == 31 && *end == '\0');
	EXPECT(rt_strtou64("123abc", &end, 10) == 123 && *end == 'a');

	char m[16] = "0123456789";
	memmove(m + 2, m, 8);
	EXPECT(!memcmp(m, "0101234567", 10));
	memmove(m, m + 2, 8);
	EXPECT(!memcmp(m, "0123456767", 10));
	memset(m, 'z', 3);
	EXPECT(!memcmp(m, "zzz3", 4));
	EXPECT(strncmp("abcd", "abcz", 3) == 0 && strcmp("a", "b") < 0);

	/* sort_u64: duplicates, values above 2^63, an already-sorted tail. */
	uint64_t v[9] = { 5, ~0ull, 3, 5, 0, 1ull << 63, 7, 8, 9 };
	const uint64_t sorted[9] = { 0, 3, 5, 5, 7, 8, 9, 1ull << 63, ~0ull };
	sort_u64(v, 9);
	EXPECT(!memcmp(v, sorted, sizeof(v)));
	sort_u64(v, 0);
	sort_u64(v, 1);
	EXPECT(!memcmp(v, sorted, sizeof(v)));

	uint64_t a = rt_alloc(100, 4096), b = rt_alloc(8, 64);
	EXPECT(a && !(a & 4095) && b && !(b & 63) && b >= a + 100);
	*(volatile uint64_t *)b = 1;            /* mapped and writable from ring 3 */

	EXPECT(cpu_index() == 0);
	EXPECT(current_ring() == 3);
	return 0;
}

int main(void)
{
	run_in_ring3(run_tests, NULL);
	EXPECT(current_ring() == 0);
	if (failures) {
		printf("selftest: %u failures\n", failures);
		return 1;
	}
	printf("selftest: ok\n");
	return 0;
}
