/*
 * json.c - a small, strict reader for the control socket's answers, and a
 * writer for what peercachectl prints itself.  The reader accepts one
 * object whose values are strings, numbers, true/false/null or arrays of
 * those or of objects (an object item is kept as its JSON text, for
 * json_parse_object); anything else is refused rather than guessed at.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct reader {
	const char *p;
};

static void skip_space(struct reader *r)
{
	while (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r')
		r->p++;
}

/* Appends @c to a growing string. */
static int put(char **buf, size_t *len, size_t *cap, char c)
{
	if (*len + 2 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		char *grown = realloc(*buf, ncap);

		if (!grown)
			return -ENOMEM;
		*buf = grown;
		*cap = ncap;
	}
	(*buf)[(*len)++] = c;
	(*buf)[*len] = '\0';
	return 0;
}

static int read_string(struct reader *r, char **out)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	if (*r->p != '"')
		return -EBADMSG;
	r->p++;
	if (put(&buf, &len, &cap, '\0') < 0)
		return -ENOMEM;
	len = 0;
	while (*r->p && *r->p != '"') {
		char c = *r->p++;

		if (c == '\\') {
			c = *r->p++;
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'u': {
				unsigned code;

				if (sscanf(r->p, "%4x", &code) != 1) {
					free(buf);
					return -EBADMSG;
				}
				r->p += 4;
				c = code < 0x80 ? (char)code : '?';
				break;
			}
			case '"':
			case '\\':
			case '/':
				break;
			default:
				free(buf);
				return -EBADMSG;
			}
		}
		if (put(&buf, &len, &cap, c) < 0) {
			free(buf);
			return -ENOMEM;
		}
	}
	if (*r->p != '"') {
		free(buf);
		return -EBADMSG;
	}
	r->p++;
	*out = buf;
	return 0;
}

/* An object, as its text (strings inside skipped whole). */
static int read_raw_object(struct reader *r, char **out)
{
	const char *start = r->p;
	bool in_string = false;
	int depth = 0;

	for (; *r->p; r->p++) {
		if (in_string) {
			if (*r->p == '\\' && r->p[1])
				r->p++;
			else if (*r->p == '"')
				in_string = false;
		} else if (*r->p == '"') {
			in_string = true;
		} else if (*r->p == '{' || *r->p == '[') {
			depth++;
		} else if ((*r->p == '}' || *r->p == ']') && --depth == 0) {
			r->p++;
			*out = strndup(start, (size_t)(r->p - start));
			return *out ? 0 : -ENOMEM;
		}
	}
	return -EBADMSG;
}

/* A scalar: string, number, true, false or null (or, as an array item,
 * an object). */
static int read_scalar(struct reader *r, char **out, bool *is_number)
{
	const char *start = r->p;

	*is_number = false;
	if (*r->p == '"')
		return read_string(r, out);
	if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) {
		r->p++;
		while ((*r->p >= '0' && *r->p <= '9') || *r->p == '.' ||
		       *r->p == 'e' || *r->p == 'E' || *r->p == '+' ||
		       *r->p == '-')
			r->p++;
		*is_number = true;
	} else if (!strncmp(r->p, "true", 4) || !strncmp(r->p, "null", 4)) {
		r->p += 4;
	} else if (!strncmp(r->p, "false", 5)) {
		r->p += 5;
	} else {
		return -EBADMSG;
	}
	*out = strndup(start, (size_t)(r->p - start));
	return *out ? 0 : -ENOMEM;
}

