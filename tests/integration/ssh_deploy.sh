#!/usr/bin/env bash
# casfs chunkserver deploy/start/stop/logs against a real sshd (OpenSSH,
# started here on a free 127.0.0.1 port with a generated host key and an
# authorized test key). Deploys a chunkd into a temp folder with
# --copy-binary, sees it register with metad and receive blocks, stops and
# starts it, and checks the refusals: an unknown host key (until
# --accept-new-host-key), a changed host key (always), a wrong key (with the
# methods tried), a closed port.
source "$(dirname "$0")/../lib/cluster.sh"
cluster_init

jcheck() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$1" "$2" "${@:4}" || fail "$3 (json: $(head -c 800 "$1"))"
}
jget() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
one_line_error() {
	[ "$(wc -l <"$1")" -eq 1 ] && grep -q '^casfs: ' "$1" || fail "not one clear error line: $(cat "$1")"
}

REMOTE="$T/remote"

# The deployed chunkd is started by sshd, not by this script: stop it by
# the pids its supervisor recorded, whatever happened.
ssh_cleanup() {
	local rc=$? p c
	p=$(cat "$REMOTE/chunkd.pid" 2>/dev/null)
	c=$(cat "$REMOTE/chunkd.child" 2>/dev/null)
	if [ -n "$p" ] && grep -q supervise.sh "/proc/$p/cmdline" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null
		wait_for 10 bash -c "! grep -q supervise.sh /proc/$p/cmdline 2>/dev/null" || kill -KILL "$p"
	fi
	if [ -n "$c" ] && grep -q casfs-chunkd "/proc/$c/cmdline" 2>/dev/null; then
		kill -KILL "$c" 2>/dev/null
	fi
	if [ $rc -ne 0 ] && [ -f "$REMOTE/chunkd.log" ]; then
		echo "--- $REMOTE/chunkd.log" >&2
		tail -15 "$REMOTE/chunkd.log" >&2
	fi
	(exit $rc)
	cluster_teardown
}
trap ssh_cleanup EXIT

ssh_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ssh_gen_host_key() {
	rm -f "$T/ssh/host_ed25519" "$T/ssh/host_ed25519.pub"
	ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_ed25519" -C casfs-test-host ||
		fail "ssh-keygen (host) failed"
}

ssh_start_sshd() {
	cat >"$T/ssh/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/ssh/host_ed25519
PidFile $T/ssh/sshd.pid
AuthorizedKeysFile $T/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
Subsystem sftp internal-sftp
CONF
	start_daemon sshd /usr/sbin/sshd -D -e -f "$T/ssh/sshd_config"
	wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT" ||
		fail "sshd did not start: $(tail -5 "$T/sshd.log")"
}

# Keys and known_hosts live in the test folder, never in the real ~/.ssh.
export HOME="$T/home"
unset SSH_AUTH_SOCK
mkdir -p "$T/ssh" "$HOME" /run/sshd
chmod 700 "$T/ssh"
ssh_gen_host_key
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/client" -C casfs-test-client || fail "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/wrong" -C casfs-test-wrong || fail "ssh-keygen failed"
cp "$T/ssh/client.pub" "$T/ssh/authorized_keys"
SSH_PORT=$(ssh_free_port)
ssh_start_sshd
URL="ssh://$(id -un)@127.0.0.1:$SSH_PORT"
KEY="$T/ssh/client"

CASFS="$CASFS_BIN/casfs"
cluster_start_metad
cluster_start_chunkd 1
cluster_wait_chunkds 1
C=("$CASFS" --meta "$META_ADDR")
DEPLOY=(chunkserver deploy "$URL" -i "$KEY" --data "$REMOTE" --listen 127.0.0.1:0
	--label rack=r7 --copy-binary --no-systemd)

# --- an unknown host key is refused, and nothing is recorded
"${C[@]}" "${DEPLOY[@]}" 2>"$T/err" && fail "deploy to an unknown host key succeeded"
one_line_error "$T/err"
grep -q "unknown" "$T/err" || fail "unknown host key not explained: $(cat "$T/err")"
[ ! -s "$HOME/.ssh/known_hosts" ] || fail "an unknown key was recorded without being accepted"

# --- deploy, accepting the new key: registers with metad
"${C[@]}" --json "${DEPLOY[@]}" --accept-new-host-key >"$T/dep.json" 2>"$T/dep.err" ||
	fail "deploy failed: $(cat "$T/dep.err")"
jcheck "$T/dep.json" 'd["id"] > 0 and d["mode"] == "supervisor" and d["address"].startswith("127.0.0.1:")' "deploy result"
NEWID=$(jget "$T/dep.json" 'd["id"]')
NEWADDR=$(jget "$T/dep.json" 'd["address"]')
grep -q "^\[127.0.0.1\]:$SSH_PORT ssh-ed25519 " "$HOME/.ssh/known_hosts" || fail "host key not recorded"
[ -x "$REMOTE/casfs-chunkd" ] && [ -f "$REMOTE/chunkd.conf" ] || fail "binary or config not on the host"
"${C[@]}" --json chunkserver show "$NEWID" >"$T/show.json" || fail "metad does not know the new server"
jcheck "$T/show.json" 'd["state"] == "up" and d["address"] == sys.argv[3] and "rack=r7" in d["labels"]' \
	"deployed server not up with its label" "$NEWADDR"

