/*
 * repo.c - several repositories in one chunk store: the handle of each
 * repository's trees, the list of repositories the index records, and
 * the retained manifests of all of them for the purge.
 *
 * Chunks are named by their hash, so one chunk store (one quota, one
 * purge, one copy of a chunk two repositories share) serves every
 * repository; what differs per repository is its trees: versions, inode
 * numbers (each mount has its own inode space), held inodes, the highest
 * accepted version.  Those live in databases of their own, so that the
 * tree code is the same for every repository and only the database
 * handles differ: the default repository keeps today's names ("versions",
 * "inodes", ..., its keys in "meta"), so a cache from before repositories
 * opens without a migration; repository NAME has "NAME/meta",
 * "NAME/versions", ... and is recorded in the shared meta as
 * "repo.NAME".
 *
 * Every recorded repository's databases are opened with the store (at
 * most STORE_MAX_REPOS of them), whether this run opens a handle on it or
 * not: the purge keeps the retained manifests of each, so a repository
 * that one run does not configure keeps its versions for the next.
 * Database handles are never closed before the environment, so a copy of
 * them (in a repository handle) stays valid.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pc_util.h"

/* "NAME/versions" and its like. */
#define DB_NAME_MAX (PC_REPO_NAME_MAX + 16)

static int open_one(MDB_txn *txn, const char *name, const char *db, bool create,
		    MDB_dbi *dbi)
{
	char full[DB_NAME_MAX];

	if (name[0])
		snprintf(full, sizeof(full), "%s/%s", name, db);
	else
		snprintf(full, sizeof(full), "%s", db);
	return store_mdb_error(
		"opening a repository's database",
		mdb_dbi_open(txn, full, create ? MDB_CREATE : 0, dbi));
}

int store_repo_dbis_open(MDB_txn *txn, const char *name, bool create,
			 MDB_dbi shared_meta, struct store_repo_dbis *dbi)
{
	int rc = 0;

	if (name[0])
		rc = open_one(txn, name, "meta", create, &dbi->meta);
	else
		dbi->meta = shared_meta;
	if (rc == 0)
		rc = open_one(txn, name, "versions", create, &dbi->versions);
	if (rc == 0)
		rc = open_one(txn, name, "inodes", create, &dbi->inodes);
	if (rc == 0)
		rc = open_one(txn, name, "idmap", create, &dbi->idmap);
	if (rc == 0)
		rc = open_one(txn, name, "dirents", create, &dbi->dirents);
	if (rc == 0)
		rc = open_one(txn, name, "dirattr", create, &dbi->dirattr);
	if (rc < 0)
		return rc;
	rc = open_one(txn, name, "held", create, &dbi->held);
	dbi->held_ok = rc == 0;
	/* A read-only view of an index from before held records. */
	return rc == -ENOENT && !create ? 0 : rc;
}

/* ---- the repositories recorded in the index --------------------------------- */

/* The name in meta key @key ("repo.NAME"), if it is one; @name holds
 * PC_REPO_NAME_MAX + 1 bytes. */
static bool repo_key_name(const MDB_val *key, char *name)
{
	size_t prefix = strlen(META_REPO_PREFIX);
	size_t len = key->mv_size - prefix;

	if (key->mv_size <= prefix ||
	    memcmp(key->mv_data, META_REPO_PREFIX, prefix) != 0 ||
	    len > PC_REPO_NAME_MAX)
		return false;
	memcpy(name, (const char *)key->mv_data + prefix, len);
	name[len] = '\0';
	return pc_repo_name_valid(name);
}

/* Calls @fn for each name recorded in @txn, in name order, until it
 * returns non-zero (which is returned). */
static int each_recorded(struct pc_store *base, MDB_txn *txn,
			 int (*fn)(void *arg, const char *name), void *arg)
{
	char name[PC_REPO_NAME_MAX + 1];
	MDB_val key = { strlen(META_REPO_PREFIX), (void *)META_REPO_PREFIX };
	MDB_val val;
	MDB_cursor *cursor;
	int rc, mrc;

	rc = store_mdb_error("listing repositories",
			     mdb_cursor_open(txn, base->dbi.meta, &cursor));
	if (rc < 0)
		return rc;
	for (mrc = mdb_cursor_get(cursor, &key, &val, MDB_SET_RANGE);
	     mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
		if (key.mv_size < strlen(META_REPO_PREFIX) ||
		    memcmp(key.mv_data, META_REPO_PREFIX,
			   strlen(META_REPO_PREFIX)) != 0)
			break;
		if (repo_key_name(&key, name))
			rc = fn(arg, name);
	}
	mdb_cursor_close(cursor);
	if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
		rc = store_mdb_error("listing repositories", mrc);
	return rc;
}

/* Opens @name's databases into a new entry of base->known (repos_lock
 * held, or the store being opened). */
static int know(struct pc_store *base, MDB_txn *txn, const char *name,
		struct store_known_repo **out)
{
	struct store_known_repo *k;
	int rc;

