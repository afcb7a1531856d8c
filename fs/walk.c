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
 * each file is asked for once.  The files of a window that are cached
 * are read from the disk ahead of the reader instead
 * (pc_store_chunk_read_ahead), so that after a reboot, or once memory was
 * short, it does not wait for the disk at every file.  The fetches are
 * ordinary read-ahead (pc_net_repo_prefetch): readers' own fetches go
 * first, and they share the discovery probes of whatever else is queued.
 *
 * A window does not stop at the end of a directory: it goes on with the
 * files of the next directory in the tree's order (its subdirectories,
 * then its next sibling, then its parent's next sibling; at most
 * WALK_DIRS_MAX directories past the reader's), and when the reader opens
 * a file in a directory the window reached, the walk goes on there as if
 * it had never left, instead of starting again with two files fetched one
 * after the other.  A tree of small directories then costs no more than
 * one large directory.
 *
 * All the state is under walk->lock, held for a few copies; the store
 * lookups of the next files, their read-ahead from the disk and the
 * request to the net happen outside it, after the reply to the open.
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
/* Directories a window may go on into past the one it starts in, and how
 * many levels up it looks for the next one. */
#define WALK_DIRS_MAX 4
#define WALK_DEPTH_MAX 16

struct walk_name {
	uint64_t ino; /* 0: empty */
	uint64_t parent;
	char name[WALK_NAME_MAX + 1];
};

/* A place in the tree: a file's name in its directory. */
struct walk_pos {
	uint64_t dir; /* 0: none */
	char name[PC_NAME_MAX + 1];
};

/* The last window asked for. */
struct walk_window {
	struct walk_pos start; /* its first file */
	struct walk_pos end;   /* its last file; dir 0: none asked */
	/* The directories it reached past the reader's, in order. */
	uint64_t dirs[WALK_DIRS_MAX];
	unsigned ndirs;
	bool exhausted; /* it found no file: the tree ends here */
};

struct walk_stream {
	uint64_t parent; /* the reader's directory; 0: empty */
	pid_t pid;
	uint64_t used;		      /* walk->clock when last used */
	unsigned run;		      /* opens in increasing order */
	bool entered;		      /* came from the previous directory */
	char last[WALK_NAME_MAX + 1]; /* the last name opened here */
	struct walk_window window;
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

/* Whether the window asked for files of directory @dir. */
static bool window_reached(const struct walk_window *w, uint64_t dir)
{
	if (w->start.dir == dir || w->end.dir == dir)
		return true;
	for (unsigned i = 0; i < w->ndirs; i++)
		if (w->dirs[i] == dir)
			return true;
	return false;
}

/* With walk->lock held: the stream of (@parent, @pid); else the same
 * process's stream whose window went on into @parent, which moves there;
 * else the least recently used slot, made over to it. */
static struct walk_stream *stream_of(struct fs_walk *walk, uint64_t parent,
				     pid_t pid)
{
	struct walk_stream *oldest = &walk->streams[0], *moved = NULL;

	for (size_t i = 0; i < WALK_STREAMS; i++) {
		struct walk_stream *s = &walk->streams[i];

		if (s->parent == parent && s->pid == pid)
			return s;
		if (s->parent && s->pid == pid &&
		    window_reached(&s->window, parent))
			moved = s;
		if (s->used < oldest->used)
			oldest = s;
	}
	if (moved) {
		/* A window that started in the directory the reader left is
		 * behind it: the next open asks for the one after it. */
		if (moved->window.start.dir == moved->parent)
			moved->window.start.dir = 0;
		moved->parent = parent;
		moved->entered = true;
		moved->last[0] = '\0';
		return moved;
	}
	memset(oldest, 0, sizeof(*oldest));
	oldest->parent = parent;
	oldest->pid = pid;
	return oldest;
}

/*
 * With walk->lock held: records the open of @name in the stream's
 * directory; true if a new window should be asked for, starting after
 * @from.
 */
static bool step(struct walk_stream *s, const char *name, struct walk_pos *from)
{
	const struct walk_window *w = &s->window;
	bool in_order = s->last[0] ? strcmp(name, s->last) > 0 : s->entered;

	s->entered = false;
	s->run = in_order ? s->run + 1 : 0;
	strcpy(s->last, name);
	if (s->run == 0) {
		memset(&s->window, 0, sizeof(s->window));
		return false;
	}
	if (w->exhausted)
		return false; /* nothing more to read ahead */
	if (w->start.dir &&
	    (w->start.dir != s->parent || strcmp(name, w->start.name) < 0))
		return false; /* the last window is still ahead */
	if (w->end.dir &&
	    (w->end.dir != s->parent || strcmp(w->end.name, name) > 0)) {
		*from = w->end; /* right after the last window */
	} else {
		from->dir = s->parent;
		strcpy(from->name, name);
	}
	return true;
}

/* In @listing, the first directory after the entry @ino (0: from the
 * start), or 0. */
static uint64_t dir_after(const struct pc_dir_listing *listing, uint64_t ino)
{
	size_t i = 0;

	if (ino) {
		while (i < listing->count && listing->entries[i].ino != ino)
			i++;
		i++;
	}
	for (; i < listing->count; i++)
		if (listing->entries[i].type == PC_ENTRY_DIR)
			return listing->entries[i].ino;
	return 0;
}

/* The directory whose files come after @dir's in the walk's order, or 0:
 * @dir's first subdirectory, else the next directory beside it or beside
 * one of its parents. */
static uint64_t next_dir(struct pc_fs *fs, uint64_t dir)
{
	struct pc_dir_listing listing;
	struct pc_inode inode;
	uint64_t next = 0, parent;

	if (pc_store_list(fs->store, 0, dir, &listing) == 0) {
		next = dir_after(&listing, 0);
		pc_dir_listing_free(&listing);
	}
	for (unsigned depth = 0;
	     !next && depth < WALK_DEPTH_MAX && dir != PC_ROOT_INO; depth++) {
		if (pc_store_inode(fs->store, dir, &inode) < 0)
			return 0;
		parent = inode.parent ? inode.parent : PC_ROOT_INO;
		pc_inode_release(&inode);
		if (pc_store_list(fs->store, 0, parent, &listing) < 0)
			return 0;
		next = dir_after(&listing, dir);
		pc_dir_listing_free(&listing);
		dir = parent;
	}
	return next;
}

/* Whether directory @dir holds no file after @name (a file of more than
 * WALK_REFS chunks counts as none: the window goes on without it). */
static bool dir_done(struct pc_fs *fs, uint64_t dir, const char *name)
{
	struct pc_chunk_ref refs[WALK_REFS];
	char first[PC_NAME_MAX + 1], last[PC_NAME_MAX + 1];

	return pc_store_files_after(fs->store, dir, name, 1, UINT64_MAX, refs,
				    WALK_REFS, first, last) < 0 ||
	       first[0] == '\0';
}

/* Asks for the window after @from, across directories (see the top of the
 * file), and describes it in @w. */
static void ask_window(struct pc_fs *fs, const struct walk_pos *from,
		       struct walk_window *w)
{
	uint64_t bytes = pc_store_pin_file_limit(fs->store) / 2;
	char first[PC_NAME_MAX + 1], last[PC_NAME_MAX + 1];
	struct pc_chunk_ref refs[WALK_REFS];
	const char *after = from->name;
	uint64_t dir = from->dir;
	size_t nrefs = 0, nmissing = 0;
	int n;

