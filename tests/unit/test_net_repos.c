/*
 * test_net_repos.c - one net serving two repositories (MULTIREPO.md,
 * stage 3): two publishers with two keys, both served by the harness's
 * nginx, one store with a handle per repository.  Each head poller
 * installs its own repository into its own handle and calls its own hook;
 * a head signed with the other repository's key is refused; a chunk of
 * the second repository is fetched from its mirrors only; the status and
 * the control socket answer per repository; a rollback of one holds
 * back no new version of the other; the mirrors of all repositories are
 * counted against the fetcher's limit by --print-config's check as at
 * start-up.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

#define SECOND "second"
#define SECOND_FILE "beta.txt"

/* The second repository, beside the harness's first ("testrepo"). */
struct second {
	struct net_fixture *fx;
	char *src, *repo, *key, *conf;
	char url[128];
	struct pc_store *store;
	struct pc_keyring *ring;
	struct pc_net_repo *repo_net;
	struct pc_net_hooks hooks;
	int switched; /* hook calls; loop thread writes */
	uint64_t last_switched;
	struct pc_manifest *manifest;
};

static struct second *live;

static void on_second_switched(void *arg, uint64_t version,
			       const struct pc_store_changes *changes)
{
	struct second *s = arg;

	(void)changes;
	s->switched++;
	s->last_switched = version;
}

/* peercache-publish of s->src as SECOND, signed with @key. */
static void publish_second(struct second *s, const char *key)
{
	fx_publish_from(s->src, key, SECOND, s->repo);
}

/* The manifest the second repository's head names. */
static void load_second_manifest(struct second *s)
{
	char hex[PC_HASH_HEX_LEN + 1], rel[128], why[256] = "";
	struct pc_head head;
	char *path, *buf;
	size_t len;

	path = pc_test_path(s->repo, "head");
	buf = fx_read_file(path, &len);
	free(path);
	assert_ok(pc_head_parse(buf, len, s->ring, &head, why, sizeof(why)),
		  why);
	free(buf);
	pc_hash_to_hex(&head.manifest, hex);
	snprintf(rel, sizeof(rel), "chunks/%.2s/%s", hex, hex);
	path = pc_test_path(s->repo, rel);
	buf = fx_read_file(path, &len);
	free(path);
	assert_ok(pc_manifest_parse(buf, len, &s->manifest, why, sizeof(why)),
		  why);
	free(buf);
}

/* A loopback port free now. */
static int free_port(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	port = ntohs(addr.sin_port);
	close(fd);
	return port;
}

static int metrics_port;

/* The configuration of both repositories, in [repository NAME] sections,
 * replaces the harness's. */
