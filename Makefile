# Warden build. Sources are found by wildcard: adding a file under src/,
# tests/unit/test_*.c or bench/*.c needs no change here.
CC       ?= gcc
BUILD    := build
CSTD     := -std=gnu11
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   := $(CSTD) -O2 -g $(WARN) -D_GNU_SOURCE -Isrc -pthread -MMD -MP
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS   := -pthread -luring
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS   += -DWARDEN_VERSION=\"$(VERSION)\"

LIB_SRCS  := $(shell find src -name '*.c' ! -path src/main.c | sort)
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
SAN_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/san/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_SAN  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/san/tests/%)
BENCH_SRCS:= $(sort $(wildcard bench/*.c))
BENCH_BINS:= $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

.PHONY: all warden guest tests bench test demo clean deps san fuzz fuzz-bins fuzz-coverage
# Keep test and bench objects (chained rules would delete them as
# intermediates); listed, since a listed .SECONDARY elsewhere (guest.mk)
# turns off the bare form's "everything".
.SECONDARY: $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o) $(UNIT_SRCS:%.c=$(BUILD)/san/obj/%.o) \
	    $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o)
all: warden guest

warden: $(BUILD)/warden
san: $(BUILD)/san/warden $(UNIT_SAN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/san/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(BUILD)/libwarden.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/san/libwarden.a: $(SAN_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/warden: $(BUILD)/obj/src/main.o $(BUILD)/libwarden.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/san/warden: $(BUILD)/san/obj/src/main.o $(BUILD)/san/libwarden.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libwarden.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/san/tests/%: $(BUILD)/san/obj/tests/unit/%.o $(BUILD)/san/libwarden.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libwarden.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

tests: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)

# ---- Fuzzing (tests/fuzz/, README there) ----
# Harnesses tests/fuzz/fuzz_<name>.c are built by clang with libFuzzer,
# ASan and UBSan against a clang-built copy of the guest-facing library code
# in build/fuzz/, so the gcc build above is untouched.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-fno-omit-frame-pointer
FUZZ_CFLAGS  := $(CSTD) -O1 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Isrc \
		-pthread -MMD -MP $(FUZZ_SAN) -DWARDEN_VERSION=\"$(VERSION)\"
FUZZ_LIB_SRCS := $(sort $(wildcard src/base/*.c src/backend/*.c src/iommu/*.c src/pci/*.c \
		 src/devices/*.c src/vmm/boot*.c))
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_SRCS    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/libwarden.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(BUILD)/fuzz/libwarden.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

.SECONDARY: $(FUZZ_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
fuzz-bins: $(FUZZ_BINS)

# Every harness for FUZZ_SECONDS seconds (one core each, one after the
# other), growing build/fuzz/corpus/<name> from the seeds checked in.
fuzz: fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) tests/fuzz/run.sh fuzz

# Source-based coverage of what the corpora reach: the same harnesses built
# with clang's profile instrumentation (no sanitizers) in build/fuzzcov/,
# every input of build/fuzz/corpus/<name> and the seeds replayed once, and
# llvm-cov's line/region/function report of each harness's target files.
FUZZCOV_CFLAGS := $(CSTD) -O1 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Isrc \
		-pthread -MMD -MP -fprofile-instr-generate -fcoverage-mapping \
		-DWARDEN_VERSION=\"$(VERSION)\"
FUZZCOV_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzzcov/obj/%.o)
FUZZCOV_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzzcov/%)

$(BUILD)/fuzzcov/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZCOV_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzzcov/libwarden.a: $(FUZZCOV_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fuzzcov/fuzz_%: $(BUILD)/fuzzcov/obj/tests/fuzz/fuzz_%.o $(BUILD)/fuzzcov/libwarden.a
	$(FUZZ_CC) $(FUZZCOV_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

.SECONDARY: $(FUZZ_SRCS:%.c=$(BUILD)/fuzzcov/obj/%.o)
fuzz-coverage:
	@WARDEN_WITH_COVERAGE=1 scripts/deps.sh
	@$(MAKE) --no-print-directory $(FUZZCOV_BINS)
	@BUILD=$(BUILD) tests/fuzz/run.sh coverage

include guest/guest.mk

# Installs what is missing (Debian packages), then builds.
deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all tests san
	@if tests/fuzz/run.sh available; then $(MAKE) --no-print-directory fuzz-bins; fi
	@tests/run.sh

bench: deps
	@$(MAKE) --no-print-directory all bench-bins
	@scripts/bench.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

# The DMA attack gallery (docs/security.md): every attack, both vIOMMU
# modes, each in its own `warden run`; fails if anything got through.
.PHONY: attacks
attacks: warden guest
	@$(BUILD)/warden attack

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
