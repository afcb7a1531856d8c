/*
 * passthrough.c - files of one chunk read by the kernel straight from the
 * chunk file (FUSE passthrough, Linux 6.9): no READ request, no copy
 * through the daemon, and one copy of the bytes in the page cache (the
 * chunk file's) instead of two.
 *
 * The kernel's rules (fs/fuse/iomode.c): an open in passthrough mode
 * names a backing file registered on the connection
 * (FUSE_DEV_IOC_BACKING_OPEN, which takes CAP_SYS_ADMIN); while an inode
 * has such opens, every other open of it must be a passthrough open of
 * the same registration, and while it has opens through the page cache,
 * none may be a passthrough open.  The kernel fails an open that breaks
 * them with EIO.  So the mode of an inode is decided at its first open
 * and kept while it has opens, here, in a table of the inodes with opens:
 * (inode, registration or 0 for the page cache, opens).  A file of one
 * chunk whose chunk is cached goes through; a file whose chunk is not, or
 * of several chunks, goes through the page cache (the daemon answers its
 * READs: read.c).  The registration is dropped at the last RELEASE: the
 * kernel lets go of an inode's backing file before it sends the RELEASE
 * of its last open (fuse_file_put), so a new open after that may name a
 * new one.
 *
 * The table outlives the process: a restart without unmount, or a crash
 * that systemd's fd store bridges, leaves files open in the kernel under
 * registrations this process never made, and the next open of one of them
 * must name the same.  It is a file in the cache directory, mapped
 * shared: the next process maps the same (a fresh mount starts it anew).
 * With several repositories (no restart, no fd store: sessions.c) it is
 * anonymous memory.  A process that dies between counting an open and
 * answering it leaves the count one too high: the inode keeps its mode
 * and registration until the mount ends, which is harmless.
 *
 * Opens of files of several chunks are not counted: they never go
 * through, and the kernel lets them be.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "internal.h"
#include "pc_log.h"
#include "pt_table.h"

/* Newer than Debian 12's linux/fuse.h (7.38); the values of 7.40. */
#define INIT_PASSTHROUGH (1u << 5) /* FUSE_PASSTHROUGH, in flags2 */
#define INIT_EXT (1u << 30)	   /* FUSE_INIT_EXT, in flags */
#define OPEN_PASSTHROUGH (1u << 7) /* FOPEN_PASSTHROUGH */
struct backing_map {		   /* struct fuse_backing_map */
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
#define IOC_BACKING_OPEN _IOW(229, 1, struct backing_map)
#define IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)
/* Where the fields are in struct fuse_init_in and fuse_init_out: flags2
 * and max_stack_depth are past the end of 7.38's structs' named fields. */
#define IN_FLAGS 12
#define IN_FLAGS2 16
#define OUT_FLAGS 12
#define OUT_FLAGS2 32
#define OUT_STACK_DEPTH 36
#define OUT_MIN (OUT_STACK_DEPTH + 4)

#define TABLE_MAGIC "pcpthru"
/* The format is in the file's name: a build with another never maps (or
 * resizes) a table that a process of this one still uses. */
#define TABLE_NAME "passthrough.1"
#define TABLE_SLOTS (1u << 16)
/* Inodes of one chunk open at once, at most: three quarters of the slots,
 * so that a probe stays short. */
#define TABLE_MAX (TABLE_SLOTS / 4 * 3)

struct table_header {
	char magic[8];
	uint32_t nslots;
	uint32_t dev_major, dev_minor; /* the mount it belongs to */
	uint32_t generation;	       /* of the index: what inodes mean */
	uint32_t used;		       /* slots in use */
	uint32_t reserved;
};

_Static_assert(sizeof(struct table_header) % _Alignof(struct pt_slot) == 0,
	       "the slots after the header are aligned");

struct fs_pt {
	pthread_mutex_t lock;
	struct table_header *header; /* the mapping; lock */
	struct pt_slot *slots;	     /* header->nslots of them; lock */
	int fuse_fd;		     /* the session's /dev/fuse fd */
	bool refused;	  /* the kernel refused a registration: none from now
			     on; lock */
	bool warned_full; /* lock */
};

static uint32_t get32(const void *base, size_t at)
{
	uint32_t v;

	memcpy(&v, (const char *)base + at, sizeof(v));
	return v;
}

static void put32(void *base, size_t at, uint32_t v)
{
	memcpy((char *)base + at, &v, sizeof(v));
}

bool fs_pt_offered(const void *req, size_t len)
{
	const char *in = (const char *)req + sizeof(struct fuse_in_header);

	if (len < sizeof(struct fuse_in_header) + IN_FLAGS2 + 4)
		return false;
	return (get32(in, IN_FLAGS) & INIT_EXT) &&
	       (get32(in, IN_FLAGS2) & INIT_PASSTHROUGH);
}

bool fs_pt_in_reply(const void *reply, size_t len)
{
	const char *out = (const char *)reply + sizeof(struct fuse_out_header);

	if (len < sizeof(struct fuse_out_header) + OUT_MIN)
		return false;
	return (get32(out, OUT_FLAGS) & INIT_EXT) &&
	       (get32(out, OUT_FLAGS2) & INIT_PASSTHROUGH) &&
	       get32(out, OUT_STACK_DEPTH) > 0;
}

bool fs_pt_ask(struct iovec *iov, int count, char *copy, size_t room)
{
	/* libfuse sends the header and the struct, nothing else. */
	if (count != 2 || iov[1].iov_len < OUT_MIN || iov[1].iov_len > room)
		return false;
	memcpy(copy, iov[1].iov_base, iov[1].iov_len);
	put32(copy, OUT_FLAGS, get32(copy, OUT_FLAGS) | INIT_EXT);
	put32(copy, OUT_FLAGS2, get32(copy, OUT_FLAGS2) | INIT_PASSTHROUGH);
	/* The chunk files are on a file system that stacks on nothing. */
	put32(copy, OUT_STACK_DEPTH, 1);
	iov[1].iov_base = copy;
	return true;
}

void fs_pt_open_reply(struct iovec *iov, int count, struct fuse_open_out *copy,
		      uint32_t backing)
{
	if (count != 2 || iov[1].iov_len != sizeof(*copy))
		return;
	memcpy(copy, iov[1].iov_base, sizeof(*copy));
	/* Only the flags a passthrough open may carry: the kernel fails it
	 * with any other, FOPEN_KEEP_CACHE included. */
	copy->open_flags =
		(copy->open_flags & FOPEN_NOFLUSH) | OPEN_PASSTHROUGH;
	copy->padding = backing; /* backing_id since 7.40 */
	iov[1].iov_base = copy;
}

bool fs_pt_capable(void)
{
	struct __user_cap_header_struct head = {
		.version = _LINUX_CAPABILITY_VERSION_3
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &head, data) != 0)
		return false;
	return data[CAP_SYS_ADMIN / 32].effective &
	       (1u << (CAP_SYS_ADMIN % 32));
}

