/*
 * handles.c - the file handles the kernel holds (fi->fh): ids looked up in
 * a table, not pointers.
 *
 * A handle must still mean something to the next process after a restart
 * without unmount (takeover.c): the kernel keeps the fh of every file it
 * has open and sends it with each READ, READDIR, RELEASE and RELEASEDIR.
 * So fh is an id, and each process draws its ids from a random 64-bit
 * base.  An id this process never gave out belongs to an earlier process:
 * it is adopted on first use, opened again from the request's inode
 * number (the inode map lives in LMDB, so the number still means the same
 * file), with the pins an open takes.  Two processes' id ranges meeting is
 * as likely as two random 64-bit numbers falling within a few million of
 * each other; an id that names another inode than the request's is
 * refused all the same.
 *
 * Each handle also tells the store that its inode is open, so that the
 * store keeps the inode's record when its version is dropped (held.c in
 * store/): a file held open across two publishes and a restart can be
 * opened again from its number.
 *
 * The table is a chained hash under one mutex: a lookup per read is a
 * lock, a multiply and a short chain.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

#define INITIAL_BUCKETS 64

enum handle_kind {
	HANDLE_FILE,
	HANDLE_DIR
};

struct handle {
	uint64_t id;
	uint64_t ino;
	enum handle_kind kind;
	void *obj; /* struct open_file (a reference) or struct open_dir */
	struct handle *next;
};

struct fs_handles {
	pthread_mutex_t lock;
	struct handle **buckets; /* lock */
	size_t nbuckets;	 /* a power of two; lock */
	size_t count;		 /* lock */
	uint64_t next_id;	 /* lock */
};

static size_t bucket_of(const struct fs_handles *t, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 32) & (t->nbuckets - 1);
}

int fs_handles_init(struct pc_fs *fs)
{
	struct fs_handles *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->buckets = calloc(INITIAL_BUCKETS, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		return -ENOMEM;
	}
	t->nbuckets = INITIAL_BUCKETS;
	/* The random base; a failed getrandom leaves the pointer's bits,
	 * which differ between processes too. */
	if (getrandom(&t->next_id, sizeof(t->next_id), 0) != sizeof(t->next_id))
		t->next_id = (uint64_t)(uintptr_t)t << 16;
	pthread_mutex_init(&t->lock, NULL);
	fs->handles = t;
	return 0;
}

void fs_handles_free(struct pc_fs *fs)
{
	struct fs_handles *t = fs->handles;

	if (!t)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->buckets[i]) {
			struct handle *h = t->buckets[i];

			t->buckets[i] = h->next;
			free(h);
		}
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
	fs->handles = NULL;
}

/* With t->lock held. */
static struct handle *find_locked(struct fs_handles *t, uint64_t id)
{
	struct handle *h = t->buckets[bucket_of(t, id)];

	while (h && h->id != id)
		h = h->next;
	return h;
}

/* With t->lock held: twice the buckets once the chains grow (best effort:
 * without memory the chains just get longer). */
static void grow_locked(struct fs_handles *t)
{
	size_t old = t->nbuckets;
	struct handle **fresh = calloc(old * 2, sizeof(*fresh));
	struct handle **stale = t->buckets;

	if (!fresh)
		return;
	t->buckets = fresh;
	t->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		while (stale[i]) {
			struct handle *h = stale[i];
			size_t b = bucket_of(t, h->id);

			stale[i] = h->next;
			h->next = fresh[b];
			fresh[b] = h;
		}
	}
	free(stale);
}

/*
 * Inserts @h (its id set, or 0 for a new one).  Returns the object that
 * the id then holds: @h's, or that of an entry inserted first under the
 * same id if it has @h's kind and inode (else NULL); with @ref, a file
 * with a reference for the caller.  *@inserted says which.
 */
static void *insert(struct fs_handles *t, struct handle *h, bool ref,
		    bool *inserted)
{
	struct handle *found;
	void *obj = NULL;
	size_t b;

	pthread_mutex_lock(&t->lock);
	if (h->id == 0) {
		do /* never 0, never one in use (an adopted id) */
			h->id = t->next_id++;
		while (h->id == 0 || find_locked(t, h->id));
	}
	found = find_locked(t, h->id);
	*inserted = !found;
	if (!found) {
		if (t->count >= 2 * t->nbuckets)
			grow_locked(t);
		b = bucket_of(t, h->id);
		h->next = t->buckets[b];
		t->buckets[b] = h;
		t->count++;
		found = h;
	}
	if (found->kind == h->kind && found->ino == h->ino) {
		obj = found->obj;
		if (ref && found->kind == HANDLE_FILE)
			atomic_fetch_add(&((struct open_file *)obj)->refs, 1);
	}
	pthread_mutex_unlock(&t->lock);
	return obj;
}

