/*
 * test_net_harness.c - fixtures for the net/ component tests (see
 * test_net_harness.h): everything real, nothing mocked, all of it under
 * one scratch directory and torn down even when a test fails.
 *
 * nginx runs in the foreground without a master process, started with
 * fork/exec and PR_SET_PDEATHSIG, so it also dies if the test is killed.
 * A fixture that a failed setup left behind is torn down by the next setup
 * or at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_net_harness.h"

#ifndef PC_PUBLISH_BIN
#error "PC_PUBLISH_BIN must name the peercache-publish binary"
#endif
#ifndef PC_NGINX_BIN
#define PC_NGINX_BIN "/usr/sbin/nginx"
#endif

static struct net_fixture *live_fixture;

double fx_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- processes ------------------------------------------------------------ */

static pid_t spawn(const char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int null;

	if (pid != 0)
		return pid;
	/* Child: async-signal-safe calls only, then exec. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (quiet) {
		null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
	}
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

int fx_run(const char *const argv[])
{
	pid_t pid = spawn(argv, true);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void fx_keygen(const char *path)
{
	const char *argv[] = { PC_PUBLISH_BIN, "keygen", path, NULL };

	assert_int_equal(fx_run(argv), 0);
}

void fx_publish_from(const char *src, const char *key, const char *name,
		     const char *repo)
{
	const char *argv[] = { PC_PUBLISH_BIN,	"--key", key,  "--name", name,
			       "--no-progress", src,	 repo, NULL };

	assert_int_equal(fx_run(argv), 0);
}

void fx_publish(struct net_fixture *fx, const char *key, const char *name,
		const char *valid_for, const char *repo)
{
	const char *argv[12];
	int n = 0;

	argv[n++] = PC_PUBLISH_BIN;
	argv[n++] = "--key";
	argv[n++] = key;
	argv[n++] = "--name";
	argv[n++] = name;
	argv[n++] = "--no-progress";
	if (valid_for) {
		argv[n++] = "--valid-for";
		argv[n++] = valid_for;
	}
	argv[n++] = fx->src;
	argv[n++] = repo;
	argv[n] = NULL;
	assert_int_equal(fx_run(argv), 0);
}

/* ---- files ------------------------------------------------------------------ */

char *fx_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long size;

	if (!f) {
		print_error("%s: %s\n", path, strerror(errno));
		fail();
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	buf[size] = '\0';
	*len = (size_t)size;
	return buf;
}

void fx_replace_file(const char *path, const void *data, size_t len)
{
	char *tmp = NULL;

	assert_true(asprintf(&tmp, "%s.new", path) > 0);
	pc_test_write_file(tmp, data, len);
	assert_int_equal(rename(tmp, path), 0);
	free(tmp);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		print_error("mkdir %s: %s\n", path, strerror(errno));
		fail();
	}
}

/* Noise that FastCDC cuts into several chunks, the same every run. */
static uint8_t *make_noise(size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)(x >> 24);
	}
	return buf;
}

static void make_source(struct net_fixture *fx)
{
	char *path;

	make_dir(fx->src);
	fx->big = make_noise(FX_BIG_SIZE);
	path = pc_test_path(fx->src, FX_BIG_FILE);
	pc_test_write_file(path, fx->big, FX_BIG_SIZE);
	free(path);
	path = pc_test_path(fx->src, "small.txt");
	pc_test_write_file(path, "a small file\n", 13);
	free(path);
	path = pc_test_path(fx->src, "sub");
	make_dir(path);
	free(path);
	path = pc_test_path(fx->src, "sub/inner.txt");
	pc_test_write_file(path, "inner\n", 6);
	free(path);
}

static void load_manifest(struct net_fixture *fx)
{
	char hex[PC_HASH_HEX_LEN + 1], rel[128], why[256] = "";
	struct pc_head head;
	char *path, *buf;
	size_t len;

	path = pc_test_path(fx->repo, "head");
	buf = fx_read_file(path, &len);
	free(path);
	assert_ok(pc_head_parse(buf, len, fx->ring, &head, why, sizeof(why)),
		  why);
	free(buf);
	pc_hash_to_hex(&head.manifest, hex);
	snprintf(rel, sizeof(rel), "chunks/%.2s/%s", hex, hex);
	path = pc_test_path(fx->repo, rel);
	buf = fx_read_file(path, &len);
	free(path);
	assert_ok(pc_manifest_parse(buf, len, &fx->manifest, why, sizeof(why)),
		  why);
	free(buf);
}

