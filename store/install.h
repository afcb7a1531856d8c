/*
 * install.h - shared by the files that switch versions (store/, internal):
 * install.c (writing a version's tree, rollback), tree_diff.c (the names
 * that changed) and drop.c (what no retained version needs any more).
 */
#ifndef PC_STORE_INSTALL_H
#define PC_STORE_INSTALL_H

#include "internal.h"

/* Records deleted per write transaction: bounds the dirty pages. */
#define STORE_DROP_BATCH 4096

/*
 * Every (parent, name) whose child differs between @old_version and
 * @new_version (in @txn), into @changes.  Names under a directory that
 * only one side has are left out (the kernel drops a directory's children
 * with it, and has none of a directory it has not seen): a directory is
 * on a side if it has attributes there, and one whose inode is
 * @first_new_ino or above is new.  0 or -errno (-ENOMEM).
 */
int store_diff_trees(struct pc_store *store, MDB_txn *txn, uint64_t old_version,
		     uint64_t new_version, uint64_t first_new_ino,
		     struct pc_store_changes *changes);

/* Drops the trees of versions below @keep_from (and leftovers of installs
 * cut short), then the inodes and identities no version from @keep_from
 * on uses, in transactions of STORE_DROP_BATCH records.  0 or -errno. */
int store_drop_old(struct pc_store *store, uint64_t keep_from);
/* Clears what an install of @version cut short left (its dirents and
 * directory attributes), in bounded transactions.  0 or -errno. */
int store_clear_version(struct pc_store *store, uint64_t version);
/* Lets go of the index pages this process has mapped (they stay in the
 * page cache, and come back on the next read): between the transactions
 * of a large install, so that its resident memory does not grow with the
 * tree it walks. */
void store_map_trim(struct pc_store *store);

#endif /* PC_STORE_INSTALL_H */
