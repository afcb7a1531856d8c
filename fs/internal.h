/*
 * internal.h - shared by the files of fs/ only.  Names here are fs_*
 * (libuv's uv__ tier); pc_fs_* is for what fs/'s public headers export
 * (pc_fs.h, and for daemon/'s restart wiring handover.h, mounts.h,
 * exe_path.h).
 */
#ifndef PC_FS_INTERNAL_H
#define PC_FS_INTERNAL_H

#define FUSE_USE_VERSION 312

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/uio.h>

#include <fuse_lowlevel.h>

#include "handles.h"
#include "pc_list.h"
#include "pc_fs.h"

/* How long the kernel may cache names and attributes.  Long, because a
 * version switch invalidates what changed explicitly. */
#define PC_FS_ENTRY_TIMEOUT 86400.0
#define PC_FS_NEGATIVE_TIMEOUT 3600.0

/*
 * The largest read request (max_read): 960 KiB, not 1 MiB, so that
 * libfuse can splice every reply.  fuse_send_data_iov() (libfuse 3.14,
 * lib/fuse_lowlevel.c) wants a pipe of a page per iovec and per buffer,
 * plus one, plus the header and the data; a pipe larger than
 * /proc/sys/fs/pipe-max-size (1 MiB by default) takes CAP_SYS_RESOURCE,
 * and a reply that needs one is copied through a fresh buffer (pread +
 * writev) instead: every 1 MiB reply was.
 * The worst case here, 960 KiB over PC_FS_MAX_SPAN buffers, needs
 * 4096 * (1 + 5 + 1) + 16 + 983040 = 1011728 bytes: it fits in 1 MiB.
 * Raising pipe-max-size instead would work as well (docs/BENCHMARKS.md
 * has both measured) but changes the whole machine.
 */
#define PC_FS_READ_SIZE (960 * 1024)
/*
 * The kernel's read-ahead on the mount is the read_ahead key (the bdi's
 * read_ahead_kb, set once INIT is answered: fs.c), 3840 KiB by default:
 * four requests.  The kernel splits a read-ahead window into requests of
 * PC_FS_READ_SIZE and sends them at once, so a sequential reader has a
 * window's four in flight (eight when the next window goes out before the
 * last is answered), which the FUSE workers answer in parallel, each
 * reading its chunk files and copying into the reader's pages.  With one
 * request a window (960 KiB), a read of a cached 1 GiB file took 1.0-1.4 s
 * instead of 0.86-1.07 (page cache dropped), and 0.74-0.90 s instead of
 * 0.51-0.65 with its chunk files in memory, for twice the daemon's CPU.
 * A mapped file is read this much around each page fault too, until the
 * kernel sees that it is read at random: 32 random touches of a cold
 * 256 MiB mapped file fetched 154 MiB with 3840 KiB, 57 MiB with 960.
 */
/* st_blksize, the I/O size readers are told to use.  A power of two: the
 * kernel rounds it down to one. */
#define PC_FS_BLKSIZE (1024 * 1024)

/* The most chunks a single read can touch: a full-sized read over
 * minimum-sized chunks, plus the partial ones at both ends. */
#define PC_FS_MAX_SPAN (PC_FS_READ_SIZE / PC_CHUNK_MIN + 2)

/* The arithmetic above, checked by the compiler: requests are whole pages;
 * PC_FS_MAX_SPAN buffers cover any request over chunks of at least
 * PC_CHUNK_MIN (the partial chunks at both ends included); the worst
 * splice (a page per iovec and per buffer, plus one, the header and the
 * data) fits in the default 1 MiB pipe-max-size; st_blksize is a power of
 * two no smaller than a request. */
_Static_assert(PC_FS_READ_SIZE % 4096 == 0, "read size: whole pages");
_Static_assert((PC_FS_READ_SIZE + PC_CHUNK_MIN - 1) / PC_CHUNK_MIN + 1 <=
		       PC_FS_MAX_SPAN,
	       "PC_FS_MAX_SPAN: a read spans at most this many chunks");
