# The admin CLI `casfs`: cluster commands, the local cluster and SSH host
# management (libssh2).
CLI_SRCS := client/cli_main.c client/cli.c client/cli_conn.c client/cli_out.c client/cli_cmd.c \
	client/cli_path.c client/local.c client/cli_ssh.c client/ssh.c
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
BINS += $(BUILD)/casfs

$(BUILD)/casfs: $(CLI_OBJS) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS) $(call pc_libs,libssh2) -lm

# Unit tests: test_cli_* link the CLI's objects except main (cli.c).
CLI_UNIT_SRCS := $(wildcard tests/unit/test_cli_*.c)
UNIT_BINS += $(CLI_UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
CLI_TEST_OBJS := $(filter-out $(BUILD)/client/cli_main.o,$(CLI_OBJS))

$(BUILD)/tests/test_cli_%: $(BUILD)/tests/unit/test_cli_%.o $(CLI_TEST_OBJS) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS) $(call pc_libs,libssh2) $(CMOCKA_LIBS) -lm
