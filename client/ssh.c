/* cssh: libssh2 sessions for the casfs CLI's host management.
 *
 * Trust: a host key is accepted only when known_hosts has it for
 * [host]:port. An unknown key is refused unless the caller accepts it (then
 * one line is appended to known_hosts, as OpenSSH's accept-new does); a key
 * that differs from the recorded one is always refused — that is what a
 * man in the middle looks like. Authentication tries ssh-agent's keys, then
 * the -i key file (or ~/.ssh/id_ed25519, id_ecdsa, id_rsa), and a failure
 * lists what was tried and what the server allows.
 *
 * The session is blocking with a timeout on every exchange; one channel at
 * a time. Called only from the CLI's thread. */
#include "client/ssh.h"

#include <errno.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/net.h"
#include "fs/xmalloc.h"

struct cssh {
	int fd;
	LIBSSH2_SESSION *sess;
	char err[1024];
};

static void cssh_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cssh_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *cssh_libssh2_msg(LIBSSH2_SESSION *sess)
{
	char *msg = NULL;

	libssh2_session_last_error(sess, &msg, NULL, 0);
	return msg && msg[0] ? msg : "unknown error";
}

static int cssh_key_type(int hostkey_type)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
	default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
	}
}

/* The SHA-256 fingerprint as OpenSSH prints it ("SHA256:base64"), or "". */
static void cssh_fingerprint(LIBSSH2_SESSION *sess, char *out, size_t outlen)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *h = (const unsigned char *)libssh2_hostkey_hash(sess,
						LIBSSH2_HOSTKEY_HASH_SHA256);
	size_t at;

	out[0] = '\0';
	if (!h || outlen < 52)
		return;
	at = (size_t)snprintf(out, outlen, "SHA256:");
	for (int i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)h[i] << 16 | (i + 1 < 32 ? (uint32_t)h[i + 1] << 8 : 0) |
			     (i + 2 < 32 ? h[i + 2] : 0);
		int n = i + 2 < 32 ? 4 : 3;	/* 32 bytes = 10 triples + 2: 43 chars, no padding */

		for (int k = 0; k < n; k++)
			out[at++] = b64[(v >> (18 - 6 * k)) & 63];
	}
	out[at] = '\0';
}

/* Checks the server's host key against known_hosts; may append it. */
static int cssh_check_host(struct cssh *s, const struct cssh_opts *o, char *err, size_t errlen)
{
	char path[4096], hostname[300], line[8192], fp[64];
	const char *home = getenv("HOME");
	struct libssh2_knownhost *entry = NULL;
	LIBSSH2_KNOWNHOSTS *kh;
	const char *key;
	size_t keylen, linelen;
	int type, rc, kt;
	FILE *f;

	key = libssh2_session_hostkey(s->sess, &keylen, &type);
	if (!key) {
		cssh_seterr(err, errlen, "%s: no host key from the server", o->host);
		return -EPROTO;
	}
	kt = cssh_key_type(type);
	cssh_fingerprint(s->sess, fp, sizeof(fp));
	if (o->known_hosts)
		snprintf(path, sizeof(path), "%s", o->known_hosts);
	else
		snprintf(path, sizeof(path), "%s/.ssh/known_hosts", home ? home : "");
	kh = libssh2_knownhost_init(s->sess);
	if (!kh) {
		cssh_seterr(err, errlen, "cannot set up known_hosts checking");
		return -ENOMEM;
	}
	/* A missing file is just "nothing known yet"; unreadable lines are
	 * skipped by libssh2 (e.g. key types it does not know). */
	libssh2_knownhost_readfile(kh, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	rc = libssh2_knownhost_checkp(kh, o->host, o->port, key, keylen,
				      LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kt,
				      &entry);
	switch (rc) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		rc = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		cssh_seterr(err, errlen, "host key for %s:%u has CHANGED (now %s): refusing to "
			    "connect; if the change is expected, remove the old key with "
			    "ssh-keygen -R '[%s]:%u'", o->host, o->port, fp, o->host, o->port);
		rc = -EKEYREJECTED;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (!o->accept_new_host_key) {
			cssh_seterr(err, errlen, "host key for %s:%u is unknown (%s, not in %s): "
				    "refusing to connect; verify it and rerun with "
				    "--accept-new-host-key", o->host, o->port, fp, path);
			rc = -ENOKEY;
			break;
		}
		if (o->port == 22)
			snprintf(hostname, sizeof(hostname), "%s", o->host);
		else
			snprintf(hostname, sizeof(hostname), "[%s]:%u", o->host, o->port);
		rc = libssh2_knownhost_addc(kh, hostname, NULL, key, keylen, NULL, 0,
					    LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					    LIBSSH2_KNOWNHOST_KEYENC_RAW | kt, &entry);
		if (rc == 0)
			rc = libssh2_knownhost_writeline(kh, entry, line, sizeof(line), &linelen,
							 LIBSSH2_KNOWNHOST_FILE_OPENSSH);
		if (rc) {
			cssh_seterr(err, errlen, "cannot record the host key of %s: %s", o->host,
				    cssh_libssh2_msg(s->sess));
			rc = -EIO;
			break;
		}
		if (!o->known_hosts && home) {
			char dir[4096];

			snprintf(dir, sizeof(dir), "%s/.ssh", home);
			mkdir(dir, 0700);
		}
		f = fopen(path, "a");
		if (!f || fwrite(line, 1, linelen, f) != linelen) {
			cssh_seterr(err, errlen, "cannot append to %s: %s", path, strerror(errno));
			rc = -EIO;
		} else {
			fprintf(stderr, "casfs: added host key of %s:%u (%s) to %s\n", o->host,
				o->port, fp, path);
			rc = 0;
		}
		if (f)
			fclose(f);
		break;
	default:
		cssh_seterr(err, errlen, "cannot check the host key of %s: %s", o->host,
			    cssh_libssh2_msg(s->sess));
		rc = -EPROTO;
	}
	libssh2_knownhost_free(kh);
	return rc;
}

