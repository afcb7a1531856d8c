/*
 * manifest.c - the manifest: every entry of one published tree.
 *
 * Line-oriented text, one canonical form per tree: entries sorted bytewise
 * by path, numbers in canonical decimal, modes as three octal digits, and
 * paths percent-encoded only where a byte would break the line syntax.  The
 * same tree therefore always produces the same bytes and the same hash.
 *
 * The parser is written for hostile input: every count is bounded by the
 * bytes that remain, every path is checked, and every rule violation has
 * its own message (docs/FORMAT.md, "Manifest").  It streams: one entry at
 * a time (pc_manifest_stream_next), so that a version can be installed
 * without the whole tree in memory; pc_manifest_parse keeps them all.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAGIC "peercache-manifest"
#define FORMAT_VERSION 1
#define MIN_ENTRY_LINE 8  /* "D 755 0 x": bounds "entries N" by the input */
#define CHUNK_LINE_MIN 67 /* 64 hex, space, digit, newline */

/* ---- paths ---------------------------------------------------------------- */

int pc_path_check(const char *path, size_t len, char *err, size_t errlen)
{
	size_t start = 0;

	if (len == 0)
		return pc_set_err(-EINVAL, err, errlen, "empty path");
	if (len > PC_PATH_MAX)
		return pc_set_err(-EINVAL, err, errlen,
				  "path longer than %d bytes", PC_PATH_MAX);
	if (memchr(path, '\0', len))
		return pc_set_err(-EINVAL, err, errlen, "path contains NUL");
	if (path[0] == '/')
		return pc_set_err(-EINVAL, err, errlen, "absolute path '%.*s'",
				  (int)len, path);
	for (size_t i = 0; i <= len; i++) {
		size_t clen;

		if (i < len && path[i] != '/')
			continue;
		clen = i - start;
		if (clen == 0)
			return pc_set_err(-EINVAL, err, errlen,
					  "empty component in path '%.*s'",
					  (int)len, path);
		if ((clen == 1 && path[start] == '.') ||
		    (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
			return pc_set_err(-EINVAL, err, errlen,
					  "'.' or '..' component in path "
					  "'%.*s'",
					  (int)len, path);
		if (clen > PC_NAME_MAX)
			return pc_set_err(-EINVAL, err, errlen,
					  "component longer than %d bytes",
					  PC_NAME_MAX);
		start = i + 1;
	}
	return 0;
}

/* Bytes that must be escaped: controls, space, '%' and DEL. */
static bool needs_escape(unsigned char c)
{
	return c <= 0x20 || c == '%' || c == 0x7f;
}

static void write_escaped(FILE *out, const char *s)
{
	static const char digits[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (needs_escape(c)) {
			fputc('%', out);
			fputc(digits[c >> 4], out);
			fputc(digits[c & 0xf], out);
		} else {
			fputc(c, out);
		}
	}
}

/* Decodes a canonical escaped field into a new string (caller frees). */
static int unescape(const char *s, size_t len, char **out, size_t *outlen)
{
	char *buf = malloc(len + 1);
	size_t n = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			uint8_t v;

			if (len - i < 3 ||
			    fmt_hex_decode(s + i + 1, 2, &v, 1) < 0 ||
			    !needs_escape(v))
				goto bad; /* truncated, not hex, or not canonical */
			buf[n++] = (char)v;
			i += 2;
		} else if (needs_escape(c)) {
			goto bad;
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
bad:
	free(buf);
	return -EBADMSG;
}

/* ---- building --------------------------------------------------------------- */

struct pc_manifest *pc_manifest_new(uint32_t root_mode, int64_t root_mtime)
{
	struct pc_manifest *m = calloc(1, sizeof(*m));

	if (m) {
		m->root_mode = root_mode & PC_MODE_MASK;
		m->root_mtime = root_mtime < 0 ? 0 : root_mtime;
	}
	return m;
}

static int check_entry(const struct pc_entry *e, char *err, size_t errlen)
{
	uint64_t sum = 0;
	int rc;

	rc = pc_path_check(e->path, strlen(e->path), err, errlen);
	if (rc < 0)
		return rc;
	if (e->mode > PC_MODE_MASK)
		return pc_set_err(-EINVAL, err, errlen,
				  "'%s': mode %o has bits beyond 0777", e->path,
				  e->mode);
	if (e->mtime < 0)
		return pc_set_err(-EINVAL, err, errlen, "'%s': negative mtime",
				  e->path);
	switch (e->type) {
	case PC_ENTRY_DIR:
		if (e->size || e->nchunks || e->target)
			return pc_set_err(-EINVAL, err, errlen,
					  "'%s': directory with content",
					  e->path);
		return 0;
	case PC_ENTRY_SYMLINK:
		if (!e->target || !e->target[0] ||
		    strlen(e->target) > PC_PATH_MAX ||
		    e->size != strlen(e->target) || e->nchunks)
			return pc_set_err(-EINVAL, err, errlen,
					  "'%s': bad symlink target", e->path);
		return 0;
	case PC_ENTRY_FILE:
		if (e->target || e->size > PC_FILE_SIZE_MAX)
			return pc_set_err(-EINVAL, err, errlen,
					  "'%s': bad file size", e->path);
		for (uint32_t i = 0; i < e->nchunks; i++) {
			/* FastCDC never cuts a chunk shorter than the minimum
			 * except at the end of a file; the read path relies on
			 * it to bound the chunks one read can touch. */
			unsigned len = e->chunks[i].len;
			unsigned low = i + 1 == e->nchunks ? 1 : PC_CHUNK_MIN;

			if (len < low || len > PC_CHUNK_MAX)
				return pc_set_err(-EINVAL, err, errlen,
						  "'%s': chunk %u has length "
						  "%u outside %u..%u",
						  e->path, (unsigned)i, len,
						  low, PC_CHUNK_MAX);
			sum += e->chunks[i].len;
		}
		if (sum != e->size)
			return pc_set_err(-EINVAL, err, errlen,
					  "'%s': chunk lengths add up to "
					  "%" PRIu64 ", not the file size "
					  "%" PRIu64,
					  e->path, sum, e->size);
		return 0;
	}
	return pc_set_err(-EINVAL, err, errlen, "'%s': unknown entry type",
			  e->path);
}

/* Appends a deep copy of @e; takes ownership of nothing. */
static int append_copy(struct pc_manifest *m, const struct pc_entry *e)
{
	struct pc_entry *slot;

	if (m->nentries == m->capacity) {
		size_t ncap = m->capacity ? m->capacity * 2 : 64;
		struct pc_entry *grown =
			realloc(m->entries, ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		m->entries = grown;
		m->capacity = ncap;
	}
	slot = &m->entries[m->nentries];
	*slot = *e;
	slot->path = strdup(e->path);
	slot->target = e->target ? strdup(e->target) : NULL;
	slot->chunks = NULL;
	if (e->nchunks) {
		slot->chunks = malloc(e->nchunks * sizeof(*slot->chunks));
		if (slot->chunks)
			memcpy(slot->chunks, e->chunks,
			       e->nchunks * sizeof(*slot->chunks));
	}
	if (!slot->path || (e->target && !slot->target) ||
	    (e->nchunks && !slot->chunks)) {
		free(slot->path);
		free(slot->target);
		free(slot->chunks);
		return -ENOMEM;
	}
	m->nentries++;
	return 0;
}

int pc_manifest_add(struct pc_manifest *m, const struct pc_entry *entry)
{
	int rc = check_entry(entry, NULL, 0);

	if (rc < 0)
		return rc;
	return append_copy(m, entry);
}

static int compare_entries(const void *a, const void *b)
{
	return strcmp(((const struct pc_entry *)a)->path,
		      ((const struct pc_entry *)b)->path);
}

long pc_manifest_find(const struct pc_entry *entries, size_t n,
		      const char *path, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(entries[mid].path, path, len);

		if (c == 0 && entries[mid].path[len] != '\0')
			c = 1;
		if (c < 0)
			lo = mid + 1;
		else if (c > 0)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

/* Parent must be the root or a directory among the first @i entries. */
static bool parent_is_dir(const struct pc_entry *entries, size_t i)
{
	const char *slash = strrchr(entries[i].path, '/');
	long at;

	if (!slash)
		return true;
	at = pc_manifest_find(entries, i, entries[i].path,
			      (size_t)(slash - entries[i].path));
	return at >= 0 && entries[at].type == PC_ENTRY_DIR;
}

int pc_manifest_serialize(struct pc_manifest *m, char **buf, size_t *len)
{
	char hex[PC_HASH_HEX_LEN + 1];
	FILE *out;

	if (m->nentries)
		qsort(m->entries, m->nentries, sizeof(*m->entries),
		      compare_entries);
	for (size_t i = 0; i < m->nentries; i++) {
		if (i &&
		    strcmp(m->entries[i - 1].path, m->entries[i].path) == 0)
			return -EEXIST;
		if (!parent_is_dir(m->entries, i))
			return -ENOENT;
	}
	out = open_memstream(buf, len);
	if (!out)
		return -ENOMEM;
	fprintf(out, MAGIC " %d\nroot %03o %" PRId64 "\nentries %zu\n",
		FORMAT_VERSION, m->root_mode, m->root_mtime, m->nentries);
	for (size_t i = 0; i < m->nentries; i++) {
		const struct pc_entry *e = &m->entries[i];

		fprintf(out, "%c %03o %" PRId64 " ", (char)e->type, e->mode,
			e->mtime);
		if (e->type == PC_ENTRY_FILE)
			fprintf(out, "%" PRIu64 " %" PRIu32 " ", e->size,
				e->nchunks);
		write_escaped(out, e->path);
		if (e->type == PC_ENTRY_SYMLINK) {
			fputc(' ', out);
			write_escaped(out, e->target);
		}
		fputc('\n', out);
		for (uint32_t c = 0; c < e->nchunks; c++) {
			pc_hash_to_hex(&e->chunks[c].hash, hex);
			fprintf(out, "%s %" PRIu32 "\n", hex, e->chunks[c].len);
		}
	}
	if (fclose(out) != 0) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

void pc_manifest_free(struct pc_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nentries; i++) {
		free(m->entries[i].path);
		free(m->entries[i].target);
		free(m->entries[i].chunks);
	}
	free(m->entries);
	free(m);
}

/* ---- parsing ---------------------------------------------------------------- */

#define MAX_FIELDS 6

/* Splits @line at single spaces into exactly @want fields. */
static int split_fields(const char *line, size_t len, const char **field,
			size_t *flen, int want)
{
	int n = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (n == want)
			return -EBADMSG;
		field[n] = line + start;
		flen[n] = i - start;
		n++;
		start = i + 1;
	}
	return n == want ? 0 : -EBADMSG;
}

static int parse_mode(const char *s, size_t len, uint32_t *mode)
{
	if (len != 3)
		return -EBADMSG;
	*mode = 0;
	for (int i = 0; i < 3; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -EBADMSG;
		*mode = *mode * 8 + (uint32_t)(s[i] - '0');
	}
	return 0;
}

static int parse_chunks(struct fmt_cursor *cur, struct pc_entry *e, size_t idx,
			char *err, size_t errlen)
{
	const char *line, *field[2];
	size_t len, flen[2];
	uint64_t clen;

	/* Bound the allocation by what the input can actually hold. */
	if (e->nchunks > (size_t)(cur->end - cur->pos) / CHUNK_LINE_MIN)
		return pc_set_err(-EBADMSG, err, errlen,
				  "entry %zu: %" PRIu32 " chunks do not fit in "
				  "the manifest",
				  idx, e->nchunks);
	if (e->nchunks == 0)
		return 0;
	e->chunks = malloc(e->nchunks * sizeof(*e->chunks));
	if (!e->chunks)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	for (uint32_t c = 0; c < e->nchunks; c++) {
		if (fmt_cursor_line(cur, &line, &len) < 0 ||
		    split_fields(line, len, field, flen, 2) < 0 ||
		    pc_hash_from_hex(field[0], flen[0], &e->chunks[c].hash) <
			    0 ||
		    fmt_parse_u64(field[1], flen[1], PC_CHUNK_MAX, &clen) < 0)
			return pc_set_err(-EBADMSG, err, errlen,
					  "entry %zu: chunk line %" PRIu32 " is"
					  " ma"
					  "lfo"
					  "rme"
					  "d",
					  idx, c);
		e->chunks[c].len = (uint32_t)clen;
	}
	return 0;
}

/* Parses one entry line (and its chunk lines) into @e. */
static int parse_entry(struct fmt_cursor *cur, struct pc_entry *e, size_t idx,
		       char *err, size_t errlen)
{
	const char *line, *field[MAX_FIELDS];
	size_t len, flen[MAX_FIELDS], plen, tlen;
	uint64_t mtime, size = 0, nchunks = 0;
	int want, pathf;

	memset(e, 0, sizeof(*e));
	if (fmt_cursor_line(cur, &line, &len) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "manifest is truncated at entry %zu", idx);
	if (len < 2 || line[1] != ' ')
		return pc_set_err(-EBADMSG, err, errlen,
				  "entry %zu: malformed line", idx);
	switch (line[0]) {
	case 'D':
		want = 4, pathf = 3;
		break;
	case 'F':
		want = 6, pathf = 5;
		break;
	case 'L':
		want = 5, pathf = 3;
		break;
	default:
		return pc_set_err(-EBADMSG, err, errlen,
				  "entry %zu: unknown entry type '%c'", idx,
				  line[0]);
	}
	e->type = (enum pc_entry_type)line[0];
	if (split_fields(line, len, field, flen, want) < 0 ||
	    parse_mode(field[1], flen[1], &e->mode) < 0 ||
	    fmt_parse_u64(field[2], flen[2], INT64_MAX, &mtime) < 0 ||
	    (e->type == PC_ENTRY_FILE &&
	     (fmt_parse_u64(field[3], flen[3], PC_FILE_SIZE_MAX, &size) < 0 ||
	      fmt_parse_u64(field[4], flen[4], UINT32_MAX, &nchunks) < 0)))
		return pc_set_err(-EBADMSG, err, errlen,
				  "entry %zu: malformed fields", idx);
	e->mtime = (int64_t)mtime;
	e->size = size;
	e->nchunks = (uint32_t)nchunks;
	if (unescape(field[pathf], flen[pathf], &e->path, &plen) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "entry %zu: badly escaped path", idx);
	if (pc_path_check(e->path, plen, err, errlen) < 0)
		return -EBADMSG; /* @err already says which rule */
	if (e->type == PC_ENTRY_SYMLINK) {
		if (unescape(field[4], flen[4], &e->target, &tlen) < 0 ||
		    tlen == 0 || memchr(e->target, '\0', tlen))
			return pc_set_err(-EBADMSG, err, errlen,
					  "entry %zu: bad symlink target", idx);
		e->size = tlen;
	}
	return parse_chunks(cur, e, idx, err, errlen);
}

static int parse_header(struct fmt_cursor *cur, struct pc_manifest *m,
			uint64_t *count, char *err, size_t errlen)
{
	const char *line, *field[3];
	size_t len, flen[3];
	uint64_t version, mtime;

	if (fmt_cursor_line(cur, &line, &len) < 0 ||
	    split_fields(line, len, field, flen, 2) < 0 ||
	    flen[0] != strlen(MAGIC) || memcmp(field[0], MAGIC, flen[0]) != 0 ||
	    fmt_parse_u64(field[1], flen[1], UINT32_MAX, &version) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "not a peercache manifest");
	if (version != FORMAT_VERSION)
		return pc_set_err(-EPROTONOSUPPORT, err, errlen,
				  "manifest format %" PRIu64 " is not "
				  "supported (this "
				  "build reads %d)",
				  version, FORMAT_VERSION);
	if (fmt_cursor_line(cur, &line, &len) < 0 ||
	    split_fields(line, len, field, flen, 3) < 0 || flen[0] != 4 ||
	    memcmp(field[0], "root", 4) != 0 ||
	    parse_mode(field[1], flen[1], &m->root_mode) < 0 ||
	    fmt_parse_u64(field[2], flen[2], INT64_MAX, &mtime) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "manifest: malformed root line");
	m->root_mtime = (int64_t)mtime;
	if (fmt_cursor_line(cur, &line, &len) < 0 ||
	    split_fields(line, len, field, flen, 2) < 0 || flen[0] != 7 ||
	    memcmp(field[0], "entries", 7) != 0 ||
	    fmt_parse_u64(field[1], flen[1],
			  (uint64_t)(cur->end - cur->pos) / MIN_ENTRY_LINE,
			  count) < 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "manifest: malformed or impossible entry "
				  "count");
	return 0;
}

/* ---- streaming ---------------------------------------------------------------- */

/*
 * The parser proper: one entry at a time, each checked on its own and for
 * its order, held by the stream until the next one.  pc_manifest_parse()
 * keeps every entry (and checks parents against the earlier ones); an
 * installer that writes entries as they come (store/install.c) holds none
 * of them, so a manifest of a million entries costs no more memory than
 * one of ten.
 */
struct pc_manifest_stream {
	struct fmt_cursor cur;
	uint32_t root_mode;
	int64_t root_mtime;
	uint64_t count;	       /* entries the header announces */
	uint64_t index;	       /* entries parsed so far */
	struct pc_entry entry; /* the last one, owned */
	char *prev;	       /* the path before it (order check), owned */
	size_t prev_cap;
	const char *start;
};

static void entry_clear(struct pc_entry *e)
{
	free(e->path);
	free(e->target);
	free(e->chunks);
	memset(e, 0, sizeof(*e));
}

int pc_manifest_stream_open(const void *buf, size_t len,
			    struct pc_manifest_stream **out, char *err,
			    size_t errlen)
{
	struct pc_manifest_stream *s;
	struct pc_manifest header = { 0 };
	int rc;

	if (len > PC_MANIFEST_MAX)
		return pc_set_err(-EFBIG, err, errlen,
				  "manifest is larger than %llu bytes",
				  PC_MANIFEST_MAX);
	s = calloc(1, sizeof(*s));
	if (!s)
		return pc_set_err(-ENOMEM, err, errlen, "out of memory");
	s->cur = (struct fmt_cursor){ buf, (const char *)buf + len };
	s->start = buf;
	rc = parse_header(&s->cur, &header, &s->count, err, errlen);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->root_mode = header.root_mode;
	s->root_mtime = header.root_mtime;
	*out = s;
	return 0;
}

uint32_t pc_manifest_stream_root_mode(const struct pc_manifest_stream *s)
{
	return s->root_mode;
}

int64_t pc_manifest_stream_root_mtime(const struct pc_manifest_stream *s)
{
	return s->root_mtime;
}

uint64_t pc_manifest_stream_count(const struct pc_manifest_stream *s)
{
	return s->count;
}

size_t pc_manifest_stream_offset(const struct pc_manifest_stream *s)
{
	return (size_t)(s->cur.pos - s->start);
}

/* Remembers @path as the one the next entry must sort after. */
static int remember(struct pc_manifest_stream *s, const char *path, char *err,
		    size_t errlen)
{
	size_t len = strlen(path) + 1;

	if (len > s->prev_cap) {
		char *grown = realloc(s->prev, len);

		if (!grown)
			return pc_set_err(-ENOMEM, err, errlen,
					  "out of memory");
		s->prev = grown;
		s->prev_cap = len;
	}
	memcpy(s->prev, path, len);
	return 0;
}

/* Parses entry s->index into @e (which the caller then owns) and checks
 * it and its order; 1, 0 after the last, or < 0. */
static int stream_parse(struct pc_manifest_stream *s, struct pc_entry *e,
			char *err, size_t errlen)
{
	size_t i = (size_t)s->index;
	int rc;

	if (s->index == s->count) {
		if (s->cur.pos != s->cur.end)
			return pc_set_err(-EBADMSG, err, errlen,
					  "manifest: data after the last "
					  "entry");
		return 0;
	}
	rc = parse_entry(&s->cur, e, i, err, errlen);
	if (rc < 0)
		return rc;
	if (check_entry(e, err, errlen) < 0)
		return -EBADMSG;
	if (s->index && strcmp(s->prev, e->path) >= 0)
		return pc_set_err(-EBADMSG, err, errlen,
				  "entry %zu: '%s' is a duplicate or out "
				  "of order",
				  i, e->path);
	rc = remember(s, e->path, err, errlen);
	if (rc < 0)
		return rc;
	s->index++;
	return 1;
}

int pc_manifest_stream_next(struct pc_manifest_stream *s,
			    const struct pc_entry **e, char *err, size_t errlen)
{
	int rc;

	entry_clear(&s->entry);
	rc = stream_parse(s, &s->entry, err, errlen);
	if (rc < 0)
		entry_clear(&s->entry);
	*e = rc > 0 ? &s->entry : NULL;
	return rc;
}

void pc_manifest_stream_free(struct pc_manifest_stream *s)
{
	if (!s)
		return;
	entry_clear(&s->entry);
	free(s->prev);
	free(s);
}

int pc_manifest_parse(const void *buf, size_t len, struct pc_manifest **out,
		      char *err, size_t errlen)
{
	struct pc_manifest_stream *s;
	struct pc_manifest *m;
	int rc;

	rc = pc_manifest_stream_open(buf, len, &s, err, errlen);
	if (rc < 0)
		return rc;
	m = pc_manifest_new(s->root_mode, s->root_mtime);
	if (m && s->count) {
		m->entries = calloc(s->count, sizeof(*m->entries));
		m->capacity = s->count;
	}
	if (!m || (s->count && !m->entries)) {
		rc = pc_set_err(-ENOMEM, err, errlen, "out of memory");
		goto fail;
	}
	for (;;) {
		struct pc_entry *e =
			s->index < s->count ? &m->entries[m->nentries] : NULL;

		rc = stream_parse(s, e, err, errlen);
		if (rc <= 0)
			break;
		m->nentries++;
		if (!parent_is_dir(m->entries, m->nentries - 1)) {
			rc = pc_set_err(-EBADMSG, err, errlen,
					"entry %zu: parent directory of '%s' "
					"is not in the manifest",
					m->nentries - 1, e->path);
			break;
		}
	}
	if (rc < 0) {
		/* A partly parsed entry is in the array: freed with it. */
		if (m->nentries < s->count)
			m->nentries++;
		goto fail;
	}
	pc_manifest_stream_free(s);
	*out = m;
	return 0;
fail:
	pc_manifest_stream_free(s);
	pc_manifest_free(m);
	return rc;
}