_Static_assert(4096 * (1 + PC_FS_MAX_SPAN + 1) + 16 + PC_FS_READ_SIZE <=
		       1024 * 1024,
	       "a full read's splice fits in the default pipe-max-size");
_Static_assert((PC_FS_BLKSIZE & (PC_FS_BLKSIZE - 1)) == 0 &&
		       PC_FS_BLKSIZE >= PC_FS_READ_SIZE,
	       "st_blksize: a power of two, at least a read");

/* Threads that answer parked reads (parked.c).  A reply is a splice of up
 * to PC_FS_READ_SIZE bytes; two keep the replies of a cold sequential read
 * going while one waits on a page, without crowding the loop thread off a
 * small machine's cores. */
#define PC_FS_REPLIERS 2

struct parked_read;
struct fs_walk;
struct fs_pt;

struct pc_fs {
	const struct pc_config *cfg;
	struct pc_store *store;
	struct pc_net *net; /* set before mount, then read-only */
	/* The repository whose fetches the fs asks for (set with net); NULL:
	 * the net's first.  fs_net_repo() gives the one to use. */
	struct pc_net_repo *net_repo;
	struct fs_walk *walk; /* walk.c; NULL: no read-ahead across files */
	struct fuse_session *session;
	char *mountpoint;
	atomic_bool mounted; /* main thread writes, loop thread reads */

	/* Reads waiting for fetches (parked.c).  The replier threads send
	 * the large replies to parked reads and the EINTR of interrupted
	 * ones, so that the loop thread that completes a fetch keeps driving
	 * the downloads, and fail the reads that pass their deadline. */
	pthread_t repliers[PC_FS_REPLIERS];
	unsigned nrepliers; /* started; main thread only */
	pthread_mutex_t parked_lock;
	pthread_cond_t parked_cond; /* CLOCK_MONOTONIC */
	struct pc_list parked;	    /* by deadline, oldest first; parked_lock */
	struct pc_list answers;	    /* claimed, to answer; parked_lock */
	bool stopping;		    /* parked_lock */

	/* Files the kernel has open: the ones it never released (it sends
	 * no RELEASE once the session ends) are freed at pc_fs_free(). */
	pthread_mutex_t open_lock;
	struct pc_list open_files; /* struct open_file; open_lock */
	struct pc_list open_dirs;  /* the same for directories; open_lock */

	/* Restart without unmount: fh ids (handles.c), the device's reads
	 * and writes (devio.c), restarts and stop signals (takeover.c). */
	struct fs_handles *handles;
	struct fs_devio *devio;
	struct fs_restart *restart;
	/* Written by the main thread while no request loop runs (mount,
	 * adoption, handover); read-only while one does: */
	uint32_t dev_major, dev_minor; /* the mount's device */
	bool adopted;	  /* the mount is another process's: ours to end */
	bool handed_over; /* a new process serves it: never unmount */
	/* Keep the mount in systemd's fd store (pc_fs_set_sessions: not when
	 * the daemon serves several).  Set before the mount. */
	bool fdstore;
	/* Files of one chunk read straight from their chunk file
	 * (passthrough.c); NULL: every file through the daemon.  Set before
	 * the first OPEN (by the worker that answers the INIT, or at
	 * adoption), then left alone until pc_fs_free(): atomic because the
	 * order between the INIT and an OPEN goes through /dev/fuse, out of
	 * ThreadSanitizer's sight. */
	_Atomic(struct fs_pt *) pt;
};

/* An open regular file: its chunk list with cumulative offsets, copied
 * from the store at open so that a version switch or a purge of the inode
 * record does not disturb a reader that holds it open. */