/* Appends to the "tried" list for the authentication error. */
static void cssh_tried(char *tried, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cssh_tried(char *tried, size_t len, const char *fmt, ...)
{
	size_t at = strlen(tried);
	va_list ap;

	if (at && at + 2 < len) {
		strcat(tried, "; ");
		at += 2;
	}
	va_start(ap, fmt);
	vsnprintf(tried + at, len - at, fmt, ap);
	va_end(ap);
}

static int cssh_auth_agent(struct cssh *s, const char *user, char *tried, size_t tlen)
{
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	LIBSSH2_AGENT *agent;
	int n = 0, ok = 0;

	if (!getenv("SSH_AUTH_SOCK")) {
		cssh_tried(tried, tlen, "ssh-agent: not running (SSH_AUTH_SOCK unset)");
		return -ENOENT;
	}
	agent = libssh2_agent_init(s->sess);
	if (!agent || libssh2_agent_connect(agent) || libssh2_agent_list_identities(agent)) {
		cssh_tried(tried, tlen, "ssh-agent: cannot reach it");
		if (agent)
			libssh2_agent_free(agent);
		return -ENOENT;
	}
	while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
		n++;
		if (libssh2_agent_userauth(agent, user, id) == 0) {
			ok = 1;
			break;
		}
		prev = id;
	}
	if (!ok)
		cssh_tried(tried, tlen, "ssh-agent: %d key%s refused", n, n == 1 ? "" : "s");
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return ok ? 0 : -EACCES;
}

static int cssh_auth_file(struct cssh *s, const char *user, const char *key, char *tried,
			  size_t tlen)
{
	char pub[4096];
	const char *pubp = NULL;

	if (access(key, R_OK) < 0) {
		cssh_tried(tried, tlen, "publickey %s: %s", key, strerror(errno));
		return -ENOENT;
	}
	/* Use KEY.pub when present; libssh2 derives it from the private key
	 * otherwise. */
	snprintf(pub, sizeof(pub), "%s.pub", key);
	if (access(pub, R_OK) == 0)
		pubp = pub;
	if (libssh2_userauth_publickey_fromfile(s->sess, user, pubp, key, NULL) == 0)
		return 0;
	cssh_tried(tried, tlen, "publickey %s: refused", key);
	return -EACCES;
}

