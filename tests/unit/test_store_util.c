/*
 * test_store_util.c - shared fixtures of the store's unit tests (see
 * test_store_util.h).  Manifests go through pc_manifest_serialize() and
 * pc_manifest_parse() so that the store is tested with exactly the shape of
 * manifest the daemon hands it.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"
#include "test_store_util.h"

void pc_store_test_check_rc(int rc, int want, const char *file, int line)
{
	if (rc == want)
		return;
	print_error("%s:%d: got %d (%s), want %d (%s)\n", file, line, rc,
		    rc ? strerror(-rc) : "success", want,
		    want ? strerror(-want) : "success");
	_fail(file, line);
}

int store_test_setup(void **state)
{
	*state = pc_test_tmpdir();
	return 0;
}

int store_test_teardown(void **state)
{
	pc_test_rmtree(*state);
	*state = NULL;
	return 0;
}

struct pc_store *store_test_open(const char *dir)
{
	struct pc_store *store = NULL;
	char err[256] = "";

	assert_ok(pc_store_open(dir, &store, err, sizeof(err)), err);
	return store;
}

void store_test_commit(struct pc_store *store, const void *data, size_t len,
		       struct pc_hash *hash)
{
	struct pc_hash id;
	struct pc_store_tmp *tmp;

	pc_sha256(data, len, &id);
	tmp = pc_store_tmp_begin(store, &id, len);
	if (!tmp) {
		print_error("pc_store_tmp_begin: %s\n", strerror(errno));
		fail();
	}
	assert_rc(pc_store_tmp_write(tmp, data, len), 0);
	assert_rc(pc_store_tmp_commit(tmp), 0);
	if (hash)
		*hash = id;
}

uint8_t *store_test_bytes(size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	return buf;
}

size_t store_test_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *entry;
	size_t count = 0;

	if (!d) {
		print_error("%s: %s\n", dir, strerror(errno));
		fail();
	}
	while ((entry = readdir(d)))
		if (strcmp(entry->d_name, ".") && strcmp(entry->d_name, ".."))
			count++;
	closedir(d);
	return count;
}

char *store_test_chunk_file(const char *cache, const struct pc_hash *hash)
{
	char hex[PC_HASH_HEX_LEN + 1];
	char *path = NULL;

	pc_hash_to_hex(hash, hex);
	if (asprintf(&path, "%s/chunks/%.2s/%s", cache, hex, hex) < 0)
		fail();
	return path;
}

static void add_entry(struct pc_manifest *m, const struct store_test_entry *t)
{
	struct pc_chunk_ref chunk;
	struct pc_entry e = {
		.type = (enum pc_entry_type)t->type,
		.mode = t->mode ? t->mode : (t->type == 'D' ? 0755 : 0644),
		.mtime = t->mtime,
		.path = (char *)t->path,
	};
	size_t len = t->content ? strlen(t->content) : 0;

	if (t->type == 'F' && len) {
		pc_sha256(t->content, len, &chunk.hash);
		chunk.len = (uint32_t)len;
		e.size = len;
		e.nchunks = 1;
		e.chunks = &chunk;
	} else if (t->type == 'L') {
		e.target = (char *)t->content;
		e.size = len;
	}
	assert_rc(pc_manifest_add(m, &e), 0);
}

struct pc_manifest *store_test_manifest(const struct store_test_entry *entries,
					size_t count, int64_t root_mtime,
					uint64_t version, struct pc_head *head)
{
	struct pc_manifest *built = pc_manifest_new(0755, root_mtime);
	struct pc_manifest *parsed = NULL;
	char err[256] = "";
	char *buf = NULL;
	size_t len = 0;

	assert_non_null(built);
	for (size_t i = 0; i < count; i++)
		add_entry(built, &entries[i]);
	assert_rc(pc_manifest_serialize(built, &buf, &len), 0);
	assert_ok(pc_manifest_parse(buf, len, &parsed, err, sizeof(err)), err);
	memset(head, 0, sizeof(*head));
	head->format = PC_HEAD_FORMAT;
	snprintf(head->name, sizeof(head->name), "test-repo");
	head->version = version;
	head->created = 1700000000 + (int64_t)version;
	head->expires = head->created + 7 * 86400;
	pc_sha256(buf, len, &head->manifest);
	head->manifest_size = len;
	free(buf);
	pc_manifest_free(built);
	return parsed;
}

int store_test_install(struct pc_store *store,
		       const struct store_test_entry *entries, size_t count,
		       uint64_t version, struct pc_store_changes *changes)
{
	struct pc_head head;
	struct pc_manifest *m =
		store_test_manifest(entries, count, 1000, version, &head);
	int rc = pc_store_install(store, &head, m, changes);

	pc_manifest_free(m);
	return rc;
}

int64_t store_test_resolve(struct pc_store *store, uint64_t version,
			   const char *path)
{
	char *copy = strdup(path), *save = NULL;
	uint64_t ino = PC_ROOT_INO;
	struct pc_inode inode;
	int rc = 0;

	assert_non_null(copy);
	for (char *name = strtok_r(copy, "/", &save); name && rc == 0;
	     name = strtok_r(NULL, "/", &save)) {
		rc = pc_store_lookup(store, version, ino, name, &inode);
		if (rc == 0) {
			ino = inode.ino;
			pc_inode_release(&inode);
		}
	}
	free(copy);
	return rc < 0 ? rc : (int64_t)ino;
}
