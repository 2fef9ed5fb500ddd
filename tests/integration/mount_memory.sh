#!/bin/bash
# A mount's memory follows the bytes it holds, not the number of files it
# wrote: the block cache counts a block by its length, so a small file's
# block must not keep the whole block-sized buffer it was written in (3,000
# files of 4 KiB held 3,000 buffers of 1 MiB: 3 GiB for 12 MiB cached).
# Measured as the growth of the mount's address space (VmSize), which
# counts every buffer held whether its pages were touched or not; the
# bound leaves room for the threads' stacks and the sanitizer's quarantine.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 1
cluster_start_chunkd 1
cluster_wait_chunkds 1
M=$T/mnt
cluster_mount "$M"
pid=$(cluster_pid "mount:$M")
vmsize_mib() { awk '/^VmSize:/ { print int($2 / 1024) }' "/proc/$pid/status"; }

mkdir "$M/warm"
echo warm >"$M/warm/f"	# threads and connections up before the baseline
before=$(vmsize_mib)
head -c $((3000 * 4096)) /dev/urandom >"$T/src"
python3 - "$T/src" "$M/small" <<'PY' || fail "writing 3,000 small files"
import os, sys
src, dst = sys.argv[1], sys.argv[2]
os.mkdir(dst)
data = open(src, "rb").read()
for i in range(3000):
    with open(os.path.join(dst, "f%d" % i), "wb") as f:
        f.write(data[i * 4096:(i + 1) * 4096])
PY
after=$(vmsize_mib)
grown=$((after - before))
check "3,000 files of 4 KiB grew the mount by $grown MiB (bound 1,500)" [ $grown -lt 1500 ]
check "the files read back" cmp "$T/src" <(cat "$M/small/f"{0..2999})
sanitizer_clean "$T/mount-mnt.log" || fail "sanitizer report in the mount's log"
echo "mount_memory: ok"