	if (base->nknown == STORE_MAX_REPOS)
		return -ENOSPC;
	k = &base->known[base->nknown];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	rc = store_repo_dbis_open(txn, name, !base->readonly, base->dbi.meta,
				  &k->dbi);
	if (rc < 0)
		return rc;
	base->nknown++;
	if (out)
		*out = k;
	return 0;
}

struct load {
	struct pc_store *base;
	MDB_txn *txn;
};

static int load_one(void *arg, const char *name)
{
	struct load *load = arg;
	int rc = know(load->base, load->txn, name, NULL);

	if (rc == -ENOSPC) {
		store_log(load->base, PC_LOG_WARN,
			  "the cache index records more than %d "
			  "repositories: '%s' is ignored",
			  STORE_MAX_REPOS, name);
		rc = 0;
	}
	return rc;
}

int store_repos_load(struct pc_store *base, MDB_txn *txn)
{
	struct load load = { base, txn };

	return each_recorded(base, txn, load_one, &load);
}

static struct store_known_repo *find_known(struct pc_store *base,
					   const char *name)
{
	for (size_t i = 0; i < base->nknown; i++)
		if (strcmp(base->known[i].name, name) == 0)
			return &base->known[i];
	return NULL;
}

int store_retained_manifests(struct pc_store *base,
			     struct pc_hash out[STORE_RETAINED_MAX])
{
	MDB_txn *txn = NULL;
	int count, rc;

	/* The transaction begins under the lock: LMDB lets a transaction
	 * use only the databases opened before it began, and a repository
	 * added meanwhile (its databases opened under this lock) would
	 * make its handles invalid here. */
	pthread_mutex_lock(&base->repos_lock);
	count = store_txn_begin(base, MDB_RDONLY, &txn);
	if (count == 0)
		count = store_retained_of(txn, &base->repo.dbi, out);
	for (size_t i = 0; count >= 0 && i < base->nknown; i++) {
		rc = store_retained_of(txn, &base->known[i].dbi, out + count);
		count = rc < 0 ? rc : count + rc;
	}
	if (txn)
		mdb_txn_abort(txn);
	pthread_mutex_unlock(&base->repos_lock);
	return count;
}

/* ---- handles ------------------------------------------------------------------ */

/* A new repository's inode numbers start at the first one. */
static int init_next_ino(MDB_txn *txn, const struct store_repo_dbis *dbi)
{
	uint64_t next_ino = 0;
	int rc = store_meta_get_in(txn, dbi->meta, META_NEXT_INO, 0, &next_ino);

	if (rc == 0 && next_ino < STORE_FIRST_INO)
		rc = store_meta_put_in(txn, dbi->meta, META_NEXT_INO,
				       STORE_FIRST_INO);
	return rc;
}

/* Records repository @name in the index (rw) or finds it there (a
 * read-only view, whose index a daemon may have added it to since),
 * with its databases open.  repos_lock held. */
static int record(struct pc_store *base, const char *name,
		  struct store_known_repo **out)
{
	char key[sizeof(META_REPO_PREFIX) + PC_REPO_NAME_MAX];
	uint64_t recorded = 0;
	bool added = false;
	MDB_txn *txn;
	int rc;

	snprintf(key, sizeof(key), "%s%s", META_REPO_PREFIX, name);
	rc = store_txn_begin(base, base->readonly ? MDB_RDONLY : 0, &txn);
	if (rc < 0)
		return rc;
	rc = store_meta_get(base, txn, key, 0, &recorded);
	if (rc == 0 && !recorded && base->readonly)
		rc = -ENOENT;
	if (rc == 0 && !recorded)
		rc = store_meta_put(base, txn, key, 1);
	if (rc == 0)
		rc = know(base, txn, name, out);
	added = rc == 0;
	if (rc == 0 && !base->readonly)
		rc = init_next_ino(txn, &(*out)->dbi);
	/* Committing (also a read-only transaction) keeps the database
	 * handles; an abort closes those it opened. */
	if (rc == 0)
		rc = store_txn_commit(txn, "recording a repository");
	else
		mdb_txn_abort(txn);
	if (rc < 0 && added)
		base->nknown--;
	if (rc == 0 && !recorded)
		store_log(base, PC_LOG_INFO, "repository %s added to the cache",
			  name);
	return rc;
}

