/*
 * read.c - file data: open, read, release.
 *
 * A read maps [off, off + size) onto the chunks that cover it.  If every
 * chunk is in the cache, the reply is spliced straight from the chunk files
 * (fuse_reply_data with FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK) on the calling
 * worker thread.  Otherwise the request is parked: net/ is asked for each
 * missing chunk, and the read is answered when the last one arrives
 * (parked.c).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devio.h"
#include "internal.h"

/* How long a chunk whose read failed fails again at once for the same open
 * file. */
#define FAILURE_MEMORY_S 2

void fs_open_file_put(struct open_file *of)
{
	unsigned before = atomic_fetch_sub(&of->refs, 1);

	assert(before > 0);
	if (before != 1)
		return;
	if (of->pinned)
		pc_store_unpin_chunks(of->store, of->chunks, of->nchunks);
	free(of->chunks);
	free(of->offsets);
	free(of);
}

static void track(struct pc_fs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->open_lock);
	pc_list_insert_head(&fs->open_files, &of->link);
	pthread_mutex_unlock(&fs->open_lock);
}

static void untrack(struct pc_fs *fs, struct open_file *of)
{
	pthread_mutex_lock(&fs->open_lock);
	pc_list_remove(&of->link);
	pthread_mutex_unlock(&fs->open_lock);
}

void fs_close_open_files(struct pc_fs *fs)
{
	struct open_file *of;

	while (!pc_list_empty(&fs->open_files)) {
		of = container_of(fs->open_files.next, struct open_file, link);
		untrack(fs, of);
		fs_open_file_put(of);
	}
}

struct open_file *fs_file_open(struct pc_fs *fs, uint64_t ino, int *error)
{
	struct pc_inode inode;
	struct open_file *of;
	int rc;

	rc = pc_store_inode(fs->store, ino, &inode);
	if (rc < 0) {
		*error = rc == -ENOENT || rc == -ESTALE ? -rc : EIO;
		return NULL;
	}
	if (inode.type != PC_ENTRY_FILE) {
		pc_inode_release(&inode);
		*error = inode.type == PC_ENTRY_DIR ? EISDIR : EINVAL;
		return NULL;
	}
	of = calloc(1, sizeof(*of));
	if (of)
		of->offsets = malloc((inode.nchunks + 1) * sizeof(uint64_t));
	if (!of || !of->offsets) {
		free(of);
		pc_inode_release(&inode);
		*error = ENOMEM;
		return NULL;
	}
	atomic_init(&of->refs, 1);
	of->ino = ino;
	of->size = inode.size;
	of->nchunks = inode.nchunks;
	of->chunks = inode.chunks; /* ownership moves to the open file */
	inode.chunks = NULL;
	pc_inode_release(&inode);
	of->offsets[0] = 0;
	for (uint32_t i = 0; i < of->nchunks; i++)
		of->offsets[i + 1] = of->offsets[i] + of->chunks[i].len;
	atomic_init(&of->last_chunk, UINT32_MAX);
	atomic_init(&of->furthest, UINT32_MAX);
	atomic_init(&of->asked_until, 0);
	atomic_init(&of->run, 0);
	for (unsigned i = 0; i < 4; i++)
		atomic_init(&of->failures[i], 0);
	atomic_init(&of->failure_next, 0);
	/* A purge must not take what an open file needs; a file too large
	 * for that streams through the cache (parked reads pin only the
	 * chunks they wait for, parked.c). */
	fs_file_pin(fs, of);
	track(fs, of);
	return of;
}

void fs_file_close(struct pc_fs *fs, struct open_file *of)
{
	untrack(fs, of);
	fs_open_file_put(of);
}

/*
 * A file is opened to be read, from its start nearly always: a missing
 * chunk 0 is fetched at once, so that the first read finds it on its way
 * (the open's reply, the process's turn and the read's request no longer
 * come first: a cold small file's first byte in 0.43 ms instead of 0.56,
 * medians of 16).  A cached one costs a path lookup (faccessat); nothing
 * is kept open for the read (an open file must not hold a descriptor: a
 * process may keep thousands open).  An open that is never read fetches
 * one chunk.
 */
