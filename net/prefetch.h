/*
 * prefetch.h - peercachectl prefetch: every chunk under a path of the
 * current version (prefetch.c).
 */
#ifndef PC_NET_PREFETCH_H
#define PC_NET_PREFETCH_H

#include <stdint.h>

struct pc_net;

/* ---- prefetch of a path (prefetch.c) -------------------------------------- */

#define NET_PREFETCH_PATH_MAX 240 /* fits the control socket's line */
#define NET_PREFETCH_DEPTH_MAX 128

struct net_prefetch_result {
	int rc; /* 0; -ENOENT, -ENOTDIR, -EINVAL (a symlink, ".."), -ENODATA
		   (no version yet); -EIO (chunks failed); -ECANCELED */
	uint64_t version;
	uint64_t files, chunks, bytes; /* under the path */
	uint64_t cached;	       /* chunks that were there already */
	uint64_t fetched;	       /* chunks fetched now */
	uint64_t failed;	       /* chunks no source delivered */
	double seconds;
};

struct net_prefetch_job;
/* Runs once on the loop thread; @r is borrowed for the call. */
typedef void (*net_prefetch_done)(void *arg,
				  const struct net_prefetch_result *r);
/* Fetches every chunk of the file or tree at @path ("/" separated, from
 * the mount's root) in the current version.  NULL with *@err set
 * (-ENAMETOOLONG, -ENOMEM). */
struct pc_net_repo;
struct net_prefetch_job *net_prefetch_start(struct pc_net_repo *repo,
					    const char *path,
					    net_prefetch_done done, void *arg,
					    int *err);
/* The caller went away: no callback; the job ends on its own. */
void net_prefetch_abandon(struct net_prefetch_job *job);

#endif /* PC_NET_PREFETCH_H */
