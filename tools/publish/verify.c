/*
 * verify.c - check a published repository end to end, and optionally
 * rebuild the tree from it (extract).
 *
 * verify trusts nothing in REPO_DIR: the head's signature is checked with
 * the keys given on the command line before any field is used, the manifest
 * against the head's hash and size, every chunk against the manifest.  Each
 * problem is printed on its own line, and all of them are reported, not
 * only the first, so an operator repairing a mirror sees the whole damage.
 */
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

struct located_ref {
	struct pc_chunk_ref ref; /* hash first: sorted by memcmp of it */
	const char *path;	 /* borrowed from the manifest */
};

static int compare_located(const void *a, const void *b)
{
	return memcmp(a, b, PC_HASH_LEN);
}

/* Reads object @ref and checks length and hash; prints what is wrong. */
static int check_chunk(struct repo *repo, const struct pc_chunk_ref *ref,
		       const char *path, char **data)
{
	char hex[PC_HASH_HEX_LEN + 1];
	struct pc_hash actual;
	size_t len;
	char *buf;
	int rc;

	pc_hash_to_hex(&ref->hash, hex);
	rc = repo_object_read(repo, &ref->hash, ref->len, &buf, &len);
	if (rc == -ENOENT) {
		printf("chunk %s (in '%s'): missing\n", hex, path);
		return rc;
	}
	if (rc == -EFBIG) {
		printf("chunk %s (in '%s'): longer than the manifest's "
		       "%" PRIu32 " bytes\n",
		       hex, path, ref->len);
		return rc;
	}
	if (rc < 0) {
		printf("chunk %s (in '%s'): %s\n", hex, path, strerror(-rc));
		return rc;
	}
	if (len != ref->len) {
		printf("chunk %s (in '%s'): %zu bytes, the manifest says "
		       "%" PRIu32 "\n",
		       hex, path, len, ref->len);
		free(buf);
		return -EBADMSG;
	}
	pc_sha256(buf, len, &actual);
	if (!pc_hash_equal(&actual, &ref->hash)) {
		printf("chunk %s (in '%s'): content does not match its hash\n",
		       hex, path);
		free(buf);
		return -EBADMSG;
	}
	if (data)
		*data = buf;
	else
		free(buf);
	return 0;
}

