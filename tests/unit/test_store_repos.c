/*
 * test_store_repos.c - several repositories in one chunk store
 * (pc_store_open_repo): each repository's trees, versions, rollback,
 * inode numbers and held inodes are its own; chunks, pins, counters and
 * the purge are the store's; the purge keeps every repository's retained
 * manifests, also of a repository no handle is open on; everything
 * survives a reopen; the default repository keeps today's database names,
 * so a cache written before repositories existed opens unchanged (checked
 * on the LMDB environment itself); bad names are refused; a read-only
 * view opens a repository too; which repository the default trees serve
 * (pc_store_default_owner) follows the names.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "helpers.h"
#include "test_store_util.h"

/* ---- fixtures --------------------------------------------------------------- */

static struct pc_store *open_repo(struct pc_store *store, const char *name)
{
	struct pc_store *repo = NULL;
	char err[256] = "";

	assert_ok(pc_store_open_repo(store, name, &repo, err, sizeof(err)),
		  err);
	assert_non_null(repo);
	assert_string_equal(pc_store_repo_name(repo), name);
	return repo;
}

/* Names in directory @dir of @store's current version, joined by ','. */
static void list_names(struct pc_store *store, uint64_t dir, char *out,
		       size_t outlen)
{
	struct pc_dir_listing listing;

	assert_rc(pc_store_list(store, 0, dir, &listing), 0);
	out[0] = '\0';
	for (size_t i = 0; i < listing.count; i++)
		snprintf(out + strlen(out), outlen - strlen(out), "%s%s",
			 i ? "," : "", listing.entries[i].name);
	pc_dir_listing_free(&listing);
}

static uint64_t current_version(struct pc_store *store)
{
	struct pc_store_version v;
	int rc = pc_store_current(store, &v);

	return rc == 0 ? v.version : 0;
}

static uint64_t file_size(struct pc_store *store, const char *path)
{
	struct pc_inode inode;
	int64_t ino = store_test_resolve(store, 0, path);

	assert_true(ino > 0);
	assert_rc(pc_store_inode(store, (uint64_t)ino, &inode), 0);
	pc_inode_release(&inode);
	return inode.size;
}

/* Version @version of a one-file tree (@content), its manifest and file
 * chunk committed through @store as net/ would; *@manifest gets the
 * manifest's hash. */
static void install_with_chunks(struct pc_store *store, uint64_t version,
				const char *content, struct pc_hash *manifest)
{
	struct store_test_entry tree[] = {
		{ 'F', "defs.dat", content, 100, 0 },
	};
	struct pc_manifest *m;
	struct pc_head head;
	char *buf = NULL;
	size_t len = 0;

	m = store_test_manifest(tree, 1, 1000, version, &head);
	assert_rc(pc_manifest_serialize(m, &buf, &len), 0);
	store_test_commit(store, buf, len, manifest);
	store_test_commit(store, content, strlen(content), NULL);
	assert_rc(pc_store_install(store, &head, m, NULL), 0);
	free(buf);
	pc_manifest_free(m);
}

/* Alpha: four entries (inodes 2..5); beta: two (inodes 2..3). */
static const struct store_test_entry alpha_tree[] = {
	{ 'D', "a", NULL, 10, 0 },
	{ 'F', "a/x", "alpha's x, longer than beta's files", 11, 0 },
	{ 'F', "a/z", "alpha's z", 12, 0 },
	{ 'L', "c", "a/x", 13, 0 },
};
static const struct store_test_entry beta_tree[] = {
	{ 'D', "b", NULL, 20, 0 },
	{ 'F', "y", "beta y", 21, 0 },
};

static void install_both(struct pc_store *alpha, struct pc_store *beta)
{
	assert_rc(store_test_install(alpha, alpha_tree, 4, 5, NULL), 0);
	assert_rc(store_test_install(beta, beta_tree, 2, 2, NULL), 0);
}

/* ---- trees ------------------------------------------------------------------ */