/* Takes @id out of the table; NULL if it is not there. */
static struct handle *take(struct fs_handles *t, uint64_t id)
{
	struct handle **link, *h;

	pthread_mutex_lock(&t->lock);
	link = &t->buckets[bucket_of(t, id)];
	while (*link && (*link)->id != id)
		link = &(*link)->next;
	h = *link;
	if (h) {
		*link = h->next;
		t->count--;
	}
	pthread_mutex_unlock(&t->lock);
	return h;
}

/* The store keeps an inode that a handle holds beyond its version
 * (held.c in store/): one count per handle.  Best effort: without memory
 * the inode is kept only while its version is. */
static void note_open(struct pc_fs *fs, uint64_t ino)
{
	if (fs->store && pc_store_inode_hold(fs->store, ino) < 0)
		fprintf(stderr,
			"peercache: out of memory: inode %" PRIu64 " is not "
			"kept "
			"beyond its "
			"version\n",
			ino);
}

static void note_closed(struct pc_fs *fs, uint64_t ino)
{
	if (fs->store)
		pc_store_inode_release(fs->store, ino);
}

/* A new entry for @obj: its id, or 0 without memory.  A file's entry
 * holds the reference the open made. */
static uint64_t add(struct pc_fs *fs, enum handle_kind kind, uint64_t ino,
		    void *obj)
{
	struct handle *h = calloc(1, sizeof(*h));
	bool inserted;

	if (!h)
		return 0;
	*h = (struct handle){ .ino = ino, .kind = kind, .obj = obj };
	insert(fs->handles, h, false, &inserted);
	note_open(fs, ino);
	return h->id; /* a fresh id is always inserted */
}

uint64_t fs_file_handle(struct pc_fs *fs, struct open_file *of)
{
	return add(fs, HANDLE_FILE, of->ino, of);
}

uint64_t fs_dir_handle(struct pc_fs *fs, uint64_t ino, struct open_dir *dir)
{
	return add(fs, HANDLE_DIR, ino, dir);
}

/* The object of @fh if it is one of @kind for @ino (a file with a
 * reference for the caller); NULL and *@known = false if the table has no
 * such id. */
static void *lookup(struct pc_fs *fs, enum handle_kind kind, uint64_t ino,
		    uint64_t fh, bool *known)
{
	struct fs_handles *t = fs->handles;
	struct handle *h;
	void *obj = NULL;

	pthread_mutex_lock(&t->lock);
	h = find_locked(t, fh);
	*known = h != NULL;
	if (h && h->kind == kind && h->ino == ino) {
		obj = h->obj;
		if (kind == HANDLE_FILE)
			atomic_fetch_add(&((struct open_file *)obj)->refs, 1);
	}
	pthread_mutex_unlock(&t->lock);
	if (h && !obj)
		fprintf(stderr,
			"peercache: file handle %#" PRIx64 " does not "
			"belong to inode %" PRIu64 "\n",
			fh, ino);
	return obj;
}

/* Opens @ino again under the earlier process's @fh.  Two requests may
 * adopt the same handle at once: the second keeps the first's. */
static void *adopt(struct pc_fs *fs, enum handle_kind kind, uint64_t ino,
		   uint64_t fh)
{
	struct handle *h = calloc(1, sizeof(*h));
	int error = ENOMEM;
	void *obj = NULL, *kept;
	bool inserted;

	if (h)
		obj = kind == HANDLE_FILE
			      ? (void *)fs_file_open(fs, ino, &error)
			      : (void *)fs_dir_open(fs, ino, &error);
	if (!obj) {
		free(h);
		fprintf(stderr,
			"peercache: cannot adopt the handle %#" PRIx64
			" of inode %" PRIu64 " from the previous process: "
			"%s\n",
			fh, ino, strerror(error));
		return NULL;
	}
	*h = (struct handle){ .id = fh, .ino = ino, .kind = kind, .obj = obj };
	if (kind == HANDLE_FILE)
		fs_pt_adopted(fs, obj);
	kept = insert(fs->handles, h, true, &inserted);
	if (inserted) {
		note_open(fs, ino);
		return obj;
	}
	free(h);
	if (kind == HANDLE_FILE)
		fs_file_close(fs, obj);
	else
		fs_dir_close(fs, obj);
	return kept;
}

