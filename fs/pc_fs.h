/*
 * pc_fs.h - the FUSE side: a read-only filesystem over the store's trees.
 *
 * Lookups, getattr, readdir and cache-hit reads are answered on FUSE worker
 * threads straight from LMDB and the chunk files.  A read of a chunk that is
 * not cached is parked and handed to net/; it is answered when the chunks
 * arrive (large replies by replier threads of fs/, so that the loop thread
 * keeps driving the downloads), and no FUSE worker ever waits on the
 * network.
 */
#ifndef PC_FS_H
#define PC_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pc_config.h"
#include "pc_net.h"
#include "pc_store.h"

struct pc_fs;

/* @cfg and @store are borrowed and outlive the fs (@store may come later,
 * pc_fs_set_store()).  NULL with @err set. */
struct pc_fs *pc_fs_new(const struct pc_config *cfg, struct pc_store *store,
			char *err, size_t errlen);
void pc_fs_set_store(struct pc_fs *fs, struct pc_store *store);
/* The net that serves misses; set once, before pc_fs_mount(). */
void pc_fs_set_net(struct pc_fs *fs, struct pc_net *net);
/* Which of the net's repositories serves this fs's misses (its mirrors,
 * pc_net_add_repo); NULL, or never called: the first.  After
 * pc_fs_set_net(), before pc_fs_mount(). */
void pc_fs_set_net_repo(struct pc_fs *fs, struct pc_net_repo *repo);

/* A daemon serves at most this many mounts, one per repository. */
#define PC_FS_MAX_SESSIONS PC_CONFIG_MAX_REPOS
/* This fs is one of the daemon's @count sessions (one per repository),
 * before pc_fs_run().  With more than one, a restart is refused at once
 * (it hands over one mount) and the mount is not kept in systemd's fd
 * store (a crash ends every mount; the next start clears them). */
void pc_fs_set_sessions(struct pc_fs *fs, size_t count);
/* Ends pc_fs_run() as a stop signal would, from any thread (another
 * session of the daemon that ended); not once pc_fs_free() has begun. */
void pc_fs_stop(struct pc_fs *fs);
/* Hooks to give pc_net_new(): kernel cache invalidation on a switch, and
 * the control socket's "restart". */
struct pc_net_hooks pc_fs_net_hooks(struct pc_fs *fs);

/* Mounts read-only at @mountpoint.  0 or negative errno with @err set. */
int pc_fs_mount(struct pc_fs *fs, const char *mountpoint, char *err,
		size_t errlen);
/* Serves requests until unmounted or a SIGTERM/SIGINT/SIGHUP arrives, or
 * until a new process is ready to take the mount over (*@handing_over:
 * see pc_fs_restart_finish() in handover.h).  Multi-threaded.  0 or a
 * negative errno. */
int pc_fs_run(struct pc_fs *fs, bool *handing_over);
/*
 * Moments of a start or restart held long enough for a test to act in
 * them, and a request that crashes the daemon.  Only a test build reads them
 * ($PEERCACHE_TEST_HOOKS, in peercache-next); all 0 in the daemon that is
 * installed.
 */
struct pc_fs_test_hooks {
	unsigned pause_ms;	   /* old process: workers paused, net on */
	unsigned serve_delay_ms;   /* new process: net started, no SERVING */
	unsigned mainpid_delay_ms; /* old process: SERVING, no MAINPID= yet */
	unsigned mounted_delay_ms; /* fresh start: mounted, no request loop */
	char crash_lookup[64];	   /* abort() on a LOOKUP of this name */
};
/* Before pc_fs_run(); @hooks is copied. */
void pc_fs_set_test_hooks(struct pc_fs *fs,
			  const struct pc_fs_test_hooks *hooks);

/* Answers what is still parked, unmounts (if mounted) and frees.  Call
 * after pc_net_stop(): no fetch calls back any more by then. */
void pc_fs_free(struct pc_fs *fs);

#endif /* PC_FS_H */
