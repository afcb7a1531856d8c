/*
 * walk.c - read-ahead across files: a reader that opens the files of a
 * directory one after another in name order (xargs cat over a sorted
 * list, rsync, apt, an AV engine loading its definitions) gets the next
 * files' chunks fetched ahead of it, as a sequential reader of one file
 * gets its next chunks (read.c).  Names are in the manifest's order, so
 * this is the order in which such tools walk a tree.
 *
 * An open knows only an inode number, so lookups remember (inode ->
 * directory, name) in a small direct-mapped table.  A walk is a stream per
 * (directory, process): eight processes reading eight slices of one
 * directory are eight walks.  A stream becomes a walk at its second open
 * in increasing name order, so reading one file alone pulls nothing.  A
 * walk asks for up to WALK_FILES files, within an eighth of the quota, and
 * for the next ones when the reader opens the first file of the last
 * window: at most two windows (a quarter of the quota) are ahead, and
 * each file is asked for once.  The fetches are ordinary read-ahead
 * (pc_net_prefetch): readers' own fetches go first, and they share the
 * discovery probes of whatever else is queued.
 *
 * All the state is under walk->lock, held for a few copies; the store
 * lookup of the next files and the request to the net happen outside it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WALK_NAMES 1024	  /* remembered lookups */
#define WALK_NAME_MAX 127 /* longer names are not remembered */
#define WALK_STREAMS 64
#define WALK_FILES 16 /* files per window */
/* Chunk refs per window: small files are one chunk each. */
#define WALK_REFS (4 * WALK_FILES)

struct walk_name {
	uint64_t ino; /* 0: empty */
	uint64_t parent;
	char name[WALK_NAME_MAX + 1];
};

struct walk_stream {
	uint64_t parent; /* 0: empty */
	pid_t pid;
	uint64_t used;		       /* walk->clock when last used */
	unsigned run;		       /* opens in increasing order */
	char last[WALK_NAME_MAX + 1];  /* the last name opened */
	char start[WALK_NAME_MAX + 1]; /* first file of the last window */
	char asked[PC_NAME_MAX + 1];   /* last file asked for; "": none */
};

struct fs_walk {
	pthread_mutex_t lock;
	uint64_t clock;
	struct walk_name names[WALK_NAMES];
	struct walk_stream streams[WALK_STREAMS];
};

struct fs_walk *fs_walk_new(void)
{
	struct fs_walk *walk = calloc(1, sizeof(*walk));

	if (walk)
		pthread_mutex_init(&walk->lock, NULL);
	return walk;
}

void fs_walk_free(struct fs_walk *walk)
{
	if (!walk)
		return;
	pthread_mutex_destroy(&walk->lock);
	free(walk);
}

static struct walk_name *name_slot(struct fs_walk *walk, uint64_t ino)
{
	return &walk->names[(ino * 0x9e3779b97f4a7c15ull) >> 54];
}

void fs_walk_lookup(struct pc_fs *fs, uint64_t parent, const char *name,
		    uint64_t ino)
{
	size_t len = strlen(name);
	struct walk_name *slot;

	if (!fs->walk || len > WALK_NAME_MAX)
		return;
	pthread_mutex_lock(&fs->walk->lock);
	slot = name_slot(fs->walk, ino);
	slot->ino = ino;
	slot->parent = parent;
	memcpy(slot->name, name, len + 1);
	pthread_mutex_unlock(&fs->walk->lock);
}

/* With walk->lock held: the stream of (@parent, @pid), or the least
 * recently used slot made over to it. */
static struct walk_stream *stream_of(struct fs_walk *walk, uint64_t parent,
				     pid_t pid)
{
	struct walk_stream *oldest = &walk->streams[0];

	for (size_t i = 0; i < WALK_STREAMS; i++) {
		struct walk_stream *s = &walk->streams[i];

		if (s->parent == parent && s->pid == pid)
			return s;
		if (s->used < oldest->used)
			oldest = s;
	}
	memset(oldest, 0, sizeof(*oldest));
	oldest->parent = parent;
	oldest->pid = pid;
	return oldest;
}

/*
 * With walk->lock held: records the open of @name; true if a new window
 * should be asked for, with the name to start after in @after.
 */
static bool step(struct walk_stream *s, const char *name, char *after)
{
	bool in_order = s->last[0] && strcmp(name, s->last) > 0;

	s->run = in_order ? s->run + 1 : 0;
	strcpy(s->last, name);
	if (s->run == 0) {
		s->asked[0] = s->start[0] = '\0';
		return false;
	}
	if (s->asked[0] && strcmp(name, s->start) < 0)
		return false; /* the last window is still ahead */
	strcpy(after,
	       s->asked[0] && strcmp(s->asked, name) > 0 ? s->asked : name);
	return true;
}

/* Asks for the window after @after; returns its last file's name in
 * @asked and its first in @start ("" if none). */
static void ask_window(struct pc_fs *fs, uint64_t parent, const char *after,
		       char *asked, char *start)
{
	uint64_t bytes = pc_store_pin_file_limit(fs->store) / 2;
	struct pc_chunk_ref refs[WALK_REFS];
	char first[PC_NAME_MAX + 1];
	int n;

	start[0] = asked[0] = '\0';
	n = pc_store_files_after(fs->store, parent, after, WALK_FILES, bytes,
				 refs, WALK_REFS, first, asked);
	if (n <= 0 || strlen(first) > WALK_NAME_MAX) {
		asked[0] = '\0';
		return;
	}
	strcpy(start, first);
	pc_net_repo_prefetch(fs_net_repo(fs), refs, (size_t)n);
}

void fs_walk_open(struct pc_fs *fs, uint64_t ino, pid_t pid)
{
	char name[WALK_NAME_MAX + 1], after[PC_NAME_MAX + 1];
	char asked[PC_NAME_MAX + 1], start[WALK_NAME_MAX + 1];
	struct walk_name *slot;
	struct walk_stream *s;
	uint64_t parent;
	bool ask;

	if (!fs->walk)
		return;
	pthread_mutex_lock(&fs->walk->lock);
	slot = name_slot(fs->walk, ino);
	ask = slot->ino == ino;
	if (ask) {
		parent = slot->parent;
		strcpy(name, slot->name);
		s = stream_of(fs->walk, parent, pid);
		s->used = ++fs->walk->clock;
		ask = step(s, name, after);
	}
	pthread_mutex_unlock(&fs->walk->lock);
	if (!ask)
		return;
	ask_window(fs, parent, after, asked, start);
	pthread_mutex_lock(&fs->walk->lock);
	s = stream_of(fs->walk, parent, pid);
	if (asked[0]) {
		strcpy(s->asked, asked);
		strcpy(s->start, start);
	}
	pthread_mutex_unlock(&fs->walk->lock);
}
