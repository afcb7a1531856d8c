/*
 * test_net_fetch.c - chunk fetches against real mirrors: nginx on
 * loopback serving a repository made by peercache-publish, a file://
 * mirror, tampered and oversized copies, and a mirror that accepts
 * connections and never answers.  Bytes land in a real store.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

#define WAIT_S 20.0

/* Fetches @ref and waits for its one callback; returns its status. */
static int fetch_and_wait(struct net_fixture *fx,
			  const struct pc_chunk_ref *ref, double seconds)
{
	struct fx_calls calls;
	struct fx_call call = { .calls = &calls };

	fx_calls_init(&calls);
	assert_int_equal(pc_net_fetch(fx->net, ref, fx_fetch_done, &call), 0);
	if (!fx_calls_wait(&calls, 1, seconds))
		fail_msg("no callback within %.0f s", seconds);
	assert_int_equal(call.count, 1);
	fx_calls_destroy(&calls);
	return call.status;
}

static void flip_byte(struct net_fixture *fx, const char *repo,
		      const struct pc_hash *hash)
{
	char rel[128], *path;
	size_t len;
	char *buf;

	fx_chunk_path(hash, rel, sizeof(rel));
	path = pc_test_path(repo, rel);
	buf = fx_read_file(path, &len);
	buf[len / 2] ^= 0x01;
	fx_replace_file(path, buf, len);
	free(buf);
	free(path);
	(void)fx;
}

static void append_bytes(const char *repo, const struct pc_hash *hash)
{
	char rel[128], *path, *buf, *longer;
	size_t len;

	fx_chunk_path(hash, rel, sizeof(rel));
	path = pc_test_path(repo, rel);
	buf = fx_read_file(path, &len);
	longer = malloc(len + 100);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	memset(longer + len, 'x', 100);
	fx_replace_file(path, longer, len + 100);
	free(longer);
	free(buf);
	free(path);
}

static bool dir_is_empty(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	bool empty = true;

	if (!dir)
		return true;
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			empty = false;
	closedir(dir);
	return empty;
}

/* @path is empty within 5 s: what a version install that runs beside a
 * test (its manifest) has there is gone by then; a leaked file is not. */
static bool dir_empties(const char *path)
{
	for (int i = 0; i < 100; i++) {
		if (dir_is_empty(path))
			return true;
		usleep(50 * 1000);
	}
	return false;
}

static void test_net_fetch_from_mirror_verifies_and_stores(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	uint64_t before, total = 0;
	char rel[128];

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	assert_true(e->nchunks >= 2);
	before = pc_store_counter(fx->store, PC_CTR_BYTES_FROM_MIRROR);
	for (uint32_t i = 0; i < e->nchunks; i++) {
		assert_false(
			pc_store_chunk_present(fx->store, &e->chunks[i].hash));
		assert_int_equal(fetch_and_wait(fx, &e->chunks[i], WAIT_S), 0);
		assert_true(fx_store_has(fx, &e->chunks[i],
					 fx->big + fx_chunk_offset(e, i)));
		total += e->chunks[i].len;
	}
	/* The manifest may have come in the meantime: at least the chunks. */
	assert_true(pc_store_counter(fx->store, PC_CTR_BYTES_FROM_MIRROR) -
			    before >=
		    total);

	/* A cached chunk is answered at once, without asking the mirror. */
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), 0);
	fx_chunk_path(&e->chunks[0].hash, rel, sizeof(rel));
	assert_int_equal(fx_access_count(fx, rel), 1);
}

struct burst {
	struct pc_net *net;
	const struct pc_chunk_ref *ref;
	struct fx_call *calls; /* 10 of them */
	int rc;
};

static void *fetch_burst(void *arg)
{
	struct burst *b = arg;

	for (int i = 0; i < 10; i++)
		b->rc |= pc_net_fetch(b->net, b->ref, fx_fetch_done,
				      &b->calls[i]);
	return NULL;
}

