#!/usr/bin/env bash
# chunkd: hostile and stalled peers (stand-in metad; raw frames from a
# small python client):
#  - a chain whose next server accepts but never answers: the PUT still
#    completes within the peer timeout, the stalled server gets -ETIMEDOUT
#    and the server after it still gets its copy;
#  - a client stalled mid-frame does not delay other clients and is cut off
#    after the timeout;
#  - bad flags, an oversized length, requests before HELLO, a HELLO from
#    another cluster, an unknown message type, 400 random frames: each gets
#    its error or a closed connection, never a crash; the daemon keeps
#    serving;
#  - the connection cap refuses connections beyond max_conns;
#  - SIGTERM stops a daemon at once even while it waits on a stalled peer.
set -u
. "$(dirname "$0")/../lib/cluster.sh"
TOOL=$CASFS_BIN/tests/chunktool

cluster_init
mkfifo "$T/fm.in"
exec 7<>"$T/fm.in"
start_daemon fakemeta "$TOOL" fakemeta --addr-file "$T/fm.addr" --state "$T/fm.state" \
	--commands "$T/fm.in"
wait_for 20 read_addr "$T/fm.addr" >/dev/null || fail "fakemeta did not start"
META_ADDR=$(cat "$T/fm.addr")
has_event() { grep -q -- "$1" "$T/fakemeta.log"; }
tool() { "$TOOL" --state "$T/fm.state" "$@"; }
UUID=$(cut -d' ' -f2 "$T/fm.state")

cat >"$T/raw.py" <<'EOF'
import socket, struct, sys, time, os
def conn(addr):
    h, p = addr.rsplit(':', 1)
    s = socket.create_connection((h, int(p)), timeout=10)
    return s
def frame(t, payload, flags=0, reqid=1):
    return struct.pack('<IHHQ', len(payload), t, flags, reqid) + payload
def s16(b): return struct.pack('<H', len(b)) + b
def hello(uuid):
    return frame(1, struct.pack('<HB', 1, 1) + uuid + s16(b'') + struct.pack('<Q', 0) + s16(b'raw'))
