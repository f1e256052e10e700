/* The header checks every device's save/load shares; see snapshot.h. */
#include "base/snapshot.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* A record must hold its header and its size must fit the header's field. */
static bool snapshot_size_ok(size_t size)
{
	return size >= sizeof(struct snapshot_hdr) && size <= UINT16_MAX;
}

int snapshot_save_begin(const void *buf, size_t len, struct snapshot_hdr *rec, size_t size,
			uint32_t magic, uint16_t version)
{
	if (!snapshot_size_ok(size))
		return -EINVAL;
	if (!buf)
		return (int)size;
	if (len < size)
		return -ENOSPC;
	memset(rec, 0, size);
	rec->magic = magic;
	rec->version = version;
	rec->size = (uint16_t)size;
	return 0;
}

int snapshot_save_end(void *buf, const struct snapshot_hdr *rec)
{
	memcpy(buf, rec, rec->size);
	return rec->size;
}

int snapshot_load(const void *buf, size_t len, struct snapshot_hdr *rec, size_t size,
		  uint32_t magic, uint16_t version)
{
	if (!snapshot_size_ok(size) || !buf || len < size)
		return -EINVAL;
	memcpy(rec, buf, size);
	if (rec->magic != magic || rec->version != version || rec->size != size)
		return -EINVAL;
	return 0;
}
