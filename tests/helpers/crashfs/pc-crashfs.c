/*
 * pc-crashfs.c - test helper: a pass-through FUSE file system that can
 * "cut the power", for crash tests on a kernel without device-mapper (no
 * dm-flakey, no dm-log-writes).  The idea is LazyFS's; the code is ours.
 *
 *   pc-crashfs [-f] [-d] [-o mode=zero|short] [-o stall=FILE] \
 *           [-o FUSE option]... BACKING_DIR MOUNTPOINT
 *
 * Every operation passes through to BACKING_DIR at once (create, mkdir,
 * mknod, rename, unlink, link, symlink, chmod, chown, utimens, truncate),
 * except file data: write() lands in memory, in a per-file overlay of
 * 64 KiB pages, and reaches the backing file only when that file is
 * fsync()ed or fdatasync()ed, which writes its pending pages to the
 * backing file and fsyncs it.  Reads through the mount see the pending
 * data, as they would see a page cache.  The backing file therefore always
 * holds exactly the durable state.
 *
 * Commands (signals to the pc-crashfs process; each one logs a line on
 * stderr when it is done, which tests wait for: tests/helpers/crashfs/
 * crashfs.sh does):
 *
 *   SIGUSR1  cut the power: every write not made durable is dropped.
 *            Logs "pc-crashfs: power cut N: dropped B bytes in F files".
 *   SIGUSR2  write everything back, as sync(1) does on a real file system.
 *            Logs "pc-crashfs: sync N: wrote B bytes of F files".
 *
 * After a cut the mount keeps serving, showing the durable state; kill the
 * processes that use it first (a power cut ends them too).  Every open
 * drops the file's kernel page cache and attributes are never cached, so
 * what is opened after the cut reads the durable bytes; a process that
 * kept a file open across the cut may still see lost data through its
 * page cache.  Unmounting without a cut writes everything back, as a
 * clean unmount would.
 *
 * The model is the worst realistic case of a journaling file system whose
 * metadata survived the cut but whose data did not (ext4 data=writeback,
 * or delayed allocation): names, renames and sizes are durable at once,
 * data only once synced.  After a cut, bytes that overwrote durable data
 * read as the old bytes again, and a file that grew while unsynced shows,
 * by mode:
 *
 *   mode=zero   (default) its grown size, the unsynced range as zeros
 *   mode=short  the size of its last durable state
 *
 * With -o stall=FILE, creating a file waits for as long as FILE exists
 * (a disk whose metadata work is slow: what a reader of a small file must
 * not wait for).
 *
 * Not modelled: lost metadata (a rename survives without a directory
 * fsync), torn or reordered writes inside one file's synced data.
 *
 * syncfs(2) and sync(2) do not reach this program.  Seen on Linux 6.18
 * with -d: syncfs(), `sync -f FILE` and `sync` send no request at all to
 * a /dev/fuse server (the kernel sends FUSE_SYNCFS only to virtiofs), and
 * libfuse 3.14 has no handler for FUSE_SYNCFS anyway.  So syncfs on this
 * mount makes nothing durable, where ext4 would have written everything:
 * code under test that relies on syncfs loses data here.  Per-file fsync
 * and fdatasync are what pc-crashfs honours; SIGUSR2 stands in for
 * sync(1).
 *
 * Memory: pending pages are capped at 1 GiB in all (16,384 pages of
 * 64 KiB; a write that needs more fails with ENOSPC, and nothing of it is
 * kept) and pending writes at 64 GiB into a file (EFBIG).  One mutex
 * guards all the state: this is a test tool, simple before fast.
 */
#define FUSE_USE_VERSION 312
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

#define PAGE_SHIFT 16
#define PAGE_BYTES ((size_t)1 << PAGE_SHIFT)
#define PENDING_CAP ((size_t)1 << 30)
#define OFFSET_CAP ((off_t)64 << 30)
#define TABLE_SIZE 1024

/* One backing inode that is open or has pending data. */
struct file {
	dev_t dev;
	ino_t ino;
	int fd;		/* backing file, read-write; -1 until the first write */
	off_t size;	/* the size the mount shows */
	char **pages;	/* pages[i] covers [i << PAGE_SHIFT, +PAGE_BYTES) */
	size_t npages;	/* length of pages[] */
	size_t pending; /* pages in memory (not NULL in pages[]) */
	unsigned handles;
	bool linked; /* in the table: false once its last name is gone */
	struct file *next;
};

/* What fi->fh points to. */
struct handle {
	int fd;
	struct file *file;
};

