/*
 * ops.c - the FUSE low-level operations other than reading file data.
 *
 * Each operation is thin: parse the request, ask the store, reply.  Only
 * fs/ replies to the kernel: this file, read.c (hits and refusals),
 * reply.c (a read's data, for read.c and parked.c) and parked.c (a parked
 * read's EIO or EINTR); each request is answered exactly once, by
 * whoever holds it (a parked read: whoever claims it, parked.c).  Everything that would change the tree
 * fails with EROFS (the mount is also made with "ro", so the kernel refuses
 * most of them before they reach us).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "internal.h"

#define XATTR_VERSION "user.peercache.version"

static struct pc_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void fs_fill_attr(const struct pc_inode *inode, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = inode->ino;
	switch (inode->type) {
	case PC_ENTRY_DIR:
		st->st_mode = S_IFDIR | inode->mode;
		st->st_nlink = 2;
		break;
	case PC_ENTRY_SYMLINK:
		st->st_mode = S_IFLNK | inode->mode;
		st->st_nlink = 1;
		break;
	case PC_ENTRY_FILE:
		st->st_mode = S_IFREG | inode->mode;
		st->st_nlink = 1;
		break;
	}
	st->st_size = (off_t)inode->size;
	st->st_blksize = PC_FS_BLKSIZE;
	st->st_blocks = (blkcnt_t)((inode->size + 511) / 512);
	st->st_mtim.tv_sec = inode->mtime;
	st->st_ctim.tv_sec = inode->mtime;
	st->st_atim.tv_sec = inode->mtime;
}

/* Store errors become the errno a reader should see. */
static int reply_errno(int rc)
{
	if (rc == -ENOENT || rc == -ENOTDIR || rc == -ESTALE)
		return -rc;
	return EIO;
}

static void reply_entry(fuse_req_t req, const struct pc_inode *inode)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	e.ino = inode->ino;
	e.generation = pc_store_generation(fs_of(req)->store);
	e.attr_timeout = PC_FS_ENTRY_TIMEOUT;
	e.entry_timeout = PC_FS_ENTRY_TIMEOUT;
	fs_fill_attr(inode, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pc_fs *fs = fs_of(req);
	struct pc_inode inode;
	int rc;

	/* "." and ".." come in from NFS export (reconnecting file handles). */
	if (strcmp(name, ".") == 0) {
		rc = pc_store_inode(fs->store, parent, &inode);
	} else if (strcmp(name, "..") == 0) {
		rc = pc_store_inode(fs->store, parent, &inode);
		if (rc == 0) {
			uint64_t up = inode.parent ? inode.parent : PC_ROOT_INO;

			pc_inode_release(&inode);
			rc = pc_store_inode(fs->store, up, &inode);
		}
	} else {
		rc = pc_store_lookup(fs->store, 0, parent, name, &inode);
	}
	if (rc == -ENOENT) {
		struct fuse_entry_param e = { .ino = 0,
					      .entry_timeout =
						      PC_FS_NEGATIVE_TIMEOUT };

		fuse_reply_entry(req, &e); /* cached negative entry */
		return;
	}
	if (rc < 0) {
		fuse_reply_err(req, reply_errno(rc));
		return;
	}
	if (inode.type == PC_ENTRY_FILE)
		fs_walk_lookup(fs, parent, name, inode.ino);
	reply_entry(req, &inode);
	pc_inode_release(&inode);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct pc_inode inode;
	struct stat st;
	int rc;

	(void)fi;
	rc = pc_store_inode(fs_of(req)->store, ino, &inode);
	if (rc < 0) {
		fuse_reply_err(req, reply_errno(rc));
		return;
	}
	fs_fill_attr(&inode, &st);
	pc_inode_release(&inode);
	fuse_reply_attr(req, &st, PC_FS_ENTRY_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct pc_inode inode;
	int rc;

	rc = pc_store_inode(fs_of(req)->store, ino, &inode);
	if (rc < 0) {
		fuse_reply_err(req, reply_errno(rc));
		return;
	}
	if (inode.type != PC_ENTRY_SYMLINK || !inode.target)
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, inode.target);
	pc_inode_release(&inode);
}

/* A directory handle is a snapshot of the listing, so that a version
 * switch in the middle of a readdir sequence cannot skip or repeat names. */
struct open_dir {
	uint64_t ino;
	uint64_t parent;
	struct pc_dir_listing listing;
	struct pc_list link; /* fs->open_dirs, under open_lock */
};

static void dir_track(struct pc_fs *fs, struct open_dir *dir)
{
	pthread_mutex_lock(&fs->open_lock);
	pc_list_insert_head(&fs->open_dirs, &dir->link);
	pthread_mutex_unlock(&fs->open_lock);
}

static void dir_untrack(struct pc_fs *fs, struct open_dir *dir)
{
	pthread_mutex_lock(&fs->open_lock);
	pc_list_remove(&dir->link);
	pthread_mutex_unlock(&fs->open_lock);
}

static void dir_free(struct open_dir *dir)
{
	pc_dir_listing_free(&dir->listing);
	free(dir);
}

void fs_close_open_dirs(struct pc_fs *fs)
{
	struct open_dir *dir;

	while (!pc_list_empty(&fs->open_dirs)) {
		dir = container_of(fs->open_dirs.next, struct open_dir, link);
		dir_untrack(fs, dir);
		dir_free(dir);
	}
}

