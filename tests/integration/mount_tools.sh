#!/bin/bash
# Ordinary tools on a casfs mount, each checked byte for byte: cp -a + diff -r,
# tar x/c, rsync -a then rsync --checksum finds nothing, git init/add/commit/
# clone/fsck, sqlite3 with transactions + integrity_check, make -j2 of a
# small C program. Three chunk servers, goal 2.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2
for i in 1 2 3; do cluster_start_chunkd $i; done
cluster_wait_chunkds 3
M=$T/mnt
cluster_mount "$M"

# A source tree with a bit of everything: text, a binary, symlinks, a
# hard link, an empty file, odd permissions, an mtime in the past.
SRC=$T/src
mkdir -p "$SRC/d/e/f" "$SRC/empty"
cp -r fs "$SRC/fs"
head -c 3000000 /dev/urandom >"$SRC/d/random.bin"
: >"$SRC/d/e/zero"
echo target >"$SRC/d/e/f/t.txt"
ln -s e/f/t.txt "$SRC/d/link"
ln "$SRC/d/random.bin" "$SRC/d/hard.bin"
chmod 640 "$SRC/d/e/f/t.txt"
chmod 711 "$SRC/d/e"
touch -d '2001-02-03 04:05:06' "$SRC/d/e/f/t.txt"

# cp -a and diff -r
cp -a "$SRC" "$M/cp" || fail "cp -a failed"
diff -r "$SRC" "$M/cp" || fail "diff -r after cp -a"
check "mode kept" [ "$(stat -c %a "$M/cp/d/e")" = 711 ]
check "mtime kept" [ "$(stat -c %Y "$M/cp/d/e/f/t.txt")" = "$(stat -c %Y "$SRC/d/e/f/t.txt")" ]
check "symlink kept" [ "$(readlink "$M/cp/d/link")" = e/f/t.txt ]
check "hard link kept" [ "$(stat -c %i "$M/cp/d/random.bin")" = "$(stat -c %i "$M/cp/d/hard.bin")" ]
check "hard link count" [ "$(stat -c %h "$M/cp/d/hard.bin")" = 2 ]

# tar c on the mount, tar x on the mount
tar -C "$SRC" -cf "$M/src.tar" . || fail "tar c onto the mount"
mkdir "$M/untar"
tar -C "$M/untar" -xf "$M/src.tar" || fail "tar x from the mount"
diff -r "$SRC" "$M/untar" || fail "diff -r after tar x"
tar -C "$M/untar" -cf "$T/back.tar" . || fail "tar c from the mount"
cmp "$M/src.tar" "$T/back.tar" >/dev/null ||
	[ "$(tar -tvf "$M/src.tar" | sort | md5sum)" = "$(tar -tvf "$T/back.tar" | sort | md5sum)" ] ||
	fail "tar listing differs after a round trip"

# rsync -a, then rsync --checksum must find nothing to do
rsync -a "$SRC/" "$M/rs/" || fail "rsync -a"
out=$(rsync -a --checksum --itemize-changes --dry-run "$SRC/" "$M/rs/")
[ -z "$out" ] || fail "rsync --checksum found differences: $out"

# git: init, add, commit, clone from the mount, fsck
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t
git init -q "$M/repo" || fail "git init"
cp -r "$SRC/fs" "$M/repo/"
git -C "$M/repo" add -A || fail "git add"
git -C "$M/repo" commit -qm one || fail "git commit"
echo more >>"$M/repo/fs/README.md"
git -C "$M/repo" commit -qam two || fail "git commit -a"
git -C "$M/repo" fsck --strict 2>&1 | grep -q . && fail "git fsck on the mount"
git clone -q "$M/repo" "$T/clone" || fail "git clone from the mount"
git -C "$T/clone" fsck --strict || fail "git fsck of the clone"
diff -r -x .git "$M/repo" "$T/clone" || fail "clone differs"
git clone -q "$T/clone" "$M/clone2" || fail "git clone onto the mount"
git -C "$M/clone2" fsck --strict || fail "git fsck of a clone on the mount"

# sqlite3: 100k rows in transactions, integrity_check
{
	echo "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
	for b in $(seq 0 9); do
		echo "BEGIN;"
		echo "WITH RECURSIVE c(x) AS (SELECT $((b * 10000 + 1)) UNION ALL SELECT x+1 FROM c WHERE x < $(((b + 1) * 10000)))"
		echo "INSERT INTO t SELECT x, hex(randomblob(16)) FROM c;"
		echo "COMMIT;"
	done
	echo "BEGIN; UPDATE t SET v = 'x' || v WHERE id % 7 = 0; DELETE FROM t WHERE id % 10 = 3; COMMIT;"
} | sqlite3 "$M/db.sqlite" || fail "sqlite3 inserts"
check "sqlite integrity" [ "$(sqlite3 "$M/db.sqlite" 'PRAGMA integrity_check;')" = ok ]
check "sqlite rows" [ "$(sqlite3 "$M/db.sqlite" 'SELECT count(*) FROM t;')" = 90000 ]

# make -j2 of a small C program
mkdir "$M/prog"
for i in 1 2 3 4; do
	printf 'int f%d(int x) { return x + %d; }\n' $i $i >"$M/prog/f$i.c"
done
cat >"$M/prog/main.c" <<'C'
#include <stdio.h>
int f1(int), f2(int), f3(int), f4(int);
int main(void) { printf("%d\n", f1(0) + f2(0) + f3(0) + f4(0)); return 0; }
C
cat >"$M/prog/Makefile" <<'MK'
OBJS = main.o f1.o f2.o f3.o f4.o
prog: $(OBJS)
	$(CC) -o $@ $(OBJS)
MK
make -s -j2 -C "$M/prog" || fail "make -j2 on the mount"
check "program runs" [ "$("$M/prog/prog")" = 10 ]

# Everything written above is readable through a second, fresh mount.
cluster_mount "$T/mnt2"
diff -r "$SRC" "$T/mnt2/cp" || fail "second mount sees different data"
check "sqlite via second mount" [ "$(sqlite3 "$T/mnt2/db.sqlite" 'PRAGMA integrity_check;')" = ok ]
echo "mount_tools: ok"
