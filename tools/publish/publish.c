/*
 * publish.c - turn a source directory into a new published version.
 *
 * Order matters for readers of REPO_DIR: chunks first, then the manifest,
 * then syncfs(), then the head by rename.  A node or web server that reads
 * the repository at any moment sees either the old version complete or the
 * new one complete.  Only after the head is in place are old versions
 * dropped and unreferenced chunks removed.
 *
 * The tree is walked on the main thread; file contents go through the
 * pipeline (pipeline.c), which hashes and stores chunks on worker threads.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "pc_util.h"

struct publish {
	const struct publish_opts *opts;
	struct repo repo;
	struct pc_manifest *manifest;
	struct pipeline *pipeline;
	bool counting;	      /* first pass: only sums sizes for progress */
	uint64_t total_bytes; /* from the counting pass */
	uint64_t files, dirs, symlinks, skipped, bytes;
	struct pipeline_stats stats; /* once the pipeline has finished */
	double started, last_progress;
};

static void progress(struct publish *pub, bool done)
{
	double now = pc_now_monotonic();
	char sofar[32], total[32];
	int width = 30, filled;
	double share;

	if (!pub->opts->progress || pub->counting ||
	    (!done && now - pub->last_progress < 0.1))
		return;
	pub->last_progress = now;
	share = pub->total_bytes ? (double)pub->bytes / (double)pub->total_bytes
				 : 1.0;
	if (share > 1.0)
		share = 1.0;
	filled = (int)(share * width);
	fprintf(stderr, "\r[%.*s%*s] %3.0f%% %s / %s %6.1f MB/s", filled,
		"##############################", width - filled, "",
		share * 100, pc_format_size(pub->bytes, sofar, sizeof(sofar)),
		pc_format_size(pub->total_bytes, total, sizeof(total)),
		(double)pub->bytes / 1e6 / (now - pub->started + 1e-9));
	if (done)
		fputc('\n', stderr);
}

/* Told of each chunk as the pipeline cuts it. */
static void count_chunk(void *arg, size_t len)
{
	struct publish *pub = arg;

	pub->bytes += len;
	progress(pub, false);
}

static int add_file(struct publish *pub, int dirfd, const char *name,
		    struct pc_entry *entry)
{
	int fd, rc;

	if (pub->counting)
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "error: cannot read '%s': %s\n", entry->path,
			strerror(-rc));
		return rc;
	}
	/* The pipeline adds the entry to the manifest once it is stored. */
	rc = pipeline_add_file(pub->pipeline, fd, entry, count_chunk, pub);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, "error: cannot publish '%s': %s\n", entry->path,
			strerror(-rc));
		return rc;
	}
	pub->files++;
	return 0;
}

static int walk(struct publish *pub, int dirfd, const char *prefix);

/* One directory entry: classify it and add it to the manifest. */
static int visit(struct publish *pub, int dirfd, const char *name,
		 const char *path)
{
	struct pc_entry entry = { 0 };
	char target[PC_PATH_MAX + 2];
	struct stat st;
	ssize_t n;
	int rc = 0, sub;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		fprintf(stderr, "error: cannot stat '%s': %s\n", path,
			strerror(-rc));
		return rc;
	}
	entry.path = (char *)path;
	entry.mode = st.st_mode & PC_MODE_MASK;
	entry.mtime = st.st_mtim.tv_sec < 0 ? 0 : st.st_mtim.tv_sec;
	if (pc_path_check(path, strlen(path), NULL, 0) < 0) {
		fprintf(stderr,
			"error: '%s' cannot be published (path too "
			"long or a component over 255 bytes)\n",
			path);
		return -ENAMETOOLONG;
	}
	if (S_ISREG(st.st_mode)) {
		if (pub->counting)
			pub->total_bytes += (uint64_t)st.st_size;
		entry.type = PC_ENTRY_FILE;
		return add_file(pub, dirfd, name, &entry);
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(dirfd, name, target, sizeof(target));
		if (n < 0 || n > PC_PATH_MAX || n == 0) {
			fprintf(stderr, "error: cannot read link '%s'\n", path);
			return -EINVAL;
		}
		target[n] = '\0';
		entry.type = PC_ENTRY_SYMLINK;
		entry.target = target;
		entry.size = (uint64_t)n;
		pub->symlinks += !pub->counting;
		return pub->counting ? 0
				     : pc_manifest_add(pub->manifest, &entry);
	}
	if (S_ISDIR(st.st_mode)) {
		entry.type = PC_ENTRY_DIR;
		if (!pub->counting) {
			rc = pc_manifest_add(pub->manifest, &entry);
			pub->dirs++;
		}
		if (rc < 0)
			return rc;
		sub = openat(dirfd, name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = -errno;
			fprintf(stderr,
				"error: cannot open directory '%s': %s\n", path,
				strerror(-rc));
			return rc;
		}
		return walk(pub, sub, path); /* walk closes @sub */
	}
	if (!pub->counting) {
		fprintf(stderr,
			"warning: skipping special file '%s' (not a "
			"regular file, directory or symlink)\n",
			path);
		pub->skipped++;
	}
	return 0;
}