enum mode {
	MODE_ZERO,
	MODE_SHORT
};

static struct {
	pthread_mutex_t lock; /* guards everything below and every file */
	int backing;	      /* O_PATH descriptor of BACKING_DIR */
	const char *backing_path;
	const char *mode_name;
	const char *stall_path; /* creates wait while it exists; or NULL */
	enum mode mode;
	struct file *table[TABLE_SIZE];
	size_t pending_bytes;
	unsigned cuts, syncs;
	pthread_t signal_thread;
	bool stopping;
} fs = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* "/a/b" -> "a/b", "/" -> "." (for the *at() calls on fs.backing). */
static const char *rel(const char *path)
{
	return path[1] ? path + 1 : ".";
}

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* ---- the table of files (fs.lock held) ---------------------------------- */

static struct file **bucket(dev_t dev, ino_t ino)
{
	return &fs.table[(ino ^ dev) % TABLE_SIZE];
}

static struct file *file_find(dev_t dev, ino_t ino)
{
	struct file *f;

	for (f = *bucket(dev, ino); f; f = f->next)
		if (f->dev == dev && f->ino == ino)
			return f;
	return NULL;
}

static void file_unlink(struct file *f)
{
	struct file **p;

	if (!f->linked)
		return;
	for (p = bucket(f->dev, f->ino); *p != f; p = &(*p)->next)
		;
	*p = f->next;
	f->linked = false;
}

/* Drops the pages at and above page index FIRST. */
static void drop_pages(struct file *f, size_t first)
{
	size_t i;

	for (i = first; i < f->npages; i++) {
		if (!f->pages[i])
			continue;
		free(f->pages[i]);
		f->pages[i] = NULL;
		f->pending--;
		fs.pending_bytes -= PAGE_BYTES;
	}
}

/* Frees F once nothing refers to it and it has nothing pending.  The data
 * of a file without a name is dropped with its last handle: nobody can
 * ever read it again. */
static void file_release_if_idle(struct file *f)
{
	if (!f->linked && !f->handles)
		drop_pages(f, 0);
	if (f->handles || f->pending)
		return;
	file_unlink(f);
	if (f->fd >= 0)
		close(f->fd);
	free(f->pages);
	free(f);
}

/* The file of backing descriptor FD, found or made. */
static struct file *file_get(int fd)
{
	struct stat st;
	struct file *f;

	if (fstat(fd, &st) < 0)
		return NULL;
	f = file_find(st.st_dev, st.st_ino);
	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->fd = -1;
	f->size = st.st_size;
	f->linked = true;
	f->next = *bucket(f->dev, f->ino);
	*bucket(f->dev, f->ino) = f;
	return f;
}

/* The name PATH goes away (unlink, or a rename over it): if it was the
 * file's last name, the file is no longer reachable by its inode number,
 * which the backing file system may now give to a new file. */
static void name_gone(const struct stat *st)
{
	struct file *f;

	if (!S_ISREG(st->st_mode) || st->st_nlink > 1)
		return;
	f = file_find(st->st_dev, st->st_ino);
	if (!f)
		return;
	file_unlink(f);
	file_release_if_idle(f);
}

/* ---- pages (fs.lock held) ------------------------------------------------ */