int pc_store_open_repo(struct pc_store *store, const char *name,
		       struct pc_store **out, char *err, size_t errlen)
{
	struct pc_store *base = store->base, *handle;
	struct store_known_repo *known;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!name || !pc_repo_name_valid(name))
		return pc_set_err(-EINVAL, err, errlen,
				  "'%s' is not a repository name (1 to %d of "
				  "A-Z a-z 0-9 . _ -, not starting with '.')",
				  name ? name : "(null)", PC_REPO_NAME_MAX);
	handle = calloc(1, sizeof(*handle));
	if (!handle)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	handle->base = base;
	handle->lock_fd = handle->chunks_fd = handle->tmp_fd = -1;
	snprintf(handle->repo.name, sizeof(handle->repo.name), "%s", name);
	rc = store_held_init(handle);
	if (rc < 0) {
		free(handle);
		return pc_set_err(rc, err, errlen, "out of memory");
	}
	pthread_mutex_lock(&base->repos_lock);
	known = find_known(base, name);
	if (known && known->open)
		rc = pc_set_err(-EBUSY, err, errlen,
				"repository %s is open already", name);
	else if (!known)
		rc = record(base, name, &known);
	if (rc == -ENOENT)
		pc_set_err(rc, err, errlen, "the cache %s has no repository %s",
			   base->dir, name);
	else if (rc == -ENOSPC && err && errlen && !err[0])
		pc_set_err(rc, err, errlen,
			   "the cache %s holds %d repositories already",
			   base->dir, STORE_MAX_REPOS);
	else if (rc < 0 && err && errlen && !err[0])
		pc_set_err(rc, err, errlen, "cannot open repository %s: %s",
			   name, strerror(-rc));
	if (rc == 0) {
		known->open = true;
		handle->repo.dbi = known->dbi;
	}
	pthread_mutex_unlock(&base->repos_lock);
	if (rc < 0) {
		store_held_free(handle);
		free(handle);
		return rc;
	}
	*out = handle;
	return 0;
}

void store_repos_check_closed(struct pc_store *base)
{
	pthread_mutex_lock(&base->repos_lock);
	for (size_t i = 0; i < base->nknown; i++)
		if (base->known[i].open)
			store_log(base, PC_LOG_ERROR,
				  "closing the store with repository %s still "
				  "open",
				  base->known[i].name);
	pthread_mutex_unlock(&base->repos_lock);
}

void store_repo_close(struct pc_store *store)
{
	struct pc_store *base = store->base;
	struct store_known_repo *known;

	pthread_mutex_lock(&base->repos_lock);
	known = find_known(base, store->repo.name);
	if (known)
		known->open = false;
	pthread_mutex_unlock(&base->repos_lock);
	store_held_free(store);
	free(store);
}

const char *pc_store_repo_name(const struct pc_store *store)
{
	return store->repo.name;
}

/* ---- which repository the default serves ----------------------------------------- */

static bool names_have(const char *const names[], size_t count,
		       const char *name)
{
	for (size_t i = 0; i < count; i++)
		if (names[i] && strcmp(names[i], name) == 0)
			return true;
	return false;
}

int pc_store_default_owner(struct pc_store *store, const char *const names[],
			   size_t count)
{
	struct pc_store_repo_list known = { 0 };
	struct pc_store_version cur;
	int chosen = -ENOENT, rc;

	if (count == 1 && (!names[0] || !names[0][0]))
		return 0;
	rc = pc_store_current(store->base, &cur);
	if (rc == 0) {
		for (size_t i = 0; i < count && chosen < 0; i++)
			if (names[i] && strcmp(cur.name, names[i]) == 0)
				chosen = (int)i;
		return chosen;
	}
	if (rc != -ENOENT)
		return rc;
	rc = pc_store_list_repos(store, &known);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < count && chosen < 0; i++)
		if (names[i] && names[i][0] &&
		    !names_have((const char *const *)known.names, known.count,
				names[i]))
			chosen = (int)i;
	pc_store_repo_list_free(&known);
	return chosen;
}

int pc_store_open_served(struct pc_store *store, const char *const names[],
			 size_t count, size_t which, struct pc_store **out,
			 bool *own, char *err, size_t errlen)
{
	int owner = pc_store_default_owner(store, names, count);

	*out = NULL;
	*own = false;
	if (owner < 0 && owner != -ENOENT)
		return pc_set_err(owner, err, errlen,
				  "reading the cache's repositories: %s",
				  strerror(-owner));
	if (owner == (int)which) {
		*out = store->base;
		return 0;
	}
	*own = true;
	return pc_store_open_repo(store, names[which], out, err, errlen);
}

/* ---- the list for tools ------------------------------------------------------- */

static int list_add(void *arg, const char *name)
{
	struct pc_store_repo_list *list = arg;
	char **grown, *copy = strdup(name);

	grown = copy ? realloc(list->names, (list->count + 1) * sizeof(*grown))
		     : NULL;
	if (!grown) {
		free(copy);
		return -ENOMEM;
	}
	list->names = grown;
	list->names[list->count++] = copy;
	return 0;
}

int pc_store_list_repos(struct pc_store *store, struct pc_store_repo_list *out)
{
	MDB_txn *txn;
	int rc;

	memset(out, 0, sizeof(*out));
	store = store->base;
	rc = store_txn_begin(store, MDB_RDONLY, &txn);
	if (rc < 0)
		return rc;
	rc = each_recorded(store, txn, list_add, out);
	mdb_txn_abort(txn);
	if (rc < 0)
		pc_store_repo_list_free(out);
	return rc;
}

void pc_store_repo_list_free(struct pc_store_repo_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
	list->names = NULL;
	list->count = 0;
}
