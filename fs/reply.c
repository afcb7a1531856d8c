/*
 * reply.c - the bytes of a read reply: which chunks cover the range, where
 * each one's bytes are, and the one call that sends them.
 *
 * A chunk of a reply is either a chunk file (a cache hit, or a chunk that
 * was cached when its read was parked) or a verified memory buffer: one
 * that a fetch handed over (chunk_buf.c in net/), or one of the chunks
 * fetched a moment ago (pc_net_chunk_recent), which large chunks were
 * written to disk past the page cache and would otherwise be read back
 * from the disk.  The parts are opened or taken
 * before the reply is built and held until it is sent, so a purge that
 * runs in between (it only unlinks) or a full disk that kept a chunk out
 * of the cache can never turn a read into an error.
 *
 * How each mix is sent (libfuse 3.14, lib/fuse_lowlevel.c,
 * fuse_send_data_iov): files alone are spliced (FUSE_BUF_IS_FD |
 * FUSE_BUF_FD_SEEK): the page cache's pages go to the kernel without a
 * copy in user space.  Memory alone goes out in one writev
 * (fuse_reply_iov), one copy; fuse_reply_data would copy it twice (into a
 * pipe, or into a bounce buffer when there is more than one piece).  A mix
 * is rare (a read that straddles a cached chunk and a fetched one) and goes
 * through fuse_reply_data with splicing: the files still splice, the
 * memory is written into the pipe.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "pc_log.h"

uint32_t fs_chunk_at(const struct open_file *of, uint64_t off)
{
	uint32_t lo = 0, hi = of->nchunks;

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (of->offsets[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

void fs_parts_release(struct fs_part *parts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (parts[i].fd >= 0)
			pc_store_fd_close(parts[i].fd);
		pc_chunk_buf_put(parts[i].buf);
		parts[i].fd = -1;
		parts[i].buf = NULL;
	}
}

/*
 * A chunk file is verified before it is renamed in; its length is checked
 * again here (cheap), so that a file damaged on disk since is never served
 * short or long (spliced, or read by the kernel in passthrough): it is
 * discarded and fetched again.  (The discard's LMDB write may wait behind
 * a version install: rare.)
 */
int fs_open_chunk(struct pc_fs *fs, const struct open_file *of, uint32_t i)
{
	char hex[PC_HASH_HEX_LEN + 1];
	int fd = pc_store_chunk_open(fs->store, &of->chunks[i].hash);
	off_t size;

	if (fd < 0)
		return -ENOENT;
	size = pc_store_fd_size(fd);
	if (size >= 0 && (uint64_t)size == of->chunks[i].len)
		return fd;
	pc_store_fd_close(fd);
	pc_hash_to_hex(&of->chunks[i].hash, hex);
	pc_log_cause(PC_LOG_WARN, "fs", "damaged chunk files",
		     "chunk %s: the cached file has the wrong length; "
		     "fetching it again",
		     hex);
	return pc_store_chunk_discard(fs->store, &of->chunks[i].hash) < 0
		       ? -EIO
		       : -ENOENT;
}

int fs_open_parts(struct pc_fs *fs, struct open_file *of, uint64_t off,
		  size_t size, struct fs_part *parts, uint32_t *missing,
		  unsigned *nmissing)
{
	uint64_t end = off + size < of->size ? off + size : of->size;
	uint32_t first = fs_chunk_at(of, off);
	uint32_t last = fs_chunk_at(of, end - 1);
	int fd;

	*nmissing = 0;
	for (uint32_t i = first; i <= last; i++) {
		parts[i - first] = (struct fs_part){ .buf = NULL, .fd = -1 };
		fd = fs_open_chunk(fs, of, i);
		if (fd == -EIO) {
			fs_parts_release(parts, i - first);
			return -EIO;
		}
		/* A file fetched a moment ago: its bytes are in memory, and
		 * not in the page cache.  Looked for after the open (a chunk
		 * is among the recent ones before its file is renamed in),
		 * and only for a chunk the store has: one removed since (a
		 * purge, peercachectl verify) is fetched again. */
		if (fd >= 0)
			parts[i - first].buf = pc_net_chunk_recent(
				fs->net, &of->chunks[i].hash);
		if (parts[i - first].buf) {
			pc_store_fd_close(fd);
			continue;
		}
		if (fd < 0)
			missing[(*nmissing)++] = i;
		else
			parts[i - first].fd = fd;
	}
	return 0;
}

/* A bufvec with room for PC_FS_MAX_SPAN buffers; indexed through a pointer
 * since struct fuse_bufvec declares buf[1]. */
union reply_vec {
	struct fuse_bufvec vec;
	char room[sizeof(struct fuse_bufvec) +
		  PC_FS_MAX_SPAN * sizeof(struct fuse_buf)];
};

int fs_reply_parts(fuse_req_t req, const struct open_file *of, uint64_t off,
		   size_t size, const struct fs_part *parts)
{
	uint64_t end = off + size < of->size ? off + size : of->size;
	uint32_t first = fs_chunk_at(of, off);
	uint32_t last = fs_chunk_at(of, end - 1);
	struct iovec iov[PC_FS_MAX_SPAN];
	union reply_vec bufs;
	struct fuse_buf *slot = bufs.vec.buf;
	bool in_memory = true;
	unsigned n = 0;

	for (uint32_t i = first; i <= last; i++, n++) {
		const struct fs_part *part = &parts[i - first];
		uint64_t from = (i == first ? off : of->offsets[i]);
		uint64_t to = (i == last ? end : of->offsets[i + 1]);
		uint64_t at = from - of->offsets[i];

		slot[n] = (struct fuse_buf){ .size = (size_t)(to - from) };
		if (part->buf) {
			if (pc_chunk_buf_len(part->buf) != of->chunks[i].len)
				return -EIO;
			slot[n].mem =
				(void *)(pc_chunk_buf_data(part->buf) + at);
			iov[n].iov_base = slot[n].mem;
			iov[n].iov_len = slot[n].size;
		} else if (part->fd >= 0) {
			slot[n].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
			slot[n].fd = part->fd;
			slot[n].pos = (off_t)at;
			in_memory = false;
		} else {
			return -EIO;
		}
	}
	if (in_memory) {
		fuse_reply_iov(req, iov, (int)n);
		return 0;
	}
	bufs.vec.count = n;
	bufs.vec.idx = 0;
	bufs.vec.off = 0;
	fuse_reply_data(req, &bufs.vec, FUSE_BUF_SPLICE_MOVE);
	return 0;
}
