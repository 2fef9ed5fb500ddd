# client library (cl_*.c): linked into casfs-mount; the CLI may link it too.
CL_SRCS := $(wildcard client/cl_*.c)
CL_OBJS := $(CL_SRCS:%.c=$(BUILD)/%.o)
LIBCASFS_CLIENT := $(BUILD)/libcasfs-client.a
CL_LIBS = $(LIBCASFS) $(FS_LIBS)

$(LIBCASFS_CLIENT): $(CL_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

CL_UNIT_SRCS := $(wildcard tests/unit/test_cl_*.c)
UNIT_BINS += $(CL_UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

$(BUILD)/tests/test_cl_%: $(BUILD)/tests/unit/test_cl_%.o $(LIBCASFS_CLIENT) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS) $(CMOCKA_LIBS)
