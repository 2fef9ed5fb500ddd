#!/bin/bash
# mount.casfs as mount(8) calls it for an fstab line: options for mount(8)
# are dropped, the rest reach casfs-mount, which daemonises once the mount
# is up; /proc/mounts names the cluster; fusermount3 -u ends the daemon.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 1
cluster_start_chunkd 1
cluster_wait_chunkds 1
mkdir -p "$T/sub"
cluster_mount "$T/m"
mkdir "$T/m/sub"
echo inside >"$T/m/sub/file"

# mount.casfs looks for casfs-mount next to itself or in PATH.
PATH=$CASFS_BIN:$PATH client/mount.casfs "$META_ADDR:/sub" "$T/sub" \
	-o defaults,noauto,_netdev,nofail,x-systemd.automount,cache_size=16M,attr_timeout=0.5 ||
	fail "mount.casfs failed"
CLUSTER_MOUNTS+=("$T/sub")
mountpoint -q "$T/sub" || fail "not mounted"
check "subdirectory is the root" [ "$(cat "$T/sub/file")" = inside ]
# /proc/mounts shows '#' as \043
grep -qF "casfs\\043$META_ADDR:/sub $T/sub fuse.casfs " /proc/mounts || fail "fsname in /proc/mounts"
echo more >"$T/sub/new"
# The main mount made sub itself a moment ago, so it knows sub's names as
# of then and may answer that a newer one is absent for up to its entry
# timeout (1 s), as for any other mount's new name (client/README.md).
sleep 1.2
check "visible through the main mount" [ "$(cat "$T/m/sub/new")" = more ]
PATH=$CASFS_BIN:$PATH client/mount.casfs 127.0.0.1:1 "$T/sub2" 2>/dev/null &&
	fail "mount.casfs succeeded on a dead address"
fusermount3 -u "$T/sub" || fail "fusermount3 -u"
# a bad size is refused at once with one line naming the option (status 2)
for opt in cache_size=lots write_cache=12Q; do
	out=$("$CASFS_BIN/casfs-mount" -o "$opt" "$META_ADDR" "$T/sub" 2>&1)
	rc=$?
	check "$opt refused with status 2" [ "$rc" = 2 ]
	check "$opt named in the error" grep -qF "bad ${opt%%=*} '${opt#*=}'" <<<"$out"
	mountpoint -q "$T/sub" && fail "mounted with $opt"
done
check "daemon exits after unmount" wait_for 10 bash -c "! pgrep -f 'casfs-mount .* $T/sub\$' >/dev/null"
echo "mount_helper: ok"
