#!/bin/bash
# Name sets that answer the LOOKUP of absent names (client/cl_dnames.c):
# this mount's own new names are seen at once, another mount's within the
# entry timeout, as through the kernel's own negative entries; and a create
# that meets a name another mount made meanwhile behaves as open(2) on a
# local file system (opens it without O_EXCL, with open's permission
# checks; EEXIST with O_EXCL).
#
# Mount A keeps its sets (and the kernel its entries) 5 s; B has the
# defaults. The kernel is made to LOOKUP again by dropping its dentries
# (drop_caches=2).
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
forget() { sync; echo 2 >/proc/sys/vm/drop_caches; }
absent() { ! stat "$1" >/dev/null 2>&1; }
present() { stat "$1" >/dev/null; }

# For a fetched set below: made before A takes a set of the root.
mkdir "$B/e"
for i in $(seq 1 20); do echo "$i" >"$B/e/f$i"; done

# A's mkdir knows d is empty: A answers B's new name absent until the
# set runs out, then sees it.
mkdir "$A/d"
echo from-b >"$B/d/x"
check "A's set of d answers (B's new name not seen yet)" absent "$A/d/x"
sleep 5.5
forget
check "B's new name seen once A's set ran out" [ "$(cat "$A/d/x")" = from-b ]

# Each kind of own new name, right after a mkdir (a fresh set), is found.
mkdir "$A/own" "$A/elsewhere"
touch "$A/elsewhere/moved"
touch "$A/own/created"
mkdir "$A/own/made"
mkfifo "$A/own/fifo"
ln -s created "$A/own/sym"
ln "$A/own/created" "$A/own/hard"
mv "$A/elsewhere/moved" "$A/own/moved"
mv "$A/own/hard" "$A/own/renamed"
forget
for n in created made fifo sym moved renamed; do
	check "own new name $n found at once" present "$A/own/$n"
done
check "own rename's old name gone" absent "$A/own/hard"
rm "$A/own/created"
forget
check "own unlink seen" absent "$A/own/created"
echo again >"$A/own/created"
forget
check "a name made again after its unlink" [ "$(cat "$A/own/created")" = again ]
check "B agrees" [ "$(cat "$B/own/created")" = again ]

# A fetched set (not a mkdir's): two absent names in a directory A did not
# make fetch it; then B's new name is not seen yet, A's own are. (A change
# by A before each LOOKUP keeps the directory listings of cl_dcache out of
# it: two LOOKUPs missing in a row fetch those.)
absent "$A/e/none1"
touch "$A/own/between1"
absent "$A/e/none2"
echo late >"$B/e/late"
touch "$A/own/between2"
check "a fetched set answers (B's newer name not seen yet)" absent "$A/e/late"
check "names already there are found" [ "$(cat "$A/e/f20")" = 20 ]
touch "$A/e/mine"
forget
check "own name in a fetched set found" present "$A/e/mine"

# Creates that meet a name B made after A's set was taken.
mkdir "$A/c"
chmod 777 "$A/c"
printf 'b\n' >"$B/c/shared"
printf 'ro\n' >"$B/c/ro"
chmod 644 "$B/c/ro"
touch "$B/c/excl" "$B/c/later"
mkdir "$B/c/sub"
check "A's set of c does not know B's names yet" absent "$A/c/later"
touch "$A/own/between3"
printf 'a\n' >>"$A/c/shared" || fail "append with O_CREAT to B's new file failed"
check "the append went to B's file" [ "$(cat "$B/c/shared")" = "$(printf 'b\na')" ]
forget
check "a create that met a name drops the set (B's other name found)" present "$A/c/later"

# The same, each on a fresh set: O_EXCL, a directory, a FIFO (not opened
# through a create), a permission.
mkdir "$A/c2" "$A/c3" "$A/c4" "$A/c5"
chmod 777 "$A/c2" "$A/c3" "$A/c4" "$A/c5"
touch "$B/c2/excl"
mkdir "$B/c3/sub"
printf 'ro\n' >"$B/c4/ro"
chmod 644 "$B/c4/ro"
mkfifo "$B/c5/fifo"
python3 - "$A/c2/excl" "$A/c3/sub" "$A/c5/fifo" <<'PY' || fail "O_CREAT on names B made answered wrongly"
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    sys.exit("O_EXCL opened a name B made")
except FileExistsError:
    pass
try:
    os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o644)
    sys.exit("O_CREAT opened B's directory for writing")
except IsADirectoryError:
    pass
try:
    os.open(sys.argv[3], os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK, 0o644)
    sys.exit("O_CREAT opened B's FIFO as a file")
except FileExistsError:
    pass
PY
check "the FIFO is still a FIFO" test -p "$B/c5/fifo"
chmod 755 "$T"	# mktemp made it 700: the user must reach the mount
check "another user's O_CREAT of B's read-only file is refused" \
	bash -c "! setpriv --reuid 65534 --regid 65534 --clear-groups sh -c 'echo x >>\"$A/c4/ro\"' 2>/dev/null"
check "and it is unchanged" [ "$(cat "$B/c4/ro")" = ro ]

# Many creates in one directory, past a set's lifetime: every name made.
mkdir "$A/many"
python3 - "$A/many" <<'PY' || fail "creates in one directory failed"
import os, sys, time
d = sys.argv[1]
end = time.time() + 6
i = 0
while time.time() < end or i < 3000:
    os.close(os.open("%s/n%d" % (d, i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    i += 1
open(d + "/.count", "w").write(str(i))
PY
n=$(cat "$A/many/.count")
check "B lists every one of the $n names" [ "$(ls "$B/many" | wc -l)" = "$n" ]

sanitizer_clean "$T/mount-a.log" || fail "sanitizer report in mount a's log"
echo "mount_dnames: ok"