static void test_store_repos_trees_are_separate(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *beta = open_repo(store, "beta");
	struct pc_inode inode;
	int64_t x, y;
	char names[256];

	install_both(alpha, beta);
	assert_int_equal(current_version(alpha), 5);
	assert_int_equal(current_version(beta), 2);
	assert_int_equal(current_version(store), 0); /* the default: none */

	/* Lookups see their own repository's names only. */
	x = store_test_resolve(alpha, 0, "a/x");
	y = store_test_resolve(beta, 0, "y");
	assert_true(x > 0 && y > 0);
	assert_int_equal(store_test_resolve(beta, 0, "a"), -ENOENT);
	assert_int_equal(store_test_resolve(beta, 0, "c"), -ENOENT);
	assert_int_equal(store_test_resolve(alpha, 0, "y"), -ENOENT);
	assert_int_equal(store_test_resolve(alpha, 0, "b"), -ENOENT);
	assert_int_equal(store_test_resolve(store, 0, "a"), -ENOENT);
	assert_int_equal(store_test_resolve(store, 0, "y"), -ENOENT);
	/* Versions are per repository: alpha has no version 2. */
	assert_int_equal(store_test_resolve(alpha, 2, "y"), -ESTALE);

	/* Readdir likewise. */
	list_names(alpha, PC_ROOT_INO, names, sizeof(names));
	assert_string_equal(names, "a,c");
	list_names(beta, PC_ROOT_INO, names, sizeof(names));
	assert_string_equal(names, "b,y");
	list_names(store, PC_ROOT_INO, names, sizeof(names));
	assert_string_equal(names, "");

	/* Inode numbers are per repository (each mount has its own inode
	 * space): beta's numbers stop at 3, so alpha's higher ones are
	 * unknown there, and a number both have names each one's own. */
	assert_rc(pc_store_inode(beta, 5, &inode), -ESTALE);
	assert_rc(pc_store_inode(alpha, 5, &inode), 0);
	pc_inode_release(&inode);
	assert_rc(pc_store_inode(beta, (uint64_t)y, &inode), 0);
	assert_int_equal(inode.type, PC_ENTRY_FILE);
	assert_int_equal(inode.size, strlen("beta y"));
	pc_inode_release(&inode);
	assert_rc(pc_store_inode(alpha, (uint64_t)y, &inode), 0);
	assert_false(inode.type == PC_ENTRY_FILE && inode.size == strlen("beta "
									 "y"));
	pc_inode_release(&inode);
	assert_int_equal(file_size(alpha, "a/x"),
			 strlen(alpha_tree[1].content));
	assert_rc(pc_store_inode(store, (uint64_t)x, &inode), -ESTALE);
	/* The root of each is its own directory. */
	assert_rc(pc_store_inode(beta, PC_ROOT_INO, &inode), 0);
	assert_int_equal(inode.type, PC_ENTRY_DIR);
	pc_inode_release(&inode);

	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);
}

/* Held inodes (open across versions) are each repository's: alpha keeps
 * an open file's inode through two installs without it, beta knows
 * nothing of that number. */
static void test_store_repos_held_inodes_are_separate(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *beta = open_repo(store, "beta");
	const struct store_test_entry other[] = {
		{ 'F', "other", "another tree", 40, 0 },
	};
	struct pc_inode inode;
	int64_t z;

	install_both(alpha, beta);
	z = store_test_resolve(alpha, 0, "a/z");
	assert_true(z > 3); /* beyond beta's numbers */
	assert_rc(pc_store_inode_hold(alpha, (uint64_t)z), 0);
	assert_rc(store_test_install(alpha, other, 1, 6, NULL), 0);
	assert_rc(store_test_install(alpha, other, 1, 7, NULL), 0);
	assert_rc(pc_store_inode(alpha, (uint64_t)z, &inode), 0);
	assert_int_equal(inode.size, strlen(alpha_tree[2].content));
	pc_inode_release(&inode);
	assert_rc(pc_store_inode(beta, (uint64_t)z, &inode), -ESTALE);
	/* Beta's own installs leave alpha's hold alone. */
	assert_rc(store_test_install(beta, other, 1, 3, NULL), 0);
	assert_rc(store_test_install(beta, other, 1, 4, NULL), 0);
	assert_rc(pc_store_inode(alpha, (uint64_t)z, &inode), 0);
	pc_inode_release(&inode);
	pc_store_inode_release(alpha, (uint64_t)z);

	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);
}