/* Makes room for page index LAST in pages[]. */
static int grow_pages(struct file *f, size_t last)
{
	size_t n = f->npages ? f->npages : 16;
	char **pages;

	if (last < f->npages)
		return 0;
	while (n <= last)
		n *= 2;
	pages = realloc(f->pages, n * sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	memset(pages + f->npages, 0, (n - f->npages) * sizeof(*pages));
	f->pages = pages;
	f->npages = n;
	return 0;
}

/* Reads [OFF, OFF + LEN) of the backing file (its durable bytes) into
 * BUF; what lies past its end reads as zeros, as a hole would. */
static int read_backing(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	memset(buf + done, 0, len - done);
	return 0;
}

/* Copies BUF into the overlay at OFF.  All or nothing: the room for every
 * new page is checked first. */
static int overlay_write(struct file *f, const char *buf, size_t len, off_t off)
{
	size_t first = (size_t)off >> PAGE_SHIFT, i, done = 0, fresh = 0;
	size_t last = (size_t)(off + (off_t)len - 1) >> PAGE_SHIFT;
	int err;

	if (off + (off_t)len > OFFSET_CAP)
		return -EFBIG;
	err = grow_pages(f, last);
	if (err)
		return err;
	for (i = first; i <= last; i++)
		fresh += !f->pages[i];
	if (fs.pending_bytes + fresh * PAGE_BYTES > PENDING_CAP)
		return -ENOSPC;
	for (i = first; i <= last; i++) {
		off_t page_off = (off_t)i << PAGE_SHIFT;
		size_t at = off + (off_t)done - page_off;
		size_t n = PAGE_BYTES - at;

		if (!f->pages[i]) {
			f->pages[i] = malloc(PAGE_BYTES);
			if (!f->pages[i])
				return -ENOMEM;
			err = read_backing(f->fd, f->pages[i], PAGE_BYTES,
					   page_off);
			if (err) {
				free(f->pages[i]);
				f->pages[i] = NULL;
				return err;
			}
			f->pending++;
			fs.pending_bytes += PAGE_BYTES;
		}
		if (n > len - done)
			n = len - done;
		memcpy(f->pages[i] + at, buf + done, n);
		done += n;
	}
	if (off + (off_t)len > f->size)
		f->size = off + (off_t)len;
	return 0;
}

/* The size changed by a truncate that already reached the backing file:
 * pages past the end go, the tail of the last one becomes zeros (a page
 * past the size is always zeros, so growing needs nothing). */
static void overlay_truncate(struct file *f, off_t size)
{
	size_t last = (size_t)size >> PAGE_SHIFT;
	size_t at = (size_t)size & (PAGE_BYTES - 1);

	if (last < f->npages && f->pages[last])
		memset(f->pages[last] + at, 0, PAGE_BYTES - at);
	drop_pages(f, last + 1);
	f->size = size;
}

/* Writes F's pending pages to its backing file, then drops them.  The
 * caller syncs the backing file. */
static int overlay_flush(struct file *f, size_t *written)
{
	struct stat st;
	ssize_t n;
	size_t i;

	for (i = 0; i < f->npages; i++) {
		off_t page_off = (off_t)i << PAGE_SHIFT;
		size_t len = PAGE_BYTES;

		if (!f->pages[i] || page_off >= f->size)
			continue;
		if ((off_t)len > f->size - page_off)
			len = f->size - page_off;
		n = pwrite(f->fd, f->pages[i], len, page_off);
		if (n < 0)
			return -errno;
		if ((size_t)n != len)
			return -EIO;
		*written += len;
	}
	if (f->fd >= 0 && fstat(f->fd, &st) == 0 && st.st_size < f->size &&
	    ftruncate(f->fd, f->size) < 0)
		return -errno;
	drop_pages(f, 0);
	return 0;
}

/* ---- power cut and sync ------------------------------------------------- */

/* Calls FN on every file with pending data, then frees those left idle;
 * returns how many files there were. */
static size_t each_pending(void (*fn)(struct file *f, size_t *bytes),
			   size_t *bytes)
{
	size_t files = 0, b;
	struct file *f, *next;

	for (b = 0; b < TABLE_SIZE; b++) {
		for (f = fs.table[b]; f; f = next) {
			next = f->next;
			if (!f->pending)
				continue;
			files++;
			fn(f, bytes);
			file_release_if_idle(f);
		}
	}
	return files;
}

/* Drops F's pending writes; by mode, F keeps the size it grew to (zeros
 * where the data was) or falls back to its durable size. */
static void cut_file(struct file *f, size_t *dropped)
{
	struct stat st;

	*dropped += f->pending * PAGE_BYTES;
	drop_pages(f, 0);
	if (fs.mode == MODE_ZERO && fstat(f->fd, &st) == 0 &&
	    st.st_size < f->size && ftruncate(f->fd, f->size) < 0)
		fprintf(stderr, "pc-crashfs: ftruncate: %s\n", strerror(errno));
	if (fstat(f->fd, &st) == 0)
		f->size = st.st_size;
}

static void sync_file(struct file *f, size_t *written)
{
	int err = overlay_flush(f, written);

	if (err || fdatasync(f->fd) < 0)
		fprintf(stderr, "pc-crashfs: sync: %s\n",
			strerror(err ? -err : errno));
}

static void power_cut(void)
{
	size_t dropped = 0, files;

	pthread_mutex_lock(&fs.lock);
	files = each_pending(cut_file, &dropped);
	fprintf(stderr,
		"pc-crashfs: power cut %u: dropped %zu bytes in %zu files\n",
		++fs.cuts, dropped, files);
	pthread_mutex_unlock(&fs.lock);
}

static void sync_all(void)
{
	size_t written = 0, files;

	pthread_mutex_lock(&fs.lock);
	files = each_pending(sync_file, &written);
	fprintf(stderr, "pc-crashfs: sync %u: wrote %zu bytes of %zu files\n",
		++fs.syncs, written, files);
	pthread_mutex_unlock(&fs.lock);
}

/* SIGUSR1 and SIGUSR2 are blocked in every thread (main() blocks them
 * before libfuse starts any) and taken here, outside signal context. */
static void *signal_main(void *arg)
{
	sigset_t set;
	int sig;

	(void)arg;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	while (sigwait(&set, &sig) == 0) {
		if (__atomic_load_n(&fs.stopping, __ATOMIC_ACQUIRE))
			break;
		if (sig == SIGUSR1)
			power_cut();
		else
			sync_all();
	}
	return NULL;
}

/* ---- the file system: metadata passes through --------------------------- */

static void *cf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Writes must reach us as they happen (no kernel write-back), and
	 * no kernel cache may outlive a cut: attributes are asked every
	 * time, and every open drops the file's page cache (no
	 * kernel_cache, no auto_cache). */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	cfg->use_ino = 1;
	cfg->hard_remove = 1; /* no .fuse_hidden files in the backing dir */
	cfg->nullpath_ok = 1;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	if (pthread_create(&fs.signal_thread, NULL, signal_main, NULL) != 0) {
		fprintf(stderr, "pc-crashfs: cannot start the signal thread\n");
		exit(1);
	}
	return NULL;
}