const struct pc_entry *fx_entry(struct net_fixture *fx, const char *path)
{
	for (size_t i = 0; i < fx->manifest->nentries; i++)
		if (strcmp(fx->manifest->entries[i].path, path) == 0)
			return &fx->manifest->entries[i];
	fail_msg("%s is not in the manifest", path);
	return NULL;
}

uint64_t fx_chunk_offset(const struct pc_entry *e, uint32_t i)
{
	uint64_t off = 0;

	for (uint32_t k = 0; k < i; k++)
		off += e->chunks[k].len;
	return off;
}

void fx_chunk_path(const struct pc_hash *hash, char *out, size_t len)
{
	char hex[PC_HASH_HEX_LEN + 1];

	pc_hash_to_hex(hash, hex);
	snprintf(out, len, "chunks/%.2s/%s", hex, hex);
}

bool fx_store_has(struct net_fixture *fx, const struct pc_chunk_ref *ref,
		  const uint8_t *expected)
{
	int fd = pc_store_chunk_open(fx->store, &ref->hash);
	uint8_t *buf;
	ssize_t got;
	bool same;

	if (fd < 0)
		return false;
	buf = malloc(ref->len + 1);
	assert_non_null(buf);
	got = pread(fd, buf, ref->len + 1, 0);
	close(fd);
	same = got == (ssize_t)ref->len && memcmp(buf, expected, ref->len) == 0;
	free(buf);
	return same;
}

static int access_lines(struct net_fixture *fx, const char *needle)
{
	char *path = pc_test_path(fx->dir, "nginx/access.log");
	char line[4096];
	int count = 0;
	FILE *f = fopen(path, "re");

	free(path);
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			count++;
	fclose(f);
	return count;
}

/* nginx writes a request's log line when it finalises the request, which
 * may come after the client has read the whole body: a fetch that ended
 * can be missing from the log for a moment (a loaded machine: 0 lines
 * where 1 was due).  So wait up to 5 s for a first line, then 100 ms more
 * for any late duplicate, and count. */
int fx_access_count_now(struct net_fixture *fx, const char *needle)
{
	usleep(100 * 1000); /* nginx writes its line after the answer */
	return access_lines(fx, needle);
}

int fx_access_count(struct net_fixture *fx, const char *needle)
{
	for (int i = 0; i < 500 && access_lines(fx, needle) == 0; i++)
		usleep(10 * 1000);
	usleep(100 * 1000);
	return access_lines(fx, needle);
}

/* ---- nginx ------------------------------------------------------------------ */

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

