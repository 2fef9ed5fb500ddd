#!/usr/bin/env bash
# Local reads: a chunk server hands the block files it holds to mounts on
# its own host (BLK_OPEN on its local socket), which pread them instead of
# going through TCP. Checked here with two chunk servers at goal 2, cs1
# with its local socket and cs2 without (local_reads = no):
# - a fresh mount reads every block from cs1's files, byte for byte, and
#   -o nolocal reads every block over TCP (the mount's count at unmount);
# - SIGKILL of cs1 halfway through a read: the read completes from cs2,
#   and the mount logs cs1's death once, not once per block, and its
#   return once;
# - every copy on cs1 corrupted: reads still return the right bytes (cs1
#   verifies before it hands a file over, quarantines, answers -EIO);
# - an impostor on cs2's local name handing over a file of wrong bytes: the
#   mount's own hash check refuses them, reads the block over TCP and does
#   not report cs2's good copy as bad;
# - garbage on the local socket (requests before HELLO, an unknown block,
#   a 1 GiB header) and BLK_OPEN over TCP are refused, cs1 carries on;
# - a user other than root or the chunk server's is refused;
# - SIGTERM with local connections open: a clean exit, at once.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/cluster.sh

cluster_init
cluster_start_metad --default_goal 2
cluster_start_chunkd 1
cluster_start_chunkd 2 --local_reads no
cluster_wait_chunkds 2
CS1=$(cat "$T/cs1.addr") CS2=$(cat "$T/cs2.addr")
grep -q "local reads on @casfs-chunkd/$CS1" "$T/cs1.log" || fail "cs1 did not open its local socket"
grep -q "local reads on" "$T/cs2.log" && fail "cs2 opened a local socket with local_reads = no"

cluster_mount "$T/w"
head -c $((24 << 20)) /dev/urandom >"$T/data"
cp "$T/data" "$T/w/data"
cmp "$T/data" "$T/w/data" || fail "written file differs"
cluster_unmount "$T/w"

# fetched MNT: the mount's "blocks fetched: L from ..., R over TCP" line.
fetched() { grep -o "blocks fetched: [0-9]* from chunk servers on this host, [0-9]* over TCP" \
	"$T/mount-$(basename "$1").log" | tail -1; }
read_through() {
	local mnt=$1
	shift
	cluster_mount "$mnt" -o log_level=info "$@"
	cmp "$T/data" "$mnt/data" || fail "read through $mnt ($*) returned wrong bytes"
	cluster_unmount "$mnt"
}

read_through "$T/r1"
check "a fresh mount reads all 24 blocks from cs1's files (got: $(fetched "$T/r1"))" \
	test "$(fetched "$T/r1")" = "blocks fetched: 24 from chunk servers on this host, 0 over TCP"
read_through "$T/r2" -o nolocal
check "-o nolocal reads all 24 blocks over TCP (got: $(fetched "$T/r2"))" \
	test "$(fetched "$T/r2")" = "blocks fetched: 0 from chunk servers on this host, 24 over TCP"

# The local socket's peer: HELLO only (prints answered or closed), or
# garbage: requests before HELLO, an unknown block, BLK_OPEN over TCP (not
# served there) and a header announcing 1 GiB; prints ok or what went wrong.
cat >"$T/peer.py" <<'EOF'
import array, socket, struct, sys
addr, mode = sys.argv[1], sys.argv[2]
HELLO, BLK_OPEN = 1, 84
def conn(tcp=False):
    if tcp:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\0casfs-chunkd/" + addr)
    s.settimeout(5)
    return s
def send(s, t, body, rid=1):
    s.sendall(struct.pack("<IHHQ", len(body), t, 0, rid) + body)
def reply(s):
    fds = array.array("i")
    msg, anc, _, _ = s.recvmsg(16, socket.CMSG_SPACE(16))
    for lvl, typ, data in anc:
        fds.frombytes(data[:len(data) - len(data) % 4])
    if len(msg) < 16:
        return None, list(fds)
    n = struct.unpack("<I", msg[:4])[0]
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return struct.unpack("<i", body[:4])[0], list(fds)
def hello(s):
    send(s, HELLO, struct.pack("<HB16sHQH", 1, 1, bytes(16), 0, 0, 4) + b"peer")
    return reply(s)[0]
