/*
 * repo.h - struct pc_net_repo, what the net keeps per repository (repo.c).
 *
 * Per repository: its configuration (cfg->repos[index]: name, mirrors,
 * keys, poll interval), its store handle (the tree and version calls;
 * chunks go through any handle, they share one chunk store), its keyring,
 * its head poller and install (head.h), what its polls found (status.h)
 * and its version_switched hook.  Its mirrors are sources of the
 * host-wide fetcher tagged with the repository (fetch.h: net_source.repo),
 * so that their health stays in the one table of net->health.
 *
 * Host-wide, in struct pc_net: the loop, the fetch table (single flight
 * by hash), the peers and discovery, the peer server, the control socket,
 * metrics, the store's timers, and the hold of version switches.
 */
#ifndef PC_NET_REPO_H
#define PC_NET_REPO_H

#include <stdbool.h>
#include <stddef.h>

#include "head.h"
#include "pc_config.h"
#include "pc_net.h"
#include "status.h"

struct pc_net_repo {
	/* Set by pc_net_new / pc_net_add_repo, read-only afterwards: any
	 * thread. */
	struct pc_net *net;
	size_t index; /* in cfg->repos[] and net->repos[] */
	const struct pc_repo_config *cfg;
	struct pc_store *store; /* the repository's handle; borrowed */
	const struct pc_keyring *ring;
	struct pc_net_hooks hooks;	 /* version_switched */
	size_t first_source, end_source; /* its mirrors in net's sources */
	bool dead; /* pc_net_add_repo failed: never polled */
	char log_prefix[PC_CONFIG_REPO_NAME_MAX + 16]; /* "repository NAME: " */

	struct net_head head;	  /* head.h: loop thread only */
	struct net_status status; /* status.h: its own lock */
};

/* Before the loop runs, after net_head_init(@repo): @repo's fields, its
 * mirrors as sources.  0, or a negative errno with @err set. */
int net_repo_init(struct pc_net *net, struct pc_net_repo *repo, size_t index,
		  struct pc_store *store, const struct pc_keyring *ring,
		  const struct pc_net_hooks *hooks, char *err, size_t errlen);
/* Frees what net_repo_init allocated (the loop is gone). */
void net_repo_free(struct pc_net_repo *repo);
/* The repository named @name ("" or NULL: none), or NULL. */
struct pc_net_repo *net_repo_find(struct pc_net *net, const char *name);
/* Its name as configured ("" when the first head names it). */
const char *net_repo_name(const struct pc_net_repo *repo);
/* "repository NAME: " when the net serves several (for log lines), else
 * "".  Valid as long as the net. */
const char *net_repo_log_prefix(const struct pc_net_repo *repo);
/* The names of every repository, ", " separated, into @out. */
void net_repo_names(struct pc_net *net, char *out, size_t len);

#endif /* PC_NET_REPO_H */
