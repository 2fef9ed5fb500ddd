# fs/: the shared core, built as an internal static library.
FS_SRCS := $(wildcard fs/*.c)
FS_OBJS := $(FS_SRCS:%.c=$(BUILD)/%.o)
LIBCASFS := $(BUILD)/libcasfs.a
FS_LIBS = $(call pc_libs,libxxhash inih) -pthread

$(LIBCASFS): $(FS_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^
