/*
 * test_manifest.c - the manifest: builder and parser agree byte for byte,
 * one tree has one encoding, and every rule of docs/FORMAT.md that the
 * parser enforces is refused with its own code and message.
 *
 * Texts handed to the parser are copied into buffers of exactly their
 * length (no NUL after them), so AddressSanitizer builds catch a parser
 * that reads past the end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "helpers.h"
#include "pc_format.h"

#define HEADER(count) \
	"peercache-manifest 1\nroot 755 1700000000\nentries " count "\n"
#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A valid manifest with every entry type, an escape and chunk lines. */
/* clang-format off */
static const char valid_text[] =
	HEADER("5")
	"D 755 1700000001 dir\n"
	"D 700 9 dir%20two\n"
	"F 644 1700000002 262344 2 dir/file\n"
	HEX_A " 262144\n"
	HEX_B " 200\n"
	"F 600 0 0 0 empty\n"
	"L 777 5 link dir/file\n";
/* clang-format on */

/* Parses @len bytes of @text from an exact-size copy; frees the result. */
static int parse_bytes(const char *text, size_t len, char *err, size_t errlen)
{
	char *copy = pc_test_exact_copy(text, len);
	struct pc_manifest *m = NULL;
	int rc;

	err[0] = '\0';
	rc = pc_manifest_parse(copy, len, &m, err, errlen);
	if (rc == 0)
		assert_non_null(m);
	pc_manifest_free(m);
	free(copy);
	return rc;
}

/* Fails at the caller's line unless @text is refused as stated. */
#define assert_rejected(text, want_rc, want_text)                              \
	do {                                                                   \
		char err_[512];                                                \
		int rc_ =                                                      \
			parse_bytes((text), strlen(text), err_, sizeof(err_)); \
		assert_error(rc_, (want_rc), err_, (want_text));               \
	} while (0)

static struct pc_manifest *parse_ok(const char *text, size_t len)
{
	char *copy = pc_test_exact_copy(text, len);
	struct pc_manifest *m = NULL;
	char err[512] = "";

	assert_ok(pc_manifest_parse(copy, len, &m, err, sizeof(err)), err);
	free(copy);
	return m;
}

static struct pc_entry dir_entry(const char *path, uint32_t mode, int64_t mtime)
{
	struct pc_entry e = { .type = PC_ENTRY_DIR,
			      .mode = mode,
			      .mtime = mtime,
			      .path = (char *)path };
	return e;
}

static struct pc_entry link_entry(const char *path, const char *target)
{
	struct pc_entry e = { .type = PC_ENTRY_SYMLINK,
			      .mode = 0777,
			      .mtime = 5,
			      .path = (char *)path,
			      .target = (char *)target,
			      .size = strlen(target) };
	return e;
}

static struct pc_entry file_entry(const char *path, struct pc_chunk_ref *chunks,
				  uint32_t nchunks)
{
	struct pc_entry e = { .type = PC_ENTRY_FILE,
			      .mode = 0644,
			      .mtime = 1700000002,
			      .path = (char *)path,
			      .nchunks = nchunks,
			      .chunks = chunks };

	for (uint32_t i = 0; i < nchunks; i++)
		e.size += chunks[i].len;
	return e;
}

static void serialize(struct pc_manifest *m, char **buf, size_t *len)
{
	assert_ok(pc_manifest_serialize(m, buf, len), NULL);
}

static void assert_entries_equal(const struct pc_manifest *a,
				 const struct pc_manifest *b)
{
	assert_int_equal(a->root_mode, b->root_mode);
	assert_int_equal(a->root_mtime, b->root_mtime);
	assert_int_equal(a->nentries, b->nentries);
	for (size_t i = 0; i < a->nentries; i++) {
		const struct pc_entry *x = &a->entries[i], *y = &b->entries[i];

		assert_int_equal(x->type, y->type);
		assert_int_equal(x->mode, y->mode);
		assert_int_equal(x->mtime, y->mtime);
		assert_int_equal(x->size, y->size);
		assert_string_equal(x->path, y->path);
		if (x->target || y->target)
			assert_string_equal(x->target, y->target);
		assert_int_equal(x->nchunks, y->nchunks);
		if (x->nchunks)
			assert_memory_equal(x->chunks, y->chunks,
					    x->nchunks * sizeof(*x->chunks));
	}
}

/* ---- builder and parser agree ----------------------------------------- */

