#!/bin/bash
# Two mounts of one cluster: close-to-open visibility in both directions
# (immediately, not after a cache timeout), a flock and a POSIX lock held on
# one mount block the other, a rename on one is seen on the other, and an
# unmount by SIGTERM flushes what was written.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3
A=$T/a
B=$T/b
cluster_mount "$A"
cluster_mount "$B"

# close-to-open: written and closed on A, read at once on B, and back
head -c 5000000 /dev/urandom >"$T/data"
cp "$T/data" "$A/f"
cmp "$T/data" "$B/f" || fail "B does not see A's file"
echo first >"$A/small"
check "B reads small" [ "$(cat "$B/small")" = first ]
echo second >>"$A/small"
check "B sees the append at once" [ "$(cat "$B/small")" = "$(printf 'first\nsecond')" ]
echo third >"$B/small"
check "A sees B's rewrite at once" [ "$(cat "$A/small")" = third ]
head -c 1000 /dev/urandom | dd of="$B/f" bs=1 seek=2000000 conv=notrunc 2>/dev/null
dd if="$B/f" bs=1000 skip=2000 count=1 2>/dev/null >"$T/piece"
check "A sees B's overwrite" cmp <(dd if="$A/f" bs=1000 skip=2000 count=1 2>/dev/null) "$T/piece"

# rename on A is seen on B
mkdir "$A/dir"
echo moved >"$A/dir/old"
cat "$B/dir/old" >/dev/null || fail "B cannot see dir/old"
mv "$A/dir/old" "$A/dir/new"
check "old name gone on B" wait_for 5 test ! -e "$B/dir/old"
check "new name on B" [ "$(cat "$B/dir/new")" = moved ]

# flock on A blocks B until A lets go
: >"$A/lock"
flock -x "$A/lock" -c "touch '$T/held'; sleep 3" &
holder=$!
wait_for 10 test -e "$T/held" || fail "A never took the lock"
flock -xn "$B/lock" -c true 2>/dev/null && fail "B got an exclusive flock A holds"
# a blocked flock interrupted by its timeout gives up cleanly
flock -x -w 1 "$B/lock" -c true 2>/dev/null && fail "B's timed flock succeeded while A held it"
start=$SECONDS
flock -x -w 20 "$B/lock" -c true || fail "B never got the lock after A released it"
waited=$((SECONDS - start))
wait $holder
check "B waited for A's flock ($waited s)" [ $waited -ge 1 ]

# POSIX (fcntl) lock on A blocks B; GETLK on B sees it
python3 - "$A/lock" "$B/lock" "$T" <<'PY' || fail "fcntl locks across mounts"
import fcntl, os, subprocess, sys, time
a, b, t = sys.argv[1:4]
fa = open(a, "r+")
fcntl.lockf(fa, fcntl.LOCK_EX, 100, 0)
code = "import fcntl,sys\nf=open(sys.argv[1],'r+')\ntry:\n fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 100, 0)\n sys.exit(1)\nexcept OSError:\n sys.exit(0)\n"
assert subprocess.call([sys.executable, "-c", code, b]) == 0, "B locked a range A holds"
code2 = "import fcntl,sys\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 100, 200)\n"
assert subprocess.call([sys.executable, "-c", code2, b]) == 0, "B could not lock a free range"
p = subprocess.Popen([sys.executable, "-c", "import fcntl,sys\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f, fcntl.LOCK_EX, 100, 0)\n", b])
time.sleep(1.5)
assert p.poll() is None, "blocking lock on B did not wait"
fa.close()   # releases A's POSIX lock
assert p.wait(timeout=20) == 0
PY

# SIGTERM unmounts and keeps what was written through the mount
head -c 3000000 /dev/urandom >"$T/late"
cp "$T/late" "$A/late"
cluster_kill "mount:$A" TERM
check "A unmounted after SIGTERM" wait_for 10 bash -c "! mountpoint -q '$A'"
cmp "$T/late" "$B/late" || fail "data written before SIGTERM lost"
echo "mount_multi: ok"