/* ---- versions, rollback, hold ------------------------------------------------- */

static void test_store_repos_versions_are_independent(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *beta = open_repo(store, "beta");
	const struct store_test_entry one[] = { { 'F', "f", "1", 1, 0 } };
	const struct store_test_entry two[] = { { 'F', "f", "22", 2, 0 } };

	assert_rc(store_test_install(alpha, one, 1, 1, NULL), 0);
	assert_rc(store_test_install(alpha, two, 1, 2, NULL), 0);
	assert_rc(store_test_install(beta, one, 1, 7, NULL), 0);
	/* The default repository's highest version is its own: 1 < 7. */
	assert_rc(store_test_install(store, one, 1, 1, NULL), 0);
	assert_int_equal(pc_store_highest_version(alpha), 2);
	assert_int_equal(pc_store_highest_version(beta), 7);
	assert_int_equal(pc_store_highest_version(store), 1);

	/* Alpha rolls back and holds version 1; beta goes on. */
	assert_rc(pc_store_rollback(alpha, NULL), 0);
	assert_int_equal(pc_store_held_version(alpha), 1);
	assert_int_equal(pc_store_held_version(beta), 0);
	assert_int_equal(pc_store_held_version(store), 0);
	assert_int_equal(current_version(alpha), 1);
	assert_int_equal(file_size(alpha, "f"), 1);
	assert_rc(store_test_install(alpha, two, 1, 3, NULL), -EBUSY);
	assert_rc(store_test_install(beta, two, 1, 8, NULL), 0);
	assert_rc(store_test_install(store, two, 1, 2, NULL), 0);
	assert_int_equal(current_version(beta), 8);
	/* Beta rolls back to its own previous version, 7. */
	assert_rc(pc_store_rollback(beta, NULL), 0);
	assert_int_equal(current_version(beta), 7);
	assert_int_equal(current_version(alpha), 1);

	/* Rollback protection is per repository too. */
	assert_rc(pc_store_release_hold(beta, NULL), 0);
	assert_rc(store_test_install(beta, one, 1, 6, NULL), -ESTALE);
	assert_rc(pc_store_release_hold(alpha, NULL), 0);
	assert_int_equal(current_version(alpha), 2);
	assert_int_equal(pc_store_highest_version(alpha), 2);
	assert_int_equal(pc_store_highest_version(beta), 8);
	assert_int_equal(pc_store_highest_version(store), 2);

	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);
}

/* ---- chunks are the store's ---------------------------------------------------- */

static void test_store_repos_share_chunks(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *beta = open_repo(store, "beta");
	struct pc_store_usage usage;
	char *file, *slash;
	struct pc_hash via_alpha, via_beta;
	uint8_t *bytes = store_test_bytes(4096, 7);

	store_test_commit(alpha, bytes, 4096, &via_alpha);
	store_test_commit(beta, bytes, 4096, &via_beta);
	assert_memory_equal(via_alpha.bytes, via_beta.bytes, PC_HASH_LEN);
	assert_rc(pc_store_sync(beta), 0);
	assert_rc(pc_store_usage(alpha, &usage), 0);
	assert_int_equal(usage.chunks, 1);
	assert_int_equal(usage.bytes, 4096);
	assert_rc(pc_store_usage(store, &usage), 0);
	assert_int_equal(usage.chunks, 1);
	/* One file in its fan-out directory. */
	file = store_test_chunk_file(*state, &via_alpha);
	slash = strrchr(file, '/');
	*slash = '\0';
	assert_int_equal(store_test_count_files(file), 1);
	assert_true(pc_store_chunk_present(store, &via_alpha));

	/* Counters and pins are the store's, whichever handle. */
	pc_store_count(alpha, PC_CTR_HITS, 3);
	pc_store_count(beta, PC_CTR_HITS, 4);
	assert_int_equal(pc_store_counter(store, PC_CTR_HITS), 7);
	assert_rc(pc_store_pin(beta, &via_alpha), 0);
	assert_true(pc_store_pinned(alpha, &via_alpha));
	pc_store_unpin(store, &via_alpha);
	assert_false(pc_store_pinned(beta, &via_alpha));

	free(bytes);
	free(file);
	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);
}

