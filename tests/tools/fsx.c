/* fsx: random operations on one file, each checked against a model kept in
 * memory, in the spirit of the fsx of BSD and xfstests (not its code).
 *
 *   fsx [-N ops] [-S seed] [-L maxlen] [-O maxop] [-b blocksize] [-M]
 *       [-c other] [-q] FILE
 *
 * Operations, picked at random: pread, pwrite, mmap read, mmap write
 * (msync), truncate (down and up), fallocate (plain, and PUNCH_HOLE with
 * KEEP_SIZE), copy_file_range inside the file, fsync, SEEK_DATA/SEEK_HOLE,
 * and close + open. Offsets crowd block boundaries (-b, 1 MiB) a third of
 * the time, where a block store keeps its edge cases; lengths run from one
 * byte to -O. After every operation the size must match, and the whole
 * file is read back every 64 operations and at the end. With -c, the same
 * file seen through another mount is read back whole after every close +
 * open (close-to-open consistency). -M leaves out the mmap operations.
 *
 * A mismatch prints the seed, the last operations and the first bad byte,
 * and exits 1; a call that fails exits 2; usage errors exit 3. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FSX_LOG 32
#define FSX_VERIFY_EVERY 64

enum fsx_op {
	OP_READ, OP_WRITE, OP_MAPREAD, OP_MAPWRITE, OP_TRUNCATE, OP_FALLOC, OP_PUNCH,
	OP_COPY, OP_FSYNC, OP_SEEK, OP_REOPEN, OP_COUNT
};

/* Weights out of their sum: writes and reads dominate, as in real use. */
static const int op_weight[OP_COUNT] = { 20, 24, 6, 6, 8, 4, 6, 6, 3, 5, 4 };

struct fsx {
	const char *path, *other;
	int fd;
	uint64_t seed, rng;
	uint64_t maxlen, maxop, bs;
	uint8_t *good;		/* the model: what the file must hold */
	uint64_t size;
	uint8_t *buf;		/* scratch, maxlen bytes */
	long opno;
	int no_mmap, quiet;
	char log[FSX_LOG][128];
};

static uint64_t rnd(struct fsx *x)
{
	/* xorshift64*: plenty for picking operations, and reproducible */
	x->rng ^= x->rng >> 12;
	x->rng ^= x->rng << 25;
	x->rng ^= x->rng >> 27;
	return x->rng * 2685821657736338717ULL;
}

static uint64_t rnd_below(struct fsx *x, uint64_t n)
{
	return n ? rnd(x) % n : 0;
}