static void cf_destroy(void *data)
{
	(void)data;
	__atomic_store_n(&fs.stopping, true, __ATOMIC_RELEASE);
	pthread_kill(fs.signal_thread, SIGUSR2);
	pthread_join(fs.signal_thread, NULL);
	sync_all(); /* a clean unmount writes everything back */
}

static int cf_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct file *f;
	int rc;

	if (fi)
		rc = fstat(handle_of(fi)->fd, st);
	else
		rc = fstatat(fs.backing, rel(path), st, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		return -errno;
	pthread_mutex_lock(&fs.lock);
	f = S_ISREG(st->st_mode) ? file_find(st->st_dev, st->st_ino) : NULL;
	if (f)
		st->st_size = f->size;
	pthread_mutex_unlock(&fs.lock);
	return 0;
}

static int cf_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(fs.backing, rel(path), buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int cf_mkdir(const char *path, mode_t mode)
{
	return mkdirat(fs.backing, rel(path), mode) < 0 ? -errno : 0;
}

/* Sockets (bind(2) on the mount), FIFOs, device nodes. */
static int cf_mknod(const char *path, mode_t mode, dev_t rdev)
{
	return mknodat(fs.backing, rel(path), mode, rdev) < 0 ? -errno : 0;
}

static int cf_symlink(const char *target, const char *path)
{
	return symlinkat(target, fs.backing, rel(path)) < 0 ? -errno : 0;
}

static int cf_link(const char *from, const char *to)
{
	return linkat(fs.backing, rel(from), fs.backing, rel(to), 0) < 0
		       ? -errno
		       : 0;
}

static int cf_rmdir(const char *path)
{
	return unlinkat(fs.backing, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int cf_unlink(const char *path)
{
	struct stat st;
	int rc = 0;

	pthread_mutex_lock(&fs.lock);
	if (fstatat(fs.backing, rel(path), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    unlinkat(fs.backing, rel(path), 0) < 0)
		rc = -errno;
	else
		name_gone(&st);
	pthread_mutex_unlock(&fs.lock);
	return rc;
}

static int cf_rename(const char *from, const char *to, unsigned flags)
{
	struct stat st;
	bool replaces;
	int rc = 0;

	pthread_mutex_lock(&fs.lock);
	replaces = !(flags & RENAME_EXCHANGE) &&
		   fstatat(fs.backing, rel(to), &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat2(fs.backing, rel(from), fs.backing, rel(to), flags) < 0)
		rc = -errno;
	else if (replaces)
		name_gone(&st);
	pthread_mutex_unlock(&fs.lock);
	return rc;
}

static int cf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (fi)
		return fchmod(handle_of(fi)->fd, mode) < 0 ? -errno : 0;
	return fchmodat(fs.backing, rel(path), mode, 0) < 0 ? -errno : 0;
}

static int cf_chown(const char *path, uid_t uid, gid_t gid,
		    struct fuse_file_info *fi)
{
	if (fi)
		return fchown(handle_of(fi)->fd, uid, gid) < 0 ? -errno : 0;
	return fchownat(fs.backing, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) <
			       0
		       ? -errno
		       : 0;
}

static int cf_utimens(const char *path, const struct timespec tv[2],
		      struct fuse_file_info *fi)
{
	if (fi)
		return futimens(handle_of(fi)->fd, tv) < 0 ? -errno : 0;
	return utimensat(fs.backing, rel(path), tv, AT_SYMLINK_NOFOLLOW) < 0
		       ? -errno
		       : 0;
}

/* A truncate is metadata: it reaches the backing file at once. */
static int cf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd = fi ? handle_of(fi)->fd : -1, rc = 0;
	struct file *f;
	struct stat st;

	if (!fi) {
		fd = openat(fs.backing, rel(path), O_WRONLY | O_NOFOLLOW);
		if (fd < 0)
			return -errno;
	}
	pthread_mutex_lock(&fs.lock);
	if (ftruncate(fd, size) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
	} else {
		f = file_find(st.st_dev, st.st_ino);
		if (f)
			overlay_truncate(f, size);
	}
	pthread_mutex_unlock(&fs.lock);
	if (!fi)
		close(fd);
	return rc;
}

static int cf_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	return statvfs(fs.backing_path, st) < 0 ? -errno : 0;
}

/* Directories: fi->fh is the DIR stream (with nullpath_ok, readdir and
 * fsyncdir may get no path). */
static int cf_opendir(const char *path, struct fuse_file_info *fi)
{
	int fd = openat(fs.backing, rel(path), O_RDONLY | O_DIRECTORY);
	DIR *dir;

	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	fi->fh = (uintptr_t)dir;
	return 0;
}

static int cf_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

/* Every entry in one call (offsets 0): libfuse keeps them for the kernel. */
static int cf_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t offset, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	DIR *dir = (DIR *)(uintptr_t)fi->fh;
	struct dirent *entry;

	(void)path;
	(void)offset;
	(void)flags;
	rewinddir(dir);
	while ((entry = readdir(dir))) {
		struct stat st = { .st_ino = entry->d_ino,
				   .st_mode = DTTOIF(entry->d_type) };

		if (fill(buf, entry->d_name, &st, 0, 0))
			break;
	}
	return 0;
}

