/* Versioned device state records. Each device saves one fixed-size record
 * that starts with this header; a load refuses a record of another device
 * (magic), another layout (version) or another build's idea of that layout
 * (size), so a field added without a version bump cannot be misread. */
#ifndef WARDEN_BASE_SNAPSHOT_H
#define WARDEN_BASE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct snapshot_hdr {
	uint32_t magic;     /* four ASCII characters naming the device */
	uint16_t version;
	uint16_t size;      /* of the whole record, header included */
};

/* Starts a save of a record of size bytes that begins with rec. Returns size
 * when buf is NULL (a size query), -ENOSPC when len < size, and otherwise 0
 * after zeroing the record (padding and reserved fields included) and filling
 * its header; the caller then fills its fields and calls snapshot_save_end. */
int snapshot_save_begin(const void *buf, size_t len, struct snapshot_hdr *rec, size_t size,
			uint32_t magic, uint16_t version);

/* Copies the record begun by snapshot_save_begin to buf; returns its size. */
int snapshot_save_end(void *buf, const struct snapshot_hdr *rec);

/* Copies a record of size bytes from buf into rec. 0, or -EINVAL when buf is
 * NULL or shorter than size, or its header has another magic, version or size;
 * the caller still checks the device-specific fields. */
int snapshot_load(const void *buf, size_t len, struct snapshot_hdr *rec, size_t size,
		  uint32_t magic, uint16_t version);

#endif