static void add_sample_entries(struct pc_manifest *m, const int *order)
{
	static struct pc_chunk_ref chunks[2];
	struct pc_entry entries[6];

	pc_hash_from_hex(HEX_A, 64, &chunks[0].hash);
	pc_hash_from_hex(HEX_B, 64, &chunks[1].hash);
	chunks[0].len = PC_CHUNK_MIN;
	chunks[1].len = 200;
	entries[0] = dir_entry("dir", 0755, 1700000001);
	entries[1] = dir_entry("dir two", 0700, 9);
	entries[2] = file_entry("dir/file", chunks, 2);
	entries[3] = file_entry("empty", NULL, 0);
	entries[3].mode = 0600;
	entries[3].mtime = 0;
	entries[4] = link_entry("link", "dir/file");
	entries[5] = dir_entry("dir/sub", 0755, 3);
	for (int i = 0; i < 6; i++)
		assert_ok(pc_manifest_add(m, &entries[order[i]]), NULL);
}

/* The stream gives the entries pc_manifest_parse() gives, one at a time,
 * with the same checks; its offset ends at the end. */
static void test_manifest_stream_gives_the_same_entries(void **state)
{
	size_t len = strlen(valid_text);
	char *copy = pc_test_exact_copy(valid_text, len), err[512] = "";
	struct pc_manifest *m = parse_ok(valid_text, len);
	struct pc_manifest_stream *s;
	const struct pc_entry *e;
	size_t n = 0;
	int rc;

	(void)state;
	assert_ok(pc_manifest_stream_open(copy, len, &s, err, sizeof(err)),
		  err);
	assert_int_equal(pc_manifest_stream_count(s), 5);
	assert_int_equal(pc_manifest_stream_root_mode(s), 0755);
	assert_int_equal(pc_manifest_stream_root_mtime(s), 1700000000);
	while ((rc = pc_manifest_stream_next(s, &e, err, sizeof(err))) > 0) {
		assert_true(n < m->nentries);
		assert_string_equal(e->path, m->entries[n].path);
		assert_int_equal(e->type, m->entries[n].type);
		assert_int_equal(e->size, m->entries[n].size);
		assert_int_equal(e->nchunks, m->entries[n].nchunks);
		n++;
	}
	assert_ok(rc, err);
	assert_int_equal(n, m->nentries);
	assert_int_equal(pc_manifest_stream_offset(s), len);
	pc_manifest_stream_free(s);
	pc_manifest_free(m);
	free(copy);
}

/* Order, and what follows the last entry, are the stream's to check; a
 * missing parent is not (it keeps no earlier entry): pc_manifest_parse
 * refuses it, the stream hands the entry on. */
static void test_manifest_stream_checks_order_not_parents(void **state)
{
	static const char unordered[] = HEADER("2") "D 755 1 b\n"
						    "D 755 1 a\n";
	static const char trailing[] = HEADER("1") "D 755 1 a\n"
						   "D 755 1 b\n";
	static const char orphan[] = HEADER("1") "F 644 1 0 0 no/parent\n";
	struct pc_manifest_stream *s;
	const struct pc_entry *e;
	char err[512] = "";

	(void)state;
	assert_ok(pc_manifest_stream_open(unordered, strlen(unordered), &s, err,
					  sizeof(err)),
		  err);
	assert_int_equal(pc_manifest_stream_next(s, &e, err, sizeof(err)), 1);
	assert_error(pc_manifest_stream_next(s, &e, err, sizeof(err)), -EBADMSG,
		     err, "duplicate or out of order");
	pc_manifest_stream_free(s);

	assert_ok(pc_manifest_stream_open(trailing, strlen(trailing), &s, err,
					  sizeof(err)),
		  err);
	assert_int_equal(pc_manifest_stream_next(s, &e, err, sizeof(err)), 1);
	assert_error(pc_manifest_stream_next(s, &e, err, sizeof(err)), -EBADMSG,
		     err, "data after the last entry");
	pc_manifest_stream_free(s);

	assert_ok(pc_manifest_stream_open(orphan, strlen(orphan), &s, err,
					  sizeof(err)),
		  err);
	assert_int_equal(pc_manifest_stream_next(s, &e, err, sizeof(err)), 1);
	assert_string_equal(e->path, "no/parent");
	assert_int_equal(pc_manifest_stream_next(s, &e, err, sizeof(err)), 0);
	pc_manifest_stream_free(s);
	assert_rejected(orphan, -EBADMSG, "parent directory of 'no/parent'");
}

