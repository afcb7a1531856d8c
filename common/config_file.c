/*
 * config_file.c - the configuration file: read (pc_config_load_file) and
 * printed (pc_config_print) with the table of keys of config.c.
 *
 * A configuration file is read whole, bounded (PC_CONFIG_FILE_MAX), and
 * only if it is a regular file (or /dev/null): a device or a FIFO would
 * never end, a directory reads as nothing.  inih parses it from memory
 * through a reader of ours that hands it one line at a time, so that a
 * line longer than inih's buffer, or one with control bytes, is refused
 * with its own line number instead of being split into garbage.
 *
 * The section headers are read by that reader too (inih keeps only 50
 * bytes of a section's name, and says nothing of a section without
 * keys), so a refusal names the header's own line.  What a whole section
 * or file needs (a section's required keys, no top-level mirror beside
 * sections) is checked once the file is read, with the line that shows
 * it.  The printout loads back to the same configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <ini.h>

#include "config_internal.h"
#include "pc_util.h"

#define NKEYS config_nkeys

/* inih's reader, over the file's bytes in memory: one whole line per
 * call, or the end of the parse with the reason in @err.  It also follows
 * the section headers (begin_section), and is inih's handler's state. */
struct line_reader {
	const char *pos, *end;
	int line; /* of the last line handed out, from 1 */
	const char *path;
	char *err;
	size_t errlen;
	int rc;
	struct pc_config *cfg;
	struct pc_repo_config *repo; /* the section being read; NULL: the
					top level or [peercache] */
	bool after_key;		     /* a key since the last header: an
					indented line continues its value
					(inih's multi-line values) */
	int first_section_line;	     /* of the first [repository] */
	int top_repo_key_line;	     /* of the first top-level mirror,
					trusted_key or repository */
	const char *top_repo_key;
};

static int refuse_at(struct line_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the parse with "PATH:LINE: message". */
static int refuse_at(struct line_reader *r, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "%s:%d: %s", r->path, r->line, why);
	r->rc = -EINVAL;
	return r->rc;
}

/* [repository NAME] (@name, @len bytes): a new entry of repos[]. */
static int begin_repo(struct line_reader *r, const char *name, size_t len)
{
	struct pc_config *cfg = r->cfg;
	struct pc_repo_config *repo;
	char text[96], safe[96];

	snprintf(text, sizeof(text), "%.*s", (int)len, name);
	if (len == 0)
		return refuse_at(r, "[repository] needs a name: "
				    "[repository NAME], NAME being the "
				    "repository name its head carries");
	if (!pc_repo_name_valid_len(name, len))
		return refuse_at(r,
				 "[repository %s]: a repository name is 1 to "
				 "%d characters of A-Z a-z 0-9 . _ - and does "
				 "not start with '.'",
				 config_shown(text, safe, sizeof(safe)),
				 PC_CONFIG_REPO_NAME_MAX);
	for (size_t i = 0; i < cfg->nrepos; i++)
		if (strcmp(cfg->repos[i].name, text) == 0)
			return refuse_at(r,
					 "[repository %s] again (first at "
					 "line %d): one section per repository",
					 text, cfg->repos[i].line);
	if (cfg->nrepos == PC_CONFIG_MAX_REPOS)
		return refuse_at(r,
				 "[repository %s]: at most %d repositories "
				 "in one configuration",
				 text, PC_CONFIG_MAX_REPOS);
	repo = &cfg->repos[cfg->nrepos];
	memset(repo, 0, sizeof(*repo));
	repo->name = strdup(text);
	if (!repo->name)
		return refuse_at(r, "out of memory");
	repo->line = r->line;
	cfg->nrepos++;
	cfg->repo_sections = true;
	if (!r->first_section_line)
		r->first_section_line = r->line;
	r->repo = repo;
	return 0;
}

/*
 * @line, if it is a section header as inih reads it: [peercache] (the
 * host-wide keys), [repository NAME], or refused.  A header without its
 * ']' is left to inih, which calls it a syntax error.
 */
