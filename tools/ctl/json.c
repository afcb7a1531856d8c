/*
 * json.c - a small, strict reader for the control socket's answers.  It
 * accepts one object whose values are strings, numbers, true/false/null or
 * arrays of those; anything else is refused rather than guessed at.
 */
#include <errno.h>
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

/* A scalar: string, number, true, false or null. */
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

static int read_value(struct reader *r, char **out, bool *is_number)
{
	size_t len = 0, cap = 0;
	char *joined = NULL;

	if (*r->p != '[')
		return read_scalar(r, out, is_number);
	r->p++;
	*is_number = false;
	if (put(&joined, &len, &cap, '\0') < 0)
		return -ENOMEM;
	len = 0;
	for (skip_space(r); *r->p != ']';) {
		char *item;
		bool num;

		if (read_scalar(r, &item, &num) < 0)
			goto bad;
		for (const char *s = len ? ", " : ""; *s; s++)
			put(&joined, &len, &cap, *s);
		for (const char *s = item; *s; s++)
			put(&joined, &len, &cap, *s);
		free(item);
		skip_space(r);
		if (*r->p == ',') {
			r->p++;
			skip_space(r);
		} else if (*r->p != ']') {
			goto bad;
		}
	}
	r->p++;
	*out = joined;
	return 0;
bad:
	free(joined);
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
		if (read_value(&r, &f.text, &f.is_number) < 0) {
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

const char *json_get(const struct json_object *obj, const char *key)
{
	for (size_t i = 0; i < obj->count; i++)
		if (strcmp(obj->fields[i].key, key) == 0)
			return obj->fields[i].text;
	return NULL;
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
	}
	free(obj->fields);
	memset(obj, 0, sizeof(*obj));
}