/* The table's file, or "" when it is anonymous memory (several mounts:
 * no restart, sessions.c). */
static void table_path(const struct pc_fs *fs, char *path, size_t room)
{
	if (fs->fdstore)
		snprintf(path, room, "%s/%s", fs->cfg->cache_dir, TABLE_NAME);
	else
		path[0] = '\0';
}

static size_t table_len(void)
{
	return sizeof(struct table_header) +
	       TABLE_SLOTS * sizeof(struct pt_slot);
}

/* @path's table (or anonymous memory for ""), created if @create, mapped;
 * NULL with errno.  A new file has its blocks allocated: a write to a
 * hole of a mapping on a full disk is a SIGBUS. */
static void *map_table(const char *path, bool create)
{
	void *map;
	int fd = -1, err;

	if (path[0]) {
		fd = open(path,
			  O_RDWR | O_CLOEXEC | O_NOFOLLOW |
				  (create ? O_CREAT | O_TRUNC : 0),
			  0600);
		if (fd < 0)
			return NULL;
		err = !create ? 0
		      : ftruncate(fd, (off_t)table_len()) < 0
			      ? errno
			      : posix_fallocate(fd, 0, (off_t)table_len());
		if (err) {
			close(fd);
			if (create)
				unlink(path);
			errno = err;
			return NULL;
		}
	}
	map = mmap(NULL, table_len(), PROT_READ | PROT_WRITE,
		   MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	err = errno;
	if (fd >= 0)
		close(fd);
	errno = err;
	return map == MAP_FAILED ? NULL : map;
}

static bool header_fits(const struct table_header *h, const struct pc_fs *fs,
			uint32_t generation)
{
	return memcmp(h->magic, TABLE_MAGIC, sizeof(h->magic)) == 0 &&
	       h->nslots == TABLE_SLOTS && h->dev_major == fs->dev_major &&
	       h->dev_minor == fs->dev_minor && h->generation == generation;
}

static void header_init(struct table_header *h, const struct pc_fs *fs,
			uint32_t generation)
{
	memcpy(h->magic, TABLE_MAGIC, sizeof(h->magic));
	h->nslots = TABLE_SLOTS;
	h->dev_major = fs->dev_major;
	h->dev_minor = fs->dev_minor;
	h->generation = generation;
}

/*
 * The table of a process that died (a crash that systemd's fd store
 * bridged): it may have died in pt_table_remove(), leaving an entry twice
 * or one past an empty slot.  Its entries are inserted again, each inode
 * once (with the higher count: one too high only keeps a registration
 * until the mount ends), in place: the file's blocks are there already,
 * and a full disk must not stop a resume.  (Dying in here, in the first
 * milliseconds of a process, could lose entries: the next open of such an
 * inode fails while its earlier opens stay open.)
 */
static int rebuild(struct table_header *h)
{
	struct pt_slot *slots = (struct pt_slot *)(h + 1);
	size_t len = TABLE_SLOTS * sizeof(*slots);
	struct pt_slot *copy = malloc(len);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, slots, len);
	memset(slots, 0, len);
	h->used = pt_table_copy(slots, copy, TABLE_SLOTS);
	free(copy);
	return 0;
}