static void test_net_single_flight(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	const struct pc_chunk_ref *ref = &e->chunks[0];
	char url[256], rel[128];
	struct fx_call call[50];
	struct burst bursts[5];
	pthread_t threads[5];
	struct fx_calls calls;
	uint32_t i, biggest = 0;

	/* The largest chunk through the 1 MiB/s location: the download
	 * lasts long enough for every request to arrive during it. */
	for (i = 1; i < e->nchunks; i++)
		if (e->chunks[i].len > e->chunks[biggest].len)
			biggest = i;
	ref = &e->chunks[biggest];
	snprintf(url, sizeof(url), "%s/slow/repo", fx->base_url);
	fx_set(fx, "mirror", url);
	fx_start_net(fx);

	fx_calls_init(&calls);
	for (i = 0; i < 50; i++)
		call[i] = (struct fx_call){ .calls = &calls };
	for (i = 0; i < 5; i++) {
		bursts[i] = (struct burst){ fx->net, ref, &call[i * 10], 0 };
		assert_int_equal(pthread_create(&threads[i], NULL, fetch_burst,
						&bursts[i]),
				 0);
	}
	for (i = 0; i < 5; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(bursts[i].rc, 0);
	}
	if (!fx_calls_wait(&calls, 50, WAIT_S))
		fail_msg("only %d of 50 callbacks within %.0f s",
			 fx_calls_done(&calls), WAIT_S);
	for (i = 0; i < 50; i++) {
		assert_int_equal(call[i].count, 1);
		assert_int_equal(call[i].status, 0);
	}
	assert_true(
		fx_store_has(fx, ref, fx->big + fx_chunk_offset(e, biggest)));
	fx_chunk_path(&ref->hash, rel, sizeof(rel));
	snprintf(url, sizeof(url), "GET /slow/repo/%s ", rel);
	assert_int_equal(fx_access_count(fx, url), 1);
	fx_calls_destroy(&calls);
}

static void test_net_prefetch_fetches_in_background(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	double deadline;
	bool all;
	char rel[128];

	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	pc_net_prefetch(fx->net, e->chunks, e->nchunks);
	deadline = fx_now() + WAIT_S;
	do {
		usleep(20 * 1000);
		all = true;
		for (uint32_t i = 0; i < e->nchunks; i++)
			all &= pc_store_chunk_present(fx->store,
						      &e->chunks[i].hash);
	} while (!all && fx_now() < deadline);
	assert_true(all);

	/* Cached now: prefetching again asks nobody. */
	pc_net_prefetch(fx->net, e->chunks, e->nchunks);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), 0);
	for (uint32_t i = 0; i < e->nchunks; i++) {
		assert_true(fx_store_has(fx, &e->chunks[i],
					 fx->big + fx_chunk_offset(e, i)));
		fx_chunk_path(&e->chunks[i].hash, rel, sizeof(rel));
		assert_int_equal(fx_access_count(fx, rel), 1);
	}
}

/* Fetches @big then @small at 1 MiB/s; returns the small one's place. */
static int small_finishes(struct net_fixture *fx,
			  const struct pc_chunk_ref *big,
			  const struct pc_chunk_ref *small)
{
	struct fx_call first, second;
	struct fx_calls calls;

	fx_calls_init(&calls);
	first = (struct fx_call){ .calls = &calls };
	second = (struct fx_call){ .calls = &calls };
	assert_int_equal(pc_net_fetch(fx->net, big, fx_fetch_done, &first), 0);
	assert_int_equal(pc_net_fetch(fx->net, small, fx_fetch_done, &second),
			 0);
	assert_true(fx_calls_wait(&calls, 2, WAIT_S));
	assert_int_equal(first.status, 0);
	assert_int_equal(second.status, 0);
	fx_calls_destroy(&calls);
	return second.order;
}

static void test_net_max_fetches_queues_in_order(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char url[128];

	/* Chunks 0 and 2 are over 1 MiB, 1 and 3 well under. */
	assert_int_equal(e->nchunks, 4);
	assert_true(e->chunks[0].len > 2 * e->chunks[1].len);
	assert_true(e->chunks[2].len > 2 * e->chunks[3].len);
	snprintf(url, sizeof(url), "%s/slow/repo", fx->base_url);
	fx_set(fx, "mirror", url);

	/* One transfer at a time: the small chunk waits its turn. */
	fx_set(fx, "max_fetches", "1");
	fx_start_net(fx);
	assert_int_equal(pc_net_refresh(fx->net, true, 10000), 0);
	assert_int_equal(small_finishes(fx, &e->chunks[0], &e->chunks[1]), 2);

	/* Two at a time: it overtakes the big one. */
	fx_stop_net(fx);
	fx_set(fx, "max_fetches", "2");
	fx_start_net(fx);
	assert_int_equal(pc_net_refresh(fx->net, true, 10000), 0);
	assert_int_equal(small_finishes(fx, &e->chunks[2], &e->chunks[3]), 1);
}

