/*
 * internal.h - shared by the files of fs/ only.
 */
#ifndef PC_FS_INTERNAL_H
#define PC_FS_INTERNAL_H

#define FUSE_USE_VERSION 312

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "pc_fs.h"

/* How long the kernel may cache names and attributes.  Long, because a
 * version switch invalidates what changed explicitly. */
#define PC_FS_ENTRY_TIMEOUT 86400.0
#define PC_FS_NEGATIVE_TIMEOUT 3600.0
#define PC_FS_READ_SIZE (1024 * 1024)

/* The most chunks a single read can touch: a 1 MiB read over minimum-sized
 * chunks, plus the partial ones at both ends. */
#define PC_FS_MAX_SPAN (PC_FS_READ_SIZE / PC_CHUNK_MIN + 2)

struct parked_read;

struct pc_fs {
	const struct pc_config *cfg;
	struct pc_store *store;
	struct pc_net *net; /* set before mount, then read-only */
	struct fuse_session *session;
	char *mountpoint;
	atomic_bool mounted; /* main thread writes, loop thread reads */

	/* Reads waiting for fetches (parked.c).  The replier thread answers
	 * those that pass their deadline and sends the EINTR of interrupted
	 * ones. */
	pthread_t replier;
	bool replier_running;
	pthread_mutex_t parked_lock;
	pthread_cond_t parked_cond;	 /* CLOCK_MONOTONIC */
	struct parked_read *parked_head; /* oldest first; parked_lock */
	struct parked_read *parked_tail; /* parked_lock */
	struct parked_read *interrupted; /* EINTR to send; parked_lock */
	bool stopping;			 /* parked_lock */

	/* Files the kernel has open: the ones it never released (it sends
	 * no RELEASE once the session ends) are freed at pc_fs_free(). */
	pthread_mutex_t open_lock;
	struct open_file *open_files; /* open_lock */
};

/* An open regular file: its chunk list with cumulative offsets, copied
 * from the store at open so that a version switch or a purge of the inode
 * record does not disturb a reader that holds it open. */
struct open_file {
	atomic_uint refs;	       /* open + parked reads */
	struct open_file *prev, *next; /* open files; fs->open_lock */
	uint64_t ino;
	uint64_t size;
	uint32_t nchunks;
	struct pc_chunk_ref *chunks;
	uint64_t *offsets;		 /* nchunks + 1 entries */
	atomic_uint_fast32_t last_chunk; /* sequential-read detection */
	/* Chunks whose read failed moments ago, (chunk << 32 | monotonic
	 * seconds), 0 = empty: the kernel retries a failed readahead page by
	 * page, and the retries must not wait out fetch_timeout again. */
	atomic_uint_fast64_t failures[4];
	atomic_uint failure_next;
};

/* ops.c */
extern const struct fuse_lowlevel_ops pc_fs_ops;
void pc_fs_fill_attr(const struct pc_inode *inode, struct stat *st);

/* read.c */
void pc_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pc_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void pc_fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void pc_fs_open_file_put(struct open_file *of);
/* Drops the kernel's reference to every file it still has open. */
void pc_fs_close_open_files(struct pc_fs *fs);
/* Replies from the chunk files if all of [off, off + size) is cached (0);
 * else -ENOENT with the missing chunk indexes, or -EIO if a chunk file has
 * the wrong length, and nothing replied.  @hit counts a cache hit. */
int pc_fs_reply_cached(struct pc_fs *fs, fuse_req_t req, struct open_file *of,
		       uint64_t off, size_t size, bool hit, uint32_t *missing,
		       unsigned *nmissing);
/* Remembers that a read of @of at @off just failed (see read.c). */
void pc_fs_remember_failure(struct open_file *of, uint64_t off);

/* parked.c */
/* Answers @req later: when the @nmissing chunks have been fetched, or with
 * EIO at fetch_timeout, or EINTR when interrupted. */
void pc_fs_park(struct pc_fs *fs, fuse_req_t req, struct open_file *of,
		off_t off, size_t size, const uint32_t *missing,
		unsigned nmissing);
/* The lock and (monotonic) condition variable of the parked list. */
int pc_fs_parked_init(struct pc_fs *fs);
int pc_fs_replier_start(struct pc_fs *fs);
/* Answers what is still parked with EIO and joins the thread. */
void pc_fs_replier_stop(struct pc_fs *fs);

#endif
