# A real sshd for the CLI's SSH tests (bash, sourced after tests/lib/cluster.sh
# and cluster_init). ssh_start_sshd: generates a host key and a client key in
# $T/ssh, writes a config (127.0.0.1 only, a free port, key auth only, root
# login by key, StrictModes off, pid file in $T) and starts /usr/sbin/sshd
# in the foreground under the cluster fixture, so teardown stops it by pid.
# Sets SSH_PORT, SSH_KEY (authorized), SSH_URL; HOME points into $T so the
# CLI's known_hosts and deployment records stay inside the test folder.

ssh_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ssh_gen_host_key() {
	rm -f "$T/ssh/host_ed25519" "$T/ssh/host_ed25519.pub"
	ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_ed25519" -C casfs-test-host ||
		fail "ssh-keygen (host) failed"
}

ssh_start_sshd() {
	mkdir -p "$T/ssh" "$T/home" /run/sshd
	chmod 700 "$T/ssh"
	export HOME="$T/home"
	unset SSH_AUTH_SOCK
	[ -f "$T/ssh/host_ed25519" ] || ssh_gen_host_key
	if [ ! -f "$T/ssh/client" ]; then
		ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/client" -C casfs-test-client ||
			fail "ssh-keygen (client) failed"
		cp "$T/ssh/client.pub" "$T/ssh/authorized_keys"
	fi
	SSH_PORT=${SSH_PORT:-$(ssh_free_port)}
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
	SSH_KEY="$T/ssh/client"
	SSH_URL="ssh://$(id -un)@127.0.0.1:$SSH_PORT"
	export SSH_PORT SSH_KEY SSH_URL
}

ssh_stop_sshd() {
	cluster_kill sshd TERM
}