/* Walks the directory open at @dirfd (and closes it). */
static int walk(struct publish *pub, int dirfd, const char *prefix)
{
	struct dirent *de;
	DIR *dir = fdopendir(dirfd);
	int rc = 0;

	if (!dir) {
		rc = -errno;
		close(dirfd);
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(dir)) != NULL) {
		char *path;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "",
			     de->d_name) < 0) {
			rc = -ENOMEM;
			break;
		}
		rc = visit(pub, dirfd, de->d_name, path);
		free(path);
	}
	if (rc == 0 && errno)
		rc = -errno;
	closedir(dir);
	return rc;
}

/* The highest version published so far (0 for a new repository), after
 * checking that REPO_DIR is not another repository's. */
static int previous_version(struct publish *pub, const struct version_rec *recs,
			    size_t nrecs, uint64_t *version)
{
	char why[256];
	struct pc_head head;
	size_t len;
	char *buf;
	int rc;

	*version = nrecs ? recs[nrecs - 1].version : 0;
	rc = repo_head_read(&pub->repo, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "error: cannot read %s/head: %s\n",
			pub->opts->repo, strerror(-rc));
		return rc;
	}
	rc = pc_head_parse_unverified(buf, len, &head, why, sizeof(why));
	free(buf);
	if (rc < 0) {
		fprintf(stderr,
			"error: %s/head is unreadable (%s); refusing to "
			"publish over it\n",
			pub->opts->repo, why);
		return rc;
	}
	if (strcmp(head.name, pub->opts->name) != 0) {
		fprintf(stderr,
			"error: %s belongs to repository '%s', not '%s'\n",
			pub->opts->repo, head.name, pub->opts->name);
		return -EEXIST;
	}
	if (head.version > *version)
		*version = head.version;
	return 0;
}

static int write_head(struct publish *pub, struct pc_key *key,
		      struct version_rec *rec)
{
	struct pc_head head = { 0 };
	size_t len;
	char *buf;
	int rc;

	snprintf(head.name, sizeof(head.name), "%s", pub->opts->name);
	head.version = rec->version;
	head.created = rec->created;
	head.expires = rec->created + (int64_t)pub->opts->valid_for;
	head.manifest = rec->manifest;
	head.manifest_size = rec->manifest_size;
	rc = pc_head_sign(&head, key, &buf, &len);
	if (rc < 0)
		return rc;
	/* Everything the head names must be durable before the head is. */
	if (syncfs(pub->repo.dirfd) < 0)
		rc = -errno;
	if (rc == 0)
		rc = repo_replace_file(&pub->repo, "head", buf, len);
	free(buf);
	return rc;
}