/* ---- purge ------------------------------------------------------------------------ */

static void test_store_repos_purge_keeps_every_repository(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *beta = open_repo(store, "beta");
	struct pc_hash ma[3], mb[2], pinned_a, pinned_b;
	struct pc_purge_result result;

	install_with_chunks(alpha, 1, "alpha one\n", &ma[0]);
	install_with_chunks(alpha, 2, "alpha two\n", &ma[1]);
	install_with_chunks(alpha, 3, "alpha three\n", &ma[2]);
	install_with_chunks(beta, 1, "beta one\n", &mb[0]);
	install_with_chunks(beta, 2, "beta two\n", &mb[1]);
	store_test_commit(store, "pinned through alpha", 20, &pinned_a);
	store_test_commit(store, "pinned through beta", 19, &pinned_b);
	assert_rc(pc_store_pin(alpha, &pinned_a), 0);
	assert_rc(pc_store_pin(beta, &pinned_b), 0);

	/* Everything goes but both repositories' current and previous
	 * manifests and the pinned chunks. */
	assert_rc(pc_store_purge(alpha, 0, &result), 0);
	assert_int_equal(result.kept_retained, 4);
	assert_int_equal(result.kept_pinned, 2);
	assert_false(pc_store_chunk_present(store, &ma[0]));
	assert_true(pc_store_chunk_present(store, &ma[1]));
	assert_true(pc_store_chunk_present(store, &ma[2]));
	assert_true(pc_store_chunk_present(store, &mb[0]));
	assert_true(pc_store_chunk_present(store, &mb[1]));
	assert_true(pc_store_chunk_present(store, &pinned_a));
	assert_true(pc_store_chunk_present(store, &pinned_b));
	pc_store_unpin(alpha, &pinned_a);
	pc_store_unpin(beta, &pinned_b);
	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);

	/* A run that opens neither repository still keeps their versions'
	 * manifests (pc_store.h: recorded repositories are kept). */
	store = store_test_open(*state);
	assert_rc(pc_store_purge(store, 0, &result), 0);
	assert_int_equal(result.kept_retained, 4);
	assert_int_equal(result.chunks, 2); /* the two unpinned ones */
	assert_true(pc_store_chunk_present(store, &ma[1]));
	assert_true(pc_store_chunk_present(store, &ma[2]));
	assert_true(pc_store_chunk_present(store, &mb[0]));
	assert_true(pc_store_chunk_present(store, &mb[1]));
	pc_store_close(store);
}

/* ---- concurrent use -------------------------------------------------------------- */

#define ROUNDS 20

struct worker {
	struct pc_store *store;
	int rc; /* the first failure, else 0 */
};

/* Commits and purges through the default handle. */
static void *churn_chunks(void *arg)
{
	struct worker *w = arg;
	struct pc_purge_result result;
	char data[64];

	for (int i = 0; i < 4 * ROUNDS && w->rc == 0; i++) {
		struct pc_store_tmp *tmp;
		struct pc_hash hash;

		snprintf(data, sizeof(data), "churn %d", i);
		pc_sha256(data, strlen(data), &hash);
		tmp = pc_store_tmp_begin(w->store, &hash, strlen(data));
		if (!tmp) {
			w->rc = -errno;
			break;
		}
		w->rc = pc_store_tmp_write(tmp, data, strlen(data));
		if (w->rc == 0)
			w->rc = pc_store_tmp_commit(tmp);
		else
			pc_store_tmp_abort(tmp);
		if (w->rc == 0 && i % 2 == 1)
			w->rc = pc_store_purge(w->store, 0, &result);
	}
	return NULL;
}

