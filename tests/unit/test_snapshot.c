/* The versioned-record header every device's save/load goes through. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "base/snapshot.h"

#define TEST_MAGIC   0x54534554u   /* "TEST" */
#define TEST_VERSION 3

struct test_state_v3 {
	struct snapshot_hdr hdr;
	uint8_t small;                  /* followed by padding save must zero */
	uint64_t big;
};

/* A saved record with known fields in buf; returns its size. */
static int save_sample(uint8_t *buf, size_t len)
{
	struct test_state_v3 st;
	int ret;

	memset(&st, 0xa5, sizeof(st));  /* save must not leak stack bytes */
	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), TEST_MAGIC, TEST_VERSION);
	if (ret)
		return ret;
	st.small = 7;
	st.big = 0x0123456789abcdefull;
	return snapshot_save_end(buf, &st.hdr);
}

static void test_size_query(void **state)
{
	struct test_state_v3 st;

	memset(&st, 0xa5, sizeof(st));
	assert_int_equal(snapshot_save_begin(NULL, 0, &st.hdr, sizeof(st), TEST_MAGIC,
					     TEST_VERSION), (int)sizeof(st));
	/* A size query touches nothing. */
	assert_int_equal(st.hdr.magic, 0xa5a5a5a5u);
}

static void test_no_space(void **state)
{
	uint8_t buf[sizeof(struct test_state_v3)];

	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(save_sample(buf, sizeof(buf) - 1), -ENOSPC);
	assert_int_equal(save_sample(buf, 0), -ENOSPC);
	assert_int_equal(buf[0], 0x5a);
}

static void test_round_trip(void **state)
{
	uint8_t buf[sizeof(struct test_state_v3) + 8];
	struct test_state_v3 st, zero;
	struct snapshot_hdr hdr;

	assert_int_equal(save_sample(buf, sizeof(buf)), (int)sizeof(st));
	memcpy(&hdr, buf, sizeof(hdr));
	assert_int_equal(hdr.magic, TEST_MAGIC);
	assert_int_equal(hdr.version, TEST_VERSION);
	assert_int_equal(hdr.size, sizeof(st));
	/* Padding was zeroed: the record is the same bytes on every save. */
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(buf + offsetof(struct test_state_v3, small) + 1,
			    (uint8_t *)&zero + offsetof(struct test_state_v3, small) + 1,
			    offsetof(struct test_state_v3, big) -
			    offsetof(struct test_state_v3, small) - 1);

	memset(&st, 0, sizeof(st));
	assert_int_equal(snapshot_load(buf, sizeof(st), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), 0);
	assert_int_equal(st.small, 7);
	assert_int_equal(st.big, 0x0123456789abcdefull);
	/* A longer buffer is fine: only the record is read. */
	assert_int_equal(snapshot_load(buf, sizeof(buf), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), 0);
}

static void test_load_refuses(void **state)
{
	uint8_t buf[sizeof(struct test_state_v3)], bad[sizeof(buf)];
	struct test_state_v3 st;
	struct snapshot_hdr *hdr = (struct snapshot_hdr *)bad;

	assert_int_equal(save_sample(buf, sizeof(buf)), (int)sizeof(st));

	assert_int_equal(snapshot_load(NULL, sizeof(buf), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), -EINVAL);
	assert_int_equal(snapshot_load(buf, sizeof(buf) - 1, &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), -EINVAL);
	/* Another device's record. */
	assert_int_equal(snapshot_load(buf, sizeof(buf), &st.hdr, sizeof(st), TEST_MAGIC + 1,
				       TEST_VERSION), -EINVAL);
	/* Another version of this device's record. */
	assert_int_equal(snapshot_load(buf, sizeof(buf), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION + 1), -EINVAL);
	/* The same version saved with another layout. */
	memcpy(bad, buf, sizeof(bad));
	hdr->size = sizeof(st) - 8;
	assert_int_equal(snapshot_load(bad, sizeof(bad), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), -EINVAL);
	/* Corrupt magic and version in the record itself. */
	memcpy(bad, buf, sizeof(bad));
	hdr->magic ^= 1;
	assert_int_equal(snapshot_load(bad, sizeof(bad), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), -EINVAL);
	memcpy(bad, buf, sizeof(bad));
	hdr->version++;
	assert_int_equal(snapshot_load(bad, sizeof(bad), &st.hdr, sizeof(st), TEST_MAGIC,
				       TEST_VERSION), -EINVAL);
}

/* A record too small for its header, or too big for the size field. */
static void test_bad_record_size(void **state)
{
	struct test_state_v3 st;
	uint8_t buf[sizeof(st)];

	assert_int_equal(snapshot_save_begin(NULL, 0, &st.hdr, sizeof(st.hdr) - 1, TEST_MAGIC,
					     TEST_VERSION), -EINVAL);
	assert_int_equal(snapshot_save_begin(NULL, 0, &st.hdr, (size_t)UINT16_MAX + 1,
					     TEST_MAGIC, TEST_VERSION), -EINVAL);
	assert_int_equal(save_sample(buf, sizeof(buf)), (int)sizeof(st));
	assert_int_equal(snapshot_load(buf, sizeof(buf), &st.hdr, sizeof(st.hdr) - 1,
				       TEST_MAGIC, TEST_VERSION), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_query),
		cmocka_unit_test(test_no_space),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_load_refuses),
		cmocka_unit_test(test_bad_record_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
