/* The DMA attack gallery's common parts (guest/progs/attack-*.c,
 * docs/security.md): a malicious guest driving the edu device behind a
 * VT-d unit it programs itself (rt/vtd.h), trying to make the device reach
 * memory it was not granted, and observing the memory it aimed at.
 *
 * Every attack is a list of steps; each step prints
 *   attack: NAME: STEP: blocked|contained|window|BREACH (what was seen)
 * and the program ends with exactly one line the runner (warden attack,
 * src/vmm/attack.c) parses:
 *   attack-result: name=NAME outcome=blocked|BREACH|window|error
 *                  fault=0xNN[,0xNN...][,host]|none detail=TEXT
 * "fault" lists the distinct guest fault reasons recorded (in the order
 * first seen) and "host" when the stats port counted host IOMMU faults
 * (stage-2 refusals). Step verdicts:
 *   blocked   - nothing moved to or from the target;
 *   contained - the target is the guest's own RAM and the bytes landed
 *               exactly there (where a correct VMM puts them);
 *   window    - a stale translation was used (the lazy-unmap window, a
 *               property of the guest's own careless driver);
 *   BREACH    - memory outside what the step allowed was reached.
 * The outcome is BREACH if any step breached, else blocked (a window is
 * reported in the detail); "error" means the attack could not be mounted
 * (no unit, no edu, a control transfer failed) and proves nothing.
 *
 * Runs in ring 3 after attack_run's ring-0 set-up; QEMU (intel-iommu, its
 * edu with 28-bit DMA addresses and no error registers) and Warden alike.
 * Bus addresses stay below 256 MiB unless a.wide. */
#ifndef GUEST_RT_ATTACK_H
#define GUEST_RT_ATTACK_H

#include "rt.h"
#include "edu.h"
#include "hostile.h"
#include "vtd.h"

#define ATTACK_PAGE        4096ul
#define ATTACK_DID         1
#define ATTACK_IOVA_STAGE  0x00f00000ul   /* the staging page's IOVA */
#define ATTACK_QUIET_US    50000ul        /* "no interrupt" means none in this long */
#define ATTACK_MAX_REASONS 12
/* Victim RAM: word at GPA g holds ATTACK_VICTIM_MAGIC ^ g (guest/progs/victim.c). */
#define ATTACK_VICTIM_MAGIC 0x56494354494d2121ul    /* "!!MITCIV" */

enum attack_verdict { ATTACK_BLOCKED, ATTACK_CONTAINED, ATTACK_WINDOW, ATTACK_BREACH };

/* set-up flags */
#define ATTACK_QI      0x1     /* queued invalidation (needed for IR) */
#define ATTACK_NO_TE   0x2     /* leave translation off */

struct attack {
	const char *name;
	struct edu_dev dev;
	struct vtd_dmar dmar;
	struct vtd_unit unit;
	struct vtd_domain dom;
	bool on_warden;         /* the stats port answers */
	bool wide;              /* edu uses 64-bit bus addresses (Warden's) */
	bool te;                /* translation on */
	uint64_t stage;         /* staging page (GPA), mapped at ATTACK_IOVA_STAGE */
	uint64_t ram_top;       /* top of RAM below 4 GiB (page-aligned) */
	uint32_t xfer;          /* bytes one transfer moves: dev.buf_usable rounded down to 4 */
	/* Tally. */
	unsigned steps, blocked, contained, windows, breaches;
	uint8_t reasons[ATTACK_MAX_REASONS];
	unsigned nreasons;
	uint64_t host0;         /* stats-port IOMMU faults at set-up */
	uint64_t t0;
	bool mute;              /* fault lines off (a quiet sweep) */
	/* The last probe's attack transfers as edu reported them, and the
	 * guest faults recorded meanwhile. */
	uint32_t probe_werr, probe_rerr;
	uint64_t probe_wdone, probe_rdone;
	unsigned probe_faults;
	unsigned missing;       /* expected fault records that were not there */
	char err[200];          /* why the attack could not be mounted */
};

/* ---- set-up and the end ---- */
/* Ring 0, from main: registers counting handlers, enables interrupts, runs
 * body(a) in ring 3, then prints the result line. Returns main's value:
 * 0 blocked, 1 breach or window, 2 error. */
int attack_run(struct attack *a, const char *name, long (*body)(struct attack *a));
/* Ring 3: edu, DMAR, unit, the domain (DID 1, the staging page mapped),
 * context entry for edu, root table, translation on unless ATTACK_NO_TE.
 * 0, or -1 with a->err set. */
int attack_open(struct attack *a, unsigned flags);
/* A failure that stops the attack: fills a->err, returns -1. */
int attack_fail(struct attack *a, const char *fmt, ...) RT_PRINTF(2, 3);
/* The result's detail (attack_run prints it); set by the body. */
void attack_detail(struct attack *a, const char *fmt, ...) RT_PRINTF(2, 3);
/* Every interrupt delivered to a counting vector (0x30..0xfd). */
extern volatile uint64_t attack_irqs;

/* ---- memory ---- */
/* Zeroed pages below 256 MiB (QEMU's edu masks bus addresses to 28 bits). */
uint64_t attack_alloc(struct attack *a, uint64_t size, uint64_t align);
/* Signature words (hostile.h: MSI-safe) and comparisons. */
void attack_fill(uint64_t gpa, uint64_t seed, uint64_t len);
bool attack_holds(uint64_t gpa, uint64_t seed, uint64_t len);
/* RAM of this guest per the memory map (an own-RAM target). */
bool attack_is_ram(uint64_t gpa, uint64_t len);
/* Scans RAM below 4 GiB once for the first 16 bytes of each of n (at most
 * 8) seeds' blocks: found[i] counts seed i's hits, where[i] the first.
 * Returns the total. */
