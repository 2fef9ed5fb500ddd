#!/bin/bash
# Directory listings that answer LOOKUPs (client/cl_dcache.c) never hide a
# change: this mount's own changes are seen at once, whatever listing was
# fetched before them, and another mount's within the entry timeout, as
# through the kernel's own entry cache.
#
# The kernel is made to LOOKUP again by dropping its dentries
# (drop_caches=2) while a listing is fresh: entry_timeout=5 keeps listings
# answering through each check.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 1
cluster_start_chunkd 1
cluster_wait_chunkds 1
A=$T/a
B=$T/b
cluster_mount "$A" -o entry_timeout=5,attr_timeout=5
cluster_mount "$B"

mkdir "$A/d"
for i in $(seq 1 40); do echo "file $i" >"$A/d/f$i"; done
forget() { sync; echo 2 >/proc/sys/vm/drop_caches; }
# Two LOOKUPs in d without a listing fetch one; the rest come from it.
walk() { forget; for i in $(seq 1 40); do stat -c %s "$A/d/f$i" >/dev/null 2>&1; done; }

walk
check "a walked listing answers names" [ "$(stat -c %s "$A/d/f7")" = 7 ]
check "and absent names" bash -c "! stat '$A/d/none' 2>/dev/null"

# This mount's changes, each right after a walk (a fresh listing).
walk
chmod 600 "$A/d/f1"
forget
check "own chmod seen at once" [ "$(stat -c %a "$A/d/f1")" = 600 ]
walk
echo more >>"$A/d/f2"
forget
check "own append seen at once (size)" [ "$(stat -c %s "$A/d/f2")" = 12 ]
walk
: >"$A/d/f3"
forget
check "own truncate by open seen at once" [ "$(stat -c %s "$A/d/f3")" = 0 ]
walk
python3 -c "import os; os.close(os.open('$A/d/f11', os.O_RDONLY | os.O_TRUNC))"
forget
check "own truncate by a read-only open seen at once" [ "$(stat -c %s "$A/d/f11")" = 0 ]
walk
touch "$A/d/new"
forget
check "own create seen at once" stat "$A/d/new"
walk
rm "$A/d/f4"
forget
check "own unlink seen at once" bash -c "! stat '$A/d/f4' 2>/dev/null"
walk
mv "$A/d/f5" "$A/d/f5.renamed"
forget
check "own rename seen at once (new name)" stat "$A/d/f5.renamed"
check "own rename seen at once (old name)" bash -c "! stat '$A/d/f5' 2>/dev/null"
walk
truncate -s 100 "$A/d/f6"
forget
check "own truncate seen at once" [ "$(stat -c %s "$A/d/f6")" = 100 ]

# Another mount's changes: seen once the entry timeout has run out.
walk
echo other >"$B/d/from-b"
chmod 640 "$B/d/f9"
rm "$B/d/f10"
sleep 5.5
forget
check "another mount's create seen after the timeout" stat "$A/d/from-b"
check "another mount's chmod seen after the timeout" [ "$(stat -c %a "$A/d/f9")" = 640 ]
check "another mount's unlink seen after the timeout" bash -c "! stat '$A/d/f10' 2>/dev/null"
check "contents agree" cmp "$A/d/f2" "$B/d/f2"

# A directory past a listing's size (4,096 names) is walked the old way.
mkdir "$A/big"
python3 -c "
import os
for i in range(4200):
    open(os.path.join('$A/big', 'n%d' % i), 'w').close()
"
forget
check "a big directory's names resolve" stat "$A/big/n4199" "$A/big/n1" "$A/big/n2500"
check "a big directory's absent names do not" bash -c "! stat '$A/big/n4200' 2>/dev/null"

sanitizer_clean "$T/mount-a.log" || fail "sanitizer report in mount a's log"
echo "mount_dcache: ok"