static int cssh_auth(struct cssh *s, const struct cssh_opts *o, char *err, size_t errlen)
{
	static const char *const defaults[] = { "id_ed25519", "id_ecdsa", "id_rsa" };
	const char *home = getenv("HOME");
	char tried[768] = "", path[4096];
	const char *methods;

	methods = libssh2_userauth_list(s->sess, o->user, (unsigned)strlen(o->user));
	if (!methods && libssh2_userauth_authenticated(s->sess))
		return 0;
	if (methods && !strstr(methods, "publickey")) {
		cssh_seterr(err, errlen, "authentication failed for %s@%s:%u: the server does not "
			    "allow public keys (it allows: %s)", o->user, o->host, o->port, methods);
		return -EACCES;
	}
	if (!o->keyfile && cssh_auth_agent(s, o->user, tried, sizeof(tried)) == 0)
		return 0;
	if (o->keyfile) {
		if (cssh_auth_file(s, o->user, o->keyfile, tried, sizeof(tried)) == 0)
			return 0;
	} else {
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]) && home; i++) {
			snprintf(path, sizeof(path), "%s/.ssh/%s", home, defaults[i]);
			if (access(path, F_OK) == 0 &&
			    cssh_auth_file(s, o->user, path, tried, sizeof(tried)) == 0)
				return 0;
		}
		if (!strstr(tried, "publickey"))
			cssh_tried(tried, sizeof(tried), "no key files in ~/.ssh (give -i KEYFILE)");
	}
	cssh_seterr(err, errlen, "authentication failed for %s@%s:%u (tried: %s; server allows: %s)",
		    o->user, o->host, o->port, tried, methods ? methods : "?");
	return -EACCES;
}

int cssh_open(const struct cssh_opts *o, cssh_t **out, char *err, size_t errlen)
{
	struct cssh *s = xcalloc(1, sizeof(*s));
	char addr[320];
	int rc;

	*out = NULL;
	s->fd = -1;
	if (strchr(o->host, ':'))
		snprintf(addr, sizeof(addr), "[%s]:%u", o->host, o->port);
	else
		snprintf(addr, sizeof(addr), "%s:%u", o->host, o->port);
	rc = net_connect(addr, o->timeout_ms, &s->fd);
	if (rc) {
		cssh_seterr(err, errlen, "cannot connect to %s:%u: %s", o->host, o->port,
			    rc == -ETIMEDOUT ? "connection timed out" : strerror(-rc));
		goto fail;
	}
	libssh2_init(0);
	s->sess = libssh2_session_init();
	if (!s->sess) {
		cssh_seterr(err, errlen, "cannot start an SSH session");
		rc = -ENOMEM;
		goto fail;
	}
	libssh2_session_set_blocking(s->sess, 1);
	libssh2_session_set_timeout(s->sess, o->timeout_ms);
	if (libssh2_session_handshake(s->sess, s->fd)) {
		cssh_seterr(err, errlen, "SSH handshake with %s:%u failed: %s", o->host, o->port,
			    cssh_libssh2_msg(s->sess));
		rc = -EPROTO;
		goto fail;
	}
	rc = cssh_check_host(s, o, err, errlen);
	if (rc)
		goto fail;
	rc = cssh_auth(s, o, err, errlen);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	cssh_close(s);
	return rc;
}

