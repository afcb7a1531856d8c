/*
 * repos.c - the repositories one daemon serves (issue 14): one store and
 * one net for the host, and per repository its trusted keys, its handle
 * on the store's trees, its net repository (mirrors, head poller) and its
 * mount, a FUSE session of its own.
 *
 * Chunk ids are global, so the repositories share the chunk store (one
 * quota, one purge, every chunk stored once), the peers, discovery and
 * the peer server; only trees, versions and inode numbers are per
 * repository.  With several, each session runs on a thread of its own;
 * a stop signal wakes every session's control thread (fs/takeover.c), and
 * a session that ends on its own (its mount unmounted from outside) stops
 * the others: the daemon serves all of its repositories or none.
 *
 * With one repository everything is as before repositories: the session
 * on the main thread, restarts and the fd store (daemon.c), and the
 * store's default handle unless the repository is named and the default
 * holds another one's trees (default_session).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "handover.h"
#include "repos.h"

/* Loop thread (pc_net_hooks.version_switched). */
static void on_version_switched(void *arg, uint64_t version,
				const struct pc_store_changes *changes)
{
	struct session *s = arg;

	if (s->fs_hooks.version_switched)
		s->fs_hooks.version_switched(s->fs_hooks.arg, version, changes);
	repos_notify_serving(s->d);
}

/* Loop thread (pc_net_hooks.restart; the first repository's only).  With
 * several sessions the fs refuses it at once (pc_fs_set_sessions). */
static void on_restart(void *arg, int client_fd)
{
	struct session *s = arg;

	s->fs_hooks.restart(s->fs_hooks.arg, client_fd);
}

static struct pc_keyring *load_keyring(const struct pc_repo_config *repo,
				       char *why, size_t whylen)
{
	struct pc_keyring *ring = pc_keyring_new();
	char reason[400];

	if (!ring)
		snprintf(why, whylen, "out of memory");
	for (size_t i = 0; ring && i < repo->ntrusted_keys; i++) {
		if (pc_keyring_add_file(ring, repo->trusted_keys[i], reason,
					sizeof(reason)) < 0) {
			snprintf(why, whylen, "trusted_key: %s", reason);
			pc_keyring_free(ring);
			return NULL;
		}
	}
	return ring;
}

int repos_setup(struct daemon *d)
{
	const struct daemon_args *a = d->args;

	d->nsessions = d->cfg->nrepos;
	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];

		s->d = d;
		s->repo = &d->cfg->repos[i];
		/* One repository: main.c chose the mount point (the
		 * command line's, or the section's). */
		s->mountpoint = d->nsessions == 1 ? a->mountpoint
						  : s->repo->mount_point;
		s->ring = load_keyring(s->repo, d->why, sizeof(d->why));
		if (!s->ring)
			return -EINVAL;
		s->fs = pc_fs_new(d->cfg, NULL, d->why, sizeof(d->why));
		if (!s->fs)
			return -ENOMEM;
		pc_fs_set_command(s->fs, a->exe, a->exe_why, a->argv, a->cwd,
				  a->version);
		pc_fs_set_test_hooks(s->fs, a->test_hooks);
		pc_fs_set_sessions(s->fs, d->nsessions);
		s->fs_hooks = pc_fs_net_hooks(s->fs);
		s->hooks = (struct pc_net_hooks){
			.version_switched = on_version_switched,
			.restart = on_restart,
			.arg = s,
		};
	}
	return 0;
}

/*
 * Which session serves the store's default repository: -ENOENT for none,
 * another negative errno if the index cannot be read.  The rule is the
 * store's (pc_store_default_owner, which peercachectl follows too): one
 * unnamed repository always has it, as before repositories; a named one,
 * or several, by the name of the default's current version, so that a
 * host that served one repository and now serves more keeps that one's
 * inode numbers (which NFS clients' file handles hold) and its versions,
 * and a repository never gets the trees of another.  Every other
 * repository has a named handle.
 */
static int default_session(struct daemon *d)
{
	const char *names[PC_CONFIG_MAX_REPOS];

	for (size_t i = 0; i < d->nsessions; i++)
		names[i] = d->sessions[i].repo->name;
	return pc_store_default_owner(d->store, names, d->nsessions);
}

int repos_open_stores(struct daemon *d)
{
	int dflt = default_session(d);
	char reason[400];

	if (dflt < 0 && dflt != -ENOENT) {
		snprintf(d->why, sizeof(d->why),
			 "reading the repositories of the cache %s: %s",
			 pc_store_dir(d->store), strerror(-dflt));
		return -EIO;
	}
	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];

		if ((int)i == dflt) {
			s->store = d->store;
		} else if (pc_store_open_repo(d->store, s->repo->name,
					      &s->store, reason,
					      sizeof(reason)) < 0) {
			snprintf(d->why, sizeof(d->why),
				 "repository %s in the cache: %s",
				 s->repo->name, reason);
			return -EIO;
		} else {
			s->own_handle = true;
		}
		pc_fs_set_store(s->fs, s->store);
	}
	if (d->nsessions > 1 || dflt < 0)
		pc_log(PC_LOG_INFO, "main",
		       "%zu repositor%s in %s; the cache's default trees "
		       "serve %s",
		       d->nsessions, d->nsessions == 1 ? "y" : "ies",
		       pc_store_dir(d->store),
		       dflt >= 0 ? d->sessions[dflt].repo->name : "none");
	return 0;
}