uint64_t attack_scan(const uint64_t *seeds, unsigned n, uint64_t *found, uint64_t *where);

/* ---- the device ---- */
/* Loads the edu buffer with seed's block through the staging page (a
 * legitimate transfer), then scribbles the staging page, so the block
 * exists only in the device. 0 or -1 (a->err). */
int attack_load(struct attack *a, uint64_t seed);
/* Whether the buffer still holds seed's block (read back through the
 * staging page); *err_out -1 if that transfer failed. */
bool attack_buffer_holds(struct attack *a, uint64_t seed, int *err_out);
/* Whether the buffer's first len bytes equal RAM at gpa: what a read that
 * reached gpa leaves. */
bool attack_buffer_equals(struct attack *a, uint64_t gpa, uint32_t len);
/* Buffer -> bus (a device write) and bus -> buffer (a device read), len
 * bytes from buffer offset 0. The edu result (0, EDU_E_*). */
int attack_dma_write(struct attack *a, uint64_t bus, uint32_t len);
int attack_dma_read(struct attack *a, uint64_t bus, uint32_t len);
/* Warden's edu said "stopped by a fault, nothing moved" (QEMU's cannot
 * tell: true when the driver saw no error register). */
bool attack_edu_faulted(struct attack *a, int r);
/* "fault after 0 bytes", "ok, 4096 bytes", "no error register" ... */
const char *attack_edu_str(struct attack *a, int r, char *buf, size_t len);
/* The bus address the staging page has now (IOVA or GPA). */
uint64_t attack_stage_bus(struct attack *a);

/* ---- faults ---- */
/* Takes every recorded guest fault (waits up to wait_us for the first). */
int attack_faults(struct attack *a, struct vtd_fault *f, unsigned max, uint64_t wait_us);
/* Finds a fault with this reason from sid (and, for DMA faults, this
 * page and direction; addr ~0 skips them) among f[0..n); notes the reason
 * for the result line. Prints the faults as "attack: NAME:   fault ..." lines. */
bool attack_fault_match(struct attack *a, const struct vtd_fault *f, int n, uint8_t reason, uint16_t sid,
			uint64_t addr, bool read);
/* Takes the faults and matches one (attack_faults + attack_fault_match). */
bool attack_expect_fault(struct attack *a, uint8_t reason, uint64_t addr, bool read);
/* Notes a guest fault reason for the result line. */
void attack_note_reason(struct attack *a, uint8_t reason);
/* Host IOMMU faults counted by the stats port for this VM (0 on QEMU). */
uint64_t attack_host_faults(void);

/* ---- probes: one device write and one device read aimed at one address ---- */
struct attack_probe {
	uint64_t bus;           /* the address the device is told */
	bool watch;             /* own is meaningful (GPA 0 is a page too) */
	uint64_t own;           /* own RAM page the transfer could reach */
	bool expect_land;       /* own is the right destination (IOVA -> own GPA): contained */
	uint8_t wreason, rreason;   /* guest fault expected for the write / read (0: none) */
	uint64_t seed;          /* payload; own's contents use seed ^ ATTACK_OWN_SEED */
	uint32_t len;           /* 0: a->xfer */
	/* Called with true just before each of the two transfers and with
	 * false right after (e.g. a bad context entry, BME off), so loading
	 * and reading back the buffer use the normal path. */
	int (*arm)(struct attack *a, bool on);
	bool quiet;             /* print the step only if it is not blocked/contained */
};
#define ATTACK_OWN_SEED 0x5a5a5a5a0000ul
/* Runs the probe, prints and tallies the step, returns its verdict. When
 * the buffer cannot be loaded or read back, a->err is set (callers stop
 * on a->err[0]). Host faults counted meanwhile are added to *host_delta
 * if not NULL. */
enum attack_verdict attack_probe(struct attack *a, const char *step, const struct attack_probe *p,
				 uint64_t *host_delta);
/* The buffer (read back into the staging page) holds another VM's RAM
 * (victim.c's pattern) or a hypervisor canary: a name, else NULL. */
const char *attack_foreign(uint64_t gpa, uint32_t len);

/* ---- steps ---- */
void attack_step(struct attack *a, enum attack_verdict v, const char *step, const char *fmt, ...)
	RT_PRINTF(4, 5);
/* Counts a step without printing it (sweeps print their summary). */
void attack_tally(struct attack *a, enum attack_verdict v);
const char *attack_verdict_name(enum attack_verdict v);
/* An address from the command line "key=0xBASE+0xSIZE"; false if absent. */
bool attack_cmdline_range(const char *key, uint64_t *base, uint64_t *size);

/* ---- raw unit access the driver does not offer (spec chapter 10) ---- */
/* RTADDR = addr, SRTP, global context and IOTLB invalidation. */
int attack_set_rtaddr(struct attack *a, uint64_t addr);
/* The table entry of dom that translates iova at `level` (1 = the 4 KiB
 * leaf's table, up to dom->levels), or NULL if the walk meets a hole or a
 * superpage above it. */
volatile uint64_t *attack_table_entry(struct vtd_domain *dom, uint64_t iova, unsigned level);

#endif