static void open_ahead(struct pc_fs *fs, struct open_file *of)
{
	if (of->nchunks > 0 &&
	    !pc_store_chunk_present(fs->store, &of->chunks[0].hash))
		pc_net_repo_prefetch(fs_net_repo(fs), &of->chunks[0], 1);
}

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pc_fs *fs = fuse_req_userdata(req);
	struct open_file *of;
	uint32_t backing;
	pid_t pid;
	int error;

	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_APPEND | O_CREAT))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	of = fs_file_open(fs, ino, &error);
	if (!of) {
		fuse_reply_err(req, error);
		return;
	}
	/* An id, not a pointer: it must mean the same file to the next
	 * process after a restart (handles.c). */
	fi->fh = fs_file_handle(fs, of);
	if (!fi->fh) {
		fs_file_close(fs, of);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	error = -fs_pt_open(fs, of, fi->flags, &backing);
	if (error) {
		fs_file_release(fs, fi->fh);
		fuse_reply_err(req, error);
		return;
	}
	/* An inode's content never changes; a passthrough open may not
	 * say so (its pages are the chunk file's). */
	fi->keep_cache = !backing;
	if (!backing)
		open_ahead(fs, of);
	pid = fuse_req_ctx(req)->pid; /* the request goes with the reply */
	fs_devio_open_backing(backing);
	error = fuse_reply_open(req, fi);
	fs_devio_open_backing(0);
	if (error != 0) { /* the kernel gave up on it */
		fs_pt_release(fs, of);
		fs_file_release(fs, fi->fh);
		return;
	}
	if (backing)
		pc_store_count(fs->store, PC_CTR_PASSTHROUGH_OPENS, 1);
	fs_walk_open(fs, ino, pid);
}

void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pc_fs *fs = fuse_req_userdata(req);
	bool known = true;
	struct open_file *of =
		fs_pt_on(fs) ? fs_file_find(fs, ino, fi->fh, &known) : NULL;

	/* The passthrough table counts the open out once the kernel has
	 * the answer: a RELEASE that it sends again to the next process
	 * (this one died before answering) is counted out there, once. */
	if (fuse_reply_err(req, 0) == 0) {
		if (of)
			fs_pt_release(fs, of);
		else if (!known) /* an earlier process's, unused here */
			fs_pt_release_unknown(fs, ino);
	}
	if (of)
		fs_open_file_put(of);
	fs_file_release(fs, fi->fh);
}

static uint64_t now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Never 0 (which marks an empty slot): seconds are stored plus one. */
static uint64_t failure_record(uint32_t chunk, uint64_t seconds)
{
	return (uint64_t)chunk << 32 | ((seconds + 1) & 0xffffffff);
}

void fs_remember_failure(struct open_file *of, uint64_t off)
{
	unsigned slot = atomic_fetch_add(&of->failure_next, 1) % 4;

	atomic_store(&of->failures[slot],
		     failure_record(fs_chunk_at(of, off), now_seconds()));
}

/* True if reading @chunk of this open file failed moments ago. */
static bool failed_recently(struct open_file *of, uint32_t chunk)
{
	uint64_t now = now_seconds();

	for (unsigned i = 0; i < 4; i++) {
		uint64_t rec = atomic_load(&of->failures[i]);

		if (rec && (uint32_t)(rec >> 32) == chunk &&
		    ((now + 1 - rec) & 0xffffffff) < FAILURE_MEMORY_S)
			return true;
	}
	return false;
}

/* Chunks a sequential reader announces to the peers at a time: one
 * discovery probe's worth (PC_DISC_MAX_HASHES). */
#define LOOKAHEAD_CHUNKS 64
/* The read-ahead of a new sequential run, in chunks; it grows by two per
 * chunk read in sequence, up to the prefetch setting. */
#define PREFETCH_START 4

/*
 * At most a quarter of the quota ahead (pc_store_pin_file_limit): chunks
 * fetched ahead are not pinned, and a window that the purge would take
 * back before the reader gets there would fetch everything twice.  The
 * quota's minimum (PC_CONFIG_QUOTA_MIN) leaves room for one chunk of any
 * size.
 */
