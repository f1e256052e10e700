/* Hardened ELF32/ELF64 reader for the kernel loaders. The image is untrusted:
 * nothing is read before the range it lies in has been checked against the
 * file size with overflow-safe arithmetic. */
#include "vmm/boot_elf.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define EI_NIDENT      16
#define EI_CLASS       4
#define EI_DATA        5
#define ELFCLASS32     1
#define ELFCLASS64     2
#define ELFDATA2LSB    1
#define ELF32_EHDR     52u
#define ELF64_EHDR     64u
#define ELF32_PHDR     32u
#define ELF64_PHDR     56u
#define ELF32_SHDR     40u
#define ELF64_SHDR     64u
#define NOTE_HDR       12u

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* [off, off+len) inside a file of size bytes, without overflow. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

bool elf_has_magic(const uint8_t *data, size_t size)
{
	return data && size >= 4 && memcmp(data, "\x7f" "ELF", 4) == 0;
}

int elf_open(struct elf_file *ef, const uint8_t *data, size_t size,
	     const char *name, char *err, size_t errlen)
{
	const uint8_t *h = data;
	unsigned ehsize, phsize;

	memset(ef, 0, sizeof(*ef));
	ef->data = data;
	ef->size = size;
	ef->name = name;
	if (!elf_has_magic(data, size)) {
		boot_err(err, errlen, "%s: not an ELF image", name);
		return -ENOEXEC;
	}
	if (size < EI_NIDENT) {
		boot_err(err, errlen, "%s: truncated: ELF identification needs %u bytes, file has %zu",
			 name, EI_NIDENT, size);
		return -ENOEXEC;
	}
	switch (h[EI_CLASS]) {
	case ELFCLASS32:
		ef->is64 = false;
		ehsize = ELF32_EHDR;
		phsize = ELF32_PHDR;
		break;
	case ELFCLASS64:
		ef->is64 = true;
		ehsize = ELF64_EHDR;
		phsize = ELF64_PHDR;
		break;
	default:
		boot_err(err, errlen, "%s: unknown ELF class %u", name, h[EI_CLASS]);
		return -ENOEXEC;
	}
	if (h[EI_DATA] != ELFDATA2LSB) {
		boot_err(err, errlen, "%s: ELF data encoding %u is not little-endian x86",
			 name, h[EI_DATA]);
		return -ENOEXEC;
	}
	if (size < ehsize) {
		boot_err(err, errlen, "%s: truncated: ELF header needs %u bytes, file has %zu",
			 name, ehsize, size);
		return -ENOEXEC;
	}
	ef->type = rd16(h + 16);
	ef->machine = rd16(h + 18);
	if (ef->is64) {
		ef->entry = rd64(h + 24);
		ef->phoff = rd64(h + 32);
		ef->shoff = rd64(h + 40);
		ef->phentsize = rd16(h + 54);
		ef->phnum = rd16(h + 56);
		ef->shentsize = rd16(h + 58);
		ef->shnum = rd16(h + 60);
	} else {
		ef->entry = rd32(h + 24);
		ef->phoff = rd32(h + 28);
		ef->shoff = rd32(h + 32);
		ef->phentsize = rd16(h + 42);
		ef->phnum = rd16(h + 44);
		ef->shentsize = rd16(h + 46);
		ef->shnum = rd16(h + 48);
	}
	/* Relocatable objects and core files have no meaningful load layout. */
	if (ef->type != ELF_ET_EXEC && ef->type != ELF_ET_DYN) {
		boot_err(err, errlen, "%s: ELF type %u is not an executable", name, ef->type);
		return -ENOEXEC;
	}
	if (ef->machine != (ef->is64 ? ELF_EM_X86_64 : ELF_EM_386)) {
		boot_err(err, errlen, "%s: ELF%d image for machine %u, expected %s",
			 name, ef->is64 ? 64 : 32, ef->machine,
			 ef->is64 ? "x86-64 (62)" : "i386 (3)");
		return -ENOEXEC;
	}
	if (ef->phnum == 0) {
		boot_err(err, errlen, "%s: no program headers", name);
		return -ENOEXEC;
	}
	if (ef->phnum > BOOT_ELF_MAX_PHDRS) {
		boot_err(err, errlen, "%s: e_phnum %u is absurd (at most %u)",
			 name, ef->phnum, BOOT_ELF_MAX_PHDRS);
		return -ENOEXEC;
	}
	if (ef->phentsize != phsize) {
		boot_err(err, errlen, "%s: e_phentsize %u, expected %u for ELF%d",
			 name, ef->phentsize, phsize, ef->is64 ? 64 : 32);
		return -ENOEXEC;
	}
	if (!in_file(ef->phoff, (uint64_t)ef->phnum * phsize, size)) {
		boot_err(err, errlen,
			 "%s: truncated: program header table past end of file (offset 0x%" PRIx64
			 ", %u x %u bytes, file %zu bytes)",
			 name, ef->phoff, ef->phnum, phsize, size);
		return -ENOEXEC;
	}
	return 0;
}