static void test_net_tampered_chunk_uses_next_mirror(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char *bad = fx_copy_repo(fx, "bad"), url[128], *tmpdir;
	uint64_t bad_before;

	flip_byte(fx, bad, &e->chunks[0].hash);
	flip_byte(fx, bad, &e->chunks[1].hash);
	free(bad);
	snprintf(url, sizeof(url), "%s/bad", fx->base_url);
	fx_set(fx, "mirror", url);
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);

	bad_before = pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), 0);
	assert_true(fx_store_has(fx, &e->chunks[0], fx->big));
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR) -
				 bad_before,
			 1);

	/* Only the bad mirror: nothing usable, nothing stored.  A mirror
	 * that sent wrong bytes is not asked again for the same chunk. */
	fx_stop_net(fx);
	fx_clear_mirrors(fx);
	fx_set(fx, "mirror", url);
	fx_start_net(fx);
	bad_before = pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[1], WAIT_S), -EIO);
	assert_false(pc_store_chunk_present(fx->store, &e->chunks[1].hash));
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR) -
				 bad_before,
			 1);
	tmpdir = pc_test_path(fx->cache, "tmp");
	assert_true(dir_is_empty(tmpdir));
	free(tmpdir);
}

/* A small chunk (a small file) is hashed on the loop thread when the
 * workers are idle (chunk_rx.c: rx_verify_here): a tampered one is
 * refused there the same way, nothing of it stored, and a good one from
 * the next mirror is stored. */
static void test_net_tampered_small_chunk_uses_next_mirror(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, "small.txt");
	char *bad = fx_copy_repo(fx, "bad"), url[128], *tmpdir;
	uint64_t bad_before;

	assert_int_equal(e->nchunks, 1);
	flip_byte(fx, bad, &e->chunks[0].hash);
	free(bad);
	snprintf(url, sizeof(url), "%s/bad", fx->base_url);
	fx_set(fx, "mirror", url);
	fx_start_net(fx);
	bad_before = pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), -EIO);
	assert_false(pc_store_chunk_present(fx->store, &e->chunks[0].hash));
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR) -
				 bad_before,
			 1);
	tmpdir = pc_test_path(fx->cache, "tmp");
	assert_true(dir_empties(tmpdir));
	free(tmpdir);

	fx_stop_net(fx);
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	bad_before = pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), 0);
	assert_true(fx_store_has(fx, &e->chunks[0],
				 (const uint8_t *)"a small file\n"));
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR) -
				 bad_before,
			 1);
}

/* A 404 and a body longer than the chunk: both skipped, the second one
 * counted as bad. */
static void test_net_missing_and_oversized_chunk_use_next_mirror(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char *longer = fx_copy_repo(fx, "long"), url[256], rel[128];
	uint64_t bad_before;

	append_bytes(longer, &e->chunks[0].hash);
	free(longer);
	snprintf(url, sizeof(url), "%s/nothing-here", fx->base_url);
	fx_set(fx, "mirror", url);
	snprintf(url, sizeof(url), "%s/long", fx->base_url);
	fx_set(fx, "mirror", url);
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);

	bad_before = pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), 0);
	assert_true(fx_store_has(fx, &e->chunks[0], fx->big));
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BAD_FROM_MIRROR) -
				 bad_before,
			 1);
	fx_chunk_path(&e->chunks[0].hash, rel, sizeof(rel));
	snprintf(url, sizeof(url), "GET /nothing-here/%s ", rel);
	assert_int_equal(fx_access_count(fx, url), 1);
	snprintf(url, sizeof(url), "GET /long/%s ", rel);
	assert_int_equal(fx_access_count(fx, url), 1);
	snprintf(url, sizeof(url), "GET /repo/%s ", rel);
	assert_int_equal(fx_access_count(fx, url), 1);
}

