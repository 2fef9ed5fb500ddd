# client/: the cluster client library, the FUSE mount and the admin CLI.
# Each piece has its own fragment so they can change independently.
-include client/lib.mk
-include client/mount.mk
-include client/cli.mk
