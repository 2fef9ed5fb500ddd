# chunkd/: the chunk server, its unit tests, its test tool and its benchmark.
CHUNKD_SRCS := $(wildcard chunkd/*.c)
CHUNKD_OBJS := $(CHUNKD_SRCS:%.c=$(BUILD)/%.o)
# everything but main(): what the unit tests link against
CHUNKD_CORE_OBJS := $(filter-out $(BUILD)/chunkd/main.o,$(CHUNKD_OBJS))
BINS += $(BUILD)/casfs-chunkd

$(BUILD)/casfs-chunkd: $(CHUNKD_OBJS) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS)

CHUNK_UNIT_SRCS := $(wildcard tests/unit/test_chunk_*.c)
UNIT_BINS += $(CHUNK_UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/test_chunk_%: $(BUILD)/tests/unit/test_chunk_%.o $(CHUNKD_CORE_OBJS) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) $(CHUNK_WRAP) -o $@ $^ $(FS_LIBS) $(CMOCKA_LIBS)

# fault injection for the store tests (see the top of test_chunk_store.c)
$(BUILD)/tests/test_chunk_store: CHUNK_WRAP = -Wl,--wrap=write,--wrap=pread64,--wrap=blk_verify

# chunktool: a small block client for the integration tests (HELLO with
# metad for the key, then BLK_PUT/GET/SYNC/HAVE against chunk servers).
# chunkbench: the load program behind `make bench`.
CHUNK_TOOLS := $(BUILD)/tests/chunktool $(BUILD)/chunkbench
unit-tests: $(BUILD)/tests/chunktool
all: $(CHUNK_TOOLS)

$(BUILD)/tests/chunktool: $(BUILD)/tests/tools/chunktool.o $(BUILD)/tests/tools/chunkcli.o $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS)

$(BUILD)/chunkbench: $(BUILD)/tests/bench/chunkbench.o $(BUILD)/tests/tools/chunkcli.o $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS)

# libFuzzer targets over chunkd code (tests/fuzz/fuzz_chunk_*.c): the
# generic fuzz rule compiles only fs/, so these add the store. (The shorter
# stem makes make prefer this rule over $(BUILD)/fuzz_%.)
$(BUILD)/fuzz_chunk_%: tests/fuzz/fuzz_chunk_%.c chunkd/store.c $(FS_SRCS) | $(STAMP)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) $(shell pkg-config --cflags libxxhash inih) -o $@ $^ \
		$(call pc_libs,libxxhash inih) -pthread
