/*
 * upkeep.c - the store's timers on the loop thread.  Every second the
 * index entries, access times and counters that wait in memory go to
 * LMDB; every purge_interval the cache is brought under its quota and
 * max_age.  Both run on a libuv worker, never on the loop thread: an LMDB
 * write transaction can wait behind a version install for a long time,
 * and the loop must keep serving fetches meanwhile.  At start and after
 * each version switch, every repository's tree is mapped into the
 * daemon's view of the index (store/warm.c), on a worker too.
 */
#include <string.h>

#include "net.h"

#define FLUSH_INTERVAL_MS 1000

static void work_flush(uv_work_t *work)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.flush_work);

	net->upkeep.flush_rc = pc_store_flush(net->store);
}

static void after_flush(uv_work_t *work, int status)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.flush_work);

	net->upkeep.flush_busy = false;
	if (status == 0 && net->upkeep.flush_rc < 0)
		pc_log(PC_LOG_WARN, "net", "store flush failed: %s",
		       strerror(-net->upkeep.flush_rc));
}

/* Every second: index entries, access times and counters go to LMDB. */
static void on_uv_flush_timer(uv_timer_t *timer)
{
	struct pc_net *net =
		container_of(timer, struct pc_net, upkeep.flush_timer);

	if (net->upkeep.flush_busy)
		return; /* the previous one still waits for the writer lock */
	net->upkeep.flush_busy = true;
	if (uv_queue_work(&net->loop, &net->upkeep.flush_work, work_flush,
			  after_flush) < 0)
		net->upkeep.flush_busy = false;
}

static void work_purge(uv_work_t *work)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.purge_work);
	struct pc_purge_result r;

	net->upkeep.purge_rc = pc_store_enforce_limits(net->store, &r);
}

static void after_purge(uv_work_t *work, int status)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.purge_work);

	net->upkeep.purge_busy = false;
	if (status == 0 && net->upkeep.purge_rc < 0)
		pc_log(PC_LOG_WARN, "net", "purge failed: %s",
		       strerror(-net->upkeep.purge_rc));
}

/* Every purge_interval: chunks past max_age go, and the cache is brought
 * under its quota (commits do that too, as they add).  The store logs
 * each purged chunk. */
static void on_uv_purge_timer(uv_timer_t *timer)
{
	struct pc_net *net =
		container_of(timer, struct pc_net, upkeep.purge_timer);

	if (net->upkeep.purge_busy)
		return;
	net->upkeep.purge_busy = true;
	if (uv_queue_work(&net->loop, &net->upkeep.purge_work, work_purge,
			  after_purge) < 0)
		net->upkeep.purge_busy = false;
}

static void work_warm(uv_work_t *work)
{
	struct net_upkeep *u = container_of(work, struct net_upkeep, warm_work);

	for (size_t i = 0; i < u->warm_n && !atomic_load(&u->warm_stop); i++)
		pc_store_warm(u->warm_stores[i], &u->warm_stop);
}

static void after_warm(uv_work_t *work, int status)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.warm_work);

	(void)status;
	net->upkeep.warm_busy = false;
	if (net->upkeep.warm_again) {
		net->upkeep.warm_again = false;
		net_upkeep_warm(net);
	}
}

void net_upkeep_warm(struct pc_net *net)
{
	struct net_upkeep *u = &net->upkeep;

	if (net->shutting_down || atomic_load(&u->warm_stop))
		return;
	if (u->warm_busy) {
		u->warm_again = true;
		return;
	}
	u->warm_n = 0;
	for (size_t i = 0; i < net->nrepos; i++)
		if (!net->repos[i]->dead)
			u->warm_stores[u->warm_n++] = net->repos[i]->store;
	u->warm_busy = true;
	if (uv_queue_work(&net->loop, &u->warm_work, work_warm, after_warm) < 0)
		u->warm_busy = false;
}

void net_upkeep_init(struct pc_net *net)
{
	uv_timer_init(&net->loop, &net->upkeep.flush_timer);
	uv_timer_init(&net->loop, &net->upkeep.purge_timer);
}

void net_upkeep_start(struct pc_net *net)
{
	uv_timer_start(&net->upkeep.flush_timer, on_uv_flush_timer,
		       FLUSH_INTERVAL_MS, FLUSH_INTERVAL_MS);
	/* The first purge soon after start: a restart with a lower quota
	 * takes effect at once. */
	uv_timer_start(&net->upkeep.purge_timer, on_uv_purge_timer, 5000,
		       net->cfg->purge_interval * 1000);
	net_upkeep_warm(net);
}

void net_upkeep_stop(struct pc_net *net)
{
	atomic_store(&net->upkeep.warm_stop, true);
	if (net->upkeep.warm_busy)
		uv_cancel((uv_req_t *)&net->upkeep.warm_work);
	uv_timer_stop(&net->upkeep.flush_timer);
	uv_timer_stop(&net->upkeep.purge_timer);
}

void net_upkeep_shutdown(struct pc_net *net)
{
	atomic_store(&net->upkeep.warm_stop, true);
	if (net->upkeep.warm_busy) /* not started yet: it never runs */
		uv_cancel((uv_req_t *)&net->upkeep.warm_work);
	uv_close((uv_handle_t *)&net->upkeep.flush_timer, NULL);
	uv_close((uv_handle_t *)&net->upkeep.purge_timer, NULL);
}