static uint32_t within_quota(struct pc_fs *fs, const struct open_file *of,
			     uint32_t from, uint32_t count)
{
	uint64_t limit = pc_store_pin_file_limit(fs->store), bytes = 0;
	uint32_t n = 0;

	while (n < count && bytes + of->chunks[from + n].len <= limit)
		bytes += of->chunks[from + n++].len;
	return n;
}

_Static_assert(PC_CONFIG_QUOTA_MIN / 4 >= PC_CHUNK_MAX, "the least quota "
							"leaves read-ahead "
							"room for one chunk");

/* How far before or past the furthest chunk read (or the file's start,
 * before any) a READ may start and still count as sequential: the
 * kernel's read-ahead (read_ahead, at least one request) has up to two
 * windows of READs in flight (the one the reader is in and the next),
 * which parallel workers may take in any order (with two READs' worth, a
 * cold cat under TSan had a chunk taken for a random read's).  After a
 * restart with a lower read_ahead, files opened before keep their larger
 * windows until reopened: some of their READs may count as random (a
 * fetch asked for as random: written through the page cache). */
static uint64_t reorder_bytes(const struct pc_fs *fs)
{
	uint64_t window = fs->cfg->read_ahead > PC_FS_READ_SIZE
				  ? fs->cfg->read_ahead
				  : PC_FS_READ_SIZE;

	return 2 * window;
}

/*
 * Whether a READ over chunks [first, last] jumped: a random read, whose
 * fetches ask for PC_FETCH_RANDOM.  Followed by the furthest chunk read
 * (a READ of 960 KiB may cover a small chunk whole), with READs taken out
 * of order within reorder_bytes() still counted as sequential: with the rule
 * of maybe_prefetch() (the next chunk or the same), more than half of a
 * cold 1 GiB read by cat was taken for random reads.  One position per
 * open file: readers that share one (an NFS server's file cache, a fork)
 * far apart from each other look like random readers.
 */
static bool jumped(const struct pc_fs *fs, struct open_file *of, uint32_t first,
		   uint32_t last)
{
	uint_fast32_t furthest = atomic_load(&of->furthest);
	uint64_t reorder = reorder_bytes(fs);

	do {
		if (furthest != UINT32_MAX && last <= furthest)
			break;
	} while (!atomic_compare_exchange_weak(&of->furthest, &furthest, last));
	if (furthest == UINT32_MAX) /* the first read: near the start? */
		return of->offsets[first] > reorder;
	if (last > furthest) /* past the end of the furthest chunk? */
		return of->offsets[first] > of->offsets[furthest + 1] + reorder;
	if (of->offsets[first + 1] + reorder >= of->offsets[furthest])
		return false;
	/* A jump back: the run goes on from here (unless another reader
	 * of the open file moved it meanwhile). */
	atomic_compare_exchange_strong(&of->furthest, &furthest, last);
	return true;
}

/*
 * Sequential readers: fetch the next chunks before they are asked for,
 * and before the read-ahead reaches chunks not yet announced, announce the
 * next LOOKAHEAD_CHUNKS to the net (pc_net_lookahead: one probe learns who
 * has them all).  The first read of chunk 0 counts as sequential.  The
 * window starts small, so that a reader that stops after the first chunks
 * (a header, a signature check) does not pull a whole prefetch window
 * over a thin link, and grows as the run goes on: deep enough to keep the
 * LAN or the mirror busy while the reader catches up, and never more
 * than the cache can hold for it (within_quota).
 */
