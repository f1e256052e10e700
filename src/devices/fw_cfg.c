/* fw_cfg, QEMU-compatible legacy port I/O interface. The access rules are
 * QEMU's hw/nvram/fw_cfg.c ("comb" region of 2 ports at 0x510):
 *  - a 16-bit write at 0x510 selects an item and rewinds its offset
 *    (fw_cfg.rst: the selector is write-only, little-endian on port I/O);
 *  - an 8-bit read at 0x511 returns the next byte, auto-incrementing, and 0
 *    past the end or for an unknown key; an 8-bit read at 0x510 does the
 *    same (the selector has no read side: QEMU's combined region answers
 *    any byte read with fw_cfg_read);
 *  - 8-bit writes are accepted and ignored (data writes are no-ops since
 *    QEMU 2.4);
 *  - other widths are invalid: QEMU refuses them and reads return 0. */
#include "devices/fw_cfg.h"
#include "base/log.h"
#include "base/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Register definitions ---- */
#define FW_CFG_PORT_SEL  0      /* 0x510: selector, 16-bit write */
#define FW_CFG_PORT_DATA 1      /* 0x511: data, 8-bit read */
#define FW_CFG_SIGNATURE_STR "QEMU"

_Static_assert(sizeof(struct fw_cfg_file) == 64, "FW_CFG_FILE_DIR entries are 64 bytes");

static void put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_le32(uint8_t *p, uint32_t v) { put_le16(p, (uint16_t)v); put_le16(p + 2, (uint16_t)(v >> 16)); }
static void put_le64(uint8_t *p, uint64_t v) { put_le32(p, (uint32_t)v); put_le32(p + 4, (uint32_t)(v >> 32)); }
static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v) { put_be16(p, (uint16_t)(v >> 16)); put_be16(p + 2, (uint16_t)v); }

/* ---- Item lookup (caller holds the lock) ---- */

static const struct fw_cfg_item *fw_cfg_find_fixed(const struct fw_cfg *f, uint16_t key)
{
	unsigned i;

	for (i = 0; i < f->nr_fixed; i++)
		if (f->fixed[i].key == key)
			return &f->fixed[i];
	return NULL;
}

/* Points cur_data/cur_len at the item the selector names, keeping the
 * offset: also used to re-resolve after an add moved things around. */
static void fw_cfg_resolve(struct fw_cfg *f)
{
	uint16_t key = f->cur_key & (FW_CFG_ENTRY_MASK | FW_CFG_ARCH_LOCAL);
	const struct fw_cfg_item *it;

	f->cur_data = NULL;
	f->cur_len = 0;
	if (key == FW_CFG_FILE_DIR) {
		f->cur_data = f->dir;
		f->cur_len = f->dir_len;
		return;
	}
	if (key >= FW_CFG_FILE_FIRST && key < FW_CFG_FILE_FIRST + f->nr_files) {
		it = &f->files[key - FW_CFG_FILE_FIRST];
	} else {
		it = fw_cfg_find_fixed(f, key);
		if (!it)
			return;
	}
	f->cur_data = it->data;
	f->cur_len = it->len;
}

static void fw_cfg_select(struct fw_cfg *f, uint16_t key)
{
	f->cur_key = key;
	f->cur_offset = 0;
	f->selects++;
	fw_cfg_resolve(f);
}

static uint8_t fw_cfg_read_byte(struct fw_cfg *f)
{
	if (!f->cur_data || f->cur_offset >= f->cur_len)
		return 0;
	f->bytes_read++;
	return f->cur_data[f->cur_offset++];
}

/* ---- Handlers ---- */

