/*
 * upkeep.h - the store's timers on the loop thread (loop.c): the flush of
 * index entries, access times and counters every second, and the purge
 * every purge_interval, each on a libuv worker.
 */
#ifndef PC_NET_UPKEEP_H
#define PC_NET_UPKEEP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "pc_config.h"

/* Loop thread only, but for what a worker writes (it says so). */
struct net_upkeep {
	uv_timer_t flush_timer;
	/* The flush itself runs on a libuv worker: an LMDB write transaction
	 * can wait behind a version install for a long time, and the loop
	 * must keep serving fetches meanwhile. */
	uv_work_t flush_work;
	bool flush_busy;
	int flush_rc; /* written by the worker, read in its after_work */
	/* Every purge_interval: the quota and max_age, on a worker. */
	uv_timer_t purge_timer;
	uv_work_t purge_work;
	bool purge_busy;
	int purge_rc; /* written by the worker */
	/* Each repository's tree mapped (pc_store_warm), on a worker: at
	 * start and after every version switch (the switch dropped them). */
	uv_work_t warm_work;
	bool warm_busy;
	bool warm_again; /* asked while one ran */
	struct pc_store *warm_stores[PC_CONFIG_MAX_REPOS]; /* the job's */
	size_t warm_n;
	atomic_bool warm_stop; /* shutting down: the worker reads it */
};

struct pc_net;

/* Before the loop runs. */
void net_upkeep_init(struct pc_net *net);
/* Before the loop runs: arms both timers (the first purge after 5 s). */
void net_upkeep_start(struct pc_net *net);
/* The loop thread could not start: disarms them. */
void net_upkeep_stop(struct pc_net *net);
/* Loop thread, shutting down: closes them (and stops a warm-up). */
void net_upkeep_shutdown(struct pc_net *net);
/* Loop thread (or before it runs): maps every repository's tree into the
 * daemon's view of the index on a worker (pc_store_warm), after the file
 * system heard of a version switch.  One at a time; asked again while one
 * runs, it runs once more after it. */
void net_upkeep_warm(struct pc_net *net);

#endif /* PC_NET_UPKEEP_H */
