/*
 * repo.c - the per-repository entry points of pc_net.h.
 *
 * Every pc_net_repo_* function is its pc_net_* counterpart for one
 * repository.  This first version serves the first repository only:
 * pc_net_add_repo refuses every other (the fs/ and daemon/ side builds
 * against the API meanwhile).
 */
#include <stdio.h>

#include "net.h"
#include "repo.h"

struct pc_net_repo *pc_net_add_repo(struct pc_net *net, size_t index,
				    struct pc_store *store,
				    const struct pc_keyring *ring,
				    const struct pc_net_hooks *hooks, char *err,
				    size_t errlen)
{
	(void)net;
	(void)store;
	(void)ring;
	(void)hooks;
	snprintf(err, errlen,
		 "repository %zu: several repositories are not yet served",
		 index);
	return NULL;
}

struct pc_net_repo *pc_net_first_repo(struct pc_net *net)
{
	return &net->first_repo;
}

int pc_net_repo_fetch(struct pc_net_repo *repo, const struct pc_chunk_ref *ref,
		      pc_fetch_done done, void *arg)
{
	return pc_net_fetch(repo->net, ref, done, arg);
}

int pc_net_repo_fetch_data(struct pc_net_repo *repo,
			   const struct pc_chunk_ref *ref,
			   pc_fetch_data_done done, void *arg)
{
	return pc_net_fetch_data(repo->net, ref, done, arg);
}

void pc_net_repo_prefetch(struct pc_net_repo *repo,
			  const struct pc_chunk_ref *refs, size_t count)
{
	pc_net_prefetch(repo->net, refs, count);
}

void pc_net_repo_lookahead(struct pc_net_repo *repo,
			   const struct pc_chunk_ref *refs, size_t count)
{
	pc_net_lookahead(repo->net, refs, count);
}

int pc_net_repo_refresh(struct pc_net_repo *repo, bool wait,
			uint64_t timeout_ms)
{
	return pc_net_refresh(repo->net, wait, timeout_ms);
}

void pc_net_repo_status(struct pc_net_repo *repo, struct pc_net_status *out)
{
	pc_net_status(repo->net, out);
}