/* Installs ROUNDS versions into the repository of its handle. */
static void *install_versions(void *arg)
{
	struct worker *w = arg;
	const struct store_test_entry tree[] = { { 'F', "f", "x", 1, 0 } };

	for (int v = 1; v <= ROUNDS && w->rc == 0; v++)
		w->rc = store_test_install(w->store, tree, 1, (uint64_t)v,
					   NULL);
	return NULL;
}

/* Adds repositories while the others work. */
static void *add_repositories(void *arg)
{
	struct worker *w = arg;
	char name[16];

	for (int i = 0; i < 6 && w->rc == 0; i++) {
		struct pc_store *repo = NULL;

		snprintf(name, sizeof(name), "added%d", i);
		w->rc = pc_store_open_repo(w->store, name, &repo, NULL, 0);
		if (w->rc == 0)
			w->rc = store_test_install(repo, beta_tree, 2, 1, NULL);
		pc_store_close(repo);
	}
	return NULL;
}

static void test_store_repos_concurrent_use(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct worker w[3] = { { store, 0 }, { alpha, 0 }, { store, 0 } };
	void *(*fn[3])(void *) = { churn_chunks, install_versions,
				   add_repositories };
	struct pc_store_repo_list list;
	pthread_t threads[3];

	for (int i = 0; i < 3; i++)
		assert_int_equal(
			pthread_create(&threads[i], NULL, fn[i], &w[i]), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(threads[i], NULL);
		assert_rc(w[i].rc, 0);
	}
	assert_int_equal(current_version(alpha), ROUNDS);
	assert_rc(pc_store_list_repos(store, &list), 0);
	assert_int_equal(list.count, 7);
	pc_store_repo_list_free(&list);
	pc_store_close(alpha);
	pc_store_close(store);
}

/* ---- reopen ------------------------------------------------------------------------ */

static void test_store_repos_survive_reopen(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *beta = open_repo(store, "beta");
	const struct store_test_entry more[] = {
		{ 'F', "new", "new in alpha 6", 30, 0 },
	};
	struct pc_store_repo_list list;
	int64_t x, y, z, fresh;

	install_both(alpha, beta);
	assert_rc(store_test_install(store, beta_tree, 2, 9, NULL), 0);
	assert_rc(pc_store_rollback(beta, NULL), -ENOENT); /* no previous */
	x = store_test_resolve(alpha, 0, "a/x");
	z = store_test_resolve(alpha, 0, "a/z");
	y = store_test_resolve(beta, 0, "y");
	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);

	store = store_test_open(*state);
	assert_rc(pc_store_list_repos(store, &list), 0);
	assert_int_equal(list.count, 2);
	assert_string_equal(list.names[0], "alpha");
	assert_string_equal(list.names[1], "beta");
	pc_store_repo_list_free(&list);
	alpha = open_repo(store, "alpha");
	beta = open_repo(store, "beta");
	assert_int_equal(current_version(alpha), 5);
	assert_int_equal(current_version(beta), 2);
	assert_int_equal(current_version(store), 9);
	assert_int_equal(store_test_resolve(alpha, 0, "a/x"), x);
	assert_int_equal(store_test_resolve(beta, 0, "y"), y);
	assert_int_equal(store_test_resolve(beta, 0, "a"), -ENOENT);

	/* The inode counter went on where it was: a new entry gets a
	 * number alpha never used. */
	assert_rc(store_test_install(alpha, more, 1, 6, NULL), 0);
	fresh = store_test_resolve(alpha, 0, "new");
	assert_true(fresh > z && fresh > x);
	pc_store_close(alpha);
	pc_store_close(beta);
	pc_store_close(store);
}