static void configure(struct second *s)
{
	struct net_fixture *fx = s->fx;
	char text[4096], why[512] = "", *pub1, *pub2;
	FILE *f;

	pub1 = pc_test_path(fx->dir, "key.pub");
	pub2 = pc_test_path(fx->dir, "key2.pub");
	snprintf(text, sizeof(text),
		 "cache_dir = %s\ncontrol_socket = %s\npoll_interval = 1h\n"
		 "fetch_timeout = 5s\ndiscovery = off\npeer_server = off\n"
		 "log_level = debug\nmetrics_listen = 127.0.0.1:%d\n"
		 "[repository %s]\nmount_point = %s/mnt1\nmirror = %s\n"
		 "trusted_key = %s\n"
		 "[repository %s]\nmount_point = %s/mnt2\nmirror = %s\n"
		 "trusted_key = %s\n",
		 fx->cache, fx->control, metrics_port = free_port(),
		 FX_REPO_NAME, fx->dir, fx->repo_url, pub1, SECOND, fx->dir,
		 s->url, pub2);
	free(pub1);
	free(pub2);
	f = fopen(s->conf, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	pc_config_free(&fx->cfg);
	assert_int_equal(pc_config_defaults(&fx->cfg), 0);
	assert_ok(
		pc_config_load_file(&fx->cfg, s->conf, true, why, sizeof(why)),
		why);
	assert_ok(pc_config_finish(&fx->cfg, why, sizeof(why)), why);
	assert_int_equal(fx->cfg.nrepos, 2);
}

static int setup(void **state)
{
	struct net_fixture *fx;
	struct second *s;
	char why[256] = "", *pub2, *file;
	static const char beta[] = "the second repository's own file\n";

	fx_setup(state);
	fx = *state;
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	live = s;
	s->fx = fx;
	s->src = pc_test_path(fx->dir, "src2");
	s->repo = pc_test_path(fx->www, SECOND);
	s->key = pc_test_path(fx->dir, "key2");
	s->conf = pc_test_path(fx->dir, "two.conf");
	snprintf(s->url, sizeof(s->url), "%s/%s", fx->base_url, SECOND);
	assert_int_equal(mkdir(s->src, 0755), 0);
	file = pc_test_path(s->src, SECOND_FILE);
	pc_test_write_file(file, beta, sizeof(beta) - 1);
	free(file);
	fx_keygen(s->key);
	publish_second(s, s->key);
	s->ring = pc_keyring_new();
	assert_non_null(s->ring);
	pub2 = pc_test_path(fx->dir, "key2.pub");
	assert_ok(pc_keyring_add_file(s->ring, pub2, why, sizeof(why)), why);
	free(pub2);
	load_second_manifest(s);
	assert_ok(pc_store_open_repo(fx->store, SECOND, &s->store, why,
				     sizeof(why)),
		  why);
	s->hooks.version_switched = on_second_switched;
	s->hooks.arg = s;
	configure(s);
	return 0;
}

static int teardown(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;

	/* The net before the handles, the handles before the store. */
	fx_stop_net(fx);
	if (s) {
		if (s->store)
			pc_store_close(s->store);
		pc_keyring_free(s->ring);
		pc_manifest_free(s->manifest);
		free(s->src);
		free(s->repo);
		free(s->key);
		free(s->conf);
		free(s);
		live = NULL;
	}
	return fx_teardown(state);
}

/* Both repositories in one net, started. */
static void start_both(struct second *s)
{
	struct net_fixture *fx = s->fx;
	char why[256] = "";

	fx->net = pc_net_new(&fx->cfg, fx->store, fx->ring, &fx->hooks, why,
			     sizeof(why));
	if (!fx->net)
		fail_msg("pc_net_new: %s", why);
	s->repo_net = pc_net_add_repo(fx->net, 1, s->store, s->ring, &s->hooks,
				      why, sizeof(why));
	if (!s->repo_net)
		fail_msg("pc_net_add_repo: %s", why);
	assert_ptr_not_equal(s->repo_net, pc_net_first_repo(fx->net));
	assert_int_equal(pc_net_start(fx->net), 0);
}

/* The first chunk of file @path in @manifest. */
static const struct pc_chunk_ref *first_chunk(const struct pc_manifest *m,
					      const char *path)
{
	for (size_t i = 0; i < m->nentries; i++)
		if (strcmp(m->entries[i].path, path) == 0 &&
		    m->entries[i].nchunks > 0)
			return &m->entries[i].chunks[0];
	fail_msg("no file %s in the manifest", path);
	return NULL;
}

static uint64_t current_version(struct pc_store *store, char *name, size_t len)
{
	struct pc_store_version v;

	if (pc_store_current(store, &v) < 0)
		return 0;
	snprintf(name, len, "%s", v.name);
	return v.version;
}

/* ---- tests -------------------------------------------------------------- */

/* Each head poller installs its own repository into its own handle and
 * calls its own hook; each status names its own mirror. */
static void test_net_repos_each_installs_its_own(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;
	struct pc_net_status st1, st2;
	char name1[80] = "", name2[80] = "";

	start_both(s);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	assert_int_equal(pc_net_repo_refresh(s->repo_net, true, 10000), 0);
	assert_true(current_version(fx->store, name1, sizeof(name1)) > 0);
	assert_true(current_version(s->store, name2, sizeof(name2)) > 0);
	assert_string_equal(name1, FX_REPO_NAME);
	assert_string_equal(name2, SECOND);
	/* Each tree holds its own files only. */
	assert_int_equal(fx->versions_switched, 1);
	assert_int_equal(s->switched, 1);
	assert_int_equal(s->last_switched,
			 current_version(s->store, name2, sizeof(name2)));
	pc_net_repo_status(pc_net_first_repo(fx->net), &st1);
	pc_net_repo_status(s->repo_net, &st2);
	assert_int_equal(st1.state, PC_STATE_UP_TO_DATE);
	assert_int_equal(st2.state, PC_STATE_UP_TO_DATE);
	assert_string_equal(st1.source, fx->repo_url);
	assert_string_equal(st2.source, s->url);
	/* pc_net_status is the first repository's. */
	pc_net_status(fx->net, &st2);
	assert_string_equal(st2.source, fx->repo_url);
}

/* The second repository's mirror serves a head of its name signed with
 * the first repository's key: refused there, while the first repository
 * (whose key it is) stays up to date. */
static void test_net_repos_other_key_refused(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;
	struct pc_net_status st1, st2;
	char name[80];
	int rc;

	pc_test_rmtree(strdup(s->repo));
	publish_second(s, fx->key);
	start_both(s);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	rc = pc_net_repo_refresh(s->repo_net, true, 10000);
	assert_true(rc == -ENOKEY || rc == -EKEYREJECTED);
	assert_int_equal(current_version(s->store, name, sizeof(name)), 0);
	assert_int_equal(s->switched, 0);
	pc_net_repo_status(pc_net_first_repo(fx->net), &st1);
	pc_net_repo_status(s->repo_net, &st2);
	assert_int_equal(st1.state, PC_STATE_UP_TO_DATE);
	assert_int_equal(st2.state, PC_STATE_FAILING);
	assert_non_null(strstr(st2.last_error, s->url));
	assert_string_equal(st1.last_error, "");
}

/* A chunk of the second repository comes from its mirror, and the first
 * repository's mirror is never asked for it; a chunk only the first
 * repository has is not found through the second's. */
static void test_net_repos_fetch_uses_own_mirrors(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;
	const struct pc_chunk_ref *beta, *big;
	struct fx_calls calls;
	struct fx_call one = { .calls = &calls }, two = { .calls = &calls };
	char rel[160], needle[200];

	beta = first_chunk(s->manifest, SECOND_FILE);
	big = first_chunk(fx->manifest, FX_BIG_FILE);
	start_both(s);
	fx_calls_init(&calls);
	assert_int_equal(
		pc_net_repo_fetch(s->repo_net, beta, fx_fetch_done, &one), 0);
	assert_true(fx_calls_wait(&calls, 1, 10));
	assert_int_equal(one.status, 0);
	fx_chunk_path(&beta->hash, rel, sizeof(rel));
	snprintf(needle, sizeof(needle), "/%s/%s", SECOND, rel);
	assert_true(fx_access_count(fx, needle) >= 1);
	snprintf(needle, sizeof(needle), "/repo/%s", rel);
	assert_int_equal(fx_access_count_now(fx, needle), 0);

	assert_int_equal(
		pc_net_repo_fetch(s->repo_net, big, fx_fetch_done, &two), 0);
	assert_true(fx_calls_wait(&calls, 2, 20));
	assert_int_not_equal(two.status, 0);
	fx_chunk_path(&big->hash, rel, sizeof(rel));
	snprintf(needle, sizeof(needle), "/repo/%s", rel);
	assert_int_equal(fx_access_count_now(fx, needle), 0);
	fx_calls_destroy(&calls);
}

/* A chunk the second repository's mirror lacks (404) while its fetch
 * retries: the first repository wants it too, joins the one flight, and
 * the first repository's mirror delivers it to both. */
static void test_net_repos_second_joins_flight(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;
	const struct pc_chunk_ref *big;
	struct fx_calls calls;
	struct fx_call one = { .calls = &calls }, two = { .calls = &calls };
	char rel[160], needle[200];

	big = first_chunk(fx->manifest, FX_BIG_FILE);
	fx_chunk_path(&big->hash, rel, sizeof(rel));
	start_both(s);
	fx_calls_init(&calls);
	assert_int_equal(
		pc_net_repo_fetch(s->repo_net, big, fx_fetch_done, &two), 0);
	/* Its own mirror answered 404: it waits to try again. */
	snprintf(needle, sizeof(needle), "/%s/%s", SECOND, rel);
	assert_true(fx_access_count(fx, needle) >= 1);
	assert_int_equal(fx_calls_done(&calls), 0);
	assert_int_equal(pc_net_fetch(fx->net, big, fx_fetch_done, &one), 0);
	assert_true(fx_calls_wait(&calls, 2, 10));
	assert_int_equal(one.status, 0);
	assert_int_equal(two.status, 0);
	snprintf(needle, sizeof(needle), "/repo/%s", rel);
	assert_int_equal(fx_access_count_now(fx, needle), 1); /* one flight */
	fx_calls_destroy(&calls);
}

/* ---- the control socket ---------------------------------------------- */

static char *ask(struct net_fixture *fx, const char *request)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	struct pollfd pfd = { .events = POLLIN };
	ssize_t got;

	assert_non_null(buf);
	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fx->control);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	assert_int_equal(write(fd, request, strlen(request)),
			 (ssize_t)strlen(request));
	pfd.fd = fd;
	for (;;) {
		if (poll(&pfd, 1, 30000) <= 0)
			fail_msg("no answer to %s", request);
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

static void expect(const char *reply, const char *needle)
{
	if (!strstr(reply, needle))
		fail_msg("%s not in %s", needle, reply);
}

static void expect_not(const char *reply, const char *needle)
{
	if (strstr(reply, needle))
		fail_msg("%s in %s", needle, reply);
}

/* With two repositories: status and stats without one list both with the
 * worst word; naming one answers for it; commands about one refuse
 * without a name, naming the repositories; an unknown name is refused. */
static void test_net_repos_control(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;
	char *r;

	/* The second repository fails (its head is signed with the wrong
	 * key), so the worst status is failing. */
	pc_test_rmtree(strdup(s->repo));
	publish_second(s, fx->key);
	start_both(s);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	assert_true(pc_net_repo_refresh(s->repo_net, true, 10000) < 0);

	r = ask(fx, "status\n");
	expect(r, "\"status\":\"failing\"");
	expect(r, "\"repositories\":[{\"name\":\"" FX_REPO_NAME "\"");
	expect(r, "{\"name\":\"" SECOND "\"");
	expect(r, SECOND ": ");
	free(r);

	r = ask(fx, "repository " FX_REPO_NAME " status\n");
	expect(r, "{\"repository\":\"" FX_REPO_NAME "\"");
	expect(r, "\"status\":\"up_to_date\"");
	expect_not(r, "\"name\":\"" SECOND "\"");
	free(r);

	r = ask(fx, "repository " SECOND " status\n");
	expect(r, "\"status\":\"failing\"");
	expect(r, s->url);
	expect_not(r, fx->repo_url);
	free(r);

	r = ask(fx, "stats\n");
	expect(r, "\"status\":\"failing\"");
	expect(r, "\"repositories\":[{\"name\":\"" FX_REPO_NAME "\"");
	free(r);

	r = ask(fx, "refresh\n");
	expect(r, "\"error\":\"refresh: which repository?");
	expect(r, FX_REPO_NAME ", " SECOND);
	free(r);
	r = ask(fx, "rollback\n");
	expect(r, "which repository?");
	free(r);

	r = ask(fx, "repository nosuch status\n");
	expect(r, "\"error\":\"no repository nosuch here");
	free(r);

	r = ask(fx, "repository " FX_REPO_NAME " refresh\n");
	expect(r, "\"result\":\"ok\"");
	free(r);
	r = ask(fx, "repository " SECOND " refresh\n");
	expect(r, "\"result\":\"error\"");
	free(r);

	/* Host-wide commands need no name. */
	r = ask(fx, "peers\n");
	expect_not(r, "\"error\"");
	free(r);
}

/* ---- a switch kept running ------------------------------------------- */

/* libuv's thread pool is the process's: it is made this size (main) and
 * the test fills every thread, so that a rollback queued behind them
 * stays running (queued on a worker) until they are let go. */
#define POOL_THREADS 4

struct pool_block {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int started; /* guarded by lock */
	bool go;     /* guarded by lock */
	uv_loop_t loop;
	uv_work_t work[POOL_THREADS];
};

/* Worker thread: waits to be let go, for 30 s at most. */
static void block_work(uv_work_t *work)
{
	struct pool_block *b = work->data;
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&b->lock);
	b->started++;
	pthread_cond_broadcast(&b->cond);
	while (!b->go && rc == 0)
		rc = pthread_cond_timedwait(&b->cond, &b->lock, &until);
	pthread_mutex_unlock(&b->lock);
}