void cssh_close(cssh_t *s)
{
	if (!s)
		return;
	if (s->sess) {
		libssh2_session_disconnect(s->sess, "casfs done");
		libssh2_session_free(s->sess);
		s->sess = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

const char *cssh_error(const cssh_t *s)
{
	return s->err;
}

char *cssh_quote(const char *str)
{
	size_t n = 3;
	char *q, *p;

	for (const char *c = str; *c; c++)
		n += *c == '\'' ? 4 : 1;
	q = p = xmalloc(n);
	*p++ = '\'';
	for (const char *c = str; *c; c++) {
		if (*c == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *c;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/* A growable NUL-terminated byte buffer for channel output. */
struct cssh_buf {
	char *p;
	size_t len, cap;
};

static void cssh_buf_add(struct cssh_buf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
}

int cssh_exec(cssh_t *s, const char *cmd, char **out, char **errout, int *status)
{
	struct cssh_buf o = { 0 }, e = { 0 };
	LIBSSH2_CHANNEL *ch;
	char buf[16384];
	ssize_t n;
	int rc = 0;

	cssh_buf_add(&o, "", 0);
	cssh_buf_add(&e, "", 0);
	ch = libssh2_channel_open_session(s->sess);
	if (!ch) {
		cssh_seterr(s->err, sizeof(s->err), "cannot open an SSH channel: %s",
			    cssh_libssh2_msg(s->sess));
		rc = -EIO;
		goto out;
	}
	if (libssh2_channel_exec(ch, cmd)) {
		cssh_seterr(s->err, sizeof(s->err), "cannot run a remote command: %s",
			    cssh_libssh2_msg(s->sess));
		rc = -EIO;
		goto out;
	}
	/* Blocking reads, stdout to its end and then stderr: libssh2 buffers
	 * stderr meanwhile, up to the channel window (2 MB), far more than the
	 * few lines our remote commands write there. */
	while ((n = libssh2_channel_read(ch, buf, sizeof(buf))) > 0)
		cssh_buf_add(&o, buf, (size_t)n);
	if (n < 0)
		rc = -EIO;
	while (!rc && (n = libssh2_channel_read_stderr(ch, buf, sizeof(buf))) > 0)
		cssh_buf_add(&e, buf, (size_t)n);
	if (n < 0)
		rc = -EIO;
	if (rc) {
		cssh_seterr(s->err, sizeof(s->err), "reading remote output failed: %s",
			    cssh_libssh2_msg(s->sess));
		goto out;
	}
	libssh2_channel_close(ch);
	libssh2_channel_wait_closed(ch);
	*status = libssh2_channel_get_exit_status(ch);
	{
		char *sig = NULL;

		libssh2_channel_get_exit_signal(ch, &sig, NULL, NULL, NULL, NULL, NULL);
		if (sig) {
			*status = -1;
			libssh2_free(s->sess, sig);
		}
	}
out:
	if (ch)
		libssh2_channel_free(ch);
	if (out)
		*out = o.p;
	else
		free(o.p);
	if (errout)
		*errout = e.p;
	else
		free(e.p);
	return rc;
}

int cssh_run(cssh_t *s, const char *cmd, char **out)
{
	char *err = NULL, *nl;
	int status = 0, rc;

	rc = cssh_exec(s, cmd, out, &err, &status);
	if (rc == 0 && status != 0) {
		nl = err + strcspn(err, "\n");
		*nl = '\0';
		cssh_seterr(s->err, sizeof(s->err), "remote command failed (status %d): %s", status,
			    err[0] ? err : "(no error output)");
		rc = -EIO;
	}
	free(err), err = NULL;
	return rc;
}

/* SFTP's status for the last failed request, in words. */
static const char *cssh_sftp_msg(LIBSSH2_SFTP *sftp, LIBSSH2_SESSION *sess)
{
	switch (libssh2_sftp_last_error(sftp)) {
	case LIBSSH2_FX_NO_SUCH_FILE:
	case LIBSSH2_FX_NO_SUCH_PATH: return "no such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
	case LIBSSH2_FX_QUOTA_EXCEEDED: return "no space left";
	case LIBSSH2_FX_WRITE_PROTECT: return "read-only file system";
	case LIBSSH2_FX_FAILURE: return "failure";
	default: return cssh_libssh2_msg(sess);
	}
}

int cssh_put(cssh_t *s, const char *path, const void *data, size_t len, long mode)
{
	LIBSSH2_SFTP *sftp = libssh2_sftp_init(s->sess);
	LIBSSH2_SFTP_HANDLE *h = NULL;
	char tmp[4200];
	const char *p = data;
	int rc = 0;

	if (!sftp) {
		cssh_seterr(s->err, sizeof(s->err), "cannot start SFTP: %s",
			    cssh_libssh2_msg(s->sess));
		return -EIO;
	}
	snprintf(tmp, sizeof(tmp), "%s.casfs-tmp", path);
	h = libssh2_sftp_open(sftp, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_TRUNC,
			      mode);
	if (!h) {
		cssh_seterr(s->err, sizeof(s->err), "cannot create %s over SFTP: %s", tmp,
			    cssh_sftp_msg(sftp, s->sess));
		rc = -EIO;
		goto out;
	}
	while (len > 0) {
		ssize_t n = libssh2_sftp_write(h, p, len);

		if (n <= 0) {
			cssh_seterr(s->err, sizeof(s->err), "SFTP write to %s failed: %s", tmp,
				    cssh_sftp_msg(sftp, s->sess));
			rc = -EIO;
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	libssh2_sftp_close(h);
	h = NULL;
	libssh2_sftp_unlink(sftp, path);
	if (libssh2_sftp_rename_ex(sftp, tmp, (unsigned)strlen(tmp), path, (unsigned)strlen(path),
				   LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC |
				   LIBSSH2_SFTP_RENAME_NATIVE)) {
		cssh_seterr(s->err, sizeof(s->err), "SFTP rename to %s failed: %s", path,
			    cssh_sftp_msg(sftp, s->sess));
		rc = -EIO;
	}
out:
	if (h)
		libssh2_sftp_close(h);
	libssh2_sftp_shutdown(sftp);
	return rc;
}
