/* log: one line per event, timestamped, with the level and the program name,
 * written with a single write(2) so lines from threads never interleave.
 * Thread-safe: settings are written once at start-up, lines are atomic. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_name = "casfs";
static enum log_level log_max = LOG_LVL_INFO;
static int log_to_syslog;

static const char *const log_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void log_init(const char *name, enum log_level level, int use_syslog)
{
	log_name = name;
	log_max = level;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(name, LOG_PID, LOG_DAEMON);
}

int log_level_parse(const char *s, enum log_level *out)
{
	static const char *const lower[] = { "error", "warn", "info", "debug" };

	for (int i = 0; i < 4; i++) {
		if (strcmp(s, lower[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Control characters in a message (a peer's name, a path) become '?': a
 * newline in peer-supplied text must not forge a log line of its own. */
static void log_sanitize(char *p, int n)
{
	for (int i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			p[i] = '?';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_max)
		return;
	n = 0;
	if (!log_to_syslog) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, ts.tv_nsec / 1000000, log_name, (int)getpid(),
			     log_names[level]);
	}
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if (n + m > (int)sizeof(line) - 2)
		m = (int)sizeof(line) - 2 - n;
	log_sanitize(line + n, m);
	n += m;
	if (log_to_syslog) {
		line[n] = '\0';
		syslog(prio[level], "%s", line);
		return;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
