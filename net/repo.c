/*
 * repo.c - the repositories the net serves: adding one, finding one by
 * name, and the pc_net_* entry points that act on the first.
 *
 * A repository's mirrors join the host-wide source list, tagged with it
 * (fetch.h), so that the fetcher and source_health.c keep one table: a
 * fetch asks the peers and the mirrors of the repositories that want it.
 * Its head poller, install and status are its own (head.h, status.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "repo.h"

int net_repo_init(struct pc_net *net, struct pc_net_repo *repo, size_t index,
		  struct pc_store *store, const struct pc_keyring *ring,
		  const struct pc_net_hooks *hooks, char *err, size_t errlen)
{
	struct pc_store_version current;
	int rc;

	repo->net = net;
	repo->index = index;
	repo->cfg = &net->cfg->repos[index];
	repo->store = store;
	repo->ring = ring;
	if (hooks) { /* restart is the net's (the first repository's) */
		repo->hooks.version_switched = hooks->version_switched;
		repo->hooks.arg = hooks->arg;
	}
	snprintf(repo->log_prefix, sizeof(repo->log_prefix),
		 "repository %s: ", repo->cfg->name ? repo->cfg->name : "");
	repo->status.st.state = PC_STATE_STARTING;
	pthread_mutex_init(&repo->status.lock, NULL);
	repo->first_source = net->fetcher.nsources;
	rc = net_mirrors_init(net, repo, err, errlen);
	repo->end_source = net->fetcher.nsources;
	if (rc < 0)
		return rc;
	if (pc_store_current(store, &current) == 0)
		net_status_set_current(repo, current.expires);
	return 0;
}

void net_repo_free(struct pc_net_repo *repo)
{
	if (!repo)
		return;
	pthread_mutex_destroy(&repo->status.lock);
	free(repo);
}

struct pc_net_repo *net_repo_find(struct pc_net *net, const char *name)
{
	if (!name || !name[0])
		return NULL;
	for (size_t i = 0; i < net->nrepos; i++)
		if (net->repos[i]->cfg->name &&
		    strcmp(net->repos[i]->cfg->name, name) == 0)
			return net->repos[i];
	return NULL;
}

const char *net_repo_log_prefix(const struct pc_net_repo *repo)
{
	return repo->net->nrepos > 1 ? repo->log_prefix : "";
}

const char *net_repo_name(const struct pc_net_repo *repo)
{
	return repo->cfg->name ? repo->cfg->name : "";
}

void net_repo_names(struct pc_net *net, char *out, size_t len)
{
	struct pc_store_version v;
	const char *name;
	size_t used;

	out[0] = '\0';
	for (size_t i = 0; i < net->nrepos; i++) {
		name = net_repo_name(net->repos[i]);
		/* Unnamed (the compatible form): its head's name. */
		if (!name[0] && pc_store_current(net->repos[i]->store, &v) == 0)
			name = v.name;
		used = strlen(out);
		if (used < len)
			snprintf(out + used, len - used, "%s%s", i ? ", " : "",
				 name);
	}
}

struct pc_net_repo *pc_net_add_repo(struct pc_net *net, size_t index,
				    struct pc_store *store,
				    const struct pc_keyring *ring,
				    const struct pc_net_hooks *hooks, char *err,
				    size_t errlen)
{
	struct pc_net_repo *repo;
	bool started;
	int rc;

	pthread_mutex_lock(&net->queue.lock);
	started = net->queue.started || net->queue.stopped;
	pthread_mutex_unlock(&net->queue.lock);
	if (started) {
		snprintf(err, errlen,
			 "repositories are added before the start");
		return NULL;
	}
	if (index >= net->cfg->nrepos || index >= PC_CONFIG_MAX_REPOS) {
		snprintf(err, errlen, "no repository %zu in the configuration",
			 index);
		return NULL;
	}
	for (size_t i = 0; i < net->nrepos; i++)
		if (net->repos[i]->index == index) {
			snprintf(err, errlen, "repository %s: added already",
				 net->cfg->repos[index].name);
			return NULL;
		}
	repo = calloc(1, sizeof(*repo));
	if (!repo) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	repo->net = net;
	net_head_init(repo); /* closed by net_loop_shutdown */
	rc = net_repo_init(net, repo, index, store, ring, hooks, err, errlen);
	if (rc < 0) {
		/* Kept (its timer is closed and it is freed with the net),
		 * but never polled: the caller gives up on the net. */
		repo->dead = true;
		net->repos[net->nrepos++] = repo;
		return NULL;
	}
	net->repos[net->nrepos++] = repo;
	return repo;
}

struct pc_net_repo *pc_net_first_repo(struct pc_net *net)
{
	return net->repos[0];
}

/* ---- the first repository's entry points ---------------------------------- */

int pc_net_fetch(struct pc_net *net, const struct pc_chunk_ref *ref,
		 pc_fetch_done done, void *arg)
{
	return pc_net_repo_fetch(net->repos[0], ref, done, arg);
}

int pc_net_fetch_data(struct pc_net *net, const struct pc_chunk_ref *ref,
		      pc_fetch_data_done done, void *arg)
{
	return pc_net_repo_fetch_data(net->repos[0], ref, 0, done, arg);
}

void pc_net_prefetch(struct pc_net *net, const struct pc_chunk_ref *refs,
		     size_t count)
{
	pc_net_repo_prefetch(net->repos[0], refs, count);
}

void pc_net_lookahead(struct pc_net *net, const struct pc_chunk_ref *refs,
		      size_t count)
{
	pc_net_repo_lookahead(net->repos[0], refs, count);
}

int pc_net_refresh(struct pc_net *net, bool wait, uint64_t timeout_ms)
{
	return pc_net_repo_refresh(net->repos[0], wait, timeout_ms);
}

void pc_net_status(struct pc_net *net, struct pc_net_status *out)
{
	pc_net_repo_status(net->repos[0], out);
}
