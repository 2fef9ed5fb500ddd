/* metaops: times metadata operations through the kernel, as any program on
 * a mount would see them. Creates N empty files in one directory, stats
 * them, renames them and unlinks them, and prints one "op<TAB>ops/s" line per
 * phase. Used by tests/bench/casfs-bench on casfs, a local folder or any
 * other mount, so the figures compare like with like. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "metaops: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	char a[4096], b[4096];
	struct stat st;
	double t;
	long n;

	if (argc != 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: metaops DIR COUNT\n");
		return 2;
	}
	t = now();
	for (long i = 0; i < n; i++) {
		int fd;

		snprintf(a, sizeof(a), "%s/f%07ld", argv[1], i);
		fd = open(a, O_CREAT | O_EXCL | O_WRONLY, 0644);
		if (fd < 0)
			die("create", a);
		close(fd);
	}
	printf("create\t%.0f\n", (double)n / (now() - t));
	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "%s/f%07ld", argv[1], i);
		if (stat(a, &st))
			die("stat", a);
	}
	printf("stat\t%.0f\n", (double)n / (now() - t));
	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(a, sizeof(a), "%s/f%07ld", argv[1], i);
		snprintf(b, sizeof(b), "%s/r%07ld", argv[1], i);
		if (rename(a, b))
			die("rename", a);
	}
	printf("rename\t%.0f\n", (double)n / (now() - t));
	t = now();
	for (long i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "%s/r%07ld", argv[1], i);
		if (unlink(b))
			die("unlink", b);
	}
	printf("unlink\t%.0f\n", (double)n / (now() - t));
	return 0;
}
