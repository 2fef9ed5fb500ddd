# tests/: cmocka unit tests (tests/unit/test_*.c) and libFuzzer targets
# (tests/fuzz/fuzz_*.c). A unit test named test_fs_* links the shared core
# only; a component that has unit tests appends them to UNIT_BINS and gives
# the link rule in its own build.mk.
FS_UNIT_SRCS := $(wildcard tests/unit/test_fs_*.c)
UNIT_BINS += $(FS_UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
CMOCKA_LIBS = $(call pc_libs,cmocka)

unit-tests: $(UNIT_BINS)

$(BUILD)/tests/test_fs_%: $(BUILD)/tests/unit/test_fs_%.o $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) $(FS_WRAP) -o $@ $^ $(FS_LIBS) $(CMOCKA_LIBS)

# test_fs_xmalloc moves a fake program break and records the advice given.
$(BUILD)/tests/test_fs_xmalloc: FS_WRAP = -Wl,--wrap=sbrk,--wrap=madvise

# Fuzz targets are built with clang's libFuzzer straight from the sources,
# so they need no second copy of the library rules.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -I. -fsanitize=fuzzer,address,undefined

.PHONY: fuzz-targets
fuzz-targets: $(FUZZ_BINS)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FS_SRCS) | $(STAMP)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(shell pkg-config --cflags libxxhash inih) -o $@ $^ \
		$(call pc_libs,libxxhash inih)

# Benchmark helpers: plain programs, no sanitizers needed.
$(BUILD)/metaops: tests/bench/metaops.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o $@ $<
BENCH_BINS += $(BUILD)/metaops

# garbage: a hostile peer for tests/integration/hostile_*.sh (malformed
# frames, bad HELLOs, lying requests). Not a cmocka test; built with them.
UNIT_BINS += $(BUILD)/garbage
unit-tests: $(BUILD)/garbage
$(BUILD)/garbage: $(BUILD)/tests/tools/garbage.o $(BUILD)/tests/tools/garbage_lies.o $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS)

# fsx: random file operations checked against a model, for
# tests/integration/mount_fsx.sh. Not a cmocka test; built with them.
UNIT_BINS += $(BUILD)/fsx
unit-tests: $(BUILD)/fsx
$(BUILD)/fsx: $(BUILD)/tests/tools/fsx.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^