/* Every thread of the pool busy in block_work. */
static void pool_block(struct pool_block *b)
{
	struct timespec until;
	int rc = 0;

	b->started = 0;
	b->go = false;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	assert_int_equal(uv_loop_init(&b->loop), 0);
	for (int i = 0; i < POOL_THREADS; i++) {
		b->work[i].data = b;
		assert_int_equal(
			uv_queue_work(&b->loop, &b->work[i], block_work, NULL),
			0);
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&b->lock);
	while (b->started < POOL_THREADS && rc == 0)
		rc = pthread_cond_timedwait(&b->cond, &b->lock, &until);
	pthread_mutex_unlock(&b->lock);
	assert_int_equal(rc, 0);
}

static void pool_release(struct pool_block *b)
{
	pthread_mutex_lock(&b->lock);
	b->go = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	assert_int_equal(uv_run(&b->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&b->loop), 0);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
}

/* Sends @request on a new control connection without waiting for its
 * answer; returns once the daemon has read it (nothing left in the
 * socket's queue), which is when it has acted on it: the request is
 * handled in the read callback itself. */
static int send_request(struct net_fixture *fx, const char *request)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), queued = 1;
	double deadline = fx_now() + 10;

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fx->control);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	assert_int_equal(write(fd, request, strlen(request)),
			 (ssize_t)strlen(request));
	while (fx_now() < deadline) {
		assert_int_equal(ioctl(fd, SIOCOUTQ, &queued), 0);
		if (queued == 0)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(queued, 0);
	return fd;
}