def closed(s):   # the server hangs up (after an error reply, if any)
    try:
        while s.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
unknown = bytes([1]) + bytes(16)
if mode == "hello":
    try:
        print("answered" if hello(conn()) == 0 else "refused")
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        print("closed")
    sys.exit(0)
s = conn()
send(s, BLK_OPEN, unknown)
if not closed(s):
    sys.exit(print("BLK_OPEN before HELLO was answered"))
s = conn()
if hello(s) != 0:
    sys.exit(print("HELLO refused"))
send(s, BLK_OPEN, unknown, 2)
st, fds = reply(s)
if st != -2 or fds:
    sys.exit(print("unknown block: status %s, %d descriptors" % (st, len(fds))))
t = conn(tcp=True)
if hello(t) != 0:
    sys.exit(print("HELLO over TCP refused"))
send(t, BLK_OPEN, unknown, 3)
st, fds = reply(t)
if st != -95:
    sys.exit(print("BLK_OPEN over TCP answered %s, not -EOPNOTSUPP" % st))
s.sendall(struct.pack("<IHHQ", 1 << 30, BLK_OPEN, 0, 4))
if not closed(s):
    sys.exit(print("a 1 GiB header was not cut off"))
print("ok")
EOF
grep -q "MSG_HELLO = 1," fs/msg.h && grep -q "MSG_BLK_OPEN = 84" fs/msg.h ||
	fail "peer.py's message numbers are out of date"
out=$(python3 "$T/peer.py" "$CS1" garbage 2>&1)
check "the local socket handles garbage (peer.py: $out)" test "$out" = ok
check "cs1 survives the garbage" kill -0 "$(cluster_pid cs1)"
grep -q "local pid [0-9]* uid 0: request 84 before HELLO" "$T/cs1.log" ||
	fail "cs1 did not log the request before HELLO"
grep -q "BLK_OPEN over TCP refused" "$T/cs1.log" || fail "cs1 did not log BLK_OPEN over TCP"

# Only root and the chunk server's own user may connect.
chmod 755 "$T"	# mktemp made it 700: the user must read peer.py
# Debian's python3: a per-user interpreter (pyenv) is not reachable by uid 65534
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$T/peer.py" "$CS1" hello 2>&1)
check "a uid-65534 peer is cut off (it saw: $out)" test "$out" = closed
wait_for 5 grep -q "local pid [0-9]* uid 65534: refused" "$T/cs1.log" ||
	fail "cs1 logged no refusal of uid 65534"
out=$(python3 "$T/peer.py" "$CS1" hello 2>&1)
check "root is answered (it saw: $out)" test "$out" = answered

# SIGKILL of the local chunk server mid-read: cs2 serves the rest.
head -c $((96 << 20)) /dev/urandom >"$T/big"
cluster_mount "$T/w"
cp "$T/big" "$T/w/big"
cluster_unmount "$T/w"
cluster_mount "$T/k" -o log_level=info
exec 7<"$T/k/big"	# one open file, read on both sides of the kill
dd bs=1M count=48 <&7 >"$T/big.out" 2>/dev/null || fail "first half of the read failed"
cluster_kill cs1 KILL
dd bs=1M <&7 >>"$T/big.out" 2>/dev/null || fail "the read failed once cs1 died"
exec 7<&-
cmp "$T/big" "$T/big.out" || fail "the read across cs1's death returned wrong bytes"
# cs1's death is one line in the mount's log, not one per block it held.
check "cs1 unreachable logged once" [ "$(grep -c "chunk server $CS1 unreachable" "$T/mount-k.log")" = 1 ]
check "no line per block read from dead cs1" bash -c "! grep -q 'block read from' '$T/mount-k.log'"
# cs1 back on its address: one line too, at its first answer. Past the
# 10 s it is left out of new chains, an fsync'd write asks it to sync.
cluster_start_chunkd 1 --listen "$CS1"
cluster_wait_chunkds 2
sleep 10.5
dd if=/dev/urandom of="$T/k/after" bs=1M count=4 conv=fsync 2>/dev/null ||
	fail "a write after cs1's return failed"