static int cf_fsyncdir(const char *path, int datasync,
		       struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return fsync(dirfd((DIR *)(uintptr_t)fi->fh)) < 0 ? -errno : 0;
}

/* ---- the file system: data is held until synced -------------------------- */

/* Wraps backing descriptor FD (or an error) in a handle in FI. */
static int attach(int fd, struct fuse_file_info *fi)
{
	struct handle *h;
	int rc = 0;

	if (fd < 0)
		return -errno;
	h = malloc(sizeof(*h));
	pthread_mutex_lock(&fs.lock);
	if (h)
		h->file = file_get(fd);
	if (!h || !h->file) {
		rc = -ENOMEM;
	} else {
		h->fd = fd;
		h->file->handles++;
		if (fi->flags & O_TRUNC)
			overlay_truncate(h->file, 0);
		fi->fh = (uintptr_t)h;
	}
	pthread_mutex_unlock(&fs.lock);
	if (rc) {
		free(h);
		close(fd);
	}
	return rc;
}

/* The backing file is opened read-write for every writable handle (a page
 * of the overlay starts as the backing file's bytes), without O_APPEND
 * (the kernel gives every write its offset) and without O_DIRECT. */
static int backing_flags(int flags)
{
	int access = flags & O_ACCMODE;

	flags &= ~(O_ACCMODE | O_APPEND | O_DIRECT);
	return flags | (access == O_RDONLY ? O_RDONLY : O_RDWR);
}

static int cf_open(const char *path, struct fuse_file_info *fi)
{
	return attach(openat(fs.backing, rel(path), backing_flags(fi->flags)),
		      fi);
}

static int cf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	while (fs.stall_path && access(fs.stall_path, F_OK) == 0)
		usleep(10000);
	return attach(openat(fs.backing, rel(path),
			     backing_flags(fi->flags) | O_CREAT, mode),
		      fi);
}

static int cf_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);

	(void)path;
	pthread_mutex_lock(&fs.lock);
	h->file->handles--;
	file_release_if_idle(h->file);
	pthread_mutex_unlock(&fs.lock);
	close(h->fd);
	free(h);
	return 0;
}