void elf_get_phdr(const struct elf_file *ef, unsigned i, struct elf_phdr *ph)
{
	const uint8_t *p = ef->data + ef->phoff + (uint64_t)i * ef->phentsize;

	if (ef->is64) {
		ph->type = rd32(p);
		ph->flags = rd32(p + 4);
		ph->offset = rd64(p + 8);
		ph->vaddr = rd64(p + 16);
		ph->paddr = rd64(p + 24);
		ph->filesz = rd64(p + 32);
		ph->memsz = rd64(p + 40);
		ph->align = rd64(p + 48);
	} else {
		ph->type = rd32(p);
		ph->offset = rd32(p + 4);
		ph->vaddr = rd32(p + 8);
		ph->paddr = rd32(p + 12);
		ph->filesz = rd32(p + 16);
		ph->memsz = rd32(p + 20);
		ph->flags = rd32(p + 24);
		ph->align = rd32(p + 28);
	}
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Scans one note area [off, off+len) (already known to lie in the file).
 * Notes are padded to 4 bytes; an area aligned to 8 uses 8-byte padding, as
 * binutils does for ELF64 property notes. what/idx name the area. */
static int scan_notes(const struct elf_file *ef, uint64_t off, uint64_t len,
		      uint64_t align, const char *what, unsigned idx,
		      const char *owner, uint32_t type, const uint8_t **desc,
		      uint32_t *descsz, char *err, size_t errlen)
{
	const uint64_t a = align == 8 ? 8 : 4;
	const size_t olen = strlen(owner);
	uint64_t pos = 0;

	while (pos <= len && len - pos >= NOTE_HDR) {
		const uint8_t *n = ef->data + off + pos;
		uint32_t namesz = rd32(n), dsz = rd32(n + 4), ntype = rd32(n + 8);
		uint64_t name_off = pos + NOTE_HDR;
		/* Padding runs from the note's start, which is a-aligned. */
		uint64_t desc_off = align_up(name_off + namesz, a);
		const uint8_t *name = ef->data + off + name_off;
		bool match;

		if (namesz > len - name_off) {
			boot_err(err, errlen,
				 "%s: note name at offset 0x%" PRIx64 " (%u bytes) runs past the end of %s %u",
				 ef->name, off + pos, namesz, what, idx);
			return -ENOEXEC;
		}
		if (dsz && (desc_off > len || dsz > len - desc_off)) {
			boot_err(err, errlen,
				 "%s: note descriptor at offset 0x%" PRIx64 " (%u bytes) runs past the end of %s %u",
				 ef->name, off + pos, dsz, what, idx);
			return -ENOEXEC;
		}
		/* The owner name counts its NUL; accept producers that omit it. */
		match = ntype == type &&
			(namesz == olen + 1 || namesz == olen) &&
			memcmp(name, owner, olen) == 0 &&
			(namesz == olen || name[olen] == '\0');
		if (match) {
			*desc = dsz ? ef->data + off + desc_off : NULL;
			*descsz = dsz;
			return 0;
		}
		pos = align_up(desc_off + dsz, a);
	}
	return -ENOENT;
}

int elf_find_note(const struct elf_file *ef, const char *owner, uint32_t type,
		  const uint8_t **desc, uint32_t *descsz, char *err, size_t errlen)
{
	unsigned shsize = ef->is64 ? ELF64_SHDR : ELF32_SHDR;
	bool have_pt_note = false;
	struct elf_phdr ph;
	int ret;

	for (unsigned i = 0; i < ef->phnum; i++) {
		elf_get_phdr(ef, i, &ph);
		if (ph.type != ELF_PT_NOTE)
			continue;
		have_pt_note = true;
		if (!in_file(ph.offset, ph.filesz, ef->size)) {
			boot_err(err, errlen,
				 "%s: truncated: note segment %u [0x%" PRIx64 "+0x%" PRIx64
				 ") is past end of file (%zu bytes)",
				 ef->name, i, ph.offset, ph.filesz, ef->size);
			return -ENOEXEC;
		}
		ret = scan_notes(ef, ph.offset, ph.filesz, ph.align, "segment", i,
				 owner, type, desc, descsz, err, errlen);
		if (ret != -ENOENT)
			return ret;
	}
	if (have_pt_note || ef->shnum == 0)
		return -ENOENT;

	/* No PT_NOTE: fall back to the section table, as QEMU does. */
	if (ef->shentsize != shsize) {
		boot_err(err, errlen, "%s: e_shentsize %u, expected %u for ELF%d",
			 ef->name, ef->shentsize, shsize, ef->is64 ? 64 : 32);
		return -ENOEXEC;
	}
	if (!in_file(ef->shoff, (uint64_t)ef->shnum * shsize, ef->size)) {
		boot_err(err, errlen,
			 "%s: truncated: section header table past end of file (offset 0x%" PRIx64
			 ", %u x %u bytes, file %zu bytes)",
			 ef->name, ef->shoff, ef->shnum, shsize, ef->size);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < ef->shnum; i++) {
		const uint8_t *s = ef->data + ef->shoff + (uint64_t)i * shsize;
		uint64_t off, size, align;

		if (rd32(s + 4) != ELF_SHT_NOTE)
			continue;
		if (ef->is64) {
			off = rd64(s + 24);
			size = rd64(s + 32);
			align = rd64(s + 48);
		} else {
			off = rd32(s + 16);
			size = rd32(s + 20);
			align = rd32(s + 32);
		}
		if (!in_file(off, size, ef->size)) {
			boot_err(err, errlen,
				 "%s: truncated: note section %u [0x%" PRIx64 "+0x%" PRIx64
				 ") is past end of file (%zu bytes)",
				 ef->name, i, off, size, ef->size);
			return -ENOEXEC;
		}
		ret = scan_notes(ef, off, size, align, "section", i, owner, type,
				 desc, descsz, err, errlen);
		if (ret != -ENOENT)
			return ret;
	}
	return -ENOENT;
}

int elf_collect_segments(const struct elf_file *ef, struct boot_image *img,
			 char *err, size_t errlen)
{
	/* An ELF32 segment must end within the 32-bit physical address space. */
	const uint64_t limit = ef->is64 ? UINT64_MAX : 1ull << 32;
	struct elf_phdr ph;

	memset(img, 0, sizeof(*img));
	for (unsigned i = 0; i < ef->phnum; i++) {
		struct boot_segment *s;

		elf_get_phdr(ef, i, &ph);
		if (ph.type != ELF_PT_LOAD)
			continue;
		if (ph.filesz > ph.memsz) {
			boot_err(err, errlen,
				 "%s: segment %u: p_filesz 0x%" PRIx64 " exceeds p_memsz 0x%" PRIx64,
				 ef->name, i, ph.filesz, ph.memsz);
			return -ENOEXEC;
		}
		if (ph.memsz == 0)
			continue;
		if (!in_file(ph.offset, ph.filesz, ef->size)) {
			boot_err(err, errlen,
				 "%s: truncated: segment %u data [0x%" PRIx64 "+0x%" PRIx64
				 ") is past end of file (%zu bytes)",
				 ef->name, i, ph.offset, ph.filesz, ef->size);
			return -ENOEXEC;
		}
		if (ph.paddr > limit || ph.memsz > limit - ph.paddr) {
			boot_err(err, errlen,
				 "%s: segment %u [0x%" PRIx64 "+0x%" PRIx64
				 ") wraps around the address space",
				 ef->name, i, ph.paddr, ph.memsz);
			return -ENOEXEC;
		}
		s = &img->seg[img->nr_seg++];
		s->index = i;
		s->flags = ph.flags;
		s->paddr = ph.paddr;
		s->vaddr = ph.vaddr;
		s->memsz = ph.memsz;
		s->filesz = ph.filesz;
		s->src = ef->data + ph.offset;
		if (img->nr_seg == 1 || s->paddr < img->low)
			img->low = s->paddr;
		if (ph.paddr + ph.memsz > img->high)
			img->high = ph.paddr + ph.memsz;
	}
	if (img->nr_seg == 0) {
		boot_err(err, errlen, "%s: no loadable segments (nothing to boot)", ef->name);
		return -ENOEXEC;
	}
	return 0;
}
