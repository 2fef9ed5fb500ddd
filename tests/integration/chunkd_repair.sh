#!/usr/bin/env bash
# chunkd + metad: the scrubber finds a flipped byte in one copy of a file's
# block, quarantines it and reports it (CS_BAD); metad re-replicates the
# block from a good copy (CS_REPLICATE, a server-to-server copy), so the
# block is back at its goal of 2 verified copies, and the file still reads
# back intact through the mount.
set -u
. "$(dirname "$0")/../lib/cluster.sh"

cluster_init
cluster_start_metad --default-goal 2
for n in 1 2 3; do
	cluster_start_chunkd $n --scrub-interval-s 1 --scrub-rate 512 --heartbeat-ms 300
done
cluster_wait_chunkds 3
cluster_mount "$T/mnt"

head -c 1048576 /dev/urandom >"$T/data"
cp "$T/data" "$T/mnt/f" || fail "cannot write through the mount"
cmp -s "$T/data" "$T/mnt/f" || fail "file reads back wrong"

# the file is one 1 MiB block; find its copies on the servers
copies() { find "$T"/cs[123]/blocks -type f 2>/dev/null; }
two_copies() { [ "$(copies | wc -l)" -ge 2 ]; }
wait_for 20 two_copies || fail "the block did not reach 2 copies: $(copies)"
ID=$(basename "$(copies | head -1)")
check "one block, two copies" test "$(copies | xargs -n1 basename | sort -u)" = "$ID"
VICTIM=$(copies | head -1)
VSERVER=$(echo "$VICTIM" | sed 's|.*/\(cs[123]\)/blocks/.*|\1|')

# flip one byte in one copy
printf '\x01' | dd of="$VICTIM" bs=1 seek=4321 conv=notrunc status=none
cmp -s "$VICTIM" "$T/data" && fail "the byte did not flip"

quarantined() { [ -n "$(ls "$T/$VSERVER/quarantine" 2>/dev/null)" ]; }
wait_for 30 quarantined || fail "the scrubber did not quarantine the bad copy"
check "the scrubber logged it" grep -q "block $ID .* is bad" "$T/$VSERVER.log"

# metad repairs: two good copies again, each identical to the data
good_copies() {
	local n=0 f
	for f in $(copies); do cmp -s "$f" "$T/data" && n=$((n + 1)); done
	[ $n -ge 2 ]
}
wait_for 60 good_copies || fail "metad did not re-replicate the block: $(copies)"
grep -q "replicated $ID from server" "$T"/cs[123].log || fail "no server-to-server copy logged"

# reads through the mount never saw the bad bytes
cmp -s "$T/data" "$T/mnt/f" || fail "file reads back wrong after the repair"
echo "chunkd_repair: ok"