static int begin_section(struct line_reader *r, const char *line)
{
	const char *p = line, *close;
	char text[96], safe[96];
	size_t len;

	if (r->line == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* inih skips a UTF-8 byte order mark */
	p += strspn(p, " \t");
	if (*p != '[' || (p > line && r->after_key))
		return 0;
	close = strchr(p, ']');
	if (!close)
		return 0;
	p++;
	len = (size_t)(close - p);
	r->after_key = false;
	if (len == strlen("peercache") && strncmp(p, "peercache", len) == 0) {
		r->repo = NULL;
		return 0;
	}
	if (len >= strlen("repository") &&
	    strncmp(p, "repository", strlen("repository")) == 0 &&
	    (len == strlen("repository") || p[10] == ' ' || p[10] == '\t')) {
		p += strlen("repository");
		len -= strlen("repository");
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		return begin_repo(r, p, len);
	}
	snprintf(text, sizeof(text), "%.*s", (int)len, p);
	return refuse_at(r,
			 "unknown section [%s] (a section is peercache or "
			 "repository NAME)",
			 config_shown(text, safe, sizeof(safe)));
}

static char *read_line(char *buf, int size, void *stream)
{
	struct line_reader *r = stream;
	const char *newline;
	size_t len;

	if (r->rc < 0 || r->pos >= r->end)
		return NULL;
	newline = memchr(r->pos, '\n', (size_t)(r->end - r->pos));
	len = newline ? (size_t)(newline - r->pos) + 1
		      : (size_t)(r->end - r->pos);
	r->line++;
	/* inih's buffer holds the line, its newline and a NUL. */
	if (size < 3 || len + 1 > (size_t)size) {
		snprintf(r->err, r->errlen, "%s:%d: line longer than %d bytes",
			 r->path, r->line, size - 2);
		r->rc = -EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)r->pos[i];

		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') ||
		    c == 0x7f) {
			snprintf(r->err, r->errlen,
				 "%s:%d: control byte 0x%02x: not a text file",
				 r->path, r->line, c);
			r->rc = -EINVAL;
			return NULL;
		}
	}
	memcpy(buf, r->pos, len);
	buf[len] = '\0';
	r->pos += len;
	if (begin_section(r, buf) < 0)
		return NULL;
	return buf;
}

/* inih handler: returns nonzero to continue.  The section is the one
 * begin_section saw (inih's @section is cut at 50 bytes). */
static int on_ini_value(void *user, const char *section, const char *name,
			const char *value)
{
	struct line_reader *r = user;
	const struct key *k;
	char why[256], text[64];
	int rc;

	(void)section;
	if (r->rc < 0)
		return 0;
	r->after_key = true;
	if (!r->repo) {
		rc = pc_config_set(r->cfg, name, value, why, sizeof(why));
		k = config_find_key(name);
		if (rc == 0 && k->scope != SCOPE_HOST &&
		    k->offset != FIELD(poll_interval) &&
		    !r->top_repo_key_line) {
			r->top_repo_key_line = r->line;
			r->top_repo_key = k->name;
		}
	} else if (!(k = config_find_key(name))) {
		snprintf(why, sizeof(why), "unknown configuration key '%s'",
			 config_shown(name, text, sizeof(text)));
		rc = -EINVAL;
	} else {
		rc = config_set_repo_key(r->repo, k, value, why, sizeof(why));
	}
	if (rc < 0) {
		refuse_at(r, "%s", why);
		return 0;
	}
	return 1;
}

/* What the file as a whole must hold: each section its mount_point,
 * mirror and trusted_key; no top-level repository keys beside sections. */
static int check_sections(struct line_reader *r)
{
	static const char *const required[] = { "mount_point", "mirror",
						"trusted_key" };
	const struct pc_config *cfg = r->cfg;

	if (r->first_section_line && r->top_repo_key_line) {
		r->line = r->top_repo_key_line;
		return refuse_at(r,
				 "%s at the top level, but the file has "
				 "[repository NAME] sections (the first at "
				 "line %d): give mirror and trusted_key in the "
				 "section of their repository, and no "
				 "repository key (the section's NAME is the "
				 "name)",
				 r->top_repo_key, r->first_section_line);
	}
	for (size_t i = 0; i < cfg->nrepos; i++) {
		const struct pc_repo_config *repo = &cfg->repos[i];

		for (size_t j = 0; j < 3; j++) {
			const struct key *k = config_find_key(required[j]);

			if (repo->keys_set & KEY_BIT(k))
				continue;
			r->line = repo->line;
			return refuse_at(r,
					 "[repository %s] has no %s: each "
					 "section needs mount_point, mirror "
					 "and trusted_key",
					 repo->name, required[j]);
		}
	}
	return 0;
}

/* /dev/null reads as an empty file: "no configuration file". */
static bool is_dev_null(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3);
}

/*
 * The whole file at @path into a new buffer (caller frees): a regular file
 * of at most PC_CONFIG_FILE_MAX bytes, or /dev/null.  1 if it does not
 * exist; 0; or -errno with @err set.
 */
/* @fd (@path) is something a configuration may be read from: a regular
 * file of at most PC_CONFIG_FILE_MAX bytes, or /dev/null. */
static int check_kind(const char *path, int fd, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		return pc_set_err(-e, err, errlen, "%s: %s", path, strerror(e));
	}
	if (S_ISDIR(st.st_mode))
		return pc_set_err(-EISDIR, err, errlen,
				  "%s: is a directory, not a configuration "
				  "file",
				  path);
	if (!S_ISREG(st.st_mode) && !is_dev_null(&st))
		return pc_set_err(-EINVAL, err, errlen,
				  "%s: not a regular file (a configuration "
				  "file is read whole)",
				  path);
	if (st.st_size > PC_CONFIG_FILE_MAX)
		return pc_set_err(-EFBIG, err, errlen,
				  "%s: larger than %d bytes: not a "
				  "configuration file",
				  path, PC_CONFIG_FILE_MAX);
	return 0;
}