static void note(struct fsx *x, const char *fmt, ...)
{
	va_list ap;
	char *s = x->log[x->opno % FSX_LOG];
	int n = snprintf(s, sizeof(x->log[0]), "%ld ", x->opno);

	va_start(ap, fmt);
	vsnprintf(s + n, sizeof(x->log[0]) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void dump_log(struct fsx *x)
{
	long first = x->opno - FSX_LOG + 1;

	fprintf(stderr, "fsx: %s, seed %" PRIu64 ", last operations:\n", x->path, x->seed);
	for (long i = first < 0 ? 0 : first; i <= x->opno; i++)
		fprintf(stderr, "  %s\n", x->log[i % FSX_LOG]);
}

static void die_call(struct fsx *x, const char *what)
{
	fprintf(stderr, "fsx: op %ld: %s: %s\n", x->opno, what, strerror(errno));
	dump_log(x);
	exit(2);
}

/* Compares got with the model at [off, off + len); exits 1 on a mismatch. */
static void check_bytes(struct fsx *x, const char *what, uint64_t off, const uint8_t *got,
			uint64_t len)
{
	for (uint64_t i = 0; i < len; i++) {
		if (got[i] == x->good[off + i])
			continue;
		fprintf(stderr, "fsx: op %ld: %s: byte %" PRIu64 " (block %" PRIu64
			" + %" PRIu64 ") is 0x%02x, the model says 0x%02x\n",
			x->opno, what, off + i, (off + i) / x->bs, (off + i) % x->bs, got[i],
			x->good[off + i]);
		dump_log(x);
		exit(1);
	}
}

static void check_size(struct fsx *x, int fd, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		die_call(x, "fstat");
	if ((uint64_t)st.st_size == x->size)
		return;
	fprintf(stderr, "fsx: op %ld: %s: size %lld, the model says %" PRIu64 "\n", x->opno,
		what, (long long)st.st_size, x->size);
	dump_log(x);
	exit(1);
}

static void read_all(struct fsx *x, int fd, uint64_t off, uint64_t len, uint8_t *out)
{
	uint64_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, out + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_call(x, "pread");
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	if (got != len) {
		fprintf(stderr, "fsx: op %ld: short read at %" PRIu64 ": %" PRIu64 " of %" PRIu64
			"\n", x->opno, off, got, len);
		dump_log(x);
		exit(1);
	}
}

/* The whole file through fd: its size and every byte. */
static void verify_fd(struct fsx *x, int fd, const char *what)
{
	check_size(x, fd, what);
	read_all(x, fd, 0, x->size, x->buf);
	check_bytes(x, what, 0, x->buf, x->size);
}

/* An offset in [0, limit): a third of them within 16 bytes of a block
 * boundary. */
static uint64_t pick_off(struct fsx *x, uint64_t limit)
{
	if (limit > x->bs && rnd_below(x, 3) == 0) {
		uint64_t b = (1 + rnd_below(x, limit / x->bs)) * x->bs;
		uint64_t off = b - 16 + rnd_below(x, 33);

		if (off < limit)
			return off;
	}
	return rnd_below(x, limit);
}

/* A length in [1, maxop]: small, medium or large alike. */
static uint64_t pick_len(struct fsx *x)
{
	switch (rnd_below(x, 3)) {
	case 0: return 1 + rnd_below(x, 4096);
	case 1: return 1 + rnd_below(x, x->maxop < (256u << 10) ? x->maxop : (256u << 10));
	default: return 1 + rnd_below(x, x->maxop);
	}
}

/* A range anywhere below the largest size the file may reach. */
static void pick_any(struct fsx *x, uint64_t *off, uint64_t *len)
{
	*off = pick_off(x, x->maxlen);
	*len = pick_len(x);
	if (*off + *len > x->maxlen)
		*len = x->maxlen - *off;
}

/* A range inside the file: 0 and [*off, *off + *len), or -1 when the file
 * is empty. */
static int pick_inside(struct fsx *x, uint64_t *off, uint64_t *len)
{
	if (x->size == 0)
		return -1;
	*off = pick_off(x, x->size);
	*len = pick_len(x);
	if (*off + *len > x->size)
		*len = x->size - *off;
	return 0;
}

static void fill_random(struct fsx *x, uint8_t *p, uint64_t len)
{
	uint64_t v = 0;

	for (uint64_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = rnd(x);
		p[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
}

/* The model after the file's size became n: new bytes are zeros. */
static void model_resize(struct fsx *x, uint64_t n)
{
	if (n > x->size)
		memset(x->good + x->size, 0, n - x->size);
	x->size = n;
}

static void op_read(struct fsx *x)
{
	uint64_t off = pick_off(x, x->size + 1), len = pick_len(x), want;

	if (off + len > x->maxlen)
		len = x->maxlen - off;
	note(x, "read %" PRIu64 " +%" PRIu64, off, len);
	want = off >= x->size ? 0 : (off + len > x->size ? x->size - off : len);
	read_all(x, x->fd, off, want, x->buf);
	check_bytes(x, "read", off, x->buf, want);
	if (want < len) {
		ssize_t n = pread(x->fd, x->buf, 1, (off_t)(off + want));

		if (n != 0) {
			fprintf(stderr, "fsx: op %ld: read past the end at %" PRIu64 " gave %zd\n",
				x->opno, off + want, n);
			dump_log(x);
			exit(1);
		}
	}
}

static void op_write(struct fsx *x)
{
	uint64_t off, len, done = 0;

	pick_any(x, &off, &len);
	note(x, "write %" PRIu64 " +%" PRIu64 " (size %" PRIu64 ")", off, len, x->size);
	fill_random(x, x->buf, len);
	while (done < len) {
		ssize_t n = pwrite(x->fd, x->buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die_call(x, "pwrite");
		done += (uint64_t)n;
	}
	if (off + len > x->size)
		model_resize(x, off + len);
	memcpy(x->good + off, x->buf, len);
}

/* Maps the pages covering [off, off + len) of the file. */
static uint8_t *map_range(struct fsx *x, uint64_t off, uint64_t len, int prot, uint64_t *poff,
			  size_t *plen)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	void *p;

	*poff = off - off % pg;
	*plen = (size_t)(off + len - *poff);
	p = mmap(NULL, *plen, prot, MAP_SHARED, x->fd, (off_t)*poff);
	if (p == MAP_FAILED)
		die_call(x, "mmap");
	return p;
}

static void op_mapread(struct fsx *x)
{
	uint64_t off, len, poff;
	size_t plen;
	uint8_t *p;

	if (pick_inside(x, &off, &len))
		return;
	note(x, "mapread %" PRIu64 " +%" PRIu64, off, len);
	p = map_range(x, off, len, PROT_READ, &poff, &plen);
	check_bytes(x, "mapread", off, p + (off - poff), len);
	munmap(p, plen);
}

static void op_mapwrite(struct fsx *x)
{
	uint64_t off, len, poff;
	size_t plen;
	uint8_t *p;

	pick_any(x, &off, &len);
	note(x, "mapwrite %" PRIu64 " +%" PRIu64 " (size %" PRIu64 ")", off, len, x->size);
	if (off + len > x->size) {
		if (ftruncate(x->fd, (off_t)(off + len)) < 0)
			die_call(x, "ftruncate before mapwrite");
		model_resize(x, off + len);
	}
	p = map_range(x, off, len, PROT_READ | PROT_WRITE, &poff, &plen);
	fill_random(x, p + (off - poff), len);
	memcpy(x->good + off, p + (off - poff), len);
	if (msync(p, plen, MS_SYNC) < 0)
		die_call(x, "msync");
	munmap(p, plen);
}

static void op_truncate(struct fsx *x)
{
	uint64_t n = pick_off(x, x->maxlen + 1);

	note(x, "truncate %" PRIu64 " -> %" PRIu64, x->size, n);
	if (ftruncate(x->fd, (off_t)n) < 0)
		die_call(x, "ftruncate");
	model_resize(x, n);
}

static void op_falloc(struct fsx *x)
{
	uint64_t off, len;

	pick_any(x, &off, &len);
	note(x, "fallocate %" PRIu64 " +%" PRIu64 " (size %" PRIu64 ")", off, len, x->size);
	if (fallocate(x->fd, 0, (off_t)off, (off_t)len) < 0)
		die_call(x, "fallocate");
	if (off + len > x->size)
		model_resize(x, off + len);
}

static void op_punch(struct fsx *x)
{
	uint64_t off, len;

	if (x->size == 0)
		return;
	off = pick_off(x, x->size);
	len = pick_len(x);
	note(x, "punch %" PRIu64 " +%" PRIu64 " (size %" PRIu64 ")", off, len, x->size);
	if (fallocate(x->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)len) < 0)
		die_call(x, "fallocate PUNCH_HOLE");
	if (off + len > x->size)
		len = x->size - off;
	memset(x->good + off, 0, len);
}

/* copy_file_range between two ranges of the file that do not overlap (the
 * kernel refuses overlapping ones within a file). */
static void op_copy(struct fsx *x)
{
	uint64_t src, dst, len;
	loff_t s, d;
	ssize_t n;

	if (pick_inside(x, &src, &len))
		return;
	dst = pick_off(x, x->maxlen - len);
	if (dst < src + len && src < dst + len)
		return;
	note(x, "copy %" PRIu64 " -> %" PRIu64 " +%" PRIu64 " (size %" PRIu64 ")", src, dst,
	     len, x->size);
	s = (loff_t)src;
	d = (loff_t)dst;
	n = copy_file_range(x->fd, &s, x->fd, &d, len, 0);
	if (n < 0)
		die_call(x, "copy_file_range");
	if (n == 0 && len) {
		fprintf(stderr, "fsx: op %ld: copy_file_range copied nothing of %" PRIu64 "\n",
			x->opno, len);
		dump_log(x);
		exit(1);
	}
	if (dst + (uint64_t)n > x->size)
		model_resize(x, dst + (uint64_t)n);
	memmove(x->good + dst, x->good + src, (size_t)n);
}

static void op_fsync(struct fsx *x)
{
	note(x, "fsync");
	if (fsync(x->fd) < 0)
		die_call(x, "fsync");
}

/* Whether the model holds only zeros in [from, to). */
static int model_zero(const struct fsx *x, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (x->good[i])
			return 0;
	return 1;
}

/* SEEK_DATA and SEEK_HOLE may call data what is zeros, never the reverse:
 * whatever they skip as a hole must read as zeros. */
static void op_seek(struct fsx *x)
{
	uint64_t off;
	off_t d, h;

	if (x->size == 0)
		return;
	off = pick_off(x, x->size);
	note(x, "seek %" PRIu64 " (size %" PRIu64 ")", off, x->size);
	d = lseek(x->fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno != ENXIO)
		die_call(x, "lseek SEEK_DATA");
	if ((d < 0 && !model_zero(x, off, x->size)) ||
	    (d >= 0 && ((uint64_t)d < off || (uint64_t)d > x->size || !model_zero(x, off, (uint64_t)d)))) {
		fprintf(stderr, "fsx: op %ld: SEEK_DATA from %" PRIu64 " gave %lld past data\n",
			x->opno, off, (long long)d);
		dump_log(x);
		exit(1);
	}
	h = lseek(x->fd, (off_t)off, SEEK_HOLE);
	if (h < 0)
		die_call(x, "lseek SEEK_HOLE");
	if ((uint64_t)h < off || (uint64_t)h > x->size) {
		fprintf(stderr, "fsx: op %ld: SEEK_HOLE from %" PRIu64 " gave %lld (size %" PRIu64
			")\n", x->opno, off, (long long)h, x->size);
		dump_log(x);
		exit(1);
	}
}

static int open_file(struct fsx *x, const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		die_call(x, path);
	return fd;
}

static void op_reopen(struct fsx *x)
{
	note(x, "close + open%s", x->other ? ", read through the other mount" : "");
	if (close(x->fd) < 0)
		die_call(x, "close");
	x->fd = open_file(x, x->path, O_RDWR);
	if (x->other) {
		int fd = open_file(x, x->other, O_RDONLY);

		verify_fd(x, fd, "read through the other mount after close");
		close(fd);
	}
}

static enum fsx_op pick_op(struct fsx *x)
{
	int sum = 0, r;

	for (int i = 0; i < OP_COUNT; i++)
		sum += op_weight[i];
	for (;;) {
		r = (int)rnd_below(x, (uint64_t)sum);
		for (int i = 0; i < OP_COUNT; i++) {
			if (r < op_weight[i]) {
				if (x->no_mmap && (i == OP_MAPREAD || i == OP_MAPWRITE))
					break;
				return (enum fsx_op)i;
			}
			r -= op_weight[i];
		}
	}
}

static void run_op(struct fsx *x, enum fsx_op op)
{
	switch (op) {
	case OP_READ: op_read(x); break;
	case OP_WRITE: op_write(x); break;
	case OP_MAPREAD: op_mapread(x); break;
	case OP_MAPWRITE: op_mapwrite(x); break;
	case OP_TRUNCATE: op_truncate(x); break;
	case OP_FALLOC: op_falloc(x); break;
	case OP_PUNCH: op_punch(x); break;
	case OP_COPY: op_copy(x); break;
	case OP_FSYNC: op_fsync(x); break;
	case OP_SEEK: op_seek(x); break;
	case OP_REOPEN: op_reopen(x); break;
	case OP_COUNT: break;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: fsx [-N ops] [-S seed] [-L maxlen] [-O maxop] [-b blocksize] "
			"[-M] [-c other] [-q] FILE\n");
	exit(3);
}

static uint64_t num_arg(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		usage();
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct fsx x = { .maxlen = 8u << 20, .maxop = 3u << 20, .bs = 1u << 20 };
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	long nops = 2000;
	int c;

	while ((c = getopt(argc, argv, "N:S:L:O:b:Mc:q")) != -1) {
		switch (c) {
		case 'N': nops = (long)num_arg(optarg); break;
		case 'S': seed = num_arg(optarg); break;
		case 'L': x.maxlen = num_arg(optarg); break;
		case 'O': x.maxop = num_arg(optarg); break;
		case 'b': x.bs = num_arg(optarg); break;
		case 'M': x.no_mmap = 1; break;
		case 'c': x.other = optarg; break;
		case 'q': x.quiet = 1; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || !x.maxlen || !x.maxop || !x.bs || x.maxop > x.maxlen)
		usage();
	x.path = argv[optind];
	x.seed = seed;
	x.rng = seed ? seed : 1;
	x.good = calloc(1, x.maxlen);
	x.buf = malloc(x.maxlen);
	if (!x.good || !x.buf) {
		fprintf(stderr, "fsx: out of memory\n");
		return 2;
	}
	if (!x.quiet)
		printf("fsx: %s, seed %" PRIu64 ", %ld operations\n", x.path, seed, nops);
	x.fd = open(x.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (x.fd < 0)
		die_call(&x, x.path);
	for (x.opno = 0; x.opno < nops; x.opno++) {
		run_op(&x, pick_op(&x));
		check_size(&x, x.fd, "size after the operation");
		if (x.opno % FSX_VERIFY_EVERY == FSX_VERIFY_EVERY - 1)
			verify_fd(&x, x.fd, "whole-file check");
	}
	verify_fd(&x, x.fd, "final check");
	if (close(x.fd) < 0)
		die_call(&x, "close");
	if (x.other) {
		int fd = open_file(&x, x.other, O_RDONLY);

		verify_fd(&x, fd, "final read through the other mount");
		close(fd);
	}
	if (!x.quiet)
		printf("fsx: %ld operations, all checked (seed %" PRIu64 ")\n", nops, seed);
	free(x.good);
	free(x.buf);
	return 0;
}