static bool port_accepts(int port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

static void stop_nginx(struct net_fixture *fx)
{
	double deadline = fx_now() + 5;
	int status;

	if (fx->nginx_pid <= 0)
		return;
	kill(fx->nginx_pid, SIGTERM);
	while (waitpid(fx->nginx_pid, &status, WNOHANG) == 0) {
		if (fx_now() > deadline) {
			kill(fx->nginx_pid, SIGKILL);
			waitpid(fx->nginx_pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	fx->nginx_pid = 0;
}

/* A CA and a certificate for 127.0.0.1 that it signed, in @dir. */
static void make_certificates(struct net_fixture *fx, const char *dir)
{
	char *ca_key = pc_test_path(dir, "ca.key");
	char *key = pc_test_path(dir, "server.key");
	char *csr = pc_test_path(dir, "server.csr");
	char *cert = pc_test_path(dir, "server.pem");
	char *ext = pc_test_path(dir, "ext.cnf");
	const char *ca[] = { "/usr/bin/openssl",
			     "req",
			     "-x509",
			     "-newkey",
			     "ec",
			     "-pkeyopt",
			     "ec_paramgen_curve:prime256v1",
			     "-nodes",
			     "-keyout",
			     ca_key,
			     "-out",
			     fx->ca_file,
			     "-days",
			     "2",
			     "-subj",
			     "/CN=peercache test CA",
			     NULL };
	const char *req[] = { "/usr/bin/openssl",
			      "req",
			      "-newkey",
			      "ec",
			      "-pkeyopt",
			      "ec_paramgen_curve:prime256v1",
			      "-nodes",
			      "-keyout",
			      key,
			      "-out",
			      csr,
			      "-subj",
			      "/CN=127.0.0.1",
			      NULL };
	const char *sign[] = { "/usr/bin/openssl",
			       "x509",
			       "-req",
			       "-in",
			       csr,
			       "-CA",
			       fx->ca_file,
			       "-CAkey",
			       ca_key,
			       "-CAcreateserial",
			       "-out",
			       cert,
			       "-days",
			       "2",
			       "-extfile",
			       ext,
			       NULL };

	pc_test_write_file(ext, "subjectAltName=IP:127.0.0.1\n", 28);
	assert_int_equal(fx_run(ca), 0);
	assert_int_equal(fx_run(req), 0);
	assert_int_equal(fx_run(sign), 0);
	free(ca_key);
	free(key);
	free(csr);
	free(cert);
	free(ext);
}

/* One try on ports that were free a moment ago; false if nginx died. */
static bool try_nginx(struct net_fixture *fx, const char *ngdir, int port)
{
	char *conf = pc_test_path(ngdir, "nginx.conf");
	const char *argv[] = { PC_NGINX_BIN, "-c", conf, "-p",
			       ngdir,	     "-e", NULL, NULL };
	char *errlog = pc_test_path(ngdir, "error.log");
	double deadline = fx_now() + 10;
	FILE *f = fopen(conf, "we");
	int status;

	assert_non_null(f);
	fx->tls_port = free_port();
	fx->weak_tls_port = free_port();
	fprintf(f,
		"daemon off; master_process off;\n"
		"pid %s/nginx.pid; error_log %s/error.log;\n"
		"events {}\n"
		"http {\n"
		"  access_log %s/access.log;\n"
		"  root %s;\n"
		"  ssl_certificate %s/tls/server.pem;\n"
		"  ssl_certificate_key %s/tls/server.key;\n"
		"  server {\n"
		"    listen 127.0.0.1:%d;\n"
		"    location /slow/ { alias %s/; limit_rate 1m; }\n"
		"  }\n"
		"  server { listen 127.0.0.1:%d ssl http2; }\n"
		"  server {\n"
		"    listen 127.0.0.1:%d ssl;\n"
		"    ssl_protocols TLSv1.2;\n"
		"    ssl_ciphers ECDHE-ECDSA-AES128-SHA256;\n"
		"  }\n"
		"}\n",
		ngdir, ngdir, ngdir, fx->www, fx->dir, fx->dir, port, fx->www,
		fx->tls_port, fx->weak_tls_port);
	assert_int_equal(fclose(f), 0);
	argv[6] = errlog;
	fx->nginx_pid = spawn(argv, false);
	assert_true(fx->nginx_pid > 0);
	free(conf);
	free(errlog);
	while (!port_accepts(port)) {
		if (waitpid(fx->nginx_pid, &status, WNOHANG) != 0) {
			fx->nginx_pid = 0;
			return false;
		}
		if (fx_now() > deadline) {
			stop_nginx(fx);
			return false;
		}
		usleep(10000);
	}
	fx->port = port;
	return true;
}

static void start_nginx(struct net_fixture *fx)
{
	char *ngdir = pc_test_path(fx->dir, "nginx");
	char *tlsdir = pc_test_path(fx->dir, "tls");
	bool up = false;

	make_dir(ngdir);
	make_dir(tlsdir);
	fx->ca_file = pc_test_path(tlsdir, "ca.pem");
	make_certificates(fx, tlsdir);
	free(tlsdir);
	for (int attempt = 0; attempt < 5 && !up; attempt++)
		up = try_nginx(fx, ngdir, free_port());
	free(ngdir);
	if (!up)
		fail_msg("nginx did not start (see %s/nginx/error.log)",
			 fx->dir);
	snprintf(fx->base_url, sizeof(fx->base_url), "http://127.0.0.1:%d",
		 fx->port);
	snprintf(fx->repo_url, sizeof(fx->repo_url), "%s/repo", fx->base_url);
}

/* ---- the fixture ------------------------------------------------------------ */

static void on_version_switched(void *arg, uint64_t version,
				const struct pc_store_changes *changes)
{
	struct net_fixture *fx = arg;

	(void)changes;
	__atomic_store_n(&fx->last_switched, version, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&fx->versions_switched, 1, __ATOMIC_SEQ_CST);
}

static void destroy(struct net_fixture *fx)
{
	if (!fx)
		return;
	pc_net_free(fx->net);
	if (fx->store)
		pc_store_close(fx->store);
	stop_nginx(fx);
	fx_stall_stop(fx->stall);
	pc_config_free(&fx->cfg);
	pc_keyring_free(fx->ring);
	pc_manifest_free(fx->manifest);
	free(fx->big);
	free(fx->src);
	free(fx->www);
	free(fx->repo);
	free(fx->key);
	free(fx->cache);
	free(fx->control);
	free(fx->ca_file);
	pc_test_rmtree(fx->dir);
	free(fx);
}

static void destroy_leftover(void)
{
	destroy(live_fixture);
	live_fixture = NULL;
}

int fx_setup(void **state)
{
	static bool registered;
	char why[256] = "", *pub;
	struct net_fixture *fx;

	destroy_leftover();
	if (!registered) {
		atexit(destroy_leftover);
		registered = true;
	}
	/* The node must reach loopback nginx directly, whatever the
	 * environment says about proxies. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	live_fixture = fx;
	fx->dir = pc_test_tmpdir();
	fx->src = pc_test_path(fx->dir, "src");
	fx->www = pc_test_path(fx->dir, "www");
	fx->repo = pc_test_path(fx->dir, "www/repo");
	fx->key = pc_test_path(fx->dir, "key");
	fx->cache = pc_test_path(fx->dir, "cache");
	fx->control = pc_test_path(fx->dir, "control.sock");
	make_dir(fx->www);
	make_source(fx);
	fx_keygen(fx->key);
	fx_publish(fx, fx->key, FX_REPO_NAME, NULL, fx->repo);

	fx->ring = pc_keyring_new();
	assert_non_null(fx->ring);
	pub = pc_test_path(fx->dir, "key.pub");
	assert_ok(pc_keyring_add_file(fx->ring, pub, why, sizeof(why)), why);
	load_manifest(fx);
	start_nginx(fx);
	assert_ok(pc_store_open(fx->cache, &fx->store, why, sizeof(why)), why);

	assert_int_equal(pc_config_defaults(&fx->cfg), 0);
	fx_set(fx, "trusted_key", pub);
	free(pub);
	fx_set(fx, "cache_dir", fx->cache);
	fx_set(fx, "control_socket", fx->control);
	fx_set(fx, "poll_interval", "1h");
	fx_set(fx, "fetch_timeout", "10s");
	fx_set(fx, "log_level", "debug");
	pc_log_set_level(PC_LOG_DEBUG); /* what the daemon does with it */
	/* Unit tests stay on loopback: no broadcasts, no fixed ports. */
	fx_set(fx, "discovery", "off");
	fx_set(fx, "peer_server", "off");
	fx->hooks.version_switched = on_version_switched;
	fx->hooks.arg = fx;
	*state = fx;
	return 0;
}

int fx_teardown(void **state)
{
	destroy(*state);
	live_fixture = NULL;
	return 0;
}

void fx_set(struct net_fixture *fx, const char *key, const char *value)
{
	char why[256] = "";

	assert_ok(pc_config_set(&fx->cfg, key, value, why, sizeof(why)), why);
	/* repos[0], which net/ reads, as pc_config_finish makes it. */
	assert_int_equal(pc_config_resolve_repos(&fx->cfg), 0);
}

void fx_clear_mirrors(struct net_fixture *fx)
{
	for (size_t i = 0; i < fx->cfg.nmirrors; i++)
		free(fx->cfg.mirrors[i]);
	fx->cfg.nmirrors = 0;
	assert_int_equal(pc_config_resolve_repos(&fx->cfg), 0);
}

char *fx_copy_repo(struct net_fixture *fx, const char *name)
{
	char *dest = pc_test_path(fx->www, name);
	const char *argv[] = { "/bin/cp", "-a", fx->repo, dest, NULL };

	assert_int_equal(fx_run(argv), 0);
	return dest;
}

void fx_start_net(struct net_fixture *fx)
{
	char why[256] = "";

	fx->net = pc_net_new(&fx->cfg, fx->store, fx->ring, &fx->hooks, why,
			     sizeof(why));
	if (!fx->net)
		fail_msg("pc_net_new: %s", why);
	assert_int_equal(pc_net_start(fx->net), 0);
}

void fx_stop_net(struct net_fixture *fx)
{
	pc_net_free(fx->net);
	fx->net = NULL;
}

/* ---- callbacks ------------------------------------------------------------- */

void fx_calls_init(struct fx_calls *calls)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&calls->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&calls->cond, &attr);
	pthread_condattr_destroy(&attr);
	calls->done = 0;
}

void fx_calls_destroy(struct fx_calls *calls)
{
	pthread_mutex_destroy(&calls->lock);
	pthread_cond_destroy(&calls->cond);
}

void fx_fetch_done(void *arg, int status)
{
	struct fx_call *call = arg;
	struct fx_calls *calls = call->calls;

	pthread_mutex_lock(&calls->lock);
	call->count++;
	call->status = status;
	calls->done++;
	call->order = calls->done;
	pthread_cond_broadcast(&calls->cond);
	pthread_mutex_unlock(&calls->lock);
}

int fx_calls_done(struct fx_calls *calls)
{
	int done;

	pthread_mutex_lock(&calls->lock);
	done = calls->done;
	pthread_mutex_unlock(&calls->lock);
	return done;
}

bool fx_calls_wait(struct fx_calls *calls, int n, double seconds)
{
	struct timespec deadline;
	bool reached;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)seconds;
	deadline.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&calls->lock);
	while (calls->done < n &&
	       pthread_cond_timedwait(&calls->cond, &calls->lock, &deadline) !=
		       ETIMEDOUT)
		;
	reached = calls->done >= n;
	pthread_mutex_unlock(&calls->lock);
	return reached;
}

