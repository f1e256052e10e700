/* Shared by the libFuzzer harnesses: an input reader that never runs past
 * the input (exhausted reads return zero), a findings macro, and a small
 * host-memory arena whose VM RAM is fenced by canary regions.
 *
 * Arena layout built by fz_ram_init():
 *
 *   HPA 0            2 MiB        +2 MiB          +RAM           +2 MiB
 *   | private region  | guard below | the VM's RAM  | guard above |
 *   | C . . . . . . C | (VM 100)    | (VM 1)        | (VM 101)    |
 *
 * C are the arena's own canary pages (the last one sits right below the
 * guard); the guards are other VMs' RAM filled with a pattern, of which
 * the FZ_GUARD_CHECK bytes nearest the VM's RAM are compared after every
 * input. A byte written outside the VM's RAM there is a finding: the
 * harness traps, and libFuzzer saves the input. */
#ifndef WARDEN_TESTS_FUZZ_COMMON_H
#define WARDEN_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/gmem.h"
#include "base/log.h"

#define FZ_MiB (1ull << 20)
#define FZ_GiB (1ull << 30)

/* Where the harness itself writes (findings, traces): the real stderr, also
 * once fz_quiet_logs() has pointed the code's own logging elsewhere. */
static FILE *fz_err_stream;

static inline FILE *fz_err(void)
{
	return fz_err_stream ? fz_err_stream : stderr;
}

/* A finding: say what broke (libFuzzer prints stderr with the crash), then
 * trap so the input is saved as crash-<sha1>. */
#define FZ_CHECK(cond, ...) do {                                          \
		if (__builtin_expect(!(cond), 0)) {                       \
			fprintf(fz_err(), "fuzz: %s:%d: check failed: %s: ", \
				__FILE__, __LINE__, #cond);               \
			fprintf(fz_err(), __VA_ARGS__);                   \
			fputc('\n', fz_err());                            \
			fflush(fz_err());                                 \
			__builtin_trap();                                 \
		}                                                         \
	} while (0)

/* ---- Input reader ---- */

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline void fz_init(struct fz *f, const uint8_t *data, size_t size)
{
	f->p = data;
	f->n = size;
}

static inline bool fz_more(const struct fz *f)
{
	return f->n > 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t lo = fz_u32(f);

	return lo | (uint64_t)fz_u32(f) << 32;
}

/* Copies up to len bytes; what the input lacks reads as zero. */
static inline void fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t take = len < f->n ? len : f->n;

	memcpy(dst, f->p, take);
	memset((uint8_t *)dst + take, 0, len - take);
	f->p += take;
	f->n -= take;
}

/* One of n choices (n > 0). */
static inline unsigned fz_pick(struct fz *f, unsigned n)
{
	return fz_u8(f) % n;
}

/* Values that sit on the edges parsers get wrong. */
static const uint64_t fz_interesting64[] = {
	0, 1, 2, 3, 4, 7, 8, 0xf, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0x1ff,
	0x200, 0xfff, 0x1000, 0x1001, 0xffff, 0x10000, 0x1fffff, 0x200000, 0x3fffffff,
	0x40000000, 0x7fffffff, 0x80000000, 0xfffff000, 0xffffffff, 0x100000000ull,
	0x7fffffffffull, 0x8000000000ull, 0xffffffffffffull, 0x1000000000000ull,
	0x7fffffffffffffffull, 0x8000000000000000ull, 0xfffffffffffff000ull,
	0xffffffffffffffffull,
};

/* A 64-bit value: often an edge value, plus a small delta, else raw. */
static inline uint64_t fz_value64(struct fz *f)
{
	uint8_t how = fz_u8(f);

	switch (how & 3) {
	case 0:
		return fz_interesting64[(how >> 2) % (sizeof(fz_interesting64) / 8)];
	case 1:
		return fz_interesting64[(how >> 2) % (sizeof(fz_interesting64) / 8)] +
		       (int8_t)fz_u8(f);
	case 2:
		return fz_u32(f);
	default:
		return fz_u64(f);
	}
}

/* ---- Logging: guest errors are the expected outcome of most inputs ---- */

/* Warden's log (base/log.c) writes to stdio's stderr: guest errors, and
 * host errors such as "no private page left" that a harness provokes on
 * purpose thousands of times a second. Unless FUZZ_VERBOSE is set, stdio's
 * stderr goes to /dev/null (glibc lets a program assign it); the sanitizers
 * and libFuzzer write to file descriptor 2 (libFuzzer through the stream it
 * took at start-up) and the harness through fz_err(), so reports, findings
 * and statistics still show. */
