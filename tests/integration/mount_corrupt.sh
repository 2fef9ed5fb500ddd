#!/bin/bash
# Corrupt copies on disk: every block file of one chunk server gets a byte
# flipped behind its back. Reads through a fresh mount (empty block cache)
# still return the right bytes from the other replica, never the corrupt
# ones, and the bad copies are reported so the cluster repairs them.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2
for i in 1 2; do cluster_start_chunkd $i; done
cluster_wait_chunkds 2
M=$T/mnt
cluster_mount "$M"

head -c $((40 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$M/data"
n=0
for f in $(find "$T/cs1" -type f -size +1k); do
	printf '\xff' | dd of="$f" bs=1 seek=1000 conv=notrunc 2>/dev/null
	n=$((n + 1))
done
check "corrupted some copies ($n)" [ $n -ge 10 ]
cluster_mount "$T/fresh"
cmp "$T/data" "$T/fresh/data" || fail "a read returned corrupt bytes"
cluster_mount "$T/fresh2"
cmp "$T/data" "$T/fresh2/data" || fail "second read after repair differs"
echo "mount_corrupt: ok"
