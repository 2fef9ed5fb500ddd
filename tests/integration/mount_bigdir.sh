#!/bin/bash
# 100,000 files in one directory: created, listed (names and attributes),
# looked up, a second mount lists them too, and all removed again.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 1
cluster_start_chunkd 1
cluster_wait_chunkds 1
M=$T/mnt
cluster_mount "$M"

N=100000
mkdir "$M/big"
python3 - "$M/big" $N <<'PY' || fail "creating $N files"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(f"{d}/f{i:06d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
PY
check "ls lists $N distinct names" [ "$(ls -f "$M/big" | sort -u | wc -l)" = $((N + 2)) ]
check "ls -l stats them all" [ "$(ls -l "$M/big" | grep -c '^-rw-r--r--')" = $N ]
check "a lookup in the middle" [ -f "$M/big/f054321" ]
cluster_mount "$T/mnt2"
check "a second mount lists them" [ "$(ls -f "$T/mnt2/big" | wc -l)" = $((N + 2)) ]
python3 - "$M/big" $N <<'PY' || fail "removing $N files"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.unlink(f"{d}/f{i:06d}")
PY
check "empty again" [ "$(ls -A "$M/big" | wc -l)" = 0 ]
rmdir "$M/big" || fail "rmdir of the emptied directory"
echo "mount_bigdir: ok"
