/* Hostile-guest attack programs' common parts (nvme-hostile, virtio-hostile,
 * the DMA attack gallery): MSI-safe signature blocks, canary pages, the
 * stats port's iommu-fault and guest-error counters, stray-MSI counting,
 * the "hostile: CASE: blocked|NOT BLOCKED (...)" lines and the program's
 * summary, the top of RAM and the scan of all RAM for a signature block.
 *
 * A signature word is (random << 16) | HOSTILE_VEC_STRAY: a DMA write that
 * reaches the MSI window 0xfee00000 is then a stream of fixed, edge MSIs to
 * vector 0xfe, which hostile_run's handler counts (hostile_stray_msis).
 * Everything but hostile_run runs in ring 3 (or ring 0). */
#ifndef GUEST_RT_HOSTILE_H
#define GUEST_RT_HOSTILE_H

#include "rt.h"

#define HOSTILE_VEC_STRAY   0xfe
#define HOSTILE_PAGE        4096u
#define HOSTILE_CANARY      0xc3a55a3cu
#define HOSTILE_MSI_WINDOW  0xfee00000ull
#define HOSTILE_BME_WAIT_US 500000ull
#define HOSTILE_MAX_CANARIES 8

extern volatile uint64_t hostile_stray_msis;
extern unsigned hostile_cases, hostile_not_blocked;

/* Registers the stray-MSI handler, enables the LAPIC and interrupts, runs
 * body in ring 3, prints "PROG: N ms" and returns body's value. Ring 0. */
long hostile_run(const char *prog, long (*body)(void *), void *arg);
/* "PROG: all blocked" (0) or "PROG: N of M cases NOT BLOCKED" (1). */
int hostile_summary(const char *prog);

/* Signature words and blocks (len bytes, a multiple of 4). */
uint32_t hostile_sig_word(uint64_t seed, uint64_t i);
void hostile_fill_sig(uint64_t buf, uint64_t seed, uint64_t len);
/* The write-read-verify pattern of a recovery check. */
void hostile_fill_good(uint64_t buf, uint64_t len);
bool hostile_good_ok(uint64_t buf, uint64_t len);

/* Canary regions, checked in the order added; the pattern depends on the
 * address. hostile_canaries_arm fills them all and clears the exclusion;
 * hostile_canary_exclude(lo, hi) lets the current case's own request write
 * [lo, hi). hostile_canaries_changed: "" when intact, else
 * "; RAM at 0x.. CHANGED" in buf. */
void hostile_canary_add(uint64_t addr, uint64_t len);
void hostile_canaries_arm(void);
void hostile_canary_exclude(uint64_t lo, uint64_t hi);
const char *hostile_canaries_changed(char *buf, size_t len);

/* The top of RAM from the memory map (page-aligned); the page below it is
 * added as a canary if the runtime maps it. */
uint64_t hostile_ram_top(void);

/* The stats port's counters (0 without the port) and stray MSIs at the
 * start of a case. */
struct hostile_snap {
	uint64_t iommu, guest_err, msis;
};
void hostile_snap(struct hostile_snap *s);
/* hostile_snap after arming the canaries. */
void hostile_begin(struct hostile_snap *s);
/* "; iommu faults +N, guest errors +N" in buf, "" without the port. */
const char *hostile_delta(const struct hostile_snap *s, char *buf, size_t len);
uint64_t hostile_strays(const struct hostile_snap *s);

/* Prints "hostile: NAME: blocked (...)" or "... NOT BLOCKED (...)" and
 * counts the case. */
void hostile_report(const char *name, bool blocked, const char *fmt, ...) RT_PRINTF(3, 4);

/* The bus-master-disabled line: submitted is false if the submit failed
 * (err its reason), completed if a completion came with status cstatus;
 * what ("command", "request"), state ("CSTS", "device status") st; changed
 * and strays as seen before Bus Master Enable went back on; rc the
 * recovery's failure or "". */
void hostile_report_bme(const struct hostile_snap *s, bool submitted, const char *err, bool completed,
			unsigned cstatus, const char *what, const char *state, unsigned st, const char *changed,
			uint64_t strays, const char *rc);

/* Scans all RAM below 4 GiB for the block hostile_fill_sig(seed) wrote and
 * reports "dma-landing-scan"; scan=0 on the command line skips it. */
void hostile_scan_ram(uint64_t seed);

#endif