/* Checks every distinct chunk once; returns the number of problems. */
static size_t check_chunks(struct repo *repo, const struct pc_manifest *m,
			   size_t *distinct)
{
	struct located_ref *refs;
	size_t n = 0, total = 0, problems = 0;

	*distinct = 0;
	for (size_t e = 0; e < m->nentries; e++)
		total += m->entries[e].nchunks;
	refs = malloc((total ? total : 1) * sizeof(*refs));
	if (!refs) {
		printf("out of memory\n");
		return 1;
	}
	for (size_t e = 0; e < m->nentries; e++)
		for (uint32_t c = 0; c < m->entries[e].nchunks; c++) {
			refs[n].ref = m->entries[e].chunks[c];
			refs[n++].path = m->entries[e].path;
		}
	qsort(refs, n, sizeof(*refs), compare_located);
	for (size_t i = 0; i < n; i++) {
		if (i &&
		    pc_hash_equal(&refs[i - 1].ref.hash, &refs[i].ref.hash))
			continue;
		(*distinct)++;
		if (check_chunk(repo, &refs[i].ref, refs[i].path, NULL) < 0)
			problems++;
	}
	free(refs);
	return problems;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int extract_file(struct repo *repo, int destfd, const struct pc_entry *e)
{
	int fd = openat(destfd, e->path,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (uint32_t c = 0; c < e->nchunks && rc == 0; c++) {
		char *data;

		rc = check_chunk(repo, &e->chunks[c], e->path, &data);
		if (rc == 0) {
			rc = write_all(fd, data, e->chunks[c].len);
			free(data);
		}
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static void set_times(int destfd, const char *path, int64_t mtime)
{
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

	utimensat(destfd, path, ts, AT_SYMLINK_NOFOLLOW);
}

/* Rebuilds the tree under @dest, which must not exist yet. */
static int extract(struct repo *repo, const struct pc_manifest *m,
		   const char *dest)
{
	int destfd, rc = 0;

	if (mkdir(dest, 0700) < 0) {
		printf("cannot create %s: %s\n", dest, strerror(errno));
		return -errno;
	}
	destfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (destfd < 0)
		return -errno;
	for (size_t i = 0; i < m->nentries && rc == 0; i++) {
		const struct pc_entry *e = &m->entries[i];

		if (e->type == PC_ENTRY_DIR)
			rc = mkdirat(destfd, e->path, 0700) < 0 ? -errno : 0;
		else if (e->type == PC_ENTRY_SYMLINK)
			rc = symlinkat(e->target, destfd, e->path) < 0 ? -errno
								       : 0;
		else
			rc = extract_file(repo, destfd, e);
		if (rc < 0)
			printf("cannot extract '%s': %s\n", e->path,
			       strerror(-rc));
	}
	/* Modes and times last, deepest first, so that directory times are
	 * not disturbed by their children being created. */
	for (size_t i = m->nentries; i-- > 0 && rc == 0;) {
		const struct pc_entry *e = &m->entries[i];

		if (e->type != PC_ENTRY_SYMLINK)
			fchmodat(destfd, e->path, e->mode, 0);
		set_times(destfd, e->path, e->mtime);
	}
	if (rc == 0) {
		fchmod(destfd, m->root_mode);
		futimens(destfd, (struct timespec[2]){ { m->root_mtime, 0 },
						       { m->root_mtime, 0 } });
	}
	close(destfd);
	return rc;
}

static struct pc_keyring *load_keys(const char *const *keys, size_t nkeys)
{
	struct pc_keyring *ring = pc_keyring_new();
	char why[512];

	if (!ring)
		return NULL;
	for (size_t i = 0; i < nkeys; i++) {
		if (pc_keyring_add_file(ring, keys[i], why, sizeof(why)) < 0) {
			fprintf(stderr, "error: trusted key: %s\n", why);
			pc_keyring_free(ring);
			return NULL;
		}
	}
	return ring;
}

int verify_run(const char *repo_path, const char *const *keys, size_t nkeys,
	       const char *extract_to)
{
	struct repo repo = { -1, -1, NULL };
	struct pc_manifest *m = NULL;
	struct pc_keyring *ring;
	size_t len, problems = 0, distinct = 0;
	struct pc_head head;
	char why[512], *buf;
	int rc;

	ring = load_keys(keys, nkeys);
	if (!ring)
		return -EINVAL;
	rc = repo_open(&repo, repo_path, false, false);
	if (rc < 0) {
		printf("cannot open repository %s: %s\n", repo_path,
		       strerror(-rc));
		goto out;
	}
	rc = repo_head_read(&repo, &buf, &len);
	if (rc < 0) {
		printf("head: cannot read: %s\n", strerror(-rc));
		goto out;
	}
	rc = pc_head_parse(buf, len, ring, &head, why, sizeof(why));
	free(buf);
	if (rc < 0) {
		printf("head: %s\n", why);
		goto out;
	}
	if (head.expires < time(NULL)) {
		printf("head: expired at %" PRId64 " (version %" PRIu64 ")\n",
		       head.expires, head.version);
		problems++;
	}
	rc = repo_load_manifest(&repo, &head.manifest, head.manifest_size, &m,
				why, sizeof(why));
	if (rc < 0) {
		printf("%s\n", why);
		goto out;
	}
	problems += check_chunks(&repo, m, &distinct);
	if (problems) {
		printf("%zu problem%s found in %s version %" PRIu64 "\n",
		       problems, problems == 1 ? "" : "s", head.name,
		       head.version);
		rc = -EBADMSG;
		goto out;
	}
	if (extract_to) {
		rc = extract(&repo, m, extract_to);
		if (rc < 0)
			goto out;
	}
	printf("ok: %s version %" PRIu64 ", ", head.name, head.version);
	printf("%zu entries, %zu chunks verified%s%s\n", m->nentries, distinct,
	       extract_to ? ", extracted to " : "",
	       extract_to ? extract_to : "");
out:
	pc_manifest_free(m);
	repo_close(&repo);
	pc_keyring_free(ring);
	return rc;
}
