/*
 * repo.c - the repository directory on the publishing side: objects,
 * the head and the publisher's list of retained versions.
 *
 * Every file a reader can see appears by rename(), so a web server or a
 * node reading REPO_DIR directly (file://, NFS) never sees half an object
 * or half a head.  Temporary names start with '.', which no object name
 * does, so a crashed run leaves nothing that looks valid and the next run
 * removes the leftovers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define VERSIONS_FILE "versions"
#define VERSIONS_MAX (1u << 20)

int repo_open(struct repo *repo, const char *path, bool create, bool lock)
{
	repo->path = path;
	repo->lockfd = -1;
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	repo->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (repo->dirfd < 0)
		return -errno;
	if (create && mkdirat(repo->dirfd, "chunks", 0755) < 0 &&
	    errno != EEXIST)
		goto fail;
	if (lock) {
		repo->lockfd = openat(repo->dirfd, ".lock",
				      O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (repo->lockfd < 0)
			goto fail;
		if (flock(repo->lockfd, LOCK_EX | LOCK_NB) < 0) {
			errno = errno == EWOULDBLOCK ? EBUSY : errno;
			goto fail;
		}
	}
	return 0;
fail : {
	int rc = -errno;

	repo_close(repo);
	return rc;
}
}

/* 1 if the directory open at @fd is @dir or below it, 0 if not, -errno.
 * It walks up through "..", comparing device and inode numbers, so that
 * symlinks, bind mounts and "a/../b" cannot hide where it is. */
static int dir_is_within(int fd, const struct stat *dir)
{
	struct stat st, up_st;
	int cur = dup(fd), up, rc = 0;

	if (cur < 0)
		return -errno;
	for (;;) {
		if (fstat(cur, &st) < 0) {
			rc = -errno;
			break;
		}
		if (st.st_dev == dir->st_dev && st.st_ino == dir->st_ino) {
			rc = 1;
			break;
		}
		up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (up < 0 || fstat(up, &up_st) < 0) {
			rc = -errno;
			if (up >= 0)
				close(up);
			break;
		}
		close(cur);
		cur = up;
		if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino)
			break; /* the root, already compared */
	}
	close(cur);
	return rc;
}

int repo_make_dirs(const char *path, const struct stat *outside_of)
{
	char *copy = strdup(path), *name, *save = NULL;
	int fd, next, rc = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (name = strtok_r(copy, "/", &save); name && rc == 0;
	     name = strtok_r(NULL, "/", &save)) {
		next = openat(fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			/* What is made in @fd is within it. */
			rc = dir_is_within(fd, outside_of);
			if (rc == 0 && mkdirat(fd, name, 0755) < 0 &&
			    errno != EEXIST)
				rc = -errno;
			if (rc == 0)
				next = openat(fd, name,
					      O_PATH | O_DIRECTORY | O_CLOEXEC);
		}
		if (rc == 0 && next < 0)
			rc = -errno;
		if (rc == 0) {
			close(fd);
			fd = next;
		}
	}
	if (rc == 0)
		rc = dir_is_within(fd, outside_of);
	close(fd);
out:
	free(copy);
	return rc;
}

void repo_close(struct repo *repo)
{
	if (repo->lockfd >= 0)
		close(repo->lockfd);
	if (repo->dirfd >= 0)
		close(repo->dirfd);
	repo->lockfd = repo->dirfd = -1;
}

void repo_object_path(const struct pc_hash *hash, char *buf)
{
	char hex[PC_HASH_HEX_LEN + 1];

	pc_hash_to_hex(hash, hex);
	snprintf(buf, 80, "chunks/%.2s/%s", hex, hex);
}

