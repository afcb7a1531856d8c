/*
 * test_net_harness.h - real parts for the net/ component tests: a
 * repository published by the real peercache-publish, served by a real
 * nginx on a loopback port, a real store in a scratch directory, and
 * helpers to wait for callbacks with a deadline.
 *
 * Layout of one fixture (all under fx->dir, removed at teardown):
 *   src/            the published tree (a 3 MiB file of noise, small files)
 *   key, key.pub    the publisher's key (trusted by the node)
 *   www/repo/       the repository; nginx serves www/ at /, and again at
 *                   /slow/ with a 1 MiB/s rate limit
 *   cache/          the node's store
 *   nginx/          nginx's config, pid, access and error logs
 *   tls/            a throwaway CA (ca.pem) and nginx's certificate for
 *                   127.0.0.1: https on tls_port (HTTP/2), and on
 *                   weak_tls_port with only a non-AEAD TLS 1.2 suite
 *
 * Include after <cmocka.h>.
 */
#ifndef PC_TEST_NET_HARNESS_H
#define PC_TEST_NET_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pc_config.h"
#include "pc_format.h"
#include "pc_net.h"
#include "pc_store.h"

struct fx_stall;

#define FX_REPO_NAME "testrepo"
#define FX_BIG_FILE "big.bin"
#define FX_BIG_SIZE (3u * 1024 * 1024 + 12345)

struct net_fixture {
	char *dir, *src, *www, *repo, *key, *cache, *control;
	pid_t nginx_pid;
	int port, tls_port, weak_tls_port;
	char *ca_file;	   /* tls/ca.pem */
	char base_url[64]; /* http://127.0.0.1:<port> */
	char repo_url[96]; /* base_url/repo */
	struct pc_store *store;
	struct pc_config cfg;
	struct pc_keyring *ring;
	struct pc_net *net;
	struct pc_net_hooks hooks;
	int versions_switched; /* hook calls; loop thread writes */
	uint64_t last_switched;
	uint8_t *big;		      /* the bytes of src/big.bin */
	struct pc_manifest *manifest; /* of the published version */
	struct fx_stall *stall;	      /* a silent mirror, if a test made one */
};

/* cmocka setup/teardown: a published repository, nginx, a store, a
 * config whose mirror list is empty (tests add theirs). */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Runs argv[0] with argv; returns its exit status (or -1). */
int fx_run(const char *const argv[]);
/* peercache-publish --key @key --name @name [--valid-for @valid_for]
 * fx->src @repo; fails the test unless it succeeds. */
void fx_publish(struct net_fixture *fx, const char *key, const char *name,
		const char *valid_for, const char *repo);
/* peercache-publish --key @key --name @name @src @repo. */
void fx_publish_from(const char *src, const char *key, const char *name,
		     const char *repo);
/* A new key pair at @path (and @path.pub). */
void fx_keygen(const char *path);

/* A config key for the node, e.g. ("mirror", url). */
void fx_set(struct net_fixture *fx, const char *key, const char *value);
/* Forgets every configured mirror. */
void fx_clear_mirrors(struct net_fixture *fx);
/* A copy of the repository at www/@name; returns its path (caller frees). */
char *fx_copy_repo(struct net_fixture *fx, const char *name);
/* pc_net_new + pc_net_start; fails the test on error. */
void fx_start_net(struct net_fixture *fx);
/* pc_net_free, so that a test can start another with other mirrors. */
void fx_stop_net(struct net_fixture *fx);

/* The file entry @path of the published manifest. */
const struct pc_entry *fx_entry(struct net_fixture *fx, const char *path);
/* Byte offset of chunk @i in the entry. */
uint64_t fx_chunk_offset(const struct pc_entry *e, uint32_t i);
/* True when the store holds chunk @ref with exactly @expected bytes. */
bool fx_store_has(struct net_fixture *fx, const struct pc_chunk_ref *ref,
		  const uint8_t *expected);
/* Number of lines in nginx's access log that contain @needle, once at
 * least one is there (up to 5 s) and 100 ms more have passed: for counts
 * that should be at least 1. */
int fx_access_count(struct net_fixture *fx, const char *needle);
/* The same, now (100 ms after the call): for counts that should be 0. */
int fx_access_count_now(struct net_fixture *fx, const char *needle);
/* "chunks/ab/<hex>" of @hash. */
void fx_chunk_path(const struct pc_hash *hash, char *out, size_t len);

/* Whole file @path in a new buffer (caller frees); *@len its size. */
char *fx_read_file(const char *path, size_t *len);
/* Replaces @path atomically with @len bytes (as a publisher would). */
void fx_replace_file(const char *path, const void *data, size_t len);

/* ---- waiting for callbacks -------------------------------------------- */

double fx_now(void);

/* One fetch callback's record. */
struct fx_call {
	struct fx_calls *calls;
	int count;  /* how often it ran: must end as 1 */
	int status; /* its last status */
	int order;  /* 1 for the first callback of its fx_calls, ... */
};

struct fx_calls {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done; /* callbacks run so far */
};

void fx_calls_init(struct fx_calls *calls);
void fx_calls_destroy(struct fx_calls *calls);
/* A pc_fetch_done for an struct fx_call argument. */
void fx_fetch_done(void *arg, int status);
/* Callbacks run so far (read under the lock). */
int fx_calls_done(struct fx_calls *calls);
/* Waits until @n callbacks ran or @seconds passed; true if they did. */
bool fx_calls_wait(struct fx_calls *calls, int n, double seconds);

/* ---- a mirror that accepts connections and never answers ----------- */

struct fx_stall;
struct fx_stall *fx_stall_start(int *port);
void fx_stall_stop(struct fx_stall *stall);
/* Waits until @stall accepted @n connections or @seconds passed; true if
 * it did. */
bool fx_stall_wait_connections(struct fx_stall *stall, int n, double seconds);

#endif