static int cf_read(const char *path, char *buf, size_t len, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct file *f = h->file;
	size_t done = 0;
	int rc = 0;

	(void)path;
	pthread_mutex_lock(&fs.lock);
	if (off >= f->size)
		len = 0;
	else if ((off_t)len > f->size - off)
		len = f->size - off;
	while (done < len && rc == 0) {
		size_t i = (size_t)(off + (off_t)done) >> PAGE_SHIFT;
		size_t at = (size_t)(off + (off_t)done) & (PAGE_BYTES - 1);
		size_t n = PAGE_BYTES - at;

		if (n > len - done)
			n = len - done;
		if (i < f->npages && f->pages[i])
			memcpy(buf + done, f->pages[i] + at, n);
		else
			rc = read_backing(h->fd, buf + done, n,
					  off + (off_t)done);
		done += n;
	}
	pthread_mutex_unlock(&fs.lock);
	return rc ? rc : (int)done;
}

static int cf_write(const char *path, const char *buf, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct file *f = h->file;
	int rc = 0;

	(void)path;
	if (len == 0)
		return 0;
	pthread_mutex_lock(&fs.lock);
	if (f->fd < 0 && (f->fd = dup(h->fd)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = overlay_write(f, buf, len, off);
	pthread_mutex_unlock(&fs.lock);
	return rc ? rc : (int)len;
}

/* Once the pages are in the backing file they survive a cut (the backing
 * file system does not crash); the fsync below is for realism's cost. */
static int cf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	size_t written = 0;
	int rc;

	(void)path;
	pthread_mutex_lock(&fs.lock);
	rc = overlay_flush(h->file, &written);
	pthread_mutex_unlock(&fs.lock);
	if (rc)
		return rc;
	if ((datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0)
		return -errno;
	return 0;
}

static const struct fuse_operations operations = {
	.init = cf_init,
	.destroy = cf_destroy,
	.getattr = cf_getattr,
	.readlink = cf_readlink,
	.mknod = cf_mknod,
	.mkdir = cf_mkdir,
	.symlink = cf_symlink,
	.link = cf_link,
	.rmdir = cf_rmdir,
	.unlink = cf_unlink,
	.rename = cf_rename,
	.chmod = cf_chmod,
	.chown = cf_chown,
	.utimens = cf_utimens,
	.truncate = cf_truncate,
	.statfs = cf_statfs,
	.opendir = cf_opendir,
	.readdir = cf_readdir,
	.releasedir = cf_releasedir,
	.fsyncdir = cf_fsyncdir,
	.open = cf_open,
	.create = cf_create,
	.release = cf_release,
	.read = cf_read,
	.write = cf_write,
	.fsync = cf_fsync,
};

/* ---- command line -------------------------------------------------------- */

static const struct fuse_opt options[] = {
	{ "mode=%s", offsetof(__typeof__(fs), mode_name), 0 },
	{ "stall=%s", offsetof(__typeof__(fs), stall_path), 0 },
	FUSE_OPT_END,
};

/* The first argument that is not an option is BACKING_DIR (taken out);
 * the second, the mount point, stays for libfuse. */
static int take_backing(void *data, const char *arg, int key,
			struct fuse_args *args)
{
	(void)data;
	(void)args;
	if (key != FUSE_OPT_KEY_NONOPT || fs.backing_path)
		return 1;
	fs.backing_path = realpath(arg, NULL);
	if (!fs.backing_path) {
		fprintf(stderr, "pc-crashfs: %s: %s\n", arg, strerror(errno));
		exit(1);
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	sigset_t set;
	int status;

	if (fuse_opt_parse(&args, &fs, options, take_backing) < 0)
		return 1;
	if (!fs.backing_path) {
		fprintf(stderr, "usage: pc-crashfs [-f] [-d] "
				"[-o mode=zero|short] [-o stall=FILE] "
				"BACKING_DIR MOUNTPOINT\n");
		return 1;
	}
	if (!fs.mode_name || strcmp(fs.mode_name, "zero") == 0) {
		fs.mode = MODE_ZERO;
	} else if (strcmp(fs.mode_name, "short") == 0) {
		fs.mode = MODE_SHORT;
	} else {
		fprintf(stderr, "pc-crashfs: mode=%s: zero or short\n",
			fs.mode_name);
		return 1;
	}
	fs.backing = open(fs.backing_path, O_PATH | O_DIRECTORY);
	if (fs.backing < 0) {
		fprintf(stderr, "pc-crashfs: %s: %s\n", fs.backing_path,
			strerror(errno));
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	status = fuse_main(args.argc, args.argv, &operations, NULL);
	fuse_opt_free_args(&args);
	return status;
}