/* ---- the default repository's layout is today's -------------------------------- */

/* The named databases of the index at @dir (the main database's keys),
 * joined by ' ', read with LMDB itself. */
static void index_layout(const char *dir, char *names, size_t len)
{
	char *path = pc_test_path(dir, "index");
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi main_db;
	MDB_cursor *cursor;
	MDB_val key, val;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main_db), 0);
	assert_int_equal(mdb_cursor_open(txn, main_db, &cursor), 0);
	names[0] = '\0';
	while (mdb_cursor_get(cursor, &key, &val, MDB_NEXT) == 0)
		snprintf(names + strlen(names), len - strlen(names), "%s%.*s",
			 names[0] ? " " : "", (int)key.mv_size,
			 (const char *)key.mv_data);
	mdb_cursor_close(cursor);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	free(path);
}

/* Meta key @key's le64 value in database @db of the index at @dir; -1 if
 * absent. */
static int64_t index_meta(const char *dir, const char *db, const char *key)
{
	char *path = pc_test_path(dir, "index");
	MDB_val k = { strlen(key), (void *)key }, v;
	int64_t value = -1;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8) {
		value = 0;
		for (int i = 7; i >= 0; i--)
			value = value << 8 | ((const uint8_t *)v.mv_data)[i];
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	free(path);
	return value;
}

#define TODAYS_DATABASES \
	"chunks dirattr dirents held idmap inodes lru meta versions"

static void test_store_repos_default_keeps_todays_layout(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha;
	struct pc_store_repo_list list;
	char names[1024];
	int64_t y;

	/* What today's daemon does: the default repository only.  Its
	 * databases and keys are those of a cache from before
	 * repositories, so either opens the other. */
	assert_rc(store_test_install(store, beta_tree, 2, 4, NULL), 0);
	y = store_test_resolve(store, 0, "y");
	pc_store_close(store);
	index_layout(*state, names, sizeof(names));
	assert_string_equal(names, TODAYS_DATABASES);
	assert_int_equal(index_meta(*state, "meta", "current"), 4);
	assert_int_equal(index_meta(*state, "meta", "highest_version"), 4);

	store = store_test_open(*state);
	assert_rc(pc_store_list_repos(store, &list), 0);
	assert_int_equal(list.count, 0);
	pc_store_repo_list_free(&list);
	assert_int_equal(current_version(store), 4);
	assert_int_equal(store_test_resolve(store, 0, "y"), y);

	/* A named repository adds databases of its own and leaves the
	 * default's keys alone. */
	alpha = open_repo(store, "alpha");
	assert_rc(store_test_install(alpha, alpha_tree, 4, 5, NULL), 0);
	pc_store_close(alpha);
	pc_store_close(store);
	index_layout(*state, names, sizeof(names));
	assert_string_equal(names, "alpha/dirattr alpha/dirents alpha/held "
				   "alpha/idmap alpha/inodes alpha/meta "
				   "alpha/versions " TODAYS_DATABASES);
	assert_int_equal(index_meta(*state, "meta", "current"), 4);
	assert_int_equal(index_meta(*state, "meta", "repo.alpha"), 1);
	assert_int_equal(index_meta(*state, "alpha/meta", "current"), 5);
	assert_int_equal(index_meta(*state, "alpha/meta", "repo.alpha"), -1);
}

/* ---- names ----------------------------------------------------------------------- */

