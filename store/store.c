/*
 * store.c - the store's lifetime: opening the cache directory (lock,
 * layout, LMDB environment) and closing it; plus the LMDB helpers every
 * file of store/ uses (error translation, transactions; the meta keys are
 * meta.c's) and the one logging function.
 *
 * One daemon owns a cache: an flock() on CACHE_DIR/lock keeps a second one
 * out, and the lock file names the holder's pid for the error message.
 * Tools read the same index through a read-only view while the daemon
 * runs, which LMDB's multi-process readers make safe.  LMDB forbids opening
 * one environment twice in a process (its record locks are per process),
 * so a small registry refuses that instead of corrupting the lock table.
 *
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "pc_util.h"

#define MAP_SIZE (1ull << 30) /* sparse: LMDB only uses what it needs */
/* The shared chunks, lru and meta, the default repository's six, and
 * each named repository's STORE_REPO_DBS. */
#define MAX_DBS (3 + 6 + STORE_MAX_REPOS * STORE_REPO_DBS)
#define MAX_READERS 256

/* ---- logging and LMDB errors ---------------------------------------------- */

void store_log(struct pc_store *store, enum pc_log_level level, const char *fmt,
	       ...)
{
	static const char *const severity[] = {
		[PC_LOG_ERROR] = "error: ",
		[PC_LOG_WARN] = "warning: ",
		[PC_LOG_INFO] = "",
		[PC_LOG_DEBUG] = "",
	};
	pc_store_log_fn log = NULL;
	void *log_arg = NULL;
	char line[1024];
	va_list ap;

	if (store) {
		store = store->base; /* the hook is the chunk store's */
		pthread_mutex_lock(&store->log_lock);
		log = store->log;
		log_arg = store->log_arg;
		pthread_mutex_unlock(&store->log_lock);
	}
	if (!log && level > PC_LOG_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log)
		log(log_arg, level, line);
	else /* one fprintf per event: lines from threads never interleave */
		fprintf(stderr, "peercache: %s%s\n", severity[level], line);
}

void pc_store_set_log(struct pc_store *store, pc_store_log_fn log, void *arg)
{
	store = store->base;
	pthread_mutex_lock(&store->log_lock);
	store->log = log;
	store->log_arg = arg;
	pthread_mutex_unlock(&store->log_lock);
}

int64_t store_now(struct pc_store *store)
{
	store = store->base;
	return store->now ? store->now(store->now_arg) : (int64_t)time(NULL);
}

int store_mdb_error(const char *what, int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		store_log(NULL, PC_LOG_ERROR, "%s: the cache index is full",
			  what);
		return -ENOSPC;
	}
	if (rc > 0) /* LMDB passes system errors through as errno values */
		return -rc;
	store_log(NULL, PC_LOG_ERROR, "%s: %s", what, mdb_strerror(rc));
	return -EIO;
}

int store_txn_begin(struct pc_store *store, unsigned int flags, MDB_txn **txn)
{
	store = store->base; /* one environment for every repository */
	if (store->readonly && !(flags & MDB_RDONLY))
		return -EROFS;
	return store_mdb_error("beginning an index transaction",
			       mdb_txn_begin(store->env, NULL, flags, txn));
}

int store_txn_commit(MDB_txn *txn, const char *what)
{
	return store_mdb_error(what, mdb_txn_commit(txn));
}

int store_read_cursor(struct pc_store *store, MDB_dbi dbi, MDB_txn **txn,
		      MDB_cursor **cursor)
{
	int rc = store_txn_begin(store, MDB_RDONLY, txn);

	if (rc < 0)
		return rc;
	rc = store_mdb_error("reading the index",
			     mdb_cursor_open(*txn, dbi, cursor));
	if (rc < 0)
		mdb_txn_abort(*txn);
	return rc;
}

void store_read_cursor_end(MDB_txn *txn, MDB_cursor *cursor)
{
	mdb_cursor_close(cursor);
	mdb_txn_abort(txn);
}

/* ---- environments open in this process ------------------------------------ */