struct open_file {
	atomic_uint refs;	/* open + parked reads */
	struct pc_store *store; /* for the pins */
	bool pinned;	     /* its chunks are pinned (a file up to a quarter of
			the quota) until the last reference goes */
	struct pc_list link; /* fs->open_files; fs->open_lock */
	uint64_t ino;
	uint64_t size;
	uint32_t nchunks;
	struct pc_chunk_ref *chunks;
	uint64_t *offsets;		  /* nchunks + 1 entries */
	atomic_uint_fast32_t last_chunk;  /* sequential-read detection */
	atomic_uint_fast32_t furthest;	  /* the furthest chunk read (jumped) */
	atomic_uint_fast32_t run;	  /* chunks read in sequence so far */
	atomic_uint_fast32_t asked_until; /* chunks before this one were
					     handed to pc_net_lookahead */
	/* Chunks whose read failed moments ago, (chunk << 32 | monotonic
	 * seconds), 0 = empty: the kernel retries a failed readahead page by
	 * page, and the retries must not wait out fetch_timeout again. */
	atomic_uint_fast64_t failures[4];
	atomic_uint failure_next;
	/* Counted in the passthrough table (passthrough.c): its RELEASE
	 * takes it out. */
	atomic_bool pt_counted;
};

/* The repository of the net that serves this fs's misses. */
static inline struct pc_net_repo *fs_net_repo(const struct pc_fs *fs)
{
	return fs->net_repo ? fs->net_repo : pc_net_first_repo(fs->net);
}

/* ops.c */
extern const struct fuse_lowlevel_ops fs_ops;
void fs_fill_attr(const struct pc_inode *inode, struct stat *st);

/* Where the bytes of one chunk of a reply are: in memory (verified bytes
 * that a fetch handed over) or in a chunk file.  Whoever holds a part owns
 * its reference and its fd. */
struct fs_part {
	struct pc_chunk_buf *buf; /* NULL, or a reference */
	int fd;			  /* -1, or an open chunk file */
};

/* read.c */
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_open_file_put(struct open_file *of);
/* An open of @ino, pinned and tracked, with one reference; NULL with the
 * errno for the reader in *@error.  fs_file_close() undoes it. */
struct open_file *fs_file_open(struct pc_fs *fs, uint64_t ino, int *error);
void fs_file_close(struct pc_fs *fs, struct open_file *of);
/* Drops the kernel's reference to every file it still has open. */
void fs_close_open_files(struct pc_fs *fs);
/* ops.c: frees the directory handles the kernel never released (a
 * process, e.g. an NFS server, held them open past the unmount). */
void fs_close_open_dirs(struct pc_fs *fs);
/* ops.c: the same as fs_file_open() and fs_file_close() for a
 * directory (a snapshot of its listing). */
struct open_dir *fs_dir_open(struct pc_fs *fs, uint64_t ino, int *error);
void fs_dir_close(struct pc_fs *fs, struct open_dir *dir);
/* Index of the chunk holding byte @off (off < size). */
uint32_t fs_chunk_at(const struct open_file *of, uint64_t off);
/* Opens the chunk files that cover [off, off + size) (clipped to the
 * file): @parts[i] gets the fd of chunk first + i, or fd -1 and the chunk
 * index in @missing (a damaged chunk file is discarded and counted as
 * missing).  0; or -EIO if a discard failed, with every fd closed. */
int fs_open_parts(struct pc_fs *fs, struct open_file *of, uint64_t off,
		  size_t size, struct fs_part *parts, uint32_t *missing,
		  unsigned *nmissing);
/* Replies with [off, off + size) from @parts (every chunk of the range
 * in memory or in a file): all in memory, one writev (fuse_reply_iov);
 * else fuse_reply_data, which splices the files and copies the memory.
 * 0, or -EIO (nothing replied) if a part is missing or a buffer has the
 * wrong length.  A chunk file's length is checked when it is opened
 * (fs_open_parts: one of the wrong length is discarded and fetched again),
 * not here. */
int fs_reply_parts(fuse_req_t req, const struct open_file *of, uint64_t off,
		   size_t size, const struct fs_part *parts);
/* Chunk @i's file of @of, open, or -ENOENT (not cached, or damaged and
 * discarded: fetched again), -EIO (damaged, and the discard failed). */
int fs_open_chunk(struct pc_fs *fs, const struct open_file *of, uint32_t i);
/* Closes the fds and drops the buffers of @n parts. */
void fs_parts_release(struct fs_part *parts, unsigned n);
/* Remembers that a read of @of at @off just failed (see read.c). */
void fs_remember_failure(struct open_file *of, uint64_t off);