static void test_store_repos_refuse_bad_names(void **state)
{
	static const char *const bad[] = {
		"",
		".hidden",
		"..",
		"a/b",
		"a b",
		"tab\t",
		"ä",
		"../x",
		"x1234567890123456789012345678901234567890123456789012345678901"
		"2345",
	};
	static const char longest[] = "x123456789012345678901234567890123456789"
				      "012345678901234567890123";
	struct pc_store *store = store_test_open(*state);
	struct pc_store *repo = NULL, *again = NULL, *more[16];
	struct pc_store_repo_list list;
	char err[256], name[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_rc(pc_store_open_repo(store, bad[i], &repo, err,
					     sizeof(err)),
			  -EINVAL);
		assert_null(repo);
		assert_non_null(strstr(err, "not a repository name"));
	}
	assert_rc(pc_store_open_repo(store, NULL, &repo, err, sizeof(err)),
		  -EINVAL);
	assert_int_equal(strlen(longest), 64);
	repo = open_repo(store, longest);
	/* One handle per repository: its held inodes are counted there. */
	assert_rc(pc_store_open_repo(store, longest, &again, err, sizeof(err)),
		  -EBUSY);
	/* Any handle of the store opens another repository. */
	assert_rc(
		pc_store_open_repo(repo, "a.b_c-D9", &again, err, sizeof(err)),
		0);
	pc_store_close(again);
	pc_store_close(repo);
	assert_rc(pc_store_list_repos(store, &list), 0);
	assert_int_equal(list.count, 2);
	assert_string_equal(list.names[0], "a.b_c-D9");
	assert_string_equal(list.names[1], longest);
	pc_store_repo_list_free(&list);

	/* At most PC_STORE_MAX_REPOS: two exist, fourteen more fit. */
	for (int i = 0; i < PC_STORE_MAX_REPOS - 2; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		more[i] = open_repo(store, name);
	}
	assert_rc(pc_store_open_repo(store, "one-too-many", &again, err,
				     sizeof(err)),
		  -ENOSPC);
	assert_non_null(strstr(err, "16 repositories"));
	for (int i = 0; i < PC_STORE_MAX_REPOS - 2; i++)
		pc_store_close(more[i]);
	/* ... and the next open finds all of them, each usable. */
	pc_store_close(store);
	store = store_test_open(*state);
	assert_rc(pc_store_list_repos(store, &list), 0);
	assert_int_equal(list.count, PC_STORE_MAX_REPOS);
	pc_store_repo_list_free(&list);
	repo = open_repo(store, "r13");
	assert_rc(store_test_install(repo, beta_tree, 2, 1, NULL), 0);
	pc_store_close(repo);
	pc_store_close(store);
}

/* ---- read-only view ---------------------------------------------------------------- */

static void test_store_repos_readonly_view(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha = open_repo(store, "alpha");
	struct pc_store *view = NULL, *ro_alpha = NULL, *ro_none = NULL;
	struct pc_store_repo_list list;
	char err[256] = "", names[256];
	int64_t x;

	assert_rc(store_test_install(alpha, alpha_tree, 4, 5, NULL), 0);
	x = store_test_resolve(alpha, 0, "a/x");
	pc_store_close(alpha);
	pc_store_close(store);

	assert_ok(pc_store_open_readonly(*state, &view, err, sizeof(err)), err);
	assert_rc(pc_store_list_repos(view, &list), 0);
	assert_int_equal(list.count, 1);
	pc_store_repo_list_free(&list);
	/* A view does not add repositories. */
	assert_rc(pc_store_open_repo(view, "gamma", &ro_none, err, sizeof(err)),
		  -ENOENT);
	assert_null(ro_none);
	assert_non_null(strstr(err, "no repository gamma"));

	ro_alpha = open_repo(view, "alpha");
	assert_int_equal(current_version(ro_alpha), 5);
	assert_int_equal(store_test_resolve(ro_alpha, 0, "a/x"), x);
	list_names(ro_alpha, PC_ROOT_INO, names, sizeof(names));
	assert_string_equal(names, "a,c");
	assert_int_equal(current_version(view), 0);
	assert_rc(store_test_install(ro_alpha, beta_tree, 2, 6, NULL), -EROFS);
	assert_rc(pc_store_rollback(ro_alpha, NULL), -EROFS);
	pc_store_close(ro_alpha);
	pc_store_close(view);
}

/* What a daemon does while a tool's view is open: a process that adds
 * repository @name with beta's tree as version 3. */
