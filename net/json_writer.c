/*
 * json_writer.c - see json_writer.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

void json_append(struct json *j, const char *s, size_t n)
{
	char *grown;

	if (j->failed)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 512;

		while (cap < j->len + n + 1)
			cap *= 2;
		grown = realloc(j->buf, cap);
		if (!grown) {
			j->failed = true;
			return;
		}
		j->buf = grown;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

void json_puts(struct json *j, const char *s)
{
	json_append(j, s, strlen(s));
}

void json_string(struct json *j, const char *s)
{
	char esc[8];

	json_puts(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			json_append(j, esc, 2);
		} else if (c == '\n') {
			json_puts(j, "\\n");
		} else if (c == '\r') {
			json_puts(j, "\\r");
		} else if (c == '\t') {
			json_puts(j, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			json_puts(j, esc);
		} else {
			json_append(j, s, 1);
		}
	}
	json_puts(j, "\"");
}

void json_key(struct json *j, const char *key)
{
	if (j->comma)
		json_puts(j, ",");
	j->comma = true;
	json_string(j, key);
	json_puts(j, ":");
}

void json_int(struct json *j, const char *key, int64_t value)
{
	char num[32];

	json_key(j, key);
	snprintf(num, sizeof(num), "%" PRId64, value);
	json_puts(j, num);
}

void json_uint(struct json *j, const char *key, uint64_t value)
{
	char num[32];

	json_key(j, key);
	snprintf(num, sizeof(num), "%" PRIu64, value);
	json_puts(j, num);
}

void json_bool(struct json *j, const char *key, bool value)
{
	json_key(j, key);
	json_puts(j, value ? "true" : "false");
}

void json_str(struct json *j, const char *key, const char *value)
{
	json_key(j, key);
	json_string(j, value ? value : "");
}

/* A JSON array of strings under @key. */
void json_str_array(struct json *j, const char *key, char *const *items,
		    size_t count)
{
	json_key(j, key);
	json_puts(j, "[");
	for (size_t i = 0; i < count; i++) {
		if (i)
			json_puts(j, ",");
		json_string(j, items[i]);
	}
	json_puts(j, "]");
}