struct open_env {
	dev_t dev;
	ino_t ino;
	pid_t pid; /* after fork() a child ignores its parent's entries */
	struct open_env *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct open_env *registry; /* guarded by registry_lock */

static int registry_add(struct pc_store *store)
{
	struct open_env *entry;
	pid_t pid = getpid();
	int rc = 0;

	pthread_mutex_lock(&registry_lock);
	for (entry = registry; entry; entry = entry->next) {
		if (entry->dev == store->index_dev &&
		    entry->ino == store->index_ino && entry->pid == pid) {
			rc = -EBUSY;
			goto out;
		}
	}
	entry = calloc(1, sizeof(*entry));
	if (!entry) {
		rc = -ENOMEM;
		goto out;
	}
	entry->dev = store->index_dev;
	entry->ino = store->index_ino;
	entry->pid = pid;
	entry->next = registry;
	registry = entry;
out:
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

static void registry_remove(struct pc_store *store)
{
	struct open_env **link;
	pid_t pid = getpid();

	pthread_mutex_lock(&registry_lock);
	for (link = &registry; *link; link = &(*link)->next) {
		struct open_env *entry = *link;

		if (entry->dev == store->index_dev &&
		    entry->ino == store->index_ino && entry->pid == pid) {
			*link = entry->next;
			free(entry);
			break;
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

/* ---- opening ------------------------------------------------------------- */

/* Pins (taken on every file open) must not starve behind the purge's
 * unlink threads, which hold the lock shared. */
static void init_pin_lock(struct pc_store *store)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&store->pin_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
}

static struct pc_store *store_new(const char *cache_dir, bool readonly,
				  const struct pc_store_options *opts)
{
	struct pc_store *store = calloc(1, sizeof(*store));

	if (!store)
		return NULL;
	store->base = store;
	store->dir = strdup(cache_dir);
	store->accesses = calloc(STORE_HINTS_MAX, sizeof(*store->accesses));
	store->accesses_flushing =
		calloc(STORE_HINTS_MAX, sizeof(*store->accesses_flushing));
	if (!store->dir || !store->accesses || !store->accesses_flushing ||
	    store_pins_init(store) < 0 || store_commit_init(store) < 0 ||
	    store_held_init(store) < 0) {
		free(store->dir);
		free(store->accesses);
		free(store->accesses_flushing);
		store_pins_free(store);
		store_held_free(store);
		free(store);
		return NULL;
	}
	store->readonly = readonly;
	store->lock_fd = -1;
	store->chunks_fd = -1;
	store->tmp_fd = -1;
	if (opts) {
		atomic_init(&store->quota, opts->quota);
		atomic_init(&store->max_age, opts->max_age);
		store->log = opts->log;
		store->log_arg = opts->log_arg;
		store->now = opts->now;
		store->now_arg = opts->now_arg;
		store->commit.interval_ms = opts->sync_interval_ms;
	}
	pthread_mutex_init(&store->queue_lock, NULL);
	pthread_mutex_init(&store->flush_lock, NULL);
	pthread_mutex_init(&store->log_lock, NULL);
	pthread_mutex_init(&store->purge_lock, NULL);
	pthread_mutex_init(&store->repos_lock, NULL);
	init_pin_lock(store);
	return store;
}

/* Releases everything store_new() and the open steps acquired. */
static void store_free(struct pc_store *store)
{
	if (store->env)
		mdb_env_close(store->env);
	if (store->registered)
		registry_remove(store);
	if (store->chunks_fd >= 0)
		close(store->chunks_fd);
	if (store->tmp_fd >= 0)
		close(store->tmp_fd);
	if (store->lock_fd >= 0)
		close(store->lock_fd); /* releases the flock */
	store_present_free(store);
	pthread_mutex_destroy(&store->queue_lock);
	pthread_mutex_destroy(&store->flush_lock);
	pthread_mutex_destroy(&store->log_lock);
	pthread_mutex_destroy(&store->purge_lock);
	pthread_mutex_destroy(&store->repos_lock);
	pthread_rwlock_destroy(&store->pin_lock);
	store_pins_free(store);
	store_commit_free(store);
	store_held_free(store);
	free(store->new_chunks);
	free(store->accesses);
	free(store->accesses_flushing);
	free(store->dir);
	free(store);
}

static char *path_join(const char *dir, const char *name)
{
	char *path = NULL;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

static int make_dir(const char *dir, const char *name, char *err, size_t errlen)
{
	char *path = name ? path_join(dir, name) : strdup(dir);
	int rc = 0;

	if (!path)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		rc = pc_set_err(-errno, err, errlen, "cannot create %s: %s",
				path, strerror(errno));
	free(path);
	return rc;
}

static int open_dir(const char *dir, const char *name, int *fd, char *err,
		    size_t errlen)
{
	char *path = path_join(dir, name);
	int rc = 0;

	if (!path)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		rc = pc_set_err(-errno, err, errlen, "cannot open %s: %s", path,
				strerror(errno));
	free(path);
	return rc;
}

/* Takes CACHE_DIR/lock and writes our pid into it. */
static int take_lock(struct pc_store *store, char *err, size_t errlen)
{
	char *path = path_join(store->dir, "lock");
	char pid[32] = "";
	ssize_t n;
	int rc = 0;

	if (!path)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	store->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (store->lock_fd < 0) {
		rc = pc_set_err(-errno, err, errlen, "cannot open %s: %s", path,
				strerror(errno));
		goto out;
	}
	if (flock(store->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			rc = pc_set_err(-errno, err, errlen,
					"cannot lock %s: %s", path,
					strerror(errno));
			goto out;
		}
		n = pread(store->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		rc = pc_set_err(-EBUSY, err, errlen,
				"cache directory %s is in use by another "
				"peercache (pid %s)",
				store->dir, pid[0] ? pid : "unknown");
		goto out;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(store->lock_fd, 0) < 0 ||
	    pwrite(store->lock_fd, pid, (size_t)n, 0) != n)
		rc = pc_set_err(-errno, err, errlen, "cannot write %s: %s",
				path, strerror(errno));
out:
	free(path);
	return rc;
}

/*
 * Every commit is durable when it returns (no MDB_NOMETASYNC, which lets a
 * power cut undo the last transaction): a purge that deleted a chunk's
 * entry and unlinked its file must not come back after a cut, when a new
 * download of the same chunk may have renamed an unsynced file in under
 * the same name (group commit, commit.c): the entry would name bytes that
 * never reached the disk.
 */
static int open_env(struct pc_store *store, char *err, size_t errlen)
{
	unsigned int flags = MDB_NOTLS | (store->readonly ? MDB_RDONLY : 0);
	char *path = path_join(store->dir, "index");
	struct stat st;
	int rc;

	if (!path)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	if (stat(path, &st) < 0) {
		rc = pc_set_err(-errno, err, errlen, "cannot open index %s: %s",
				path, strerror(errno));
		goto out;
	}
	store->index_dev = st.st_dev;
	store->index_ino = st.st_ino;
	rc = store_mdb_error("creating index", mdb_env_create(&store->env));
	if (rc == 0)
		rc = store_mdb_error("configuring index",
				     mdb_env_set_maxdbs(store->env, MAX_DBS));
	if (rc == 0)
		rc = store_mdb_error("configuring index",
				     mdb_env_set_mapsize(store->env, MAP_SIZE));
	if (rc == 0)
		rc = store_mdb_error(
			"configuring index",
			mdb_env_set_maxreaders(store->env, MAX_READERS));
	if (rc < 0) {
		pc_set_err(rc, err, errlen,
			   "cannot create the LMDB environment");
		goto out;
	}
	/* Register before mdb_env_open: opening a second environment on the
	 * same files in this process would already reset LMDB's locks. */
	rc = registry_add(store);
	if (rc < 0) {
		mdb_env_close(store->env);
		store->env = NULL;
		pc_set_err(rc, err, errlen,
			   "cache index %s is already open in this process",
			   path);
		goto out;
	}
	store->registered = true;
	rc = store_mdb_error("opening index",
			     mdb_env_open(store->env, path, flags, 0644));
	if (rc < 0)
		pc_set_err(rc, err, errlen, "cannot open index %s: %s", path,
			   strerror(-rc));
out:
	free(path);
	return rc;
}

static int open_dbi(MDB_txn *txn, const char *name, unsigned int flags,
		    MDB_dbi *dbi)
{
	return store_mdb_error("opening an index database",
			       mdb_dbi_open(txn, name, flags, dbi));
}

/* The chunk store's databases and the default repository's. */
static int open_dbis(struct pc_store *store, MDB_txn *txn)
{
	unsigned int flags = store->readonly ? 0 : MDB_CREATE;
	struct store_dbis *dbi = &store->dbi;
	int rc;

	rc = open_dbi(txn, "chunks", flags, &dbi->chunks);
	if (rc == 0)
		rc = open_dbi(txn, "lru", flags, &dbi->lru);
	if (rc == 0)
		rc = open_dbi(txn, "meta", flags, &dbi->meta);
	if (rc == 0)
		rc = store_repo_dbis_open(txn, "", !store->readonly, dbi->meta,
					  &store->repo.dbi);
	return rc;
}

/*
 * The index's generation: random, chosen when the index is created.  A
 * wiped cache restarts inode numbers at the first one, and the generation
 * is what tells an NFS client's old file handle from a new inode that got
 * the same number.
 */
static int load_generation(struct pc_store *store, MDB_txn *txn)
{
	uint64_t generation;
	int rc;

	rc = store_meta_get(store, txn, META_GENERATION, 0, &generation);
	if (rc == 0 && generation == 0 && !store->readonly) {
		uint32_t random_value = 0;

		while (random_value == 0)
			if (getrandom(&random_value, sizeof(random_value), 0) !=
			    sizeof(random_value))
				return -errno;
		generation = random_value;
		rc = store_meta_put(store, txn, META_GENERATION, generation);
	}
	store->generation = (uint32_t)generation;
	return rc;
}

/* Opens the databases, checks (or, rw, writes) the schema and loads the
 * persisted counters. */
static int init_index(struct pc_store *store, char *err, size_t errlen)
{
	uint64_t schema, next_ino;
	MDB_txn *txn;
	int rc;

	rc = store_txn_begin(store, store->readonly ? MDB_RDONLY : 0, &txn);
	if (rc < 0)
		return pc_set_err(rc, err, errlen,
				  "cannot read the cache index");
	rc = open_dbis(store, txn);
	if (rc < 0) {
		pc_set_err(rc, err, errlen, "the cache index in %s/index is %s",
			   store->dir, rc == -ENOENT ? "empty" : "unreadable");
		goto fail;
	}
	rc = store_meta_get(store, txn, META_SCHEMA, 0, &schema);
	if (rc == 0 && schema > STORE_SCHEMA)
		rc = pc_set_err(-EPROTONOSUPPORT, err, errlen,
				"the cache index has schema %llu, newer than "
				"this build's %d",
				(unsigned long long)schema, STORE_SCHEMA);
	if (rc == 0 && !store->readonly && schema < STORE_SCHEMA)
		rc = store_meta_put(store, txn, META_SCHEMA, STORE_SCHEMA);
	if (rc == 0 && !store->readonly) {
		rc = store_repo_meta_get(store, txn, META_NEXT_INO, 0,
					 &next_ino);
		if (rc == 0 && next_ino < STORE_FIRST_INO)
			rc = store_repo_meta_put(store, txn, META_NEXT_INO,
						 STORE_FIRST_INO);
	}
	if (rc == 0)
		rc = store_repos_load(store, txn);
	if (rc == 0)
		rc = load_generation(store, txn);
	if (rc == 0)
		rc = store_counters_load(store, txn);
	if (rc < 0)
		goto fail;
	/* Committing (also a read-only transaction) keeps the dbi handles. */
	rc = store_txn_commit(txn, "opening the cache index");
	if (rc < 0)
		pc_set_err(rc, err, errlen, "cannot open the cache index");
	return rc;
fail:
	if (err && errlen && !err[0])
		pc_set_err(rc, err, errlen, "cannot open the cache index: %s",
			   strerror(-rc));
	mdb_txn_abort(txn);
	return rc;
}

uint32_t pc_store_generation(const struct pc_store *store)
{
	return store->base->generation;
}

/* The live usage starts from the totals the reconcile just wrote. */
static int load_usage(struct pc_store *store)
{
	uint64_t chunks, bytes;
	int rc;

	rc = store_meta_read(store, META_USAGE_CHUNKS, 0, &chunks);
	if (rc == 0)
		rc = store_meta_read(store, META_USAGE_BYTES, 0, &bytes);
	if (rc == 0) {
		atomic_store(&store->usage_chunks, chunks);
		atomic_store(&store->usage_bytes, bytes);
	}
	return rc;
}

/*
 * The clean-close mark (meta "clean_close"): written, synced, by a close
 * whose last sync point and flush succeeded (every chunk file is then
 * synced and indexed, or was removed), still under the cache lock; taken
 * away, synced, by the next open before it writes anything else.  An open
 * that finds it skips the reconcile (a stat of every chunk file: half of a
 * restart's pause with a few thousand chunks); a crash or a power cut
 * after that open, or before a clean close, leaves no mark, and the next
 * open reconciles.  (A chunk file an administrator deletes while no
 * daemon runs is then found at its next read, not at start: the read
 * fetches it again.)
 */
static void mark_clean(struct pc_store *store)
{
	MDB_txn *txn;

	if (store_txn_begin(store, 0, &txn) < 0)
		return;
	if (store_meta_put(store, txn, META_CLEAN_CLOSE, 1) < 0) {
		mdb_txn_abort(txn);
		return;
	}
	if (store_txn_commit(txn, "marking a clean close") == 0 &&
	    mdb_env_sync(store->env, 1) != 0)
		store_log(store, PC_LOG_WARN, "the clean close is not synced");
}

static int take_clean_mark(struct pc_store *store, bool *clean)
{
	uint64_t mark = 0;
	MDB_txn *txn;
	int rc;

	*clean = false;
	rc = store_txn_begin(store, 0, &txn);
	if (rc < 0)
		return rc;
	rc = store_meta_get(store, txn, META_CLEAN_CLOSE, 0, &mark);
	if (rc == 0 && mark)
		rc = store_meta_put(store, txn, META_CLEAN_CLOSE, 0);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = store_txn_commit(txn, "opening after a clean close");
	if (rc == 0 && mark)
		rc = store_mdb_error("syncing the cache index",
				     mdb_env_sync(store->env, 1));
	*clean = rc == 0 && mark;
	return rc;
}

int pc_store_open(const char *cache_dir, struct pc_store **out, char *err,
		  size_t errlen)
{
	return pc_store_open_with(cache_dir, NULL, out, err, errlen);
}

int pc_store_open_with(const char *cache_dir,
		       const struct pc_store_options *opts,
		       struct pc_store **out, char *err, size_t errlen)
{
	struct pc_store *store;
	bool clean = false;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	store = store_new(cache_dir, false, opts);
	if (!store)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	rc = make_dir(cache_dir, NULL, err, errlen);
	if (rc == 0)
		rc = take_lock(store, err, errlen);
	if (rc == 0)
		rc = make_dir(cache_dir, "chunks", err, errlen);
	if (rc == 0)
		rc = make_dir(cache_dir, "tmp", err, errlen);
	if (rc == 0)
		rc = make_dir(cache_dir, "index", err, errlen);
	if (rc == 0)
		rc = open_dir(cache_dir, "chunks", &store->chunks_fd, err,
			      errlen);
	if (rc == 0)
		rc = open_dir(cache_dir, "tmp", &store->tmp_fd, err, errlen);
	if (rc == 0)
		rc = open_env(store, err, errlen);
	if (rc == 0)
		rc = init_index(store, err, errlen);
	if (rc == 0)
		rc = take_clean_mark(store, &clean);
	if (rc == 0) {
		rc = clean ? store_reconcile_clean(store)
			   : store_reconcile(store);
		if (rc == 0)
			rc = load_usage(store);
		if (rc < 0)
			pc_set_err(rc, err, errlen, "cannot reconcile %s: %s",
				   cache_dir, strerror(-rc));
	}
	/* Without every chunk file in the index, no filter (present.c). */
	if (rc == 0 && !store->files_unread && store_present_build(store) < 0)
		store_log(store, PC_LOG_WARN,
			  "cannot list the cached chunks: every chunk that is "
			  "not cached is looked up on the disk");
	if (rc < 0) {
		store_free(store);
		return rc;
	}
	*out = store;
	return 0;
}

int pc_store_open_readonly(const char *cache_dir, struct pc_store **out,
			   char *err, size_t errlen)
{
	struct pc_store *store;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	store = store_new(cache_dir, true, NULL);
	if (!store)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	rc = open_env(store, err, errlen);
	if (rc == 0)
		rc = init_index(store, err, errlen);
	if (rc == 0)
		rc = open_dir(cache_dir, "chunks", &store->chunks_fd, err,
			      errlen);
	if (rc < 0) {
		store_free(store);
		return rc;
	}
	*out = store;
	return 0;
}

void pc_store_close(struct pc_store *store)
{
	int rc;

	if (!store)
		return;
	if (store->base != store) {
		store_repo_close(store);
		return;
	}
	store_repos_check_closed(store);
	if (!store->readonly) {
		store_commit_stop(store); /* the last sync point */
		rc = pc_store_flush(store);
		if (rc < 0)
			store_log(store, PC_LOG_ERROR,
				  "final flush of the cache index failed: %s",
				  strerror(-rc));
		else if (!atomic_load(&store->index_incomplete))
			mark_clean(store);
	}
	store_free(store);
}

const char *pc_store_dir(const struct pc_store *store)
{
	return store->base->dir;
}
