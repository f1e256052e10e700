# Freestanding test guests: build/guest/<prog>.elf for every
# guest/progs/<prog>.c, linked with the runtime in guest/rt/ (PVH ELF64), and
# build/guest/hello-multiboot.elf (hello + a multiboot v1 header, ELF32).
# Included by the top-level Makefile (which sets BUILD); depends on nothing
# outside guest/. See docs/guest-runtime.md.

GUEST_CC      ?= gcc
GUEST_OBJCOPY ?= objcopy
GUEST_OUT     := $(BUILD)/guest
GUEST_CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -m64 -ffreestanding -fno-pic -fno-pie \
		 -fno-stack-protector -fno-asynchronous-unwind-tables -fno-unwind-tables \
		 -fcf-protection=none -fno-tree-loop-distribute-patterns -fno-omit-frame-pointer \
		 -mno-red-zone -mcmodel=small -mgeneral-regs-only -Iguest/rt -MMD -MP
GUEST_ASFLAGS := -m64 -g -Iguest/rt -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/guest.ld -Wl,--build-id=none \
		 -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments

GUEST_RT_C    := $(sort $(wildcard guest/rt/*.c))
GUEST_RT_S    := $(sort $(wildcard guest/rt/*.S))
GUEST_RT_OBJS := $(GUEST_RT_C:guest/%.c=$(GUEST_OUT)/obj/%.o) \
		 $(GUEST_RT_S:guest/%.S=$(GUEST_OUT)/obj/%.S.o)
GUEST_MB_OBJ  := $(GUEST_OUT)/obj/multiboot/header.S.o
GUEST_PROGS   := $(sort $(basename $(notdir $(wildcard guest/progs/*.c))))
GUEST_ELFS    := $(GUEST_PROGS:%=$(GUEST_OUT)/%.elf) $(GUEST_OUT)/hello-multiboot.elf

# od prints the 4-byte-aligned little-endian words of the first 8 KiB: the
# places a multiboot loader searches for the header magic.
guest_mb_magic = od -An -tx4 -v -N8192 $(1) | grep -qw 1badb002

GUEST_PROG_OBJS := $(GUEST_PROGS:%=$(GUEST_OUT)/obj/progs/%.o)

.PHONY: guest
guest: $(GUEST_ELFS)
.SECONDARY: $(GUEST_PROG_OBJS) $(GUEST_OUT)/obj/hello-multiboot.elf64

$(GUEST_OUT)/obj/%.o: guest/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/obj/%.S.o: guest/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_ASFLAGS) -c $< -o $@

$(GUEST_OUT)/%.elf: $(GUEST_OUT)/obj/progs/%.o $(GUEST_RT_OBJS) guest/guest.ld
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)
	@if $(call guest_mb_magic,$@); then echo "$@: multiboot magic in the first 8 KiB" >&2; rm -f $@; exit 1; fi

$(GUEST_OUT)/obj/hello-multiboot.elf64: $(GUEST_MB_OBJ) $(GUEST_OUT)/obj/progs/hello.o $(GUEST_RT_OBJS) guest/guest.ld
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

# QEMU's multiboot loader refuses ELF64; the 64-bit code is unaffected.
$(GUEST_OUT)/hello-multiboot.elf: $(GUEST_OUT)/obj/hello-multiboot.elf64
	$(GUEST_OBJCOPY) -O elf32-i386 $< $@
	@$(call guest_mb_magic,$@) || { echo "$@: no multiboot header in the first 8 KiB" >&2; rm -f $@; exit 1; }

-include $(shell find $(GUEST_OUT) -name '*.d' 2>/dev/null)