/* Removes objects that no retained manifest references. */
static int collect_garbage(struct publish *pub, const struct version_rec *recs,
			   size_t nrecs, uint64_t *removed, uint64_t *freed)
{
	struct hash_set keep = { 0 };
	char why[512];
	int rc = 0;

	for (size_t i = 0; i < nrecs && rc == 0; i++) {
		struct pc_manifest *m;

		rc = repo_load_manifest(&pub->repo, &recs[i].manifest,
					recs[i].manifest_size, &m, why,
					sizeof(why));
		if (rc < 0) {
			/* Deleting with an incomplete picture could break a
			 * retained version; keep everything instead. */
			fprintf(stderr,
				"warning: %s; not removing old chunks\n", why);
			goto out;
		}
		rc = hash_set_add(&keep, &recs[i].manifest);
		for (size_t e = 0; e < m->nentries && rc == 0; e++)
			for (uint32_t c = 0;
			     c < m->entries[e].nchunks && rc == 0; c++)
				rc = hash_set_add(
					&keep, &m->entries[e].chunks[c].hash);
		pc_manifest_free(m);
	}
	if (rc < 0)
		goto out;
	hash_set_finish(&keep);
	for (int prefix = 0; prefix < 256; prefix++) {
		char dirname[16];
		struct dirent *de;
		DIR *dir;
		int fd;

		snprintf(dirname, sizeof(dirname), "chunks/%02x", prefix);
		fd = openat(pub->repo.dirfd, dirname,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		dir = fdopendir(fd);
		if (!dir) {
			close(fd);
			continue;
		}
		while ((de = readdir(dir)) != NULL) {
			struct pc_hash hash;
			struct stat st;
			bool valid =
				pc_hash_from_hex(de->d_name, strlen(de->d_name),
						 &hash) == 0;

			if (de->d_name[0] == '.' && !strstr(de->d_name, ".tmp"))
				continue; /* "." and ".." */
			if (valid && hash_set_contains(&keep, &hash))
				continue;
			/* Unreferenced objects and leftovers of a crashed
			 * run (".<hex>.tmp"); we hold the publisher lock. */
			if (fstatat(fd, de->d_name, &st, 0) == 0 &&
			    unlinkat(fd, de->d_name, 0) == 0 && valid) {
				(*removed)++;
				*freed += (uint64_t)st.st_size;
			}
		}
		closedir(dir);
	}
out:
	hash_set_free(&keep);
	return rc;
}

static int compare_refs(const void *a, const void *b)
{
	return memcmp(a, b, PC_HASH_LEN); /* hash is the first member */
}

/* Bytes of the distinct chunks in the tree: the denominator of dedup. */
static uint64_t distinct_bytes(const struct pc_manifest *m)
{
	struct pc_chunk_ref *refs;
	size_t n = 0, total_refs = 0;
	uint64_t total = 0;

	for (size_t e = 0; e < m->nentries; e++)
		total_refs += m->entries[e].nchunks;
	refs = malloc((total_refs ? total_refs : 1) * sizeof(*refs));
	if (!refs)
		return 0;
	for (size_t e = 0; e < m->nentries; e++)
		for (uint32_t c = 0; c < m->entries[e].nchunks; c++)
			refs[n++] = m->entries[e].chunks[c];
	qsort(refs, n, sizeof(*refs), compare_refs);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !pc_hash_equal(&refs[i - 1].hash, &refs[i].hash))
			total += refs[i].len;
	free(refs);
	return total;
}

static void print_summary(struct publish *pub, const struct version_rec *rec,
			  uint64_t removed, uint64_t freed)
{
	char hex[PC_HASH_HEX_LEN + 1], a[32], b[32], c[32];
	double secs = pc_now_monotonic() - pub->started;
	uint64_t distinct = distinct_bytes(pub->manifest);

	pc_hash_to_hex(&rec->manifest, hex);
	printf("published %s version %" PRIu64 "\n", pub->opts->name,
	       rec->version);
	printf("  files:    %" PRIu64 " (%" PRIu64 " directories, %" PRIu64
	       " symlinks, %" PRIu64 " skipped)\n",
	       pub->files, pub->dirs, pub->symlinks, pub->skipped);
	printf("  bytes:    %s in files, %s of distinct chunks\n",
	       pc_format_size(pub->bytes, a, sizeof(a)),
	       pc_format_size(distinct, b, sizeof(b)));
	printf("  chunks:   %" PRIu64 " new (%s), %" PRIu64 " reused\n",
	       pub->stats.chunks_new,
	       pc_format_size(pub->stats.bytes_new, c, sizeof(c)),
	       pub->stats.chunks_reused);
	printf("  dedup:    %.2fx\n",
	       distinct ? (double)pub->bytes / (double)distinct : 1.0);
	printf("  manifest: %s (%" PRIu64 " bytes)\n", hex, rec->manifest_size);
	printf("  removed:  %" PRIu64 " unreferenced objects (%s)\n", removed,
	       pc_format_size(freed, a, sizeof(a)));
	printf("  time:     %.2f s (%.1f MB/s)\n", secs,
	       (double)pub->bytes / 1e6 / (secs + 1e-9));
}

/* Chunks, manifest and head; fills @rec with the new version. */
static int publish_tree(struct publish *pub, struct pc_key *key,
			struct version_rec *rec)
{
	struct stat st;
	size_t len;
	char *buf;
	int fd, rc;