static inline void fz_quiet_logs(void)
{
	FILE *null;

	fz_err_stream = stderr;
	if (getenv("FUZZ_VERBOSE")) {
		log_threshold = LOG_DEBUG;
		return;
	}
	log_threshold = LOG_ERROR;
	null = fopen("/dev/null", "w");
	if (null)
		stderr = null;
}

/* ---- Guest RAM fenced by canaries ---- */

#define FZ_PRIVATE_SIZE   (2 * FZ_MiB)
#define FZ_GUARD_SIZE     (2 * FZ_MiB)
#define FZ_GUARD_CHECK    (64 * 1024)
#define FZ_GUARD_BYTE     0xa5
#define FZ_VM_ID          1

struct fz_ram {
	struct arena arena;
	struct gmem gmem;               /* the VM under test */
	struct gmem guard_lo, guard_hi;
	uint64_t ram_size;
	uint8_t *ram;                   /* host view of GPA 0 */
};

/* Aborts (no finding: the harness itself cannot run) when the arena cannot
 * be built. ram_size is a multiple of 2 MiB, below the PCI hole. */
static inline void fz_ram_init(struct fz_ram *r, uint64_t ram_size)
{
	uint64_t total = FZ_PRIVATE_SIZE + 2 * FZ_GUARD_SIZE + ram_size;

	memset(r, 0, sizeof(*r));
	r->ram_size = ram_size;
	if (arena_init(&r->arena, total, FZ_PRIVATE_SIZE) ||
	    gmem_init(&r->guard_lo, &r->arena, 100, FZ_GUARD_SIZE) ||
	    gmem_init(&r->gmem, &r->arena, FZ_VM_ID, ram_size) ||
	    gmem_init(&r->guard_hi, &r->arena, 101, FZ_GUARD_SIZE)) {
		fprintf(stderr, "fuzz: cannot build the host-memory arena\n");
		abort();
	}
	r->ram = gmem_gpa_to_ptr(&r->gmem, 0, ram_size);
	if (!r->ram || r->guard_lo.ranges[0].hpa + FZ_GUARD_SIZE != r->gmem.ranges[0].hpa ||
	    r->gmem.ranges[0].hpa + ram_size != r->guard_hi.ranges[0].hpa) {
		fprintf(stderr, "fuzz: unexpected arena layout\n");
		abort();
	}
	memset(gmem_gpa_to_ptr(&r->guard_lo, 0, FZ_GUARD_SIZE), FZ_GUARD_BYTE, FZ_GUARD_SIZE);
	memset(gmem_gpa_to_ptr(&r->guard_hi, 0, FZ_GUARD_SIZE), FZ_GUARD_BYTE, FZ_GUARD_SIZE);
}

/* memcmp against a block of v, so the comparison is one libc call rather
 * than a per-byte loop the coverage instrumentation would trace. */
static inline bool fz_all_bytes(const uint8_t *p, size_t len, uint8_t v)
{
	static uint8_t block[4096];
	static int filled = -1;

	if (filled != v) {
		memset(block, v, sizeof(block));
		filled = v;
	}
	for (size_t off = 0; off < len; off += sizeof(block)) {
		size_t n = len - off < sizeof(block) ? len - off : sizeof(block);

		if (memcmp(p + off, block, n))
			return false;
	}
	return true;
}

/* After every input: the arena's canary pages and the guard bytes right
 * around the VM's RAM are intact. */
static inline void fz_ram_check(const struct fz_ram *r)
{
	const uint8_t *lo = gmem_gpa_to_ptr(&r->guard_lo, FZ_GUARD_SIZE - FZ_GUARD_CHECK,
					    FZ_GUARD_CHECK);
	const uint8_t *hi = gmem_gpa_to_ptr(&r->guard_hi, 0, FZ_GUARD_CHECK);

	FZ_CHECK(arena_check_canaries(&r->arena) == 0, "arena canary page overwritten");
	FZ_CHECK(fz_all_bytes(lo, FZ_GUARD_CHECK, FZ_GUARD_BYTE),
		 "write below the VM's RAM (guard region)");
	FZ_CHECK(fz_all_bytes(hi, FZ_GUARD_CHECK, FZ_GUARD_BYTE),
		 "write above the VM's RAM (guard region)");
}

#endif