def recv_all(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: return None
        b += c
    return b
def reply(s):
    h = recv_all(s, 16)
    if h is None: return 'eof'
    ln, t, fl, rq = struct.unpack('<IHHQ', h)
    p = recv_all(s, ln)
    return struct.unpack('<i', p[:4])[0]
def is_closed(s):
    try:
        return s.recv(1) == b''
    except ConnectionResetError:
        return True
mode, addr = sys.argv[1], sys.argv[2]
uuid = bytes.fromhex(sys.argv[3]) if len(sys.argv) > 3 else bytes(16)
s = conn(addr)
if mode == 'badflags':
    s.sendall(struct.pack('<IHHQ', 0, 2, 0x0100, 1)); print('closed' if is_closed(s) else 'open')
elif mode == 'huge':
    s.sendall(struct.pack('<IHHQ', 0xfffffff0, 80, 0, 1)); print('closed' if is_closed(s) else 'open')
elif mode == 'nohello':
    s.sendall(frame(81, bytes(17) + struct.pack('<II', 0, 0)))
    print(reply(s), 'closed' if is_closed(s) else 'open')
elif mode == 'wronguuid':
    s.sendall(hello(os.urandom(16))); print(reply(s))
elif mode == 'unknown':
    s.sendall(hello(uuid)); a = reply(s)
    s.sendall(frame(999, b'', reqid=2)); b = reply(s)
    s.sendall(frame(81, b'\x01\x02', reqid=3)); c = reply(s)
    s.sendall(frame(2, b'', reqid=4)); d = reply(s)
    print(a, b, c, d)
elif mode == 'stall':
    s.sendall(hello(uuid)); reply(s)
    s.sendall(struct.pack('<IHHQ', 100, 2, 0, 5)[:10])
    t = time.time()
    s.settimeout(30)
    print('closed' if is_closed(s) else 'open', int(time.time() - t))
elif mode == 'fuzz':
    import random
    random.seed(int(sys.argv[4]))
    replies = eofs = 0
    s.sendall(hello(uuid)); reply(s)
    for i in range(400):
        t = random.choice([1, 2, 60, 65, 80, 81, 82, 83, 999, random.randrange(65536)])
        n = random.choice([0, 1, 4, 17, 21, 25, 30, 64, 200])
        body = bytearray(os.urandom(n))
        if t in (80, 81, 82, 83) and n >= 17 and random.random() < 0.5:
            body[0] = 1                     # a plausible block-id tag
        if n >= 25 and random.random() < 0.5:
            body[21:25] = struct.pack('<I', random.choice([0, 1, 2, 0xffffffff]))
        s.sendall(frame(t, bytes(body), reqid=i + 10))
        r = reply(s)
        if r == 'eof':
            eofs += 1
            s = conn(addr); s.sendall(hello(uuid)); reply(s)
        else:
            replies += 1
    print('fuzzed', replies, eofs)
elif mode == 'hold':
    ss = [s] + [conn(addr) for _ in range(int(sys.argv[4]) - 1)]
    for x in ss: x.sendall(hello(uuid))
    print('held', flush=True)
    time.sleep(float(sys.argv[5]))
EOF
raw() { python3 "$T/raw.py" "$@"; }

# a "server" that accepts connections and never answers
start_daemon stall python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open("'"$T"'/stall.addr.tmp", "w").write("127.0.0.1:%d\n" % s.getsockname()[1])
import os; os.rename("'"$T"'/stall.addr.tmp", "'"$T"'/stall.addr")
held = []
while True:
    c, _ = s.accept(); held.append(c)'
wait_for 20 read_addr "$T/stall.addr" >/dev/null || fail "the stalled server did not start"
S=$(cat "$T/stall.addr")

cluster_start_chunkd 1 --timeout-ms 1500
cluster_start_chunkd 3
wait_for 20 has_event "inventory 2 done" || fail "chunk servers did not register"
A=$(cat "$T/cs1.addr") C=$(cat "$T/cs3.addr")
IC=$(sed -n 's/.*as server \([0-9]*\).*/\1/p' "$T/cs3.log")
IA=$(sed -n 's/.*as server \([0-9]*\).*/\1/p' "$T/cs1.log")

# --- a stalled server in the chain
head -c 1048576 /dev/urandom >"$T/blk"
start=$SECONDS
tool put --server "$A" --chain "99@$S,$IC@$C" "$T/blk" >"$T/put.out" ||
	fail "PUT through a stalled chain failed: $(cat "$T/put.out")"
check "the PUT did not wait much past the timeout" test $((SECONDS - start)) -le 8
check "own copy stored" grep -q "^copy $IA 0$" "$T/put.out"
check "the stalled server timed out" grep -q '^copy 99 -110$' "$T/put.out"
check "the server after it got its copy" grep -q "^copy $IC 0$" "$T/put.out"
ID=$(sed -n 's/^id //p' "$T/put.out")
check "the tail holds the block" test "$(tool have --server "$C" --id "$ID")" = 1

# --- a client stalled mid-frame does not stall the others
raw stall "$A" "$UUID" >"$T/stall.out" &
RAWPID=$!
sleep 0.3
start=$SECONDS
for i in 1 2 3; do
	tool get --server "$A" --id "$ID" | cmp -s - "$T/blk" || fail "GET beside a stalled client"
done
check "other clients are served at once" test $((SECONDS - start)) -le 3
wait $RAWPID
check "the stalled client was cut off after the timeout" grep -q '^closed [0-4]$' "$T/stall.out"

# --- malformed input
check "bad flags close the connection" test "$(raw badflags "$A")" = closed
check "an oversized frame closes the connection" test "$(raw huge "$A")" = closed
check "a request before HELLO is refused" test "$(raw nohello "$A")" = "-71 closed"
check "a HELLO from another cluster is refused" test "$(raw wronguuid "$A")" = -18
check "unknown type and bad payload are answered, the connection lives" \
	test "$(raw unknown "$A" "$UUID")" = "0 -71 -74 0"
for seed in 1 2 3; do
	raw fuzz "$A" "$UUID" $seed >"$T/fuzz.out" ||
		fail "the fuzzing client failed: $(cat "$T/fuzz.out")"
	check "400 random frames answered or closed ($(cat "$T/fuzz.out"))" \
		grep -q '^fuzzed [0-9]* [0-9]*$' "$T/fuzz.out"
done
tool get --server "$A" --id "$ID" | cmp -s - "$T/blk" || fail "the daemon stopped serving"
grep -q "ERROR: AddressSanitizer\|runtime error" "$T/cs1.log" && fail "sanitizer report"

# --- the connection cap
cluster_start_chunkd 2 --max-conns 2
B=$(cat "$T/cs2.addr")
wait_for 20 has_event "inventory 3 done" || fail "cs2 did not register"
raw hold "$B" "$UUID" 2 3 >"$T/hold.out" &
HOLDPID=$!
wait_for 10 grep -q held "$T/hold.out" || fail "could not open the connections"
sleep 0.3
if tool have --server "$B" --id "$ID" >/dev/null 2>&1; then
	fail "a connection beyond max_conns was served"
fi
wait $HOLDPID
wait_for 10 tool have --server "$B" --id "$ID" >/dev/null || fail "cs2 refused after the others closed"
check "the cap was logged" grep -q "connection refused: 2 connections already" "$T/cs2.log"

# --- SIGTERM while a PUT waits on the stalled server (timeout 30 s): the
# daemon still stops at once, cleanly (ASan checks for leaks at exit)
cluster_start_chunkd 4
wait_for 20 has_event "inventory 4 done" || fail "cs4 did not register"
D=$(cat "$T/cs4.addr")
tool put --server "$D" --chain "98@$S" "$T/blk" >"$T/put4.out" 2>&1 &
PUTPID=$!
sleep 1
start=$SECONDS
cluster_kill cs4 TERM
check "SIGTERM with a peer stalled mid-PUT stops the daemon at once" test $((SECONDS - start)) -le 3
wait $PUTPID
check "clean exit" grep -q "shutting down" "$T/cs4.log"
grep -q "ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error" "$T"/cs*.log &&
	fail "sanitizer report in a chunkd log"
echo "chunkd_robust: ok"