static void test_net_stalled_mirror_times_out(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char url[64];
	double start, elapsed;
	int port, status;

	fx->stall = fx_stall_start(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	fx_set(fx, "mirror", url);
	fx_set(fx, "fetch_timeout", "2s");
	fx_start_net(fx);

	start = fx_now();
	status = fetch_and_wait(fx, &e->chunks[0], 10);
	elapsed = fx_now() - start;
	assert_int_equal(status, -ETIMEDOUT);
	if (elapsed < 1.9 || elapsed > 2.6)
		fail_msg("timed out after %.2f s, want about 2 s", elapsed);
	assert_false(pc_store_chunk_present(fx->store, &e->chunks[0].hash));
}

/* The only mirror never answers; fetch_timeout is 2 s. */
static void stalled_mirror(struct net_fixture *fx)
{
	char url[64];
	int port;

	fx->stall = fx_stall_start(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	fx_set(fx, "mirror", url);
	fx_set(fx, "fetch_timeout", "2s");
}

/*
 * The head poll's request to a mirror that never answers neither holds
 * back nor cuts short a chunk fetch from that mirror: the fetch opens its
 * own connection at once, and times out at its own deadline.  (libcurl
 * 7.88 with CURLOPT_PIPEWAIT kept a plain http:// transfer pending,
 * without a connection, until the first connection to the host answered;
 * and the head's time-out, which demotes the mirror as slow, moved the
 * fetch off its only source, so it failed with -EIO before its deadline.)
 */
static void test_net_stalled_head_leaves_chunk_fetches_alone(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	struct fx_calls calls;
	struct fx_call call = { .calls = &calls };
	double start, elapsed;
	bool connected;

	stalled_mirror(fx);
	fx_start_net(fx);
	/* The head poll starts with the net; its time-out comes 150 ms
	 * before the fetch's deadline. */
	if (!fx_stall_wait_connections(fx->stall, 1, 5))
		fail_msg("the head poll did not connect within 5 s");
	usleep(150 * 1000);

	fx_calls_init(&calls);
	start = fx_now();
	assert_int_equal(
		pc_net_fetch(fx->net, &e->chunks[0], fx_fetch_done, &call), 0);
	connected = fx_stall_wait_connections(fx->stall, 2, 1);
	/* The callback first: @call must outlive the fetch. */
	if (!fx_calls_wait(&calls, 1, 10))
		fail_msg("no callback within 10 s");
	elapsed = fx_now() - start;
	fx_calls_destroy(&calls);
	if (!connected)
		fail_msg("the chunk fetch did not connect within 1 s "
			 "(it waited behind the head request)");
	assert_int_equal(call.status, -ETIMEDOUT);
	if (elapsed < 1.9 || elapsed > 2.6)
		fail_msg("timed out after %.2f s, want about 2 s", elapsed);
}

/* Puts chunk @i of @e into the store, as a finished fetch would. */
static void store_chunk(struct net_fixture *fx, const struct pc_entry *e,
			uint32_t i)
{
	const struct pc_chunk_ref *ref = &e->chunks[i];
	struct pc_store_tmp *tmp;

	tmp = pc_store_tmp_begin(fx->store, &ref->hash, ref->len);
	assert_non_null(tmp);
	assert_int_equal(pc_store_tmp_write(tmp,
					    fx->big + fx_chunk_offset(e, i),
					    ref->len),
			 0);
	assert_int_equal(pc_store_tmp_commit(tmp), 0);
}

/* A fetch callback that holds the loop thread for 400 ms, as a loop
 * thread that the machine's load keeps off the CPU does. */
static void hold_loop_done(void *arg, int status)
{
	struct timespec pause = { .tv_nsec = 400 * 1000 * 1000 };

	nanosleep(&pause, NULL);
	fx_fetch_done(arg, status);
}

/*
 * The fetch's deadline and its last attempt's CURLOPT_TIMEOUT_MS are the
 * same moment on two clocks: the loop's (uv_now(), cached when the loop
 * woke) and libcurl's (from the transfer's start).  When the loop wakes
 * late, libcurl's timer may run first and end the attempt: that is still
 * the fetch timing out (-ETIMEDOUT), not every source failing (-EIO).
 * Held past the deadline, the loop wakes with both timers due, libcurl's
 * first (the head request to the same mirror started earlier and expires
 * first; libcurl then ends every expired transfer at once).
 */
static void
test_net_deadline_is_a_timeout_whichever_timer_runs_first(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	struct fx_calls calls, hold_calls;
	struct fx_call call = { .calls = &calls };
	struct fx_call hold = { .calls = &hold_calls };
	double start, elapsed, wait;

	assert_true(e->nchunks >= 2);
	store_chunk(fx, e, 1);
	stalled_mirror(fx);
	fx_start_net(fx);
	if (!fx_stall_wait_connections(fx->stall, 1, 5))
		fail_msg("the head poll did not connect within 5 s");
	usleep(50 * 1000); /* the head's time-out well before the fetch's */

	fx_calls_init(&calls);
	fx_calls_init(&hold_calls);
	start = fx_now();
	assert_int_equal(
		pc_net_fetch(fx->net, &e->chunks[0], fx_fetch_done, &call), 0);
	/* From 1.8 s to 2.2 s, across the 2 s deadline, the loop is held by
	 * a cached chunk's callback. */
	wait = start + 1.8 - fx_now();
	if (wait > 0)
		usleep((useconds_t)(wait * 1e6));
	assert_int_equal(
		pc_net_fetch(fx->net, &e->chunks[1], hold_loop_done, &hold), 0);
	if (!fx_calls_wait(&calls, 1, 10))
		fail_msg("no callback within 10 s");
	elapsed = fx_now() - start;
	assert_int_equal(call.status, -ETIMEDOUT);
	if (elapsed < 1.9 || elapsed > 3)
		fail_msg("timed out after %.2f s, want about 2.2 s", elapsed);
	assert_true(fx_calls_wait(&hold_calls, 1, 10));
	assert_int_equal(hold.status, 0);
	fx_calls_destroy(&calls);
	fx_calls_destroy(&hold_calls);
}

static void test_net_file_mirror(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	struct pc_store_version v;
	char url[512];

	/* With a trailing slash, which must not double. */
	snprintf(url, sizeof(url), "file://%s/", fx->repo);
	fx_set(fx, "mirror", url);
	fx_start_net(fx);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[1], WAIT_S), 0);
	assert_true(fx_store_has(fx, &e->chunks[1],
				 fx->big + fx_chunk_offset(e, 1)));
	/* The head comes the same way. */
	assert_int_equal(pc_net_refresh(fx->net, true, 10000), 0);
	assert_int_equal(pc_store_current(fx->store, &v), 0);
	assert_int_equal(v.version, 1);
}