void repos_close_stores(struct daemon *d)
{
	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];

		if (s->own_handle)
			pc_store_close(s->store);
		s->store = NULL;
		s->own_handle = false;
	}
	pc_store_close(d->store);
	d->store = NULL;
}

int repos_new_net(struct daemon *d)
{
	struct session *first = &d->sessions[0];

	d->net = pc_net_new(d->cfg, first->store, first->ring, &first->hooks,
			    d->why, sizeof(d->why));
	if (!d->net)
		return -EIO;
	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];

		if (i > 0) {
			s->net_repo = pc_net_add_repo(d->net, i, s->store,
						      s->ring, &s->hooks,
						      d->why, sizeof(d->why));
			if (!s->net_repo)
				return -EIO;
		}
		pc_fs_set_net(s->fs, d->net);
		pc_fs_set_net_repo(s->fs, s->net_repo);
	}
	return 0;
}

struct pc_net_repo *repos_net_repo(struct session *s)
{
	return s->net_repo ? s->net_repo : pc_net_first_repo(s->d->net);
}

void repos_notify_serving(struct daemon *d)
{
	struct pc_store_version cur;
	char status[2048];
	size_t used;

	if (d->nsessions == 1) {
		struct session *s = &d->sessions[0];

		if (pc_store_current(s->store, &cur) == 0)
			sd_notifyf(0, "STATUS=serving %s version %llu on %s",
				   cur.name, (unsigned long long)cur.version,
				   s->mountpoint);
		else
			sd_notifyf(0,
				   "STATUS=mounted on %s, waiting for a first "
				   "version from the mirrors",
				   s->mountpoint);
		return;
	}
	used = (size_t)snprintf(
		status, sizeof(status),
		"STATUS=serving %zu repositories:", d->nsessions);
	for (size_t i = 0; i < d->nsessions && used < sizeof(status); i++) {
		struct session *s = &d->sessions[i];

		if (pc_store_current(s->store, &cur) == 0)
			used += (size_t)snprintf(
				status + used, sizeof(status) - used,
				"%s %s version %llu on %s", i ? ";" : "",
				s->repo->name, (unsigned long long)cur.version,
				s->mountpoint);
		else
			used += (size_t)snprintf(
				status + used, sizeof(status) - used,
				"%s %s waiting for a first version on %s",
				i ? ";" : "", s->repo->name, s->mountpoint);
	}
	sd_notify(0, status);
}

/* A stop for every session (one that has ended already ignores it). */
static void stop_all(struct daemon *d)
{
	for (size_t i = 0; i < d->nsessions; i++)
		pc_fs_stop(d->sessions[i].fs);
}

/* A session's thread: its request loop; when it ends, the others end. */
static void *session_main(void *arg)
{
	struct session *s = arg;
	bool handing_over;
	int rc = pc_fs_run(s->fs, &handing_over);

	/* Neither a stop of ours nor a signal: the mount went (unmounted
	 * from outside, or its connection aborted). */
	if (!pc_fs_stop_requested(s->fs))
		pc_log(PC_LOG_WARN, "main",
		       "the mount of %s on %s ended%s; stopping every "
		       "repository",
		       s->repo->name, s->mountpoint,
		       rc < 0 ? " with an error" : "");
	stop_all(s->d);
	return (void *)(intptr_t)(rc < 0 ? -EIO : 0);
}

int repos_run(struct daemon *d)
{
	int rc = 0, err;

	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];

		err = pthread_create(&s->thread, NULL, session_main, s);
		if (err != 0) {
			pc_log(PC_LOG_ERROR, "main",
			       "cannot start a thread for %s: %s; stopping",
			       s->repo->name, strerror(err));
			stop_all(d);
			rc = -EIO;
			break;
		}
		s->thread_started = true;
	}
	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];
		void *ret = NULL;

		if (!s->thread_started)
			continue;
		pthread_join(s->thread, &ret);
		s->thread_started = false;
		if ((intptr_t)ret < 0)
			rc = -EIO;
	}
	return rc;
}

void repos_free(struct daemon *d)
{
	/* The answers that pc_net_stop() decided reach the readers before
	 * the mounts go away; then nothing uses the stores. */
	for (size_t i = 0; i < d->nsessions; i++) {
		pc_fs_free(d->sessions[i].fs);
		d->sessions[i].fs = NULL;
	}
	pc_net_free(d->net);
	d->net = NULL;
	if (d->store)
		repos_close_stores(d);
	for (size_t i = 0; i < d->nsessions; i++) {
		pc_keyring_free(d->sessions[i].ring);
		d->sessions[i].ring = NULL;
	}
}