# --- it receives blocks: goal 2 on two servers puts a copy on each
MNT="$T/mnt"
cluster_mount "$MNT"
"$CASFS" goal set 2 "$MNT" >/dev/null || fail "goal set failed"
head -c 500000 /dev/urandom >"$T/data"
cp "$T/data" "$MNT/data" || fail "write through the mount failed"
"$CASFS" --json info "$MNT/data" >"$T/info.json" || fail "info failed"
jcheck "$T/info.json" 'all(any(s["id"] == int(sys.argv[3]) for s in b["servers"]) for b in d["blocks"]) and len(d["blocks"]) > 0' \
	"blocks did not reach the deployed server" "$NEWID"
wait_for 10 bash -c "'$CASFS' --meta '$META_ADDR' --json chunkserver show $NEWID | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"blocks\"] > 0 else 1)'" ||
	fail "metad does not count blocks on the deployed server"

# --- remote failures come back as one line with the remote stderr
"${C[@]}" chunkserver deploy "$URL" -i "$KEY" --data /proc/casfs-nope --copy-binary --no-systemd \
	2>"$T/err" && fail "deploy into /proc succeeded"
one_line_error "$T/err"
grep -q "remote command failed (status 1): mkdir: cannot create directory" "$T/err" ||
	fail "remote failure does not carry the remote stderr: $(cat "$T/err")"
if ! PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v casfs-chunkd >/dev/null; then
	"${C[@]}" chunkserver deploy "$URL" -i "$KEY" --data "$T/remote2" --no-systemd 2>"$T/err" &&
		fail "deploy without an installed chunkd and without --copy-binary succeeded"
	one_line_error "$T/err"
	grep -q "not installed" "$T/err" || fail "missing chunkd not explained: $(cat "$T/err")"
fi

# --- logs, stop, start (the host is remembered: no --data needed)
"$CASFS" chunkserver logs "$URL" -i "$KEY" >"$T/logs.txt" || fail "logs failed"
grep -q "listening on" "$T/logs.txt" || fail "logs do not show chunkd's log: $(cat "$T/logs.txt")"
SUP=$(cat "$REMOTE/chunkd.pid")
"${C[@]}" --json chunkserver stop "$URL" -i "$KEY" >"$T/stop.json" || fail "stop failed"
jcheck "$T/stop.json" 'd["ok"] and d["action"] == "stop"' "stop result"
! grep -q supervise.sh "/proc/$SUP/cmdline" 2>/dev/null || fail "supervisor still running after stop"
wait_for 30 bash -c "'$CASFS' --meta '$META_ADDR' --json chunkserver show $NEWID | grep -q '\"state\": \"down\"'" ||
	fail "metad still lists the stopped server as up"
"${C[@]}" chunkserver start "$URL" -i "$KEY" >"$T/start.txt" || fail "start failed"
grep -q "start done" "$T/start.txt" || fail "start table: $(cat "$T/start.txt")"
wait_for 30 bash -c "'$CASFS' --meta '$META_ADDR' --json chunkserver show $NEWID | grep -q '\"state\": \"up\"'" ||
	fail "restarted server did not come back up under its id"
cmp -s "$T/data" "$MNT/data" || fail "data differs after the restart"

# --- a wrong key: refused, naming what was tried
"$CASFS" chunkserver logs "$URL" -i "$T/ssh/wrong" >/dev/null 2>"$T/err" && fail "a wrong key was accepted"
one_line_error "$T/err"
grep -q "authentication failed" "$T/err" && grep -q "tried: publickey $T/ssh/wrong" "$T/err" ||
	fail "auth failure does not name the methods tried: $(cat "$T/err")"

# --- keys from ssh-agent: the authorized key works without -i; an agent
# holding only the wrong key is refused and says so
SSH_AUTH_SOCK="$T/agent.sock" ssh-agent -a "$T/agent.sock" -s >"$T/agent.env" || fail "ssh-agent failed"
CLUSTER_PIDS[agent]=$(sed -n 's/^SSH_AGENT_PID=\([0-9]*\);.*/\1/p' "$T/agent.env")
export SSH_AUTH_SOCK="$T/agent.sock"
ssh-add -q "$KEY" 2>/dev/null || fail "ssh-add failed"
"$CASFS" chunkserver logs "$URL" >/dev/null 2>"$T/err" || fail "agent authentication failed: $(cat "$T/err")"
ssh-add -q -D 2>/dev/null && ssh-add -q "$T/ssh/wrong" 2>/dev/null || fail "ssh-add (wrong key) failed"
"$CASFS" chunkserver logs "$URL" >/dev/null 2>"$T/err" && fail "an agent with the wrong key was accepted"
one_line_error "$T/err"
grep -q "ssh-agent: 1 key refused" "$T/err" || fail "agent failure not explained: $(cat "$T/err")"
unset SSH_AUTH_SOCK

# --- a changed host key: always refused, even with --accept-new-host-key
cluster_kill sshd TERM
ssh_gen_host_key
ssh_start_sshd
"$CASFS" chunkserver logs "$URL" -i "$KEY" --accept-new-host-key >/dev/null 2>"$T/err" &&
	fail "a changed host key was accepted"
one_line_error "$T/err"
grep -q "CHANGED" "$T/err" || fail "changed host key not explained: $(cat "$T/err")"

# --- nothing listening: connection refused in one line
cluster_kill sshd TERM
"$CASFS" chunkserver logs "$URL" -i "$KEY" >/dev/null 2>"$T/err" && fail "logs with sshd down succeeded"
one_line_error "$T/err"
grep -q "refused" "$T/err" || fail "connection refusal not explained: $(cat "$T/err")"
echo "PASS ssh_deploy"
