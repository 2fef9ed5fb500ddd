/* cssh: the SSH transport of the casfs CLI, on libssh2. One blocking session
 * to one host: TCP connect with a timeout, host key checked against
 * known_hosts (unknown refused unless accepted explicitly, changed always
 * refused), public-key authentication from ssh-agent or a key file, remote
 * commands with their stdout, stderr and exit status, and SFTP upload.
 * Every failure leaves one readable sentence in s->err. Single-threaded. */
#ifndef CASFS_SSH_H
#define CASFS_SSH_H

#include <stddef.h>
#include <stdint.h>

struct cssh_opts {
	const char *user;
	const char *host;
	uint16_t port;
	const char *keyfile;		/* -i; NULL = agent, then ~/.ssh/id_* */
	const char *known_hosts;	/* NULL = $HOME/.ssh/known_hosts */
	int accept_new_host_key;	/* add an unknown host key instead of refusing */
	int timeout_ms;			/* connect and every exchange */
};

/* An open session; opaque. */
typedef struct cssh cssh_t;

/* Connects, verifies the host key and authenticates. Returns 0 and *out, or
 * a negative errno with the reason in err[0..errlen):
 *   -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ENOENT (unknown host name):
 *     the TCP connection;
 *   -EPROTO: the SSH handshake;
 *   -ENOKEY: host key not in known_hosts (and not accepted);
 *   -EKEYREJECTED: host key differs from known_hosts (never accepted);
 *   -EACCES: authentication failed (err names the methods tried). */
int cssh_open(const struct cssh_opts *o, cssh_t **out, char *err, size_t errlen);
void cssh_close(cssh_t *s);

/* Runs cmd through the remote user's shell. *out and *errout (either may
 * be NULL) receive NUL-terminated stdout/stderr (caller frees); *status the
 * exit status (-1 when the server reported none, e.g. killed by a signal).
 * Returns 0 when the command ran (whatever its status), or a negative errno
 * for a transport failure (message in cssh_error). */
int cssh_exec(cssh_t *s, const char *cmd, char **out, char **errout, int *status);
/* Like cssh_exec, but a non-zero exit status is an error: returns -EIO with
 * "remote command failed (status N): <first stderr line>" in cssh_error. */
int cssh_run(cssh_t *s, const char *cmd, char **out);
/* Writes data to remote path with mode via SFTP (temp name, then rename), so
 * a reader never sees half a file. */
int cssh_put(cssh_t *s, const char *path, const void *data, size_t len, long mode);
/* The last failure's sentence. */
const char *cssh_error(const cssh_t *s);
/* Quotes s for a POSIX shell ('...' with ' escaped); caller frees. */
char *cssh_quote(const char *s);

#endif