static void test_manifest_serialize_writes_documented_format(void **state)
{
	static const int order[] = { 0, 1, 2, 3, 4, 5 };
	/* clang-format off */
	static const char expected[] =
		HEADER("6")
		"D 755 1700000001 dir\n"
		"D 700 9 dir%20two\n"
		"F 644 1700000002 262344 2 dir/file\n"
		HEX_A " 262144\n"
		HEX_B " 200\n"
		"D 755 3 dir/sub\n"
		"F 600 0 0 0 empty\n"
		"L 777 5 link dir/file\n";
	/* clang-format on */
	struct pc_manifest *m = pc_manifest_new(0755, 1700000000);
	char *buf;
	size_t len;

	(void)state;
	assert_non_null(m);
	add_sample_entries(m, order);
	serialize(m, &buf, &len);
	assert_int_equal(len, strlen(expected));
	assert_memory_equal(buf, expected, len);
	free(buf);
	pc_manifest_free(m);
}

static void test_manifest_builder_round_trip(void **state)
{
	static const int order[] = { 0, 1, 2, 3, 4, 5 };
	struct pc_manifest *built = pc_manifest_new(0750, 1700000000);
	struct pc_manifest *parsed;
	char *first, *second;
	size_t first_len, second_len;

	(void)state;
	assert_non_null(built);
	add_sample_entries(built, order);
	serialize(built, &first, &first_len);
	parsed = parse_ok(first, first_len);
	assert_entries_equal(built, parsed);
	serialize(parsed, &second, &second_len);
	assert_int_equal(first_len, second_len);
	assert_memory_equal(first, second, first_len);
	free(second);
	free(first);
	pc_manifest_free(parsed);
	pc_manifest_free(built);
}

static void test_manifest_bytes_do_not_depend_on_add_order(void **state)
{
	static const int orders[][6] = { { 0, 1, 2, 3, 4, 5 },
					 { 5, 4, 3, 2, 1, 0 },
					 { 3, 0, 5, 1, 4, 2 } };
	char *reference = NULL;
	size_t reference_len = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		struct pc_manifest *m = pc_manifest_new(0755, 1700000000);
		char *buf;
		size_t len;

		assert_non_null(m);
		add_sample_entries(m, orders[i]);
		serialize(m, &buf, &len);
		if (!reference) {
			reference = buf;
			reference_len = len;
		} else {
			assert_int_equal(len, reference_len);
			assert_memory_equal(buf, reference, len);
			free(buf);
		}
		pc_manifest_free(m);
	}
	free(reference);
}

static void test_manifest_empty_tree_round_trip(void **state)
{
	static const char expected[] = "peercache-manifest 1\nroot 700 "
				       "0\nentries 0\n";
	/* Out-of-range root values are clamped by the builder. */
	struct pc_manifest *m = pc_manifest_new(01700, -5), *parsed;
	char *buf;
	size_t len;

	(void)state;
	assert_non_null(m);
	serialize(m, &buf, &len);
	assert_int_equal(len, strlen(expected));
	assert_memory_equal(buf, expected, len);
	parsed = parse_ok(buf, len);
	assert_int_equal(parsed->nentries, 0);
	assert_int_equal(parsed->root_mode, 0700);
	free(buf);
	pc_manifest_free(parsed);
	pc_manifest_free(m);
}

/* Every byte a name may hold survives serialize + parse unchanged, and
 * exactly the documented bytes are escaped. */
static void test_manifest_escaped_names_round_trip(void **state)
{
	static const char *const names[] = {
		"with space",
		"100%",
		"new\nline",
		"tab\there",
		"caf\xc3\xa9 \xe2\x98\x83",
		"del\x7f",
		"ctl\x01\x1f",
	};
	static const char *const encoded[] = {
		"with%20space",
		"100%25",
		"new%0aline",
		"tab%09here",
		"caf\xc3\xa9%20\xe2\x98\x83",
		"del%7f",
		"ctl%01%1f",
	};
	struct pc_manifest *m = pc_manifest_new(0755, 0), *parsed;
	char every_byte[256], *buf, *text;
	size_t n = 0, len;
	struct pc_entry e;

	(void)state;
	assert_non_null(m);
	for (int c = 1; c < 256; c++)
		if (c != '/')
			every_byte[n++] = (char)c;
	every_byte[n] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		e = link_entry(names[i], names[i]);
		assert_ok(pc_manifest_add(m, &e), NULL);
	}
	e = dir_entry(every_byte, 0755, 0);
	assert_ok(pc_manifest_add(m, &e), NULL);
	serialize(m, &buf, &len);
	text = strndup(buf, len);
	assert_non_null(text);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *line = NULL;

		assert_true(asprintf(&line, "L 777 5 %s %s\n", encoded[i],
				     encoded[i]) > 0);
		if (!strstr(text, line)) {
			print_error("serialized manifest lacks \"%s\":\n%s\n",
				    line, text);
			fail();
		}
		free(line);
	}
	parsed = parse_ok(buf, len);
	assert_entries_equal(m, parsed);
	free(text);
	free(buf);
	pc_manifest_free(parsed);
	pc_manifest_free(m);
}

