/*
 * net.h - struct pc_net, the container of net/'s components, each behind
 * its own header.
 *
 * Threading rule of the whole folder: everything runs on the one libuv
 * loop thread, except the few fields that say which lock guards them.  The
 * loop thread is the only one that touches libuv handles, the curl multi
 * handle and the fetch table, so none of those need a lock.
 */
#ifndef PC_NET_NET_H
#define PC_NET_NET_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <uv.h>

#include "chunk.h"
#include "control.h"
#include "curl_uv.h"
#include "fetch.h"
#include "head.h"
#include "metrics.h"
#include "pc_list.h"
#include "pc_net.h"
#include "peer_source.h"
#include "peers.h"
#include "prefetch.h"
#include "queue.h"
#include "repo.h"
#include "source_health.h"
#include "status.h"
#include "upkeep.h"
#include "workers.h"

/* ---- the net ------------------------------------------------------------- */

struct pc_net {
	/* Set by pc_net_new, read-only afterwards: any thread. */
	const struct pc_config *cfg;
	/* The first repository's handle.  Host-wide code uses it for chunk
	 * calls only (every handle shares the one chunk store); a tree or
	 * version call goes through its repository's (repo.h). */
	struct pc_store *store;
	struct pc_net_hooks hooks; /* restart (version_switched: repo.h) */
	int64_t started_at;	   /* unix time of pc_net_new */

	uv_loop_t loop;
	uv_thread_t thread; /* written before the loop runs, joined by stop */
	atomic_bool loop_running; /* loop_main is in uv_run: NET_LOOP_ONLY */
	/* Loop thread only (or the stopping thread when never started). */
	bool shutting_down;

	struct net_queue queue;	      /* queue.h: from other threads */
	struct net_upkeep upkeep;     /* upkeep.h: the store's timers */
	struct net_curl curl;	      /* curl_uv.h: transfers */
	struct net_workers workers;   /* workers.h: hashing, writing */
	struct net_chunks chunks;     /* chunk.h: the data path */
	struct net_fetcher fetcher;   /* fetch.h: fetches, sources */
	struct net_health health;     /* source_health.h */
	struct net_peers peers;	      /* peers.h: table, discovery */
	struct net_peer_src peer_src; /* peer_source.h */
	struct net_control control;   /* control.h */
	struct net_metrics *metrics;  /* metrics.h; NULL: off */
	/* repo.h: what is per repository; [0] is cfg->repos[0], the one
	 * pc_net_new serves.  Filled before the loop runs, read-only
	 * afterwards (any thread); each owned. */
	struct pc_net_repo *repos[PC_CONFIG_MAX_REPOS];
	size_t nrepos;
	struct net_switches switches; /* head.h: holding version switches */
};

/* True on the thread that runs @net's loop. */
bool net_on_loop_thread(const struct pc_net *net);
/* True where loop-thread-only state may be touched: on the loop's thread,
 * or on any thread while no loop thread runs (before pc_net_start arms
 * it, after it ended, or the stopping thread of a net never started). */
bool net_loop_owned(const struct pc_net *net);
/* The first line of an entry point for the loop thread only: checked in
 * debug and sanitizer builds (assert), compiled out in the release build
 * (CMake's RelWithDebInfo and Release define NDEBUG). */
#define NET_LOOP_ONLY(net) assert(net_loop_owned(net))
/*
 * Loop thread (or the stopping thread of a net that never started):
 * completes everything with -ECANCELED and closes every handle; the loop
 * then runs dry.
 */
void net_loop_shutdown(struct pc_net *net);
/* Unix time, for status fields and expiry checks. */
int64_t net_unix_now(void);

#endif /* PC_NET_NET_H */