static void fw_cfg_pio_read(void *opaque, uint64_t offset, uint64_t *data, unsigned len)
{
	struct fw_cfg *f = opaque;

	if (len != 1) {
		guest_error("fw_cfg: %u-byte read at port 0x%llx; only byte reads are defined",
			    len, (unsigned long long)(f->base + offset));
		*data = 0;
		return;
	}
	pthread_mutex_lock(&f->lock);
	*data = fw_cfg_read_byte(f);
	pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_pio_write(void *opaque, uint64_t offset, uint64_t data, unsigned len)
{
	struct fw_cfg *f = opaque;

	if (len == 2 && offset == FW_CFG_PORT_SEL) {
		pthread_mutex_lock(&f->lock);
		fw_cfg_select(f, (uint16_t)data);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	if (len == 1)
		return;         /* a data write: a no-op, as in QEMU >= 2.4 */
	guest_error("fw_cfg: %u-byte write of 0x%llx at port 0x%llx; the selector takes "
		    "16-bit writes at 0x%x", len, (unsigned long long)data,
		    (unsigned long long)(f->base + offset), f->base);
}

static const struct bus_ops fw_cfg_ops = {
	.read = fw_cfg_pio_read,
	.write = fw_cfg_pio_write,
};

/* ---- Reset ---- */

void fw_cfg_reset(struct fw_cfg *dev)
{
	pthread_mutex_lock(&dev->lock);
	fw_cfg_select(dev, FW_CFG_SIGNATURE);
	dev->selects = 0;
	pthread_mutex_unlock(&dev->lock);
}

/* ---- Save / load ---- */

#define FW_CFG_STATE_MAGIC   0x47464346u   /* "FCFG" */
#define FW_CFG_STATE_VERSION 1

struct fw_cfg_state_v1 {
	struct snapshot_hdr hdr;
	uint16_t cur_key;
	uint16_t reserved;
	uint32_t cur_offset;
};

int fw_cfg_save(const struct fw_cfg *dev, void *buf, size_t len)
{
	struct fw_cfg *f = (struct fw_cfg *)dev;   /* the lock is not state */
	struct fw_cfg_state_v1 st;
	int ret;

	ret = snapshot_save_begin(buf, len, &st.hdr, sizeof(st), FW_CFG_STATE_MAGIC,
				  FW_CFG_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&f->lock);
	st.cur_key = f->cur_key;
	st.cur_offset = f->cur_offset;
	pthread_mutex_unlock(&f->lock);
	return snapshot_save_end(buf, &st.hdr);
}

int fw_cfg_load(struct fw_cfg *dev, const void *buf, size_t len)
{
	struct fw_cfg_state_v1 st;
	int ret;

	ret = snapshot_load(buf, len, &st.hdr, sizeof(st), FW_CFG_STATE_MAGIC,
			    FW_CFG_STATE_VERSION);
	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	fw_cfg_select(dev, st.cur_key);
	/* An offset past the end is harmless (reads return 0), as in QEMU. */
	dev->cur_offset = st.cur_offset;
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/* ---- Items ---- */

static int fw_cfg_copy(struct fw_cfg_item *it, const void *data, size_t len)
{
	if (len > UINT32_MAX || (len && !data))
		return -EINVAL;
	it->data = malloc(len ? len : 1);
	if (!it->data)
		return -ENOMEM;
	if (len)
		memcpy(it->data, data, len);
	it->len = (uint32_t)len;
	return 0;
}

/* Caller holds the lock. Rebuilds FW_CFG_FILE_DIR: a big-endian count, then
 * struct fw_cfg_file per file in selector order. */
static int fw_cfg_build_dir(struct fw_cfg *f)
{
	uint32_t len = 4 + f->nr_files * (uint32_t)sizeof(struct fw_cfg_file);
	uint8_t *d = calloc(1, len);
	unsigned i;

	if (!d)
		return -ENOMEM;
	put_be32(d, f->nr_files);
	for (i = 0; i < f->nr_files; i++) {
		uint8_t *e = d + 4 + i * sizeof(struct fw_cfg_file);

		put_be32(e, f->files[i].len);
		put_be16(e + 4, (uint16_t)(FW_CFG_FILE_FIRST + i));
		memcpy(e + 8, f->files[i].name, FW_CFG_MAX_FILE_PATH);
	}
	free(f->dir);
	f->dir = d;
	f->dir_len = len;
	return 0;
}

int fw_cfg_add_bytes(struct fw_cfg *dev, uint16_t key, const void *data, size_t len)
{
	uint16_t idx = key & FW_CFG_ENTRY_MASK;
	struct fw_cfg_item it = { .key = key };
	int ret;

	if ((key & FW_CFG_WRITE_CHANNEL) || idx >= FW_CFG_FILE_FIRST ||
	    key == FW_CFG_FILE_DIR) {
		log_error("fw_cfg: key 0x%04x is not a fixed key (files go through "
			  "fw_cfg_add_file)", key);
		return -EINVAL;
	}
	ret = fw_cfg_copy(&it, data, len);
	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	if (fw_cfg_find_fixed(dev, key)) {
		ret = -EEXIST;
		goto err_unlock;
	}
	if (dev->nr_fixed == FW_CFG_MAX_FIXED) {
		ret = -ENOSPC;
		goto err_unlock;
	}
	dev->fixed[dev->nr_fixed++] = it;
	fw_cfg_resolve(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;

err_unlock:
	pthread_mutex_unlock(&dev->lock);
	log_error("fw_cfg: adding key 0x%04x (%zu bytes): %s", key, len, strerror(-ret));
	free(it.data);
	return ret;
}

int fw_cfg_add_file(struct fw_cfg *dev, const char *name, const void *data, size_t len)
{
	struct fw_cfg_item it = { 0 };
	size_t nlen = name ? strnlen(name, FW_CFG_MAX_FILE_PATH) : 0;
	unsigned pos, i;
	int ret;

	if (!nlen)
		return -EINVAL;
	if (nlen >= FW_CFG_MAX_FILE_PATH) {
		log_error("fw_cfg: file name '%.*s...' is longer than %d characters",
			  FW_CFG_MAX_FILE_PATH - 1, name, FW_CFG_MAX_FILE_PATH - 1);
		return -ENAMETOOLONG;
	}
	memcpy(it.name, name, nlen);
	ret = fw_cfg_copy(&it, data, len);
	if (ret)
		return ret;

	pthread_mutex_lock(&dev->lock);
	for (pos = 0; pos < dev->nr_files; pos++) {
		int c = strcmp(name, dev->files[pos].name);

		if (!c) {
			ret = -EEXIST;
			goto err_unlock;
		}
		if (c < 0)
			break;
	}
	if (dev->nr_files == FW_CFG_MAX_FILES) {
		ret = -ENOSPC;
		goto err_unlock;
	}
	if (dev->nr_files == dev->cap_files) {
		unsigned cap = dev->cap_files ? dev->cap_files * 2 : 16;
		struct fw_cfg_item *n = realloc(dev->files, cap * sizeof(*n));

		if (!n) {
			ret = -ENOMEM;
			goto err_unlock;
		}
		dev->files = n;
		dev->cap_files = cap;
	}
	memmove(&dev->files[pos + 1], &dev->files[pos],
		(dev->nr_files - pos) * sizeof(dev->files[0]));
	dev->files[pos] = it;
	dev->nr_files++;
	ret = fw_cfg_build_dir(dev);
	if (ret) {
		/* Undo, so the directory never disagrees with the files. */
		dev->nr_files--;
		for (i = pos; i < dev->nr_files; i++)
			dev->files[i] = dev->files[i + 1];
		goto err_unlock;
	}
	fw_cfg_resolve(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;

err_unlock:
	pthread_mutex_unlock(&dev->lock);
	log_error("fw_cfg: adding file %s (%zu bytes): %s", name, len, strerror(-ret));
	free(it.data);
	return ret;
}

int fw_cfg_add_i16(struct fw_cfg *dev, uint16_t key, uint16_t v)
{
	uint8_t b[2];

	put_le16(b, v);
	return fw_cfg_add_bytes(dev, key, b, sizeof(b));
}

int fw_cfg_add_i32(struct fw_cfg *dev, uint16_t key, uint32_t v)
{
	uint8_t b[4];

	put_le32(b, v);
	return fw_cfg_add_bytes(dev, key, b, sizeof(b));
}

int fw_cfg_add_i64(struct fw_cfg *dev, uint16_t key, uint64_t v)
{
	uint8_t b[8];

	put_le64(b, v);
	return fw_cfg_add_bytes(dev, key, b, sizeof(b));
}

/* ---- Registration ---- */

int fw_cfg_init(struct fw_cfg *dev)
{
	int ret;

	memset(dev, 0, sizeof(*dev));
	ret = -pthread_mutex_init(&dev->lock, NULL);
	if (ret)
		return ret;
	dev->inited = true;
	ret = fw_cfg_add_bytes(dev, FW_CFG_SIGNATURE, FW_CFG_SIGNATURE_STR, 4);
	if (!ret)
		ret = fw_cfg_add_i32(dev, FW_CFG_ID, FW_CFG_VERSION);
	if (ret)
		goto err_destroy;
	pthread_mutex_lock(&dev->lock);
	ret = fw_cfg_build_dir(dev);
	fw_cfg_select(dev, FW_CFG_SIGNATURE);
	dev->selects = 0;
	pthread_mutex_unlock(&dev->lock);
	if (ret)
		goto err_destroy;
	return 0;

err_destroy:
	fw_cfg_destroy(dev);
	return ret;
}

int fw_cfg_attach(struct fw_cfg *dev, struct bus *pio, uint16_t base)
{
	int ret;

	dev->base = base;
	ret = bus_register(pio, base, FW_CFG_IO_SIZE, &fw_cfg_ops, dev, "fw_cfg");
	if (ret)
		log_error("fw_cfg: registering ports 0x%x-0x%x: %s", base,
			  base + FW_CFG_IO_SIZE - 1, strerror(-ret));
	return ret;
}

void fw_cfg_destroy(struct fw_cfg *dev)
{
	unsigned i;

	if (!dev->inited)
		return;
	for (i = 0; i < dev->nr_fixed; i++)
		free(dev->fixed[i].data);
	for (i = 0; i < dev->nr_files; i++)
		free(dev->files[i].data);
	free(dev->files);
	free(dev->dir);
	pthread_mutex_destroy(&dev->lock);
	memset(dev, 0, sizeof(*dev));
}