static int read_file(const char *path, char **text, size_t *len, char *err,
		     size_t errlen)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	ssize_t n;
	int rc = 0;

	*text = NULL;
	*len = 0;
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = check_kind(path, fd, err, errlen);
	if (rc == 0 && !(*text = malloc(PC_CONFIG_FILE_MAX + 1))) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
	}
	/* Read up to one byte past the limit: a file that grows meanwhile
	 * is refused like a large one. */
	while (rc == 0 && *len <= PC_CONFIG_FILE_MAX &&
	       (n = read(fd, *text + *len, PC_CONFIG_FILE_MAX + 1 - *len)) !=
		       0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		} else {
			*len += (size_t)n;
		}
	}
	if (rc == 0 && *len > PC_CONFIG_FILE_MAX) {
		rc = -EFBIG;
		snprintf(err, errlen,
			 "%s: larger than %d bytes: not a configuration file",
			 path, PC_CONFIG_FILE_MAX);
	}
	close(fd);
	if (rc < 0) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

int pc_config_load_file(struct pc_config *cfg, const char *path,
			bool must_exist, char *err, size_t errlen)
{
	struct line_reader reader = {
		.path = path, .err = err, .errlen = errlen, .cfg = cfg
	};
	size_t len;
	char *text;
	int rc, line;

	rc = read_file(path, &text, &len, err, errlen);
	if (rc == 1 && !must_exist)
		return 0;
	if (rc == 1) {
		snprintf(err, errlen, "%s: %s", path, strerror(ENOENT));
		return -ENOENT;
	}
	if (rc < 0)
		return rc;
	reader.pos = text;
	reader.end = text + len;
	line = ini_parse_stream(read_line, &reader, on_ini_value, &reader);
	free(text);
	if (reader.rc < 0)
		return reader.rc;
	if (line != 0) {
		snprintf(err, errlen,
			 "%s:%d: syntax error (expected KEY = VALUE, "
			 "[peercache] or [repository NAME])",
			 path, line);
		return -EINVAL;
	}
	return check_sections(&reader);
}

/* "key = value" lines of @k, whose field is at @field (in a struct
 * pc_config or a struct pc_repo_config, @base). */
static void print_key(FILE *f, const struct key *k, const void *base,
		      size_t offset, size_t count_offset)
{
	const void *field = (const char *)base + offset;

	switch (k->type) {
	case KEY_STRING:
		fprintf(f, "%s = %s\n", k->name,
			*(char *const *)field ? *(char *const *)field : "");
		break;
	case KEY_LIST: {
		char *const *list = field;
		size_t n = *(const size_t *)((const char *)base + count_offset);

		for (size_t j = 0; j < n; j++)
			fprintf(f, "%s = %s\n", k->name, list[j]);
		break;
	}
	case KEY_DURATION:
		fprintf(f, "%s = %llus\n", k->name,
			(unsigned long long)*(const uint64_t *)field);
		break;
	case KEY_COUNT:
	case KEY_SIZE:
		fprintf(f, "%s = %llu\n", k->name,
			(unsigned long long)*(const uint64_t *)field);
		break;
	case KEY_LOGLEVEL:
		fprintf(f, "%s = %s\n", k->name,
			config_level_names[*(const enum pc_log_level *)field]);
		break;
	case KEY_BOOL:
		fprintf(f, "%s = %s\n", k->name,
			*(const bool *)field ? "on" : "off");
		break;
	case KEY_MILLIS:
		fprintf(f, "%s = %llums\n", k->name,
			(unsigned long long)*(const uint64_t *)field);
		break;
	}
}

/* A section: its mount_point first, then its keys in the table's order
 * (poll_interval only if the section gave it). */
static void print_repo(FILE *f, const struct pc_repo_config *repo)
{
	fprintf(f, "\n[repository %s]\n", repo->name);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < NKEYS; i++) {
			const struct key *k = &config_keys[i];

			if (k->scope != (pass ? SCOPE_BOTH : SCOPE_REPO) ||
			    (k->type == KEY_DURATION &&
			     !(repo->keys_set & (1ull << i))))
				continue;
			print_key(f, k, repo, k->repo_offset,
				  k->repo_count_offset);
		}
}

void pc_config_print(const struct pc_config *cfg, void *out)
{
	FILE *f = out;

	fprintf(f, "[peercache]\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &config_keys[i];

		if (k->scope == SCOPE_REPO ||
		    (cfg->repo_sections && k->scope == SCOPE_SINGLE))
			continue;
		print_key(f, k, cfg, k->offset, k->count_offset);
	}
	for (size_t i = 0; cfg->repo_sections && i < cfg->nrepos; i++)
		print_repo(f, &cfg->repos[i]);
}
