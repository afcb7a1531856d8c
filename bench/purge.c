/*
 * purge.c - how long the store takes to purge many chunks, and what a
 * purge does to the reads of a file that stays (bench/purge.sh runs it).
 *
 *   pc-bench-purge DIR [CHUNKS [CHUNK_BYTES]]
 *
 * Makes a cache in a new directory under DIR (on the disk to measure; the
 * caller removes DIR afterwards),
 * commits CHUNKS small chunks (default 10,000 of 1 KiB) and one "open
 * file" of 16 chunks of 64 KiB that is pinned, as fs/ pins an open file.
 * After a syncfs (purged chunks are old ones, not still in the journal),
 * a reader thread reads that file chunk by chunk (pc_store_chunk_open,
 * pread, close: the cache-hit path) in a loop, first alone, then while the
 * main thread purges everything else with pc_store_purge(store, 0).  Prints
 * the purge's time and rate and the reader's latency percentiles in both
 * phases.  Asserts nothing about time; exits 1 only if the store fails or
 * the purge removes the wrong chunks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pc_store.h"

#define FILE_CHUNKS 16
#define FILE_CHUNK_BYTES (64 * 1024)
#define MAX_SAMPLES (1 << 22)

struct reader {
	struct pc_store *store;
	struct pc_hash chunks[FILE_CHUNKS];
	_Atomic bool stop;
	double *samples; /* microseconds per chunk read */
	size_t count;
	int error;
};

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "pc-bench-purge: %s: %s\n", what, strerror(-rc));
	exit(1);
}

static void fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

static void commit(struct pc_store *store, const uint8_t *data, size_t len,
		   struct pc_hash *hash)
{
	struct pc_store_tmp *tmp;
	int rc;

	pc_sha256(data, len, hash);
	tmp = pc_store_tmp_begin(store, hash, len);
	if (!tmp)
		die("pc_store_tmp_begin", -errno);
	rc = pc_store_tmp_write(tmp, data, len);
	if (rc < 0) {
		pc_store_tmp_abort(tmp);
		die("pc_store_tmp_write", rc);
	}
	rc = pc_store_tmp_commit(tmp);
	if (rc < 0)
		die("pc_store_tmp_commit", rc);
}

static void *read_loop(void *arg)
{
	static uint8_t buf[FILE_CHUNK_BYTES];
	struct reader *r = arg;

	r->count = 0;
	while (!atomic_load(&r->stop) && r->count < MAX_SAMPLES) {
		for (int i = 0; i < FILE_CHUNKS && r->count < MAX_SAMPLES;
		     i++) {
			double t0 = now_seconds();
			int fd = pc_store_chunk_open(r->store, &r->chunks[i]);
			ssize_t n;

			if (fd < 0) {
				r->error = fd;
				return NULL;
			}
			n = pread(fd, buf, sizeof(buf), 0);
			close(fd);
			if (n != (ssize_t)sizeof(buf)) {
				r->error = -EIO;
				return NULL;
			}
			r->samples[r->count++] = (now_seconds() - t0) * 1e6;
		}
	}
	return NULL;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || syncfs(fd) < 0)
		die("syncfs", -errno);
	close(fd);
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print_latency(const char *phase, struct reader *r)
{
	double *s = r->samples;
	size_t n = r->count;

	if (r->error)
		die("reading the open file", r->error);
	if (!n) {
		printf("%-22s no reads\n", phase);
		return;
	}
	qsort(s, n, sizeof(*s), compare_double);
	printf("%-22s %8zu reads  p50 %7.1f us  p99 %7.1f us  max %8.1f us\n",
	       phase, n, s[n / 2], s[n * 99 / 100], s[n - 1]);
}

int main(int argc, char **argv)
{
	size_t nchunks = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
	size_t chunk_bytes = argc > 3 ? strtoul(argv[3], NULL, 10) : 1024;
	struct reader reader = { 0 };
	struct pc_purge_result result;
	struct pc_store_usage usage;
	struct pc_store *store = NULL;
	struct pc_hash hash;
	char dir[4096], err[256];
	uint8_t *buf;
	pthread_t thread;
	double t0, t1;
	int rc;

	if (argc < 2 || nchunks == 0 || chunk_bytes < 16) {
		fprintf(stderr, "usage: pc-bench-purge DIR [CHUNKS "
				"[CHUNK_BYTES]]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/pc-bench-purge.XXXXXX", argv[1]);
	if (!mkdtemp(dir))
		die(argv[1], -errno);
	rc = pc_store_open(dir, &store, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "pc-bench-purge: %s\n", err);
		return 1;
	}
	buf = malloc(FILE_CHUNK_BYTES > chunk_bytes ? FILE_CHUNK_BYTES
						    : chunk_bytes);
	reader.samples = malloc(MAX_SAMPLES * sizeof(double));
	if (!buf || !reader.samples)
		die("malloc", -ENOMEM);
	reader.store = store;

	t0 = now_seconds();
	for (int i = 0; i < FILE_CHUNKS; i++) {
		fill(buf, FILE_CHUNK_BYTES, 1000000 + (uint64_t)i);
		commit(store, buf, FILE_CHUNK_BYTES, &reader.chunks[i]);
		rc = pc_store_pin(store, &reader.chunks[i]);
		if (rc < 0)
			die("pc_store_pin", rc);
	}
	for (size_t i = 0; i < nchunks; i++) {
		fill(buf, chunk_bytes, i);
		commit(store, buf, chunk_bytes, &hash);
	}
	rc = pc_store_flush(store);
	if (rc < 0)
		die("pc_store_flush", rc);
	t1 = now_seconds();
	/* Purged chunks are old ones: their metadata is on disk long since,
	 * not in the journal still being written back. */
	sync_dir(dir);
	printf("cache                  %s\n", dir);
	printf("filled                 %zu chunks of %zu bytes in %.2f s\n",
	       nchunks, chunk_bytes, t1 - t0);

	/* Baseline: the reader alone for a third of a second. */
	pthread_create(&thread, NULL, read_loop, &reader);
	usleep(300000);
	atomic_store(&reader.stop, true);
	pthread_join(thread, NULL);
	print_latency("reads, no purge", &reader);

	atomic_store(&reader.stop, false);
	pthread_create(&thread, NULL, read_loop, &reader);
	usleep(20000); /* let it get going */
	t0 = now_seconds();
	rc = pc_store_purge(store, 0, &result);
	t1 = now_seconds();
	atomic_store(&reader.stop, true);
	pthread_join(thread, NULL);
	if (rc < 0)
		die("pc_store_purge", rc);
	printf("purged                 %llu chunks (%llu bytes) in %.3f s, "
	       "%.0f chunks/s\n",
	       (unsigned long long)result.chunks,
	       (unsigned long long)result.bytes, t1 - t0,
	       (double)result.chunks / (t1 - t0));
	print_latency("reads, during purge", &reader);

	rc = pc_store_usage(store, &usage);
	if (rc < 0 || result.chunks != nchunks || usage.chunks != FILE_CHUNKS) {
		fprintf(stderr,
			"pc-bench-purge: purged %llu of %zu chunks, %llu left "
			"(want %d)\n",
			(unsigned long long)result.chunks, nchunks,
			(unsigned long long)usage.chunks, FILE_CHUNKS);
		return 1;
	}
	pc_store_close(store);
	free(buf);
	free(reader.samples);
	return 0;
}