static void free_items(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/* Appends @item (taking it) to the array being read. */
static int add_item(struct json_field *f, char *item)
{
	char **grown = realloc(f->items, (f->nitems + 1) * sizeof(*grown));

	if (!grown) {
		free(item);
		return -ENOMEM;
	}
	f->items = grown;
	f->items[f->nitems++] = item;
	return 0;
}

static int read_value(struct reader *r, struct json_field *f)
{
	size_t len = 0, cap = 0;
	char *joined = NULL;

	if (*r->p != '[')
		return read_scalar(r, &f->text, &f->is_number);
	r->p++;
	f->is_array = true;
	if (put(&joined, &len, &cap, '\0') < 0)
		return -ENOMEM;
	len = 0;
	for (skip_space(r); *r->p != ']';) {
		char *item;
		bool num;

		if ((*r->p == '{' ? read_raw_object(r, &item)
				  : read_scalar(r, &item, &num)) < 0)
			goto bad;
		for (const char *s = len ? ", " : ""; *s; s++)
			put(&joined, &len, &cap, *s);
		for (const char *s = item; *s; s++)
			put(&joined, &len, &cap, *s);
		if (add_item(f, item) < 0)
			goto bad;
		skip_space(r);
		if (*r->p == ',') {
			r->p++;
			skip_space(r);
		} else if (*r->p != ']') {
			goto bad;
		}
	}
	r->p++;
	f->text = joined;
	return 0;
bad:
	free(joined);
	free_items(f->items, f->nitems);
	f->items = NULL;
	f->nitems = 0;
	return -EBADMSG;
}

int json_parse_object(const char *text, struct json_object *out)
{
	struct reader r = { text };
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	skip_space(&r);
	if (*r.p++ != '{')
		return -EBADMSG;
	for (skip_space(&r); *r.p != '}';) {
		struct json_field f = { 0 };

		if (out->count == cap) {
			struct json_field *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(out->fields, cap * sizeof(*grown));
			if (!grown)
				goto bad;
			out->fields = grown;
		}
		if (read_string(&r, &f.key) < 0)
			goto bad;
		skip_space(&r);
		if (*r.p++ != ':') {
			free(f.key);
			goto bad;
		}
		skip_space(&r);
		if (read_value(&r, &f) < 0) {
			free(f.key);
			goto bad;
		}
		out->fields[out->count++] = f;
		skip_space(&r);
		if (*r.p == ',') {
			r.p++;
			skip_space(&r);
		} else if (*r.p != '}') {
			goto bad;
		}
	}
	return 0;
bad:
	json_free(out);
	return -EBADMSG;
}

const struct json_field *json_get_field(const struct json_object *obj,
					const char *key)
{
	for (size_t i = 0; i < obj->count; i++)
		if (strcmp(obj->fields[i].key, key) == 0)
			return &obj->fields[i];
	return NULL;
}

const char *json_get(const struct json_object *obj, const char *key)
{
	const struct json_field *f = json_get_field(obj, key);

	return f ? f->text : NULL;
}

bool json_get_bool(const struct json_object *obj, const char *key)
{
	const char *text = json_get(obj, key);

	return text && strcmp(text, "true") == 0;
}

int64_t json_get_int(const struct json_object *obj, const char *key,
		     int64_t fallback)
{
	const char *text = json_get(obj, key);
	char *end;
	long long v;

	if (!text)
		return fallback;
	v = strtoll(text, &end, 10);
	return *end ? fallback : v;
}

void json_free(struct json_object *obj)
{
	for (size_t i = 0; i < obj->count; i++) {
		free(obj->fields[i].key);
		free(obj->fields[i].text);
		free_items(obj->fields[i].items, obj->fields[i].nitems);
	}
	free(obj->fields);
	memset(obj, 0, sizeof(*obj));
}

/* ---- writing ------------------------------------------------------------------ */

static void write_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void write_key(struct json_writer *w, const char *key)
{
	if (w->comma)
		fputc(',', w->out);
	w->comma = true;
	if (key) {
		write_string(w->out, key);
		fputc(':', w->out);
	}
}

void jw_begin(struct json_writer *w, FILE *out)
{
	w->out = out;
	w->comma = false;
	fputc('{', out);
}

void jw_end(struct json_writer *w)
{
	fputs("}\n", w->out);
}

void jw_str(struct json_writer *w, const char *key, const char *value)
{
	write_key(w, key);
	write_string(w->out, value ? value : "");
}

void jw_int(struct json_writer *w, const char *key, int64_t value)
{
	write_key(w, key);
	fprintf(w->out, "%" PRId64, value);
}

void jw_bool(struct json_writer *w, const char *key, bool value)
{
	write_key(w, key);
	fputs(value ? "true" : "false", w->out);
}

void jw_str_array(struct json_writer *w, const char *key, char *const *items,
		  size_t count)
{
	write_key(w, key);
	fputc('[', w->out);
	for (size_t i = 0; i < count; i++) {
		if (i)
			fputc(',', w->out);
		write_string(w->out, items[i]);
	}
	fputc(']', w->out);
}

void jw_open(struct json_writer *w, const char *key, char bracket)
{
	write_key(w, key);
	fputc(bracket, w->out);
	w->comma = false;
}

void jw_close(struct json_writer *w, char bracket)
{
	fputc(bracket, w->out);
	w->comma = true;
}
