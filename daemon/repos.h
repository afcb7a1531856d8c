/*
 * repos.h - the repositories one daemon serves, a mount (a FUSE session)
 * each, over one store and one net (repos.c): for daemon.c.
 */
#ifndef PC_DAEMON_REPOS_H
#define PC_DAEMON_REPOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon.h"
#include "pc_config.h"
#include "pc_fs.h"
#include "pc_net.h"
#include "pc_store.h"

struct daemon;

/* One repository served: cfg->repos[i] at its mount point. */
struct session {
	struct daemon *d;
	const struct pc_repo_config *repo;
	const char *mountpoint; /* the section's, or the command line's */
	struct pc_keyring *ring;
	/* Its trees: d->store itself (the store's default repository), or
	 * a handle of pc_store_open_repo() that this session owns. */
	struct pc_store *store;
	bool own_handle;
	struct pc_fs *fs;
	struct pc_net_repo *net_repo; /* NULL: the net's first */
	/* The fs's hooks, wrapped so that systemd hears of every switch. */
	struct pc_net_hooks fs_hooks;
	struct pc_net_hooks hooks;
	pthread_t thread; /* serves the mount while several do */
	bool thread_started;
};

struct daemon {
	const struct daemon_args *args;
	const struct pc_config *cfg;
	struct pc_store *store; /* the store, and its default repository */
	struct pc_net *net;
	struct session sessions[PC_CONFIG_MAX_REPOS];
	size_t nsessions;
	char why[512];
};

/* One session per repository of the configuration, each with its keys
 * and its fs (not mounted).  0, or -EINVAL / -ENOMEM with d->why set. */
int repos_setup(struct daemon *d);
/* After the store is open (d->store): each session's trees, the default
 * repository's or a handle of its own (which one gets the default: see
 * repos.c), given to its fs.  0, or -EIO with d->why set. */
int repos_open_stores(struct daemon *d);
/* The sessions' handles, then the store; the fs let go of them first. */
void repos_close_stores(struct daemon *d);
/* pc_net_new() for the first repository, pc_net_add_repo() for the
 * others, each fs given its repository; not started.  0 or -EIO. */
int repos_new_net(struct daemon *d);
/* The net's repository that serves @s. */
struct pc_net_repo *repos_net_repo(struct session *s);
/* STATUS= for `systemctl status`: what every mount serves now. */
void repos_notify_serving(struct daemon *d);
/* Several sessions: each served on a thread of its own until a stop
 * signal, or until one of them ends (then every other is stopped).  0,
 * or -EIO if one failed. */
int repos_run(struct daemon *d);
/* The keys and the fs of every session (after pc_net_stop()). */
void repos_free(struct daemon *d);

#endif /* PC_DAEMON_REPOS_H */