/* The largest values the format allows are accepted. */
static void test_manifest_accepts_values_at_the_limits(void **state)
{
	struct pc_manifest *m = pc_manifest_new(0777, INT64_MAX), *parsed;
	char path[PC_PATH_MAX + 1];
	struct pc_chunk_ref chunk = { .len = PC_CHUNK_MAX };
	struct pc_entry e;
	char *buf;
	size_t len;

	(void)state;
	assert_non_null(m);
	/* 16 nested directories of 255 bytes: a path of exactly 4095. */
	memset(path, 'n', sizeof(path));
	for (int depth = 1; depth <= 16; depth++) {
		size_t end = (size_t)depth * 256 - 1;

		path[end] = '\0';
		e = dir_entry(path, 0777, INT64_MAX);
		assert_ok(pc_manifest_add(m, &e), NULL);
		if (depth < 16)
			path[end] = '/';
	}
	assert_int_equal(strlen(path), PC_PATH_MAX);
	e = file_entry("big", &chunk, 1);
	assert_ok(pc_manifest_add(m, &e), NULL);
	serialize(m, &buf, &len);
	parsed = parse_ok(buf, len);
	assert_entries_equal(m, parsed);
	free(buf);
	pc_manifest_free(parsed);
	pc_manifest_free(m);
}

static void test_manifest_parses_documented_example(void **state)
{
	struct pc_manifest *m = parse_ok(valid_text, strlen(valid_text));

	(void)state;
	assert_int_equal(m->root_mode, 0755);
	assert_int_equal(m->root_mtime, 1700000000);
	assert_int_equal(m->nentries, 5);
	assert_string_equal(m->entries[1].path, "dir two");
	assert_int_equal(m->entries[2].type, PC_ENTRY_FILE);
	assert_int_equal(m->entries[2].size, PC_CHUNK_MIN + 200);
	assert_int_equal(m->entries[2].chunks[1].len, 200);
	assert_int_equal(m->entries[4].type, PC_ENTRY_SYMLINK);
	assert_string_equal(m->entries[4].target, "dir/file");
	assert_int_equal(m->entries[4].size, 8);
	pc_manifest_free(m);
}

/* ---- the builder refuses what the parser would refuse ------------------ */

static void test_manifest_add_rejects_invalid_entries(void **state)
{
	struct pc_chunk_ref zero = { .len = 0 },
			    huge = { .len = PC_CHUNK_MAX + 1 },
			    ten = { .len = 10 };
	struct pc_manifest *m = pc_manifest_new(0755, 0);
	struct pc_entry bad[16];
	size_t n = 0;

	(void)state;
	assert_non_null(m);
	bad[n++] = dir_entry("/abs", 0755, 0);
	bad[n++] = dir_entry("a/../b", 0755, 0);
	bad[n++] = dir_entry("a//b", 0755, 0);
	bad[n++] = dir_entry("", 0755, 0);
	bad[n++] = dir_entry("setuid", 04755, 0);
	bad[n++] = dir_entry("before-1970", 0755, -1);
	bad[n] = dir_entry("dir-with-size", 0755, 0);
	bad[n++].size = 1;
	bad[n++] = link_entry("empty-target", "");
	bad[n] = link_entry("size-mismatch", "abc");
	bad[n++].size = 4;
	bad[n++] = file_entry("chunk-zero", &zero, 1);
	bad[n++] = file_entry("chunk-too-big", &huge, 1);
	bad[n] = file_entry("sum-mismatch", &ten, 1);
	bad[n++].size = 11;
	bad[n] = file_entry("file-with-target", &ten, 1);
	bad[n++].target = (char *)"t";
	bad[n] = dir_entry("unknown-type", 0755, 0);
	bad[n++].type = (enum pc_entry_type)'X';
	for (size_t i = 0; i < n; i++) {
		int rc = pc_manifest_add(m, &bad[i]);

		if (rc != -EINVAL) {
			print_error("entry '%s' was not refused (rc %d)\n",
				    bad[i].path, rc);
			fail();
		}
	}
	assert_int_equal(m->nentries, 0);
	pc_manifest_free(m);
}