/* The answer on @fd (caller frees), then closes it. */
static char *answer(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	ssize_t got;

	assert_non_null(buf);
	for (;;) {
		if (poll(&pfd, 1, 30000) <= 0)
			fail_msg("no answer");
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* While a rollback of the first repository runs on a worker, a new
 * version of the second is found by its refresh: it is not held back
 * for the other repository's switch (its status says it is installing,
 * not up to date), and is installed as soon as a worker is free, not a
 * poll_interval later (1 h here). */
static void test_net_repos_switch_holds_back_only_its_own(void **state)
{
	struct net_fixture *fx = *state;
	struct second *s = live;
	struct pc_net_status st;
	/* Static: if the test fails while the pool is held, its threads
	 * still wake (30 s at most) to a live struct. */
	static struct pool_block block;
	char name[80], *r;
	double deadline;
	int fd;

	start_both(s);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	assert_int_equal(pc_net_repo_refresh(s->repo_net, true, 10000), 0);
	fx_publish(fx, fx->key, FX_REPO_NAME, NULL, fx->repo);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	assert_int_equal(current_version(fx->store, name, sizeof(name)), 2);

	pool_block(&block);
	fd = send_request(fx, "repository " FX_REPO_NAME " rollback\n");
	publish_second(s, s->key); /* version 2 */
	assert_int_equal(pc_net_repo_refresh(s->repo_net, false, 0), 0);
	deadline = fx_now() + 10;
	do {
		usleep(20 * 1000);
		pc_net_repo_status(s->repo_net, &st);
	} while (st.installing != 2 && fx_now() < deadline);
	pool_release(&block);
	assert_int_equal(st.installing, 2);

	r = answer(fd);
	expect(r, "\"result\":\"ok\"");
	free(r);
	assert_int_equal(current_version(fx->store, name, sizeof(name)), 1);
	/* The store switches on the worker; the status stops saying
	 * "installing" a moment later, when the loop thread takes the
	 * worker's result: both are waited for. */
	deadline = fx_now() + 10;
	for (;;) {
		pc_net_repo_status(s->repo_net, &st);
		if ((current_version(s->store, name, sizeof(name)) == 2 &&
		     st.installing == 0) ||
		    fx_now() >= deadline)
			break;
		usleep(20 * 1000);
	}
	assert_int_equal(current_version(s->store, name, sizeof(name)), 2);
	assert_int_equal(st.installing, 0);
}

/* ---- the mirrors of every repository ----------------------------------- */

#define MANY_REPOS 5 /* of 16 mirrors each: 80, more than the fetcher has */

/* --print-config's check refuses more mirrors in all repositories than
 * the fetcher has sources for, with start-up's message (each repository
 * is within its own limit of 16). */
static void test_net_repos_check_config_counts_all_mirrors(void **state)
{
	struct net_fixture *fx = *state;
	struct pc_store *stores[MANY_REPOS] = { NULL };
	char text[16384], checked[512] = "", started[512] = "", *pub;
	struct pc_repo_config *repo;
	struct pc_net_repo *added = NULL;
	size_t len;

	pub = pc_test_path(fx->dir, "key.pub");
	len = (size_t)snprintf(text, sizeof(text),
			       "cache_dir = %s\ncontrol_socket = %s\n"
			       "discovery = off\npeer_server = off\n",
			       fx->cache, fx->control);
	for (int r = 1; r <= MANY_REPOS; r++) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"[repository many%d]\nmount_point = "
					"%s/mnt%d\ntrusted_key = %s\n",
					r, fx->dir, r, pub);
		for (int m = 0; m < PC_CONFIG_MAX_MIRRORS; m++)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"mirror = "
						"http://127.0.0.1:9/many%d/"
						"%d\n",
						r, m);
		assert_true(len < sizeof(text));
	}
	free(pub);
	pc_test_write_file(live->conf, text, len);
	pc_config_free(&fx->cfg);
	assert_int_equal(pc_config_defaults(&fx->cfg), 0);
	assert_ok(pc_config_load_file(&fx->cfg, live->conf, true, checked,
				      sizeof(checked)),
		  checked);
	assert_ok(pc_config_finish(&fx->cfg, checked, sizeof(checked)),
		  checked);
	assert_int_equal(fx->cfg.nrepos, MANY_REPOS);

	assert_int_equal(
		pc_net_check_config(&fx->cfg, checked, sizeof(checked)),
		-E2BIG);
	/* Start-up refuses the repository that overflows, and says so in
	 * the same words. */
	fx->net = pc_net_new(&fx->cfg, fx->store, fx->ring, &fx->hooks, started,
			     sizeof(started));
	assert_non_null(fx->net);
	for (size_t i = 1; i < MANY_REPOS; i++) {
		repo = &fx->cfg.repos[i];
		assert_ok(pc_store_open_repo(fx->store, repo->name, &stores[i],
					     started, sizeof(started)),
			  started);
		added = pc_net_add_repo(fx->net, i, stores[i], fx->ring,
					&fx->hooks, started, sizeof(started));
		if (!added)
			break;
	}
	assert_null(added);
	assert_string_equal(checked, started);
	expect(checked, "more than 63 mirrors in all repositories");
	fx_stop_net(fx);
	for (size_t i = 1; i < MANY_REPOS; i++)
		if (stores[i])
			pc_store_close(stores[i]);
}