/* The table of the mount this process serves (see fs_pt_start()); NULL
 * with errno. */
static struct table_header *open_table(struct pc_fs *fs, bool fresh, bool died,
				       uint32_t generation)
{
	struct table_header *map;
	char path[4096];

	table_path(fs, path, sizeof(path));
	map = map_table(path, fresh || !path[0]);
	if (!map)
		return NULL;
	if (fresh || !path[0]) {
		header_init(map, fs, generation);
		return map;
	}
	if (!header_fits(map, fs, generation)) {
		munmap(map, table_len());
		errno = ESTALE;
		return NULL;
	}
	if (died && rebuild(map) < 0) {
		munmap(map, table_len());
		errno = ENOMEM;
		return NULL;
	}
	return map;
}

int fs_pt_start(struct pc_fs *fs, int fuse_fd, bool fresh, bool died,
		uint32_t generation)
{
	struct fs_pt *pt = calloc(1, sizeof(*pt));
	char path[4096];

	if (!pt)
		return -ENOMEM;
	pt->header = open_table(fs, fresh, died, generation);
	if (!pt->header) {
		int err = errno;

		table_path(fs, path, sizeof(path));
		pc_log(PC_LOG_WARN, "fs", "the passthrough table %s: %s",
		       path[0] ? path : "(memory)", strerror(err));
		free(pt);
		return -err;
	}
	pt->slots = (struct pt_slot *)(pt->header + 1);
	/* Every page in the map now: a page that is in no process's map is
	 * what `echo 3 > drop_caches` (or memory pressure) drops first, and
	 * an open would wait for the disk to read its slot back (0.1-0.2 ms
	 * of a first byte here).  1 MiB, counted in RssFile. */
	madvise(pt->header, table_len(), MADV_POPULATE_WRITE);
	pt->fuse_fd = fuse_fd;
	pthread_mutex_init(&pt->lock, NULL);
	atomic_store(&fs->pt, pt);
	return 0;
}

void fs_pt_stop(struct pc_fs *fs)
{
	struct fs_pt *pt = atomic_exchange(&fs->pt, NULL);

	if (!pt)
		return;
	munmap(pt->header, table_len());
	pthread_mutex_destroy(&pt->lock);
	free(pt);
}

bool fs_pt_on(struct pc_fs *fs)
{
	return atomic_load(&fs->pt) != NULL;
}

/* With pt->lock: the kernel would not register a chunk file.  When it
 * never will (no CAP_SYS_ADMIN in its view: EPERM; a cache on a stacked
 * file system: ELOOP; no passthrough: EINVAL, EOPNOTSUPP, ENOTTY), no
 * registration is tried again, and files are read through the daemon;
 * otherwise (no memory, too many files) only this open is. */
static void refuse_locked(struct fs_pt *pt, int err)
{
	if (err != EPERM && err != ELOOP && err != EINVAL &&
	    err != EOPNOTSUPP && err != ENOTTY) {
		pc_log_cause(PC_LOG_WARN, "fs", "passthrough registration",
			     "cannot register a chunk file for passthrough "
			     "(%s): that open goes through the daemon",
			     strerror(err));
		return;
	}
	if (!pt->refused)
		pc_log(PC_LOG_WARN, "fs",
		       "the kernel does not register chunk files for "
		       "passthrough (%s): files are read through the daemon",
		       err == ELOOP ? "the cache directory is on a stacked "
				      "file system, such as overlayfs"
				    : strerror(err));
	pt->refused = true;
}

/* A registration of chunk 0's file of @of, or 0 (not cached, damaged, or
 * the kernel would not). */