static void test_manifest_serialize_rejects_duplicate_paths(void **state)
{
	struct pc_manifest *m = pc_manifest_new(0755, 0);
	struct pc_entry a = dir_entry("a", 0755, 0);
	char *buf = NULL;
	size_t len;

	(void)state;
	assert_ok(pc_manifest_add(m, &a), NULL);
	assert_ok(pc_manifest_add(m, &a), NULL);
	assert_int_equal(pc_manifest_serialize(m, &buf, &len), -EEXIST);
	assert_null(buf);
	pc_manifest_free(m);
}

static void test_manifest_serialize_rejects_missing_parent(void **state)
{
	struct pc_manifest *orphan = pc_manifest_new(0755, 0);
	struct pc_manifest *under_file = pc_manifest_new(0755, 0);
	struct pc_entry child = dir_entry("a/b", 0755, 0);
	struct pc_entry file = file_entry("a", NULL, 0);
	char *buf = NULL;
	size_t len;

	(void)state;
	assert_ok(pc_manifest_add(orphan, &child), NULL);
	assert_int_equal(pc_manifest_serialize(orphan, &buf, &len), -ENOENT);
	assert_ok(pc_manifest_add(under_file, &file), NULL);
	assert_ok(pc_manifest_add(under_file, &child), NULL);
	assert_int_equal(pc_manifest_serialize(under_file, &buf, &len),
			 -ENOENT);
	assert_null(buf);
	pc_manifest_free(under_file);
	pc_manifest_free(orphan);
}

/* ---- the parser refuses every rule violation --------------------------- */

static void test_manifest_rejects_unknown_format_version(void **state)
{
	(void)state;
	assert_rejected("peercache-manifest 2\nroot 755 0\nentries 0\n",
			-EPROTONOSUPPORT, "manifest format 2 is not supported");
}

static void test_manifest_rejects_bad_magic(void **state)
{
	(void)state;
	assert_rejected("peercache-manifesto 1\nroot 755 0\nentries 0\n",
			-EBADMSG, "not a peercache manifest");
	assert_rejected("peercache-manifest 01\nroot 755 0\nentries 0\n",
			-EBADMSG, "not a peercache manifest");
	assert_rejected("", -EBADMSG, "not a peercache manifest");
	assert_rejected("peercache-head 1\n", -EBADMSG,
			"not a peercache manifest");
}

static void test_manifest_rejects_malformed_root_line(void **state)
{
	(void)state;
	assert_rejected("peercache-manifest 1\nroot 1755 0\nentries 0\n",
			-EBADMSG, "malformed root line");
	assert_rejected("peercache-manifest 1\nroot 755 -1\nentries 0\n",
			-EBADMSG, "malformed root line");
	assert_rejected("peercache-manifest 1\nentries 0\n", -EBADMSG,
			"malformed root line");
}

static void test_manifest_rejects_absolute_path(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 /etc\n", -EBADMSG,
			"absolute path '/etc'");
}

static void test_manifest_rejects_dotdot_component(void **state)
{
	(void)state;
	assert_rejected(HEADER("2") "D 755 0 a\nD 755 0 a/..\n", -EBADMSG,
			"'.' or '..' component in path 'a/..'");
	assert_rejected(HEADER("1") "D 755 0 ..\n", -EBADMSG,
			"'.' or '..' component in path '..'");
}

static void test_manifest_rejects_dot_component(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 .\n", -EBADMSG,
			"'.' or '..' component in path '.'");
	assert_rejected(HEADER("2") "D 755 0 a\nD 755 0 a/./b\n", -EBADMSG,
			"'.' or '..' component in path 'a/./b'");
}

static void test_manifest_rejects_empty_component(void **state)
{
	(void)state;
	assert_rejected(HEADER("2") "D 755 0 a\nD 755 0 a//b\n", -EBADMSG,
			"empty component in path 'a//b'");
	assert_rejected(HEADER("1") "D 755 0 a/\n", -EBADMSG,
			"empty component in path 'a/'");
}

static void test_manifest_rejects_empty_path(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 \n", -EBADMSG, "empty path");
}

static void test_manifest_rejects_nul_in_path(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 a%00b\n", -EBADMSG,
			"path contains NUL");
}