int repo_object_present(struct repo *repo, const struct pc_hash *hash,
			uint64_t len)
{
	char path[80];
	struct stat st;

	repo_object_path(hash, path);
	if (fstatat(repo->dirfd, path, &st, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* A wrong-sized object (a damaged mirror) is rewritten. */
	return S_ISREG(st.st_mode) && (uint64_t)st.st_size == len;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes @data to @dir_rel/.<name>.tmp and renames it to @dir_rel/<name>. */
static int write_renamed(struct repo *repo, const char *final, const char *tmp,
			 const void *data, size_t len, bool sync)
{
	int fd, rc;

	fd = openat(repo->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, data, len);
	if (rc == 0 && sync && fsync(fd) < 0)
		rc = -errno;
	/* Not synced here: start writing it to the disk now, so that the
	 * syncfs() before the head finds little left to write. */
	if (rc == 0 && !sync)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(repo->dirfd, tmp, repo->dirfd, final) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(repo->dirfd, tmp, 0);
	return rc;
}

int repo_object_write(struct repo *repo, const struct pc_hash *hash,
		      const void *data, size_t len)
{
	char path[80], tmp[96], dir[16];
	int rc;

	rc = repo_object_present(repo, hash, len);
	if (rc != 0)
		return rc;
	repo_object_path(hash, path);
	snprintf(dir, sizeof(dir), "%.9s", path); /* "chunks/ab" */
	if (mkdirat(repo->dirfd, dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, path + 10);
	/* No fsync per object: the publisher calls syncfs() once before it
	 * writes the head, which is what makes the version visible. */
	return write_renamed(repo, path, tmp, data, len, false);
}

/* Reads at most @max bytes of @fd; -EFBIG if there is more. */
static int read_bounded(int fd, uint64_t max, char **buf, size_t *len)
{
	struct stat st;
	size_t used = 0;
	char *data;

	if (fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	data = malloc((size_t)st.st_size + 1);
	if (!data)
		return -ENOMEM;
	for (;;) {
		ssize_t n =
			read(fd, data + used, (size_t)st.st_size + 1 - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(data);
			return -errno;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > (size_t)st.st_size) { /* grew while we read */
			free(data);
			return -EFBIG;
		}
	}
	*buf = data;
	*len = used;
	return 0;
}

static int read_file_at(struct repo *repo, const char *rel, uint64_t max,
			char **buf, size_t *len)
{
	int fd = openat(repo->dirfd, rel, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = read_bounded(fd, max, buf, len);
	close(fd);
	return rc;
}

int repo_object_read(struct repo *repo, const struct pc_hash *hash,
		     uint64_t max, char **buf, size_t *len)
{
	char path[80];

	repo_object_path(hash, path);
	return read_file_at(repo, path, max, buf, len);
}

int repo_head_read(struct repo *repo, char **buf, size_t *len)
{
	/* One byte over the limit still reads, so the parser can say why. */
	int rc = read_file_at(repo, "head", PC_HEAD_MAX + 1, buf, len);

	return rc == -EFBIG ? read_file_at(repo, "head", UINT64_MAX, buf, len)
			    : rc;
}

int repo_replace_file(struct repo *repo, const char *name, const void *data,
		      size_t len)
{
	char tmp[256];
	int rc;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	rc = write_renamed(repo, name, tmp, data, len, true);
	if (rc == 0 && fsync(repo->dirfd) < 0)
		rc = -errno;
	return rc;
}

int repo_versions_read(struct repo *repo, struct version_rec **recs,
		       size_t *count)
{
	struct version_rec *list = NULL;
	size_t n = 0, cap = 0, len;
	char *buf, *line, *save = NULL;
	int rc;

	*recs = NULL;
	*count = 0;
	rc = read_file_at(repo, VERSIONS_FILE, VERSIONS_MAX, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char hex[PC_HASH_HEX_LEN + 1];
		struct version_rec rec;

		if (sscanf(line, "%" SCNu64 " %64s %" SCNu64 " %" SCNd64,
			   &rec.version, hex, &rec.manifest_size,
			   &rec.created) != 4 ||
		    pc_hash_from_hex(hex, strlen(hex), &rec.manifest) < 0) {
			rc = -EBADMSG;
			goto out;
		}
		if (n == cap) {
			struct version_rec *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(list, cap * sizeof(*grown));
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			list = grown;
		}
		list[n++] = rec;
	}
	*recs = list;
	*count = n;
	list = NULL;
out:
	free(list);
	free(buf);
	return rc;
}

int repo_versions_write(struct repo *repo, const struct version_rec *recs,
			size_t count)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	int rc;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		char hex[PC_HASH_HEX_LEN + 1];

		pc_hash_to_hex(&recs[i].manifest, hex);
		fprintf(out, "%" PRIu64 " %s %" PRIu64 " %" PRId64 "\n",
			recs[i].version, hex, recs[i].manifest_size,
			recs[i].created);
	}
	if (fclose(out) != 0) {
		free(buf);
		return -ENOMEM;
	}
	rc = repo_replace_file(repo, VERSIONS_FILE, buf, len);
	free(buf);
	return rc;
}

int repo_load_manifest(struct repo *repo, const struct pc_hash *hash,
		       uint64_t size, struct pc_manifest **out, char *err,
		       size_t errlen)
{
	char hex[PC_HASH_HEX_LEN + 1], why[256];
	struct pc_hash actual;
	size_t len;
	char *buf;
	int rc;

	pc_hash_to_hex(hash, hex);
	rc = repo_object_read(repo, hash, size, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "manifest %s: %s", hex,
			 rc == -EFBIG ? "larger than the head says"
				      : strerror(-rc));
		return rc;
	}
	pc_sha256(buf, len, &actual);
	if (len != size || !pc_hash_equal(&actual, hash)) {
		snprintf(err, errlen,
			 "manifest %s: content does not match its hash "
			 "(%zu bytes, head says %" PRIu64 ")",
			 hex, len, size);
		free(buf);
		return -EBADMSG;
	}
	rc = pc_manifest_parse(buf, len, out, why, sizeof(why));
	free(buf);
	if (rc < 0)
		snprintf(err, errlen, "manifest %s: %s", hex, why);
	return rc;
}

static int compare_hashes(const void *a, const void *b)
{
	return memcmp(a, b, PC_HASH_LEN);
}

int hash_set_add(struct hash_set *set, const struct pc_hash *hash)
{
	if (set->count == set->capacity) {
		size_t cap = set->capacity ? set->capacity * 2 : 1024;
		struct pc_hash *grown =
			realloc(set->items, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		set->items = grown;
		set->capacity = cap;
	}
	set->items[set->count++] = *hash;
	return 0;
}

void hash_set_finish(struct hash_set *set)
{
	size_t out = 0;

	if (!set->count)
		return;
	qsort(set->items, set->count, sizeof(*set->items), compare_hashes);
	for (size_t i = 0; i < set->count; i++)
		if (out == 0 ||
		    !pc_hash_equal(&set->items[out - 1], &set->items[i]))
			set->items[out++] = set->items[i];
	set->count = out;
}

bool hash_set_contains(const struct hash_set *set, const struct pc_hash *hash)
{
	return set->count && bsearch(hash, set->items, set->count,
				     sizeof(*set->items), compare_hashes);
}

void hash_set_free(struct hash_set *set)
{
	free(set->items);
	memset(set, 0, sizeof(*set));
}