/* ---- the stalled mirror ----------------------------------------------------- */

#define STALL_MAX_CONN 64

struct fx_stall {
	pthread_t thread;
	int listen_fd;
	int stop_pipe[2];
	int conns[STALL_MAX_CONN];
	atomic_int nconns; /* written by its thread, read by the test */
};

/* Accepts and holds connections, never reads or writes a byte. */
static void *stall_main(void *arg)
{
	struct fx_stall *stall = arg;
	struct pollfd fds[2] = {
		{ .fd = stall->listen_fd, .events = POLLIN },
		{ .fd = stall->stop_pipe[0], .events = POLLIN },
	};
	int fd;

	while (poll(fds, 2, -1) >= 0 && !(fds[1].revents & POLLIN)) {
		if (!(fds[0].revents & POLLIN))
			continue;
		fd = accept(stall->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		if (stall->nconns < STALL_MAX_CONN) {
			stall->conns[stall->nconns] = fd;
			stall->nconns++;
		} else {
			close(fd);
		}
	}
	return NULL;
}

struct fx_stall *fx_stall_start(int *port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct fx_stall *stall = calloc(1, sizeof(*stall));
	socklen_t len = sizeof(addr);

	assert_non_null(stall);
	stall->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(stall->listen_fd >= 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(
		bind(stall->listen_fd, (struct sockaddr *)&addr, sizeof(addr)),
		0);
	assert_int_equal(listen(stall->listen_fd, 64), 0);
	assert_int_equal(
		getsockname(stall->listen_fd, (struct sockaddr *)&addr, &len),
		0);
	*port = ntohs(addr.sin_port);
	assert_int_equal(pipe2(stall->stop_pipe, O_CLOEXEC), 0);
	assert_int_equal(
		pthread_create(&stall->thread, NULL, stall_main, stall), 0);
	return stall;
}

bool fx_stall_wait_connections(struct fx_stall *stall, int n, double seconds)
{
	double deadline = fx_now() + seconds;

	while (stall->nconns < n && fx_now() < deadline)
		usleep(5000);
	return stall->nconns >= n;
}

void fx_stall_stop(struct fx_stall *stall)
{
	if (!stall)
		return;
	assert_int_equal(write(stall->stop_pipe[1], "x", 1), 1);
	pthread_join(stall->thread, NULL);
	for (int i = 0; i < stall->nconns; i++)
		close(stall->conns[i]);
	close(stall->listen_fd);
	close(stall->stop_pipe[0]);
	close(stall->stop_pipe[1]);
	free(stall);
}