static void test_manifest_rejects_non_canonical_escapes(void **state)
{
	static const char *const paths[] = {
		"%41",	      /* 'A' needs no escape */
		"a%2fb",      /* nor does '/' */
		"a%2Fb",      /* uppercase hex */
		"new%0Aline", /* uppercase hex of a byte that is escaped */
		"cut%2",      /* truncated escape */
		"bad%zz",     /* not hex */
		"tab\tin",    /* raw control byte */
		"del\x7f",    /* raw DEL */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char *text = NULL;

		assert_true(asprintf(&text, HEADER("1") "D 755 0 %s\n",
				     paths[i]) > 0);
		assert_rejected(text, -EBADMSG, "entry 0: badly escaped path");
		free(text);
	}
}

static void test_manifest_rejects_raw_space_in_path(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 a b\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "L 777 0 a b c\n", -EBADMSG,
			"entry 0: malformed fields");
}

static void test_manifest_rejects_path_over_4095_bytes(void **state)
{
	char *text = NULL;
	char path[PC_PATH_MAX + 2];

	(void)state;
	memset(path, 'p', PC_PATH_MAX + 1);
	path[PC_PATH_MAX + 1] = '\0';
	assert_true(asprintf(&text, HEADER("1") "D 755 0 %s\n", path) > 0);
	assert_rejected(text, -EBADMSG, "path longer than 4095 bytes");
	free(text);
}

static void test_manifest_rejects_component_over_255_bytes(void **state)
{
	char *text = NULL;
	char name[PC_NAME_MAX + 2];

	(void)state;
	memset(name, 'c', PC_NAME_MAX + 1);
	name[PC_NAME_MAX + 1] = '\0';
	assert_true(asprintf(&text, HEADER("1") "D 755 0 %s\n", name) > 0);
	assert_rejected(text, -EBADMSG, "component longer than 255 bytes");
	free(text);
}

static void test_manifest_rejects_duplicate_paths(void **state)
{
	(void)state;
	assert_rejected(HEADER("2") "D 755 0 a\nD 755 0 a\n", -EBADMSG,
			"entry 1: 'a' is a duplicate or out of order");
	assert_rejected(HEADER("2") "D 755 0 a\nF 644 0 0 0 a\n", -EBADMSG,
			"entry 1: 'a' is a duplicate or out of order");
}

static void test_manifest_rejects_out_of_order_entries(void **state)
{
	(void)state;
	assert_rejected(HEADER("2") "D 755 0 b\nD 755 0 a\n", -EBADMSG,
			"entry 1: 'a' is a duplicate or out of order");
	/* Bytewise order: "a b" sorts before "a/b" (0x20 < 0x2f). */
	assert_rejected(HEADER("3") "D 755 0 a\nD 755 0 a/b\nD 755 0 a%20b\n",
			-EBADMSG,
			"entry 2: 'a b' is a duplicate or out of order");
}

static void test_manifest_rejects_missing_parent_directory(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 a/b\n", -EBADMSG,
			"parent directory of 'a/b' is not in the manifest");
	/* "ab" is not the parent of "a/c" even though it sorts nearby. */
	assert_rejected(HEADER("2") "D 755 0 a-b\nD 755 0 a/c\n", -EBADMSG,
			"parent directory of 'a/c' is not in the manifest");
}

static void test_manifest_rejects_parent_that_is_a_file(void **state)
{
	(void)state;
	assert_rejected(HEADER("2") "F 644 0 0 0 a\nD 755 0 a/b\n", -EBADMSG,
			"parent directory of 'a/b' is not in the manifest");
	assert_rejected(HEADER("2") "L 777 0 a t\nF 644 0 0 0 a/b\n", -EBADMSG,
			"parent directory of 'a/b' is not in the manifest");
}

static void test_manifest_rejects_chunks_not_adding_up_to_size(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "F 644 0 10 1 f\n" HEX_A " 9\n", -EBADMSG,
			"'f': chunk lengths add up to 9, not the file size 10");
	assert_rejected(HEADER("1") "F 644 0 10 0 f\n", -EBADMSG,
			"chunk lengths add up to 0, not the file size 10");
}

static void test_manifest_rejects_chunk_of_length_0(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "F 644 0 0 1 f\n" HEX_A " 0\n", -EBADMSG,
			"'f': chunk 0 has length 0 outside 1..4194304");
}

static void test_manifest_rejects_short_chunk_before_the_last(void **state)
{
	/* clang-format off */
	static const char text[] =
		HEADER("1")
		"F 644 0 10 2 f\n"
		HEX_A " 9\n"
		HEX_A " 1\n";
	/* clang-format on */

	(void)state;
	assert_rejected(text, -EBADMSG,
			"'f': chunk 0 has length 9 outside 262144..4194304");
}