	fd = open(pub->opts->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		fprintf(stderr, "error: cannot open source directory %s: %s\n",
			pub->opts->source, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (pub->opts->progress) {
		pub->counting = true;
		rc = walk(pub, dup(fd), "");
		pub->counting = false;
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	pub->manifest =
		pc_manifest_new(st.st_mode & PC_MODE_MASK, st.st_mtim.tv_sec);
	if (pub->manifest)
		pub->pipeline = pipeline_new(&pub->repo, pub->manifest);
	if (!pub->pipeline) {
		close(fd);
		return -ENOMEM;
	}
	rc = walk(pub, fd, "");
	if (rc == 0)
		rc = pipeline_finish(pub->pipeline, &pub->stats);
	progress(pub, true);
	if (rc < 0)
		return rc;
	rc = pc_manifest_serialize(pub->manifest, &buf, &len);
	if (rc < 0)
		return rc;
	pc_sha256(buf, len, &rec->manifest);
	rec->manifest_size = len;
	rc = repo_object_write(&pub->repo, &rec->manifest, buf, len);
	free(buf);
	if (rc < 0)
		return rc;
	rec->created = time(NULL);
	return write_head(pub, key, rec);
}

/* SOURCE_DIR must be a directory, and REPO_DIR (made with its parents, as
 * mkdir -p would) must not be inside it: the repository would be published
 * into itself, each version's chunks into the next one. */
static int make_repo_dir(const struct publish_opts *opts)
{
	struct stat source;
	int rc = 0;

	if (stat(opts->source, &source) < 0)
		rc = -errno;
	else if (!S_ISDIR(source.st_mode))
		rc = -ENOTDIR;
	if (rc < 0) {
		fprintf(stderr, "error: cannot open source directory %s: %s\n",
			opts->source, strerror(-rc));
		return rc;
	}
	rc = repo_make_dirs(opts->repo, &source);
	if (rc > 0) {
		fprintf(stderr,
			"error: REPO_DIR %s is inside SOURCE_DIR %s: the "
			"repository would be published into itself; choose "
			"a REPO_DIR outside the source tree\n",
			opts->repo, opts->source);
		return -EINVAL;
	}
	if (rc < 0)
		fprintf(stderr, "error: cannot create repository %s: %s\n",
			opts->repo, strerror(-rc));
	return rc;
}

int publish_run(const struct publish_opts *opts)
{
	struct publish pub = { .opts = opts, .repo = { -1, -1, NULL } };
	struct version_rec *recs = NULL, rec;
	uint64_t removed = 0, freed = 0;
	size_t nrecs = 0, first;
	struct pc_key *key;
	char why[512];
	int rc;

	pub.started = pc_now_monotonic();
	key = pc_key_load(opts->keyfile, why, sizeof(why));
	if (!key) {
		fprintf(stderr, "error: cannot load signing key: %s\n", why);
		return -EINVAL;
	}
	rc = make_repo_dir(opts);
	if (rc < 0)
		goto out;
	rc = repo_open(&pub.repo, opts->repo, true, true);
	if (rc < 0) {
		fprintf(stderr, "error: cannot open repository %s: %s\n",
			opts->repo,
			rc == -EBUSY ? "another publish is running"
				     : strerror(-rc));
		goto out;
	}
	rc = repo_versions_read(&pub.repo, &recs, &nrecs);
	if (rc < 0) {
		fprintf(stderr, "error: %s/versions is unreadable: %s\n",
			opts->repo, strerror(-rc));
		goto out;
	}
	rc = previous_version(&pub, recs, nrecs, &rec.version);
	if (rc < 0)
		goto out;
	rec.version++;
	rc = publish_tree(&pub, key, &rec);
	if (rc < 0) {
		fprintf(stderr,
			"error: publishing failed (%s); the previous "
			"version stays published\n",
			strerror(-rc));
		goto out;
	}
	/* Retain the newest opts->keep versions, this one included. */
	{
		struct version_rec *grown =
			realloc(recs, (nrecs + 1) * sizeof(*recs));

		if (!grown) {
			rc = -ENOMEM;
			goto out;
		}
		recs = grown;
		recs[nrecs++] = rec;
	}
	first = nrecs > opts->keep ? nrecs - opts->keep : 0;
	rc = repo_versions_write(&pub.repo, recs + first, nrecs - first);
	if (rc == 0)
		rc = collect_garbage(&pub, recs + first, nrecs - first,
				     &removed, &freed);
	if (rc < 0)
		fprintf(stderr,
			"warning: version %" PRIu64 " is published, but "
			"cleaning up old versions failed: %s\n",
			rec.version, strerror(-rc));
	print_summary(&pub, &rec, removed, freed);
	rc = 0;
out:
	free(recs);
	pipeline_free(pub.pipeline);
	pc_manifest_free(pub.manifest);
	repo_close(&pub.repo);
	pc_key_free(key);
	return rc;
}