static uint32_t register_chunk(struct pc_fs *fs, struct fs_pt *pt,
			       const struct open_file *of)
{
	struct backing_map map = { .fd = -1 };
	int id, err;

	map.fd = fs_open_chunk(fs, of, 0);
	if (map.fd < 0) /* the READs fetch it */
		return 0;
	id = ioctl(pt->fuse_fd, IOC_BACKING_OPEN, &map);
	err = errno;
	pc_store_fd_close(map.fd);
	if (id > 0)
		return (uint32_t)id;
	pthread_mutex_lock(&pt->lock);
	refuse_locked(pt, err);
	pthread_mutex_unlock(&pt->lock);
	return 0;
}

static void unregister(struct fs_pt *pt, uint32_t id)
{
	if (id && ioctl(pt->fuse_fd, IOC_BACKING_CLOSE, &id) < 0)
		pc_log_cause(PC_LOG_WARN, "fs", "passthrough close",
			     "cannot drop passthrough registration %u: %s", id,
			     strerror(errno));
}

/* With pt->lock: one more open of @ino, in the mode its slot @s has, or
 * (an empty slot) in @mine's.  -ENFILE if the table is at TABLE_MAX. */
static int count_open_locked(struct fs_pt *pt, struct pt_slot *s, uint64_t ino,
			     uint32_t mine, uint32_t *backing)
{
	if (s->ino == ino) {
		s->opens++;
		*backing = s->backing;
		return 0;
	}
	if (pt->header->used >= TABLE_MAX) {
		if (!pt->warned_full)
			pc_log(PC_LOG_WARN, "fs",
			       "%u files of one chunk are open: no more can be "
			       "opened until some are closed",
			       TABLE_MAX);
		pt->warned_full = true;
		return -ENFILE;
	}
	s->backing = mine;
	s->opens = 1;
	s->ino = ino;
	pt->header->used++;
	*backing = mine;
	return 0;
}

int fs_pt_open(struct pc_fs *fs, struct open_file *of, int flags,
	       uint32_t *backing)
{
	struct fs_pt *pt = atomic_load(&fs->pt);
	struct pt_slot *s;
	uint32_t mine = 0;
	bool fresh;
	int rc;

	*backing = 0;
	if (!pt || of->nchunks != 1)
		return 0;
	pthread_mutex_lock(&pt->lock);
	s = pt_table_find(pt->slots, TABLE_SLOTS, of->ino);
	/* A new inode goes through if its chunk is cached, passthrough is
	 * on in this process's configuration (a process that took over a
	 * mount with passthrough keeps the inodes open in that mode), and
	 * the open is not O_DIRECT (the chunk file would be read O_DIRECT,
	 * with its alignment rules, where the daemon's read has none). */
	fresh = s->ino != of->ino && !pt->refused && fs->cfg->passthrough &&
		!(flags & O_DIRECT);
	pthread_mutex_unlock(&pt->lock);
	if (fresh) /* registered outside the lock, then looked for again */
		mine = register_chunk(fs, pt, of);
	pthread_mutex_lock(&pt->lock);
	s = pt_table_find(pt->slots, TABLE_SLOTS, of->ino);
	rc = count_open_locked(pt, s, of->ino, mine, backing);
	pthread_mutex_unlock(&pt->lock);
	if (rc < 0 || *backing != mine) /* another open came first */
		unregister(pt, mine);
	if (rc == 0)
		atomic_store(&of->pt_counted, true);
	return rc;
}

void fs_pt_adopted(struct pc_fs *fs, struct open_file *of)
{
	/* The earlier process counted every open of a file of one chunk. */
	atomic_store(&of->pt_counted, fs_pt_on(fs) && of->nchunks == 1);
}

/* One open of @ino fewer; its registration dropped with the last. */
static void release_ino(struct fs_pt *pt, uint64_t ino)
{
	struct pt_slot *s;
	uint32_t id = 0;

	pthread_mutex_lock(&pt->lock);
	s = pt_table_find(pt->slots, TABLE_SLOTS, ino);
	if (s->ino == ino && s->opens > 0 && --s->opens == 0) {
		id = s->backing;
		pt_table_remove(pt->slots, TABLE_SLOTS, s);
		if (pt->header->used > 0)
			pt->header->used--;
	}
	pthread_mutex_unlock(&pt->lock);
	unregister(pt, id);
}

void fs_pt_release(struct pc_fs *fs, struct open_file *of)
{
	struct fs_pt *pt = atomic_load(&fs->pt);

	if (pt && atomic_exchange(&of->pt_counted, false))
		release_ino(pt, of->ino);
}

void fs_pt_release_unknown(struct pc_fs *fs, uint64_t ino)
{
	struct fs_pt *pt = atomic_load(&fs->pt);

	/* An earlier process's open, never used here: only files of one
	 * chunk have slots, and every open of one was counted. */
	if (pt)
		release_ino(pt, ino);
}
