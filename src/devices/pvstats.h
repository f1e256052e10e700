/* Warden's paravirtual statistics port, so a guest benchmark can report
 * how many userspace exits its workload caused. Absent under QEMU (reads
 * all ones), which guests detect through the signature counter.
 *
 *   0xff0  write (32-bit): counter id; latches a snapshot of that counter
 *   0xff4  read  (32-bit): snapshot bits 31:0
 *   0xff8  read  (32-bit): snapshot bits 63:32
 */
#ifndef WARDEN_DEVICES_PVSTATS_H
#define WARDEN_DEVICES_PVSTATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/bus.h"

#define PVSTATS_BASE        0x0ff0
#define PVSTATS_SIZE        12
#define PVSTATS_SIGNATURE   0x4e445257u   /* "WRDN" */

enum pvstats_counter {
	PVSTATS_ID_SIGNATURE = 0,
	PVSTATS_ID_EXITS = 1,           /* userspace exits, all vCPUs */
	PVSTATS_ID_PIO_EXITS = 2,
	PVSTATS_ID_MMIO_EXITS = 3,
	PVSTATS_ID_MSIS = 4,            /* MSIs the VMM delivered from its threads */
	PVSTATS_ID_IOMMU_FAULTS = 5,
	PVSTATS_ID_GUEST_ERRORS = 6,
	PVSTATS_NR_IDS
};

/* The VMM's counters; ids other than the signature go here. */
typedef uint64_t pvstats_read_fn(void *opaque, enum pvstats_counter id);

struct pvstats {
	pthread_mutex_t lock;
	pvstats_read_fn *read_counter;
	void *opaque;
	uint64_t latched;
	uint64_t queries;
	bool ready;                     /* lock initialised */
};

int pvstats_init(struct pvstats *p, pvstats_read_fn *fn, void *opaque);
int pvstats_attach(struct pvstats *p, struct bus *pio, uint16_t base);
void pvstats_destroy(struct pvstats *p);

#endif