static void add_repo_in_child(const char *dir, const char *name)
{
	pid_t pid = fork();
	int status = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct pc_store *store = NULL, *repo = NULL;

		if (pc_store_open(dir, &store, NULL, 0) < 0 ||
		    pc_store_open_repo(store, name, &repo, NULL, 0) < 0 ||
		    store_test_install(repo, beta_tree, 2, 3, NULL) < 0)
			_exit(1);
		pc_store_close(repo);
		pc_store_close(store);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_store_repos_readonly_view_finds_a_new_one(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *view = NULL, *late = NULL;
	char err[256] = "", names[256];

	pc_store_close(store);
	assert_ok(pc_store_open_readonly(*state, &view, err, sizeof(err)), err);
	assert_rc(pc_store_open_repo(view, "late", &late, err, sizeof(err)),
		  -ENOENT);
	add_repo_in_child(*state, "late");
	late = open_repo(view, "late");
	assert_int_equal(current_version(late), 3);
	list_names(late, PC_ROOT_INO, names, sizeof(names));
	assert_string_equal(names, "b,y");
	pc_store_close(late);
	pc_store_close(view);
}

/* ---- which repository the default serves ---------------------------------------- */

static void test_store_repos_default_owner_by_name(void **state)
{
	struct pc_store *store = store_test_open(*state);
	struct pc_store *alpha, *served = NULL;
	const char *unnamed[] = { "" }, *none[] = { NULL };
	const char *fresh[] = { "test-repo", "alpha" };
	const char *alpha_first[] = { "alpha", "test-repo" };
	const char *only_alpha[] = { "alpha" }, *only_beta[] = { "beta" };
	char err[256] = "";
	bool own = true;

	/* No version in the default: the first name the index does not
	 * record (a fresh cache: the first), else none. */
	assert_rc(pc_store_default_owner(store, fresh, 2), 0);
	alpha = open_repo(store, "alpha");
	assert_rc(pc_store_default_owner(store, alpha_first, 2), 1);
	assert_rc(pc_store_default_owner(store, only_alpha, 1), -ENOENT);
	assert_rc(pc_store_default_owner(store, only_beta, 1), 0);
	/* The default holds test-repo's version: test-repo's, and no other
	 * name's, also alone (asked through any handle). */
	assert_rc(store_test_install(store, beta_tree, 2, 2, NULL), 0);
	assert_rc(pc_store_default_owner(alpha, alpha_first, 2), 1);
	assert_rc(pc_store_default_owner(store, only_alpha, 1), -ENOENT);
	assert_rc(pc_store_default_owner(store, only_beta, 1), -ENOENT);
	/* One repository of no configured name: the default, always. */
	assert_rc(pc_store_default_owner(store, unnamed, 1), 0);
	assert_rc(pc_store_default_owner(store, none, 1), 0);

	/* The handle as the tools get it. */
	assert_ok(pc_store_open_served(store, fresh, 2, 0, &served, &own, err,
				       sizeof(err)),
		  err);
	assert_true(served == store);
	assert_false(own);
	pc_store_close(alpha);
	assert_ok(pc_store_open_served(store, fresh, 2, 1, &served, &own, err,
				       sizeof(err)),
		  err);
	assert_true(own);
	assert_string_equal(pc_store_repo_name(served), "alpha");
	pc_store_close(served);
	pc_store_close(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		store_unit_test(test_store_repos_trees_are_separate),
		store_unit_test(test_store_repos_held_inodes_are_separate),
		store_unit_test(test_store_repos_versions_are_independent),
		store_unit_test(test_store_repos_share_chunks),
		store_unit_test(test_store_repos_purge_keeps_every_repository),
		store_unit_test(test_store_repos_concurrent_use),
		store_unit_test(test_store_repos_survive_reopen),
		store_unit_test(test_store_repos_default_keeps_todays_layout),
		store_unit_test(test_store_repos_refuse_bad_names),
		store_unit_test(test_store_repos_readonly_view),
		store_unit_test(test_store_repos_readonly_view_finds_a_new_one),
		store_unit_test(test_store_repos_default_owner_by_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