static void test_manifest_rejects_chunk_over_4_mib(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "F 644 0 4194305 1 f\n" HEX_A " 4194305\n",
			-EBADMSG, "entry 0: chunk line 0 is malformed");
}

static void test_manifest_rejects_malformed_chunk_lines(void **state)
{
	(void)state;
	/* Uppercase hex, short hash, leading zero, missing length. */
	assert_rejected(HEADER("1") "F 644 0 1 1 f\n"
				    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				    "AAAAAAAAAAAAAAAAAAAAAAAA 1\n",
			-EBADMSG, "entry 0: chunk line 0 is malformed");
	assert_rejected(HEADER("1") "F 644 0 1 1 f\n"
				    "aaaa 1\n"
				    "000000000000000000000000000000000000000000"
				    "0000000000000000000000\n",
			-EBADMSG, "entry 0: chunk line 0 is malformed");
	assert_rejected(HEADER("1") "F 644 0 1 1 f\n" HEX_A " 01\n", -EBADMSG,
			"entry 0: chunk line 0 is malformed");
	assert_rejected(HEADER("1") "F 644 0 1 1 f\n" HEX_A "  \n", -EBADMSG,
			"entry 0: chunk line 0 is malformed");
}

static void test_manifest_rejects_mode_over_0777(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 1755 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "F 4644 0 0 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "D 855 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "D 75 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
}

static void test_manifest_rejects_non_canonical_numbers(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 01 a\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "F 644 0 00 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "F 644 0 +1 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
	assert_rejected(HEADER("1") "D  755 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
	/* Larger than PC_FILE_SIZE_MAX (16 TiB). */
	assert_rejected(HEADER("1") "F 644 0 17592186044417 0 a\n", -EBADMSG,
			"entry 0: malformed fields");
}

static void test_manifest_rejects_unknown_entry_type(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "X 755 0 a\n", -EBADMSG,
			"entry 0: unknown entry type 'X'");
	assert_rejected(HEADER("1") "DD 755 0 a\n", -EBADMSG,
			"entry 0: malformed line");
}

/* The count is checked against the bytes that remain before anything is
 * allocated for it (the message comes from that check, not from calloc). */
static void
test_manifest_rejects_entry_count_the_input_cannot_hold(void **state)
{
	(void)state;
	assert_rejected(HEADER("18446744073709551615") "D 755 0 a\n", -EBADMSG,
			"impossible entry count");
	assert_rejected(HEADER("99999999999999999999999") "D 755 0 a\n",
			-EBADMSG, "impossible entry count");
	assert_rejected(HEADER("2") "D 755 0 a\n", -EBADMSG,
			"impossible entry count");
	assert_rejected(HEADER("1"), -EBADMSG, "impossible entry count");
}

static void test_manifest_rejects_huge_chunk_count(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "F 644 0 1 4294967295 f\n" HEX_A " 1\n",
			-EBADMSG, "entry 0: 4294967295 chunks do not fit");
	assert_rejected(HEADER("1") "F 644 0 1 2 f\n" HEX_A " 1\n", -EBADMSG,
			"entry 0: 2 chunks do not fit");
	assert_rejected(HEADER("1") "F 644 0 1 4294967296 f\n", -EBADMSG,
			"entry 0: malformed fields");
}

/* Every strict prefix of a valid manifest is refused, none crashes. */
static void test_manifest_rejects_every_truncation(void **state)
{
	size_t len = strlen(valid_text);
	char err[512];

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		int rc = parse_bytes(valid_text, cut, err, sizeof(err));

		if (rc != -EBADMSG || err[0] == '\0') {
			print_error("prefix of %zu/%zu bytes: rc %d, \"%s\"\n",
				    cut, len, rc, err);
			fail();
		}
	}
	assert_ok(parse_bytes(valid_text, len, err, sizeof(err)), err);
}

static void test_manifest_rejects_data_after_last_entry(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "D 755 0 a\nx", -EBADMSG,
			"data after the last entry");
	assert_rejected(HEADER("1") "D 755 0 a\n\n", -EBADMSG,
			"data after the last entry");
	assert_rejected(HEADER("1") "D 755 0 a\nD 755 0 b\n", -EBADMSG,
			"data after the last entry");
	assert_rejected(HEADER("1") "F 644 0 1 1 f\n" HEX_A " 1\n" HEX_A " 1\n",
			-EBADMSG, "data after the last entry");
}