static void test_net_https_mirror_verifies_the_server(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	char https[128], weak[128], needle[256], rel[128];

	/* Trusting the test CA: fetched, over HTTP/2. */
	snprintf(https, sizeof(https), "https://127.0.0.1:%d/repo",
		 fx->tls_port);
	fx_set(fx, "mirror", https);
	fx_set(fx, "ca_file", fx->ca_file);
	fx_start_net(fx);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[0], WAIT_S), 0);
	assert_true(fx_store_has(fx, &e->chunks[0], fx->big));
	fx_chunk_path(&e->chunks[0].hash, rel, sizeof(rel));
	snprintf(needle, sizeof(needle), "GET /repo/%s HTTP/2.0", rel);
	assert_int_equal(fx_access_count(fx, needle), 1);

	/* A server offering only a non-AEAD TLS 1.2 suite is not used, nor
	 * one whose certificate the node cannot verify; the plain http
	 * mirror after them is. */
	fx_stop_net(fx);
	fx_clear_mirrors(fx);
	snprintf(weak, sizeof(weak), "https://127.0.0.1:%d/repo",
		 fx->weak_tls_port);
	fx_set(fx, "mirror", weak);
	fx_set(fx, "ca_file", "/etc/ssl/certs/ca-certificates.crt");
	fx_set(fx, "mirror", https);
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	assert_int_equal(fetch_and_wait(fx, &e->chunks[1], WAIT_S), 0);
	fx_chunk_path(&e->chunks[1].hash, rel, sizeof(rel));
	snprintf(needle, sizeof(needle), "GET /repo/%s ", rel);
	assert_int_equal(fx_access_count(fx, needle), 1);
	snprintf(needle, sizeof(needle), "GET /repo/%s HTTP/1.1", rel);
	assert_int_equal(fx_access_count(fx, needle), 1);
}