/* parked.c: waits up to @timeout_ms until no read is parked (a takeover
 * on a kernel without FUSE_NOTIFY_RESEND lets them finish). */
void fs_parked_drain(struct pc_fs *fs, int timeout_ms);

/* walk.c: read-ahead across the files of a directory read in order. */
struct fs_walk *fs_walk_new(void);
void fs_walk_free(struct fs_walk *walk);
/* A lookup found @name in @parent: inode @ino (any FUSE thread). */
void fs_walk_lookup(struct pc_fs *fs, uint64_t parent, const char *name,
		    uint64_t ino);
/* Process @pid opened inode @ino (after the open was answered): asks for
 * the next files if it walks its directory in order. */
void fs_walk_open(struct pc_fs *fs, uint64_t ino, pid_t pid);

/* parked.c */
/* Answers @req later: when the @nmissing chunks have been fetched, or with
 * EIO at fetch_timeout, or EINTR when interrupted.  Takes @parts (the
 * chunk files of the range that were open already).  @random_read: a read
 * that jumped (read.c: jumped(); PC_FETCH_RANDOM for its fetches). */
void fs_park(struct pc_fs *fs, fuse_req_t req, struct open_file *of, off_t off,
	     size_t size, struct fs_part *parts, const uint32_t *missing,
	     unsigned nmissing, bool random_read);
/* The lock and (monotonic) condition variable of the parked list. */
int fs_parked_init(struct pc_fs *fs);
/* Starts the PC_FS_REPLIERS threads; 0 or a negative errno (those that
 * started run until fs_replier_stop()). */
int fs_replier_start(struct pc_fs *fs);
/* Sends the answers already decided, answers what is still parked with
 * EIO, and joins the threads.  Call once no fetch can call back any more
 * (after pc_net_stop()). */
void fs_replier_stop(struct pc_fs *fs);

/* passthrough.c: files of one chunk read by the kernel from the chunk file.
 * The INIT exchange: whether the kernel offers passthrough, whether a
 * reply asked for it, and asking for it in libfuse's reply (@iov as
 * libfuse writes it; iov[1] is pointed at @copy, @room bytes). */
bool fs_pt_offered(const void *req, size_t len);
bool fs_pt_in_reply(const void *reply, size_t len);
bool fs_pt_ask(struct iovec *iov, int count, char *copy, size_t room);
/* libfuse's OPEN reply (@iov) made a passthrough open on @backing (libfuse
 * 3.14 knows no FOPEN_PASSTHROUGH): iov[1] is pointed at @copy. */
struct fuse_open_out;
void fs_pt_open_reply(struct iovec *iov, int count, struct fuse_open_out *copy,
		      uint32_t backing);
/* Whether this process may register backing files (CAP_SYS_ADMIN). */
bool fs_pt_capable(void);
/* The table of inodes with opens, on @fuse_fd's connection: a new one for
 * a fresh mount, the previous process's otherwise (it must be of the
 * mount's device, fs->dev_*, and of the index's @generation; rebuilt if
 * that process @died).  0 or a negative errno (then fs->pt stays NULL). */
int fs_pt_start(struct pc_fs *fs, int fuse_fd, bool fresh, bool died,
		uint32_t generation);
void fs_pt_stop(struct pc_fs *fs);
/* Whether passthrough is on for this mount. */
bool fs_pt_on(struct pc_fs *fs);
/* An open of @of with the open(2) @flags: *@backing is the registration
 * to answer with, or 0 to go through the page cache.  0, or -ENFILE (the
 * table is full). */
int fs_pt_open(struct pc_fs *fs, struct open_file *of, int flags,
	       uint32_t *backing);
/* An earlier process's open of @of, adopted: it was counted. */
void fs_pt_adopted(struct pc_fs *fs, struct open_file *of);
/* The RELEASE of @of (or an open whose reply never reached the kernel);
 * of an earlier process's open of @ino that this one never used. */
void fs_pt_release(struct pc_fs *fs, struct open_file *of);
void fs_pt_release_unknown(struct pc_fs *fs, uint64_t ino);

#endif
