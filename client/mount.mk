# casfs-mount: the FUSE file system, built on the client library.
MOUNT_SRCS := client/mount.c client/mount_main.c
MOUNT_OBJS := $(MOUNT_SRCS:%.c=$(BUILD)/%.o)
BINS += $(BUILD)/casfs-mount

$(BUILD)/casfs-mount: $(MOUNT_OBJS) $(LIBCASFS_CLIENT) $(LIBCASFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(FS_LIBS) $(call pc_libs,fuse3)