struct refresher {
	struct pc_net *net;
	int rc;
};

static void *refresh_main(void *arg)
{
	struct refresher *r = arg;

	r->rc = pc_net_refresh(r->net, true, 20000);
	return NULL;
}

static void test_net_stop_cancels_waiters(void **state)
{
	struct net_fixture *fx = *state;
	const struct pc_entry *e = fx_entry(fx, FX_BIG_FILE);
	struct refresher refresher = { 0 };
	struct fx_call call[12], late;
	struct fx_calls calls;
	pthread_t thread;
	double start;
	char url[64];
	int port;

	fx->stall = fx_stall_start(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	fx_set(fx, "mirror", url);
	fx_set(fx, "fetch_timeout", "30s");
	fx_start_net(fx);

	fx_calls_init(&calls);
	for (int i = 0; i < 12; i++) {
		call[i] = (struct fx_call){ .calls = &calls };
		assert_int_equal(pc_net_fetch(fx->net, &e->chunks[i % 3],
					      fx_fetch_done, &call[i]),
				 0);
	}
	refresher.net = fx->net;
	assert_int_equal(
		pthread_create(&thread, NULL, refresh_main, &refresher), 0);
	usleep(300 * 1000); /* everything is in flight or queued */
	assert_int_equal(fx_calls_done(&calls), 0);

	start = fx_now();
	pc_net_stop(fx->net);
	assert_true(fx_now() - start < 2.0);
	pthread_join(thread, NULL);
	assert_int_equal(refresher.rc, -ECANCELED);
	assert_int_equal(calls.done, 12);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(call[i].count, 1);
		assert_int_equal(call[i].status, -ECANCELED);
	}
	/* After stop: refused at once, and no callback ever. */
	late = (struct fx_call){ .calls = &calls };
	assert_int_equal(
		pc_net_fetch(fx->net, &e->chunks[0], fx_fetch_done, &late),
		-ECANCELED);
	assert_int_equal(pc_net_refresh(fx->net, true, 1000), -ECANCELED);
	pc_net_stop(fx->net); /* idempotent */
	assert_int_equal(late.count, 0);
	assert_int_equal(calls.done, 12);
	fx_calls_destroy(&calls);
}

static void test_net_new_refuses_bad_mirror(void **state)
{
	struct net_fixture *fx = *state;
	char why[256] = "";

	fx_set(fx, "mirror", "ftp://127.0.0.1/repo");
	fx->net = pc_net_new(&fx->cfg, fx->store, fx->ring, NULL, why,
			     sizeof(why));
	assert_null(fx->net);
	assert_non_null(strstr(why, "ftp://127.0.0.1/repo"));
	fx_clear_mirrors(fx);
	fx_set(fx, "mirror", "http://[::1");
	fx->net = pc_net_new(&fx->cfg, fx->store, fx->ring, NULL, why,
			     sizeof(why));
	assert_null(fx->net);
	assert_non_null(strstr(why, "not a valid URL"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_net_fetch_from_mirror_verifies_and_stores,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_single_flight,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_prefetch_fetches_in_background, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_max_fetches_queues_in_order, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_tampered_chunk_uses_next_mirror, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_tampered_small_chunk_uses_next_mirror,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_missing_and_oversized_chunk_use_next_mirror,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_stalled_mirror_times_out, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_stalled_head_leaves_chunk_fetches_alone,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_deadline_is_a_timeout_whichever_timer_runs_first,
			fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_file_mirror, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(
			test_net_https_mirror_verifies_the_server, fx_setup,
			fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_stop_cancels_waiters,
						fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_net_new_refuses_bad_mirror,
						fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
