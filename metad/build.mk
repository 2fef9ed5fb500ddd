# metad/: the metadata server casfs-metad, its unit tests and its benchmark.
METAD_SRCS := $(filter-out metad/main.c,$(wildcard metad/*.c))
METAD_OBJS := $(METAD_SRCS:%.c=$(BUILD)/%.o)
METAD_LIBS = $(call pc_libs,libevent libxxhash) -pthread
METAD := $(BUILD)/casfs-metad
BINS += $(METAD)

$(METAD): $(BUILD)/metad/main.o $(METAD_OBJS) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LIBCASFS) $(FS_LIBS) $(METAD_LIBS)

# Unit tests link the server's objects except main.c.
META_UNIT_SRCS := $(wildcard tests/unit/test_meta_*.c)
UNIT_BINS += $(META_UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/test_meta_%: $(BUILD)/tests/unit/test_meta_%.o $(METAD_OBJS) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LIBCASFS) $(FS_LIBS) $(METAD_LIBS) $(CMOCKA_LIBS)

# The load generator: built for `make bench`, and with the unit tests
# because tests/integration/metad_crash.sh drives metad with it.
METABENCH := $(BUILD)/metabench
BENCH_BINS += $(METABENCH)
.PHONY: metabench
metabench: $(METABENCH)
unit-tests: $(METABENCH)
$(METABENCH): $(BUILD)/tests/bench/metabench.o $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(LIBCASFS) $(FS_LIBS) -pthread