check "cs1's return logged once" [ "$(grep -c "chunk server $CS1 answers again" "$T/mount-k.log")" = 1 ]
cluster_unmount "$T/k"
fetched "$T/k" | grep -q "[1-9][0-9]* over TCP" || fail "no block came over TCP after cs1 died: $(fetched "$T/k")"

# Corrupt copies behind cs1's back: it checks before handing a file over.
n=0
for f in $(find "$T/cs1/blocks" -type f -size +1k); do
	printf '\xff' | dd of="$f" bs=1 seek=777 conv=notrunc 2>/dev/null
	n=$((n + 1))
done
check "corrupted cs1's copies ($n)" test $n -ge 24
read_through "$T/r3"
grep -q "is bad (.*): quarantined" "$T/cs1.log" || fail "cs1 quarantined nothing"
fetched "$T/r3" | grep -q ", [1-9][0-9]* over TCP" ||
	fail "the corrupt copies were not read from cs2: $(fetched "$T/r3")"

# An impostor on cs2's local name (cs2 has none): wrong bytes, right size.
cluster_kill cs1 KILL
cat >"$T/impostor.py" <<'EOF'
import os, socket, struct, sys, threading
junk = sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind("\0casfs-chunkd/" + sys.argv[1])
srv.listen(64)
print("listening", flush=True)
def frame(c):
    h = b""
    while len(h) < 16:
        b = c.recv(16 - len(h))
        if not b:
            return None
        h += b
    n, t, f, rid = struct.unpack("<IHHQ", h)
    p = b""
    while len(p) < n:
        p += c.recv(n - len(p))
    return t, rid, p
def serve(c):
    while True:
        fr = frame(c)
        if fr is None:
            return
        t, rid, p = fr
        if t == 1:   # HELLO
            body = struct.pack("<iH16sQI", 0, 1, p[3:19], 0, 0) + struct.pack("<I", 300000)
            c.sendall(struct.pack("<IHHQ", len(body), t, 1, rid) + body)
        else:        # BLK_OPEN: a file of the right length, wrong bytes
            fd = os.open(junk, os.O_RDONLY)
            body = struct.pack("<iI", 0, os.path.getsize(junk))
            socket.send_fds(c, [struct.pack("<IHHQ", len(body), t, 1, rid) + body], [fd])
            os.close(fd)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
grep -q "MSG_BLK_OPEN = 84" fs/msg.h || fail "impostor.py answers message types by number"
head -c $((1 << 20)) /dev/zero >"$T/junk"
start_daemon impostor python3 "$T/impostor.py" "$CS2" "$T/junk"
wait_for 10 grep -q listening "$T/impostor.log" || fail "impostor did not start: $(cat "$T/impostor.log")"
bad_before=$(grep -c "reported bad" "$T/metad.log")
read_through "$T/r4"
grep -q "from $CS2's local socket did not verify: reading it over TCP" "$T/mount-r4.log" ||
	fail "the mount did not say the impostor's bytes failed to verify"
check "every block came over TCP from cs2 (got: $(fetched "$T/r4"))" \
	test "$(fetched "$T/r4")" = "blocks fetched: 0 from chunk servers on this host, 24 over TCP"
check "cs2's good copies were not reported bad" test "$(grep -c "reported bad" "$T/metad.log")" = "$bad_before"
cluster_kill impostor KILL

# A clean SIGTERM while a mount holds connections to the local socket.
cluster_start_chunkd 1
cluster_wait_chunkds 2
cluster_mount "$T/r5" -o log_level=info
cmp "$T/data" "$T/r5/data" || fail "read through r5 returned wrong bytes"
start=$SECONDS
stop_clean cs1
check "cs1 stopped within 5 s with local connections open" test $((SECONDS - start)) -le 5
cluster_unmount "$T/r5"
fetched "$T/r5" | grep -q "blocks fetched: [1-9][0-9]* from chunk servers on this host" ||
	fail "r5 read nothing through cs1's local socket: $(fetched "$T/r5")"
for who in cs2 metad; do sanitizer_clean "$T/$who.log" || fail "sanitizer report in $who.log"; done
for m in r1 r2 r3 r4 r5 k; do sanitizer_clean "$T/mount-$m.log" || fail "sanitizer report in mount-$m.log"; done
echo "mount_local: ok"