static void maybe_prefetch(struct pc_fs *fs, struct open_file *of,
			   uint32_t chunk)
{
	uint32_t previous = atomic_exchange(&of->last_chunk, chunk);
	uint32_t count = (uint32_t)fs->cfg->prefetch;
	uint_fast32_t asked = atomic_load(&of->asked_until), run;
	uint32_t ahead;

	if (previous == chunk)
		return;
	if (previous + 1 != chunk) { /* a new run announces afresh */
		atomic_store(&of->run, 0);
		atomic_store(&of->asked_until, 0);
		return;
	}
	run = atomic_fetch_add(&of->run, 1) + 1;
	if (2 * run < count)
		count = 2 * run > PREFETCH_START ? (uint32_t)(2 * run)
						 : PREFETCH_START;
	if (count > (uint32_t)fs->cfg->prefetch)
		count = (uint32_t)fs->cfg->prefetch;
	if (count == 0 || chunk + 1 >= of->nchunks)
		return;
	if (count > of->nchunks - chunk - 1)
		count = of->nchunks - chunk - 1;
	count = within_quota(fs, of, chunk + 1, count);
	if (chunk + count >= asked) {
		ahead = of->nchunks - chunk - 1;
		if (ahead > LOOKAHEAD_CHUNKS)
			ahead = LOOKAHEAD_CHUNKS;
		/* One reader of the file announces each window. */
		if (atomic_compare_exchange_strong(&of->asked_until, &asked,
						   chunk + 1 + ahead))
			pc_net_repo_lookahead(fs_net_repo(fs),
					      &of->chunks[chunk + 1], ahead);
	}
	pc_net_repo_prefetch(fs_net_repo(fs), &of->chunks[chunk + 1], count);
}

/* How many chunks [off, off + size) touches (off < size). */
static unsigned span(const struct open_file *of, uint64_t off, size_t size)
{
	uint64_t end = off + size < of->size ? off + size : of->size;

	return fs_chunk_at(of, end - 1) - fs_chunk_at(of, off) + 1;
}

/* Answers from the cache alone: every part is a chunk file. */
static void reply_hit(struct pc_fs *fs, fuse_req_t req, struct open_file *of,
		      uint64_t off, size_t size, struct fs_part *parts)
{
	uint64_t end = off + size < of->size ? off + size : of->size;

	if (fs_reply_parts(req, of, off, size, parts) < 0) {
		fuse_reply_err(req, EIO);
	} else {
		pc_store_count(fs->store, PC_CTR_HITS, 1);
		pc_store_count(fs->store, PC_CTR_BYTES_FROM_CACHE, end - off);
	}
	fs_parts_release(parts, span(of, off, size));
}

void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct pc_fs *fs = fuse_req_userdata(req);
	/* The kernel sends RELEASE only once every READ of the file has been
	 * answered, but that ordering passes through /dev/fuse, out of sight
	 * of ThreadSanitizer and of whoever reads this code: a reference held
	 * for the duration makes it explicit. */
	struct open_file *of = fs_file_get(fs, ino, fi->fh);
	struct fs_part parts[PC_FS_MAX_SPAN];
	uint32_t missing[PC_FS_MAX_SPAN], first;
	unsigned nmissing;
	uint64_t end;
	bool random_read;

	if (!of) { /* an earlier process's file that is gone */
		fuse_reply_err(req, EIO);
		return;
	}
	if (off < 0 || (uint64_t)off >= of->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		goto out;
	}
	/* The max_read mount option keeps requests within PC_FS_READ_SIZE,
	 * which bounds PC_FS_MAX_SPAN.  A short reply would read as end of
	 * file, so a larger request (a kernel ignoring max_read) fails loudly
	 * instead. */
	if (size > PC_FS_READ_SIZE) {
		fuse_reply_err(req, EIO);
		goto out;
	}
	first = fs_chunk_at(of, (uint64_t)off);
	end = (uint64_t)off + size < of->size ? (uint64_t)off + size : of->size;
	random_read = jumped(fs, of, first, fs_chunk_at(of, end - 1));
	maybe_prefetch(fs, of, first);
	if (fs_open_parts(fs, of, (uint64_t)off, size, parts, missing,
			  &nmissing) < 0) {
		fuse_reply_err(req, EIO);
	} else if (nmissing == 0) {
		reply_hit(fs, req, of, (uint64_t)off, size, parts);
	} else if (failed_recently(of, first)) {
		fs_parts_release(parts, span(of, (uint64_t)off, size));
		fuse_reply_err(req, EIO);
	} else {
		fs_park(fs, req, of, off, size, parts, missing, nmissing,
			random_read);
	}
out:
	fs_open_file_put(of);
}