static int count(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* peercachectl ARGS against the net's socket: its exit code, its output
 * (stdout and stderr) in @out. */
static int ctl(struct net_fixture *fx, const char *args, char *out, size_t len)
{
	char cmd[1024];
	size_t n;
	FILE *p;
	int status;

	snprintf(cmd, sizeof(cmd), "%s --socket %s %s 2>&1", PC_CTL_BIN,
		 fx->control, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	status = pclose(p);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* peercachectl lists every repository, and -r NAME (or --repository
 * NAME) asks about one. */
static void test_net_repos_peercachectl(void **state)
{
	static const char first_header[] =
		"[repository " FX_REPO_NAME "]\nrepository:  " FX_REPO_NAME;
	struct net_fixture *fx = *state;
	struct second *s = live;
	char out[32768];

	pc_test_rmtree(strdup(s->repo));
	publish_second(s, fx->key); /* the second one fails */
	start_both(s);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	assert_true(pc_net_repo_refresh(s->repo_net, true, 10000) < 0);

	assert_int_equal(ctl(fx, "status", out, sizeof(out)), 4);
	expect(out, "status:      failing (the worst of 2 repositories)");
	expect(out, first_header);
	expect(out, "[repository " SECOND "]");
	assert_int_equal(
		ctl(fx, "-r " FX_REPO_NAME " status", out, sizeof(out)), 0);
	expect(out, "repository:  " FX_REPO_NAME);
	expect_not(out, "[repository");
	assert_int_equal(ctl(fx, "--repository " SECOND " --json status", out,
			     sizeof(out)),
			 4);
	expect(out, s->url);
	assert_int_equal(ctl(fx, "refresh", out, sizeof(out)), 1);
	expect(out, "which repository?");
	assert_int_equal(
		ctl(fx, "-r " FX_REPO_NAME " refresh", out, sizeof(out)), 0);
	assert_int_equal(ctl(fx, "-r nosuch status", out, sizeof(out)), 1);
	expect(out, "no repository nosuch here");
	assert_int_equal(ctl(fx, "-r ../x status", out, sizeof(out)), 2);
	assert_int_equal(ctl(fx, "stats", out, sizeof(out)), 0);
	expect(out, "status:             failing");
	expect(out, "repository " SECOND);
	assert_int_equal(ctl(fx, "--json stats", out, sizeof(out)), 0);
	expect(out, "{\"status\":\"failing\",\"version\":"); /* the worst */
	/* Said once, and once per repository. */
	assert_int_equal(count(out, "\"status\":"), 3);
}

/* GET /metrics: the whole answer (caller frees). */
static char *scrape(void)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	static const char get[] = "GET /metrics HTTP/1.0\r\n\r\n";
	size_t len = 0, cap = 1 << 18;
	char *buf = malloc(cap);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t got;

	assert_non_null(buf);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)metrics_port);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)),
			 0);
	assert_int_equal(write(fd, get, sizeof(get) - 1),
			 (ssize_t)sizeof(get) - 1);
	while (poll(&pfd, 1, 10000) > 0 &&
	       (got = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)got;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* The figures of each repository carry its name as a label. */
static void test_net_repos_metrics(void **state)
{
	/* FX_REPO_NAME and SECOND, spelt out. */
	static const char first_up[] = "peercache_status{repository="
				       "\"testrepo\",status=\"up_to_date\"} 1";
	static const char second_failing[] = "peercache_status{repository="
					     "\"second\",status=\"failing\"} 1";
	struct net_fixture *fx = *state;
	struct second *s = live;
	char *text = NULL;

	pc_test_rmtree(strdup(s->repo));
	publish_second(s, fx->key); /* the second one fails */
	start_both(s);
	assert_int_equal(
		pc_net_repo_refresh(pc_net_first_repo(fx->net), true, 10000),
		0);
	assert_true(pc_net_repo_refresh(s->repo_net, true, 10000) < 0);
	/* The loop copies its figures once a second. */
	for (int i = 0; i < 50; i++) {
		free(text);
		text = scrape();
		if (strstr(text, "peercache_version{repository=\"" FX_REPO_NAME
				 "\"} 1"))
			break;
		usleep(100 * 1000);
	}
	expect(text, "peercache_info{repository=\"" FX_REPO_NAME "\"} 1");
	expect(text, "peercache_info{repository=\"" SECOND "\"} 1");
	expect(text, "peercache_version{repository=\"" FX_REPO_NAME "\"} 1");
	expect(text, "peercache_version{repository=\"" SECOND "\"} 0");
	expect(text, first_up);
	expect(text, second_failing);
	expect_not(text, "\npeercache_version ");
	free(text);
}

/* With one repository, a name is optional; the compatible form's
 * repository, configured with no name, goes by its head's. */
static void test_net_repos_control_one(void **state)
{
	struct net_fixture *fx = *state;
	char *r;

	/* The harness's configuration again: one repository. */
	pc_config_free(&fx->cfg);
	assert_int_equal(pc_config_defaults(&fx->cfg), 0);
	fx_set(fx, "cache_dir", fx->cache);
	fx_set(fx, "control_socket", fx->control);
	fx_set(fx, "discovery", "off");
	fx_set(fx, "peer_server", "off");
	{
		char *pub = pc_test_path(fx->dir, "key.pub");

		fx_set(fx, "trusted_key", pub);
		free(pub);
	}
	fx_set(fx, "mirror", fx->repo_url);
	fx_start_net(fx);
	assert_int_equal(pc_net_refresh(fx->net, true, 10000), 0);

	r = ask(fx, "refresh\n");
	expect(r, "\"result\":\"ok\"");
	free(r);
	r = ask(fx, "repository " FX_REPO_NAME " refresh\n");
	expect(r, "\"result\":\"ok\"");
	free(r);
	r = ask(fx, "status\n"); /* as before several could be served */
	expect(r, "{\"repository\":\"" FX_REPO_NAME "\"");
	expect_not(r, "\"repositories\"");
	free(r);
	r = ask(fx, "stats\n");
	expect(r, "\"repositories\":[{\"name\":\"\",\"version\":1,"
		  "\"status\":\"up_to_date\"}]");
	free(r);
	r = ask(fx, "repository other status\n");
	expect(r, "no repository other here; this daemon "
		  "serves: " FX_REPO_NAME);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_net_repos_each_installs_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_net_repos_other_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_net_repos_fetch_uses_own_mirrors, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_net_repos_second_joins_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_repos_control, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_net_repos_control_one,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_repos_peercachectl,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_repos_metrics, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_net_repos_switch_holds_back_only_its_own, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_net_repos_check_config_counts_all_mirrors, setup,
			teardown),
	};

	/* Before libuv's pool starts: pool_block fills all of it. */
	setenv("UV_THREADPOOL_SIZE", "4", 1); /* POOL_THREADS */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
