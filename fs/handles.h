/*
 * handles.h - the file handles the kernel holds (fi->fh), as ids in a
 * table (handles.c).  Shared by the files of fs/ only.
 */
#ifndef PC_FS_HANDLES_H
#define PC_FS_HANDLES_H

#include <stddef.h>
#include <stdint.h>

struct pc_fs;
struct open_file;
struct open_dir;

/* An open file of an earlier process, by handle: what a takeover hands
 * over so that the new process pins what the old one pinned. */
struct fs_handle_ref {
	uint64_t fh;
	uint64_t ino;
};

/* The table, its ids drawn from a random base.  0 or -ENOMEM. */
int fs_handles_init(struct pc_fs *fs);
/* Frees the table (the objects are freed by fs_close_open_files() and
 * fs_close_open_dirs()). */
void fs_handles_free(struct pc_fs *fs);

/* A new handle for @of (open: the kernel's reference moves to the table).
 * 0 when out of memory. */
uint64_t fs_file_handle(struct pc_fs *fs, struct open_file *of);
/*
 * The open file behind @fh, with a reference the caller drops with
 * fs_open_file_put().  A handle this process never gave out is an
 * earlier process's: it is adopted, opened again from @ino.  NULL if
 * neither works (@fh names another inode, the inode is gone).
 */
struct open_file *fs_file_get(struct pc_fs *fs, uint64_t ino, uint64_t fh);
/* The same without adopting: NULL for a handle this process never gave
 * out (*@known false) or that names another inode (*@known true). */
struct open_file *fs_file_find(struct pc_fs *fs, uint64_t ino, uint64_t fh,
			       bool *known);
/* The kernel released @fh: the table's reference goes (unknown: none). */
void fs_file_release(struct pc_fs *fs, uint64_t fh);

/* The same for directories.  A directory handle has no reference count:
 * the kernel sends RELEASEDIR only after its READDIRs are answered. */
uint64_t fs_dir_handle(struct pc_fs *fs, uint64_t ino, struct open_dir *dir);
struct open_dir *fs_dir_get(struct pc_fs *fs, uint64_t ino, uint64_t fh);
void fs_dir_release(struct pc_fs *fs, uint64_t fh);

/* A store attached again (a takeover that failed): each handle tells it
 * again that its inode is open. */
void fs_handles_hold_all(struct pc_fs *fs);

/* Pins what @of needs while open, if it is small enough (a quarter of the
 * quota; a larger file streams through the cache). */
void fs_file_pin(struct pc_fs *fs, struct open_file *of);
/* Before the store closes (a takeover): every open file lets its pins go.
 * After it opened again (the takeover failed): they are taken again, and
 * the reads that failed meanwhile are forgotten. */
void fs_files_unpin(struct pc_fs *fs);
void fs_files_repin(struct pc_fs *fs);

/* The open files, for the next process (caller frees *@out). */
int fs_files_export(struct pc_fs *fs, struct fs_handle_ref **out,
		    size_t *count);
/* Adopts the open files an earlier process exported. */
void fs_files_adopt(struct pc_fs *fs, const struct fs_handle_ref *refs,
		    size_t count);

#endif /* PC_FS_HANDLES_H */