struct open_file *fs_file_get(struct pc_fs *fs, uint64_t ino, uint64_t fh)
{
	bool known;
	struct open_file *of = lookup(fs, HANDLE_FILE, ino, fh, &known);

	return of || known ? of : adopt(fs, HANDLE_FILE, ino, fh);
}

struct open_dir *fs_dir_get(struct pc_fs *fs, uint64_t ino, uint64_t fh)
{
	bool known;
	struct open_dir *dir = lookup(fs, HANDLE_DIR, ino, fh, &known);

	return dir || known ? dir : adopt(fs, HANDLE_DIR, ino, fh);
}

struct open_file *fs_file_find(struct pc_fs *fs, uint64_t ino, uint64_t fh,
			       bool *known)
{
	return lookup(fs, HANDLE_FILE, ino, fh, known);
}

void fs_file_release(struct pc_fs *fs, uint64_t fh)
{
	struct handle *h = take(fs->handles, fh);

	if (h)
		note_closed(fs, h->ino);
	if (h && h->kind == HANDLE_FILE)
		fs_file_close(fs, h->obj);
	else if (h)
		fs_dir_close(fs, h->obj);
	free(h);
}

void fs_dir_release(struct pc_fs *fs, uint64_t fh)
{
	fs_file_release(fs, fh); /* the entry knows its kind */
}

void fs_handles_hold_all(struct pc_fs *fs)
{
	struct fs_handles *t = fs->handles;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct handle *h = t->buckets[i]; h; h = h->next)
			note_open(fs, h->ino);
	pthread_mutex_unlock(&t->lock);
}

void fs_file_pin(struct pc_fs *fs, struct open_file *of)
{
	of->store = fs->store;
	of->pinned =
		of->size <= pc_store_pin_file_limit(fs->store) &&
		pc_store_pin_chunks(fs->store, of->chunks, of->nchunks) == 0;
}

void fs_files_unpin(struct pc_fs *fs)
{
	struct pc_list *pos;

	pthread_mutex_lock(&fs->open_lock);
	pc_list_each(pos, &fs->open_files)
	{
		struct open_file *of =
			container_of(pos, struct open_file, link);

		if (of->pinned)
			pc_store_unpin_chunks(of->store, of->chunks,
					      of->nchunks);
		of->pinned = false;
		of->store = NULL;
	}
	pthread_mutex_unlock(&fs->open_lock);
}

void fs_files_repin(struct pc_fs *fs)
{
	struct pc_list *pos;

	pthread_mutex_lock(&fs->open_lock);
	pc_list_each(pos, &fs->open_files)
	{
		struct open_file *of =
			container_of(pos, struct open_file, link);

		fs_file_pin(fs, of);
		/* The reads that failed as the net stopped never reached a
		 * reader (the kernel asks again): not failures to remember. */
		for (unsigned i = 0; i < 4; i++)
			atomic_store(&of->failures[i], 0);
	}
	pthread_mutex_unlock(&fs->open_lock);
}

int fs_files_export(struct pc_fs *fs, struct fs_handle_ref **out, size_t *count)
{
	struct fs_handles *t = fs->handles;
	struct fs_handle_ref *refs;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	refs = calloc(t->count + 1, sizeof(*refs));
	for (size_t i = 0; refs && i < t->nbuckets; i++)
		for (struct handle *h = t->buckets[i]; h; h = h->next)
			if (h->kind == HANDLE_FILE)
				refs[n++] =
					(struct fs_handle_ref){ .fh = h->id,
								.ino = h->ino };
	pthread_mutex_unlock(&t->lock);
	if (!refs)
		return -ENOMEM;
	*out = refs;
	*count = n;
	return 0;
}

void fs_files_adopt(struct pc_fs *fs, const struct fs_handle_ref *refs,
		    size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct open_file *of = fs_file_get(fs, refs[i].ino, refs[i].fh);

		if (of)
			fs_open_file_put(of);
	}
}