static void test_manifest_rejects_symlink_without_target(void **state)
{
	(void)state;
	assert_rejected(HEADER("1") "L 777 0 l \n", -EBADMSG,
			"entry 0: bad symlink target");
	assert_rejected(HEADER("1") "L 777 0 l %00\n", -EBADMSG,
			"entry 0: bad symlink target");
	assert_rejected(HEADER("1") "L 777 0 l %zz\n", -EBADMSG,
			"entry 0: bad symlink target");
	assert_rejected(HEADER("1") "L 777 0 l\n", -EBADMSG,
			"entry 0: malformed fields");
}

static void test_manifest_larger_than_1_gib_is_refused_unread(void **state)
{
	size_t len = PC_MANIFEST_MAX + 1;
	struct pc_manifest *m = NULL;
	char err[256] = "";
	/* Address space only: no page of it is ever touched. */
	void *big = mmap(NULL, len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	(void)state;
	assert_true(big != MAP_FAILED);
	assert_error(pc_manifest_parse(big, len, &m, err, sizeof(err)), -EFBIG,
		     err, "manifest is larger than 1073741824 bytes");
	assert_null(m);
	munmap(big, len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifest_stream_gives_the_same_entries),
		cmocka_unit_test(test_manifest_stream_checks_order_not_parents),
		cmocka_unit_test(
			test_manifest_serialize_writes_documented_format),
		cmocka_unit_test(test_manifest_builder_round_trip),
		cmocka_unit_test(
			test_manifest_bytes_do_not_depend_on_add_order),
		cmocka_unit_test(test_manifest_empty_tree_round_trip),
		cmocka_unit_test(test_manifest_escaped_names_round_trip),
		cmocka_unit_test(test_manifest_accepts_values_at_the_limits),
		cmocka_unit_test(test_manifest_parses_documented_example),
		cmocka_unit_test(test_manifest_add_rejects_invalid_entries),
		cmocka_unit_test(
			test_manifest_serialize_rejects_duplicate_paths),
		cmocka_unit_test(
			test_manifest_serialize_rejects_missing_parent),
		cmocka_unit_test(test_manifest_rejects_unknown_format_version),
		cmocka_unit_test(test_manifest_rejects_bad_magic),
		cmocka_unit_test(test_manifest_rejects_malformed_root_line),
		cmocka_unit_test(test_manifest_rejects_absolute_path),
		cmocka_unit_test(test_manifest_rejects_dotdot_component),
		cmocka_unit_test(test_manifest_rejects_dot_component),
		cmocka_unit_test(test_manifest_rejects_empty_component),
		cmocka_unit_test(test_manifest_rejects_empty_path),
		cmocka_unit_test(test_manifest_rejects_nul_in_path),
		cmocka_unit_test(test_manifest_rejects_non_canonical_escapes),
		cmocka_unit_test(test_manifest_rejects_raw_space_in_path),
		cmocka_unit_test(test_manifest_rejects_path_over_4095_bytes),
		cmocka_unit_test(
			test_manifest_rejects_component_over_255_bytes),
		cmocka_unit_test(test_manifest_rejects_duplicate_paths),
		cmocka_unit_test(test_manifest_rejects_out_of_order_entries),
		cmocka_unit_test(
			test_manifest_rejects_missing_parent_directory),
		cmocka_unit_test(test_manifest_rejects_parent_that_is_a_file),
		cmocka_unit_test(
			test_manifest_rejects_chunks_not_adding_up_to_size),
		cmocka_unit_test(test_manifest_rejects_chunk_of_length_0),
		cmocka_unit_test(
			test_manifest_rejects_short_chunk_before_the_last),
		cmocka_unit_test(test_manifest_rejects_chunk_over_4_mib),
		cmocka_unit_test(test_manifest_rejects_malformed_chunk_lines),
		cmocka_unit_test(test_manifest_rejects_mode_over_0777),
		cmocka_unit_test(test_manifest_rejects_non_canonical_numbers),
		cmocka_unit_test(test_manifest_rejects_unknown_entry_type),
		cmocka_unit_test(
			test_manifest_rejects_entry_count_the_input_cannot_hold),
		cmocka_unit_test(test_manifest_rejects_huge_chunk_count),
		cmocka_unit_test(test_manifest_rejects_every_truncation),
		cmocka_unit_test(test_manifest_rejects_data_after_last_entry),
		cmocka_unit_test(test_manifest_rejects_symlink_without_target),
		cmocka_unit_test(
			test_manifest_larger_than_1_gib_is_refused_unread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