struct open_dir *fs_dir_open(struct pc_fs *fs, uint64_t ino, int *error)
{
	struct open_dir *dir;
	struct pc_inode inode;
	int rc;

	rc = pc_store_inode(fs->store, ino, &inode);
	if (rc < 0) {
		*error = reply_errno(rc);
		return NULL;
	}
	if (inode.type != PC_ENTRY_DIR) {
		pc_inode_release(&inode);
		*error = ENOTDIR;
		return NULL;
	}
	dir = calloc(1, sizeof(*dir));
	if (!dir) {
		pc_inode_release(&inode);
		*error = ENOMEM;
		return NULL;
	}
	dir->ino = ino;
	dir->parent = inode.parent ? inode.parent : PC_ROOT_INO;
	pc_inode_release(&inode);
	rc = pc_store_list(fs->store, 0, ino, &dir->listing);
	if (rc < 0 && rc != -ENOENT) {
		free(dir);
		*error = reply_errno(rc);
		return NULL;
	}
	dir_track(fs, dir);
	return dir;
}

void fs_dir_close(struct pc_fs *fs, struct open_dir *dir)
{
	dir_untrack(fs, dir);
	dir_free(dir);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct pc_fs *fs = fs_of(req);
	struct open_dir *dir;
	int error;

	dir = fs_dir_open(fs, ino, &error);
	if (!dir) {
		fuse_reply_err(req, error);
		return;
	}
	/* An id, not a pointer (handles.c). */
	fi->fh = fs_dir_handle(fs, ino, dir);
	if (!fi->fh) {
		fs_dir_close(fs, dir);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0) /* the kernel gave up on it */
		fs_dir_release(fs, fi->fh);
}

static mode_t dirent_mode(enum pc_entry_type type)
{
	return type == PC_ENTRY_DIR	  ? S_IFDIR
	       : type == PC_ENTRY_SYMLINK ? S_IFLNK
					  : S_IFREG;
}

/* Offsets: 1 is ".", 2 is "..", 3 + i is listing entry i. */
static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct open_dir *dir = fs_dir_get(fs_of(req), ino, fi->fh);
	size_t used = 0;
	struct stat st;
	char *buf;

	if (!dir) { /* an earlier process's directory that is gone */
		fuse_reply_err(req, EIO);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&st, 0, sizeof(st));
	for (off_t next = off + 1;; next++) {
		const char *name;
		size_t need;

		if (next == 1) {
			name = ".";
			st.st_ino = dir->ino;
			st.st_mode = S_IFDIR;
		} else if (next == 2) {
			name = "..";
			st.st_ino = dir->parent;
			st.st_mode = S_IFDIR;
		} else if ((size_t)(next - 3) < dir->listing.count) {
			const struct pc_dirent *d =
				&dir->listing.entries[next - 3];

			name = d->name;
			st.st_ino = d->ino;
			st.st_mode = dirent_mode(d->type);
		} else {
			break;
		}
		need = fuse_add_direntry(req, buf + used, size - used, name,
					 &st, next);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	fs_dir_release(fs_of(req), fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct pc_store_version cur;
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = PC_NAME_MAX;
	/* Size and file count of the published tree; nothing is free, it is
	 * read-only. */
	if (pc_store_current(fs_of(req)->store, &cur) == 0) {
		sv.f_blocks = (cur.bytes + sv.f_frsize - 1) / sv.f_frsize;
		sv.f_files = cur.files;
	}
	fuse_reply_statfs(req, &sv);
}

static void reply_xattr_value(fuse_req_t req, const char *value, size_t size)
{
	size_t len = strlen(value);

	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct pc_store_version cur;
	char value[32];

	(void)ino;
	if (strcmp(name, XATTR_VERSION) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (pc_store_current(fs_of(req)->store, &cur) < 0)
		cur.version = 0;
	snprintf(value, sizeof(value), "%" PRIu64, cur.version);
	reply_xattr_value(req, value, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char names[] = XATTR_VERSION; /* includes the NUL */

	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, sizeof(names));
	else if (size < sizeof(names))
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, sizeof(names));
}

/* ---- everything that would modify the tree ------------------------------ */

static void erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	erofs(req);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	erofs(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	erofs(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	erofs(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link, (void)parent, (void)name;
	erofs(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	erofs(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	erofs(req);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	erofs(req);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	erofs(req);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	erofs(req);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	erofs(req);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Hits are spliced from chunk files; NFS export needs "." and "..";
	 * big reads and many in flight keep a cold sequential read busy. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* Content never changes under an inode: no data invalidation. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Not the read_ahead key: the INIT reply must stay as earlier builds
	 * sent it, since a new process replays the mount's INIT and checks
	 * that its own reply is the same (devio.c), or an upgrade without
	 * unmount is refused.  The bdi's read-ahead is raised past it once
	 * INIT is answered (fs.c: on_init). */
	conn->max_readahead = PC_FS_READ_SIZE;
	conn->max_read = PC_FS_READ_SIZE; /* as the max_read mount option */
	conn->max_background = 64;
	conn->congestion_threshold = 48;
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.write = op_write,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};
