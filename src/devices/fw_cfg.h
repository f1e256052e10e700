/* QEMU's fw_cfg, legacy port I/O interface only (docs/specs/fw_cfg.rst in
 * QEMU): firmware (SeaBIOS, OVMF, qboot) selects an item with a 16-bit write
 * to 0x510 and reads its bytes from 0x511. No DMA interface (FW_CFG_ID says
 * so), so 0x514 stays unclaimed. Items are added by the vmm before the guest
 * runs; the guest cannot write any of them. */
#ifndef WARDEN_DEVICES_FW_CFG_H
#define WARDEN_DEVICES_FW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "base/bus.h"

#define FW_CFG_IO_BASE       0x510
#define FW_CFG_IO_SIZE       2      /* selector at +0, data at +1 */

/* Selector keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE     0x0000
#define FW_CFG_ID            0x0001
#define FW_CFG_UUID          0x0002
#define FW_CFG_RAM_SIZE      0x0003
#define FW_CFG_NOGRAPHIC     0x0004
#define FW_CFG_NB_CPUS       0x0005
#define FW_CFG_MACHINE_ID    0x0006
#define FW_CFG_KERNEL_ADDR   0x0007
#define FW_CFG_KERNEL_SIZE   0x0008
#define FW_CFG_KERNEL_CMDLINE 0x0009
#define FW_CFG_INITRD_ADDR   0x000a
#define FW_CFG_INITRD_SIZE   0x000b
#define FW_CFG_BOOT_DEVICE   0x000c
#define FW_CFG_NUMA          0x000d
#define FW_CFG_BOOT_MENU     0x000e
#define FW_CFG_MAX_CPUS      0x000f
#define FW_CFG_FILE_DIR      0x0019
#define FW_CFG_FILE_FIRST    0x0020
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL    0x8000
#define FW_CFG_ENTRY_MASK    ((uint16_t)~(FW_CFG_WRITE_CHANNEL | FW_CFG_ARCH_LOCAL))

#define FW_CFG_VERSION       0x01   /* FW_CFG_ID bit 0: traditional interface */
#define FW_CFG_VERSION_DMA   0x02   /* bit 1: DMA interface (not offered) */

#define FW_CFG_MAX_FILE_PATH 56
#define FW_CFG_MAX_FILES     256    /* selectors 0x0020..0x011f */
#define FW_CFG_MAX_FIXED     64     /* fixed and arch-local keys */

/* One entry of FW_CFG_FILE_DIR as the guest sees it (big-endian fields). */
struct fw_cfg_file {
	uint32_t size;
	uint16_t select;
	uint16_t reserved;
	char name[FW_CFG_MAX_FILE_PATH];
};

struct fw_cfg_item {
	uint16_t key;                   /* fixed items: key incl. FW_CFG_ARCH_LOCAL */
	uint32_t len;
	uint8_t *data;                  /* owned copy */
	char name[FW_CFG_MAX_FILE_PATH];/* files only */
};

struct fw_cfg {
	pthread_mutex_t lock;
	bool inited;
	uint16_t base;                  /* set by fw_cfg_attach() */
	struct fw_cfg_item fixed[FW_CFG_MAX_FIXED];
	unsigned nr_fixed;
	struct fw_cfg_item *files;      /* sorted by name: selector 0x20 + index */
	unsigned nr_files, cap_files;
	uint8_t *dir;                   /* FW_CFG_FILE_DIR contents, rebuilt on add */
	uint32_t dir_len;

	uint16_t cur_key;               /* as the guest wrote it */
	const uint8_t *cur_data;        /* NULL: no such item, reads return 0 */
	uint32_t cur_len, cur_offset;
	uint64_t selects, bytes_read;
};

/* Adds SIGNATURE ("QEMU"), ID (traditional interface only) and an empty
 * FILE_DIR; the vmm adds the machine's items (RAM_SIZE as u64, NB_CPUS and
 * MAX_CPUS as u16, all little-endian: fw_cfg_add_i64/i16). */
int fw_cfg_init(struct fw_cfg *dev);
/* Claims FW_CFG_IO_SIZE ports from base (FW_CFG_IO_BASE). */
int fw_cfg_attach(struct fw_cfg *dev, struct bus *pio, uint16_t base);
/* Selects nothing, like QEMU after reset (key 0, offset 0). */
void fw_cfg_reset(struct fw_cfg *dev);
/* Versioned state (selector and offset; items are configuration and are
 * rebuilt by the vmm). Returns its size or -ENOSPC (buf == NULL: the size). */
int fw_cfg_save(const struct fw_cfg *dev, void *buf, size_t len);
int fw_cfg_load(struct fw_cfg *dev, const void *buf, size_t len);
/* Frees every item. Safe on a zeroed or failed-to-init device. */
void fw_cfg_destroy(struct fw_cfg *dev);

/* A fixed key (below FW_CFG_FILE_FIRST, optionally | FW_CFG_ARCH_LOCAL).
 * Data is copied. 0, -EEXIST (key taken), -EINVAL (key in the file range
 * or FILE_DIR, len >= 4 GiB), -ENOSPC, -ENOMEM. */
int fw_cfg_add_bytes(struct fw_cfg *dev, uint16_t key, const void *data, size_t len);
/* A named file ("etc/acpi/tables"); data is copied. Files are kept sorted
 * by name with selectors FW_CFG_FILE_FIRST + index, as QEMU does, so add
 * them all before the guest runs. 0, -EEXIST (same name), -ENAMETOOLONG
 * (55 characters at most), -EINVAL, -ENOSPC, -ENOMEM. */
int fw_cfg_add_file(struct fw_cfg *dev, const char *name, const void *data, size_t len);
/* Fixed keys holding a little-endian integer, as QEMU's fw_cfg_add_i*. */
int fw_cfg_add_i16(struct fw_cfg *dev, uint16_t key, uint16_t v);
int fw_cfg_add_i32(struct fw_cfg *dev, uint16_t key, uint32_t v);
int fw_cfg_add_i64(struct fw_cfg *dev, uint16_t key, uint64_t v);

#endif