	memset(w, 0, sizeof(*w));
	for (;;) {
		/* Small files are one chunk each: refs count as files. */
		n = pc_store_files_after(
			fs->store, dir, after, WALK_FILES - nrefs, bytes,
			refs + nrefs, WALK_REFS - nrefs, first, last);
		if (n < 0)
			break;
		if (first[0] && !w->start.dir) {
			if (strlen(first) > WALK_NAME_MAX)
				break; /* not one to compare with */
			w->start.dir = dir;
			strcpy(w->start.name, first);
		}
		if (first[0]) {
			w->end.dir = dir;
			strcpy(w->end.name, last);
			after = w->end.name;
		}
		for (int i = 0; i < n; i++)
			bytes -= refs[nrefs + (size_t)i].len;
		nrefs += (size_t)n;
		if (nrefs >= WALK_FILES || w->ndirs == WALK_DIRS_MAX ||
		    !dir_done(fs, dir, after))
			break;
		dir = next_dir(fs, dir);
		if (!dir)
			break;
		w->dirs[w->ndirs++] = dir;
		after = "";
	}
	if (!w->start.dir) {
		memset(w, 0, sizeof(*w));
		w->exhausted = true;
		return;
	}
	for (size_t i = 0; i < nrefs; i++)
		if (pc_store_chunk_read_ahead(fs->store, &refs[i].hash) != 0)
			refs[nmissing++] = refs[i];
	pc_net_repo_prefetch(fs_net_repo(fs), refs, nmissing);
}

void fs_walk_open(struct pc_fs *fs, uint64_t ino, pid_t pid)
{
	struct walk_window window;
	struct walk_name *slot;
	struct walk_stream *s;
	struct walk_pos from;
	uint64_t parent = 0;
	bool ask;

	if (!fs->walk)
		return;
	pthread_mutex_lock(&fs->walk->lock);
	slot = name_slot(fs->walk, ino);
	ask = slot->ino == ino;
	if (ask) {
		parent = slot->parent;
		s = stream_of(fs->walk, parent, pid);
		s->used = ++fs->walk->clock;
		ask = step(s, slot->name, &from);
	}
	pthread_mutex_unlock(&fs->walk->lock);
	if (!ask)
		return;
	ask_window(fs, &from, &window);
	pthread_mutex_lock(&fs->walk->lock);
	s = stream_of(fs->walk, parent, pid);
	s->window = window;
	pthread_mutex_unlock(&fs->walk->lock);
}
