/*
 * json.c - see pc_json.h.  A thin layer over jansson: it keeps the stack
 * of open containers so that callers write members in order, as the
 * answers read in docs/CONTROL.md, and turns jansson's refusals (invalid
 * UTF-8, out of memory) into one flag checked at the end.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pc_json.h"

/* The container members go into; the answer's object at first. */
static json_t *top(struct pc_json *j)
{
	if (j->failed)
		return NULL;
	if (j->depth == 0) {
		j->stack[0] = json_object();
		if (!j->stack[0]) {
			j->failed = true;
			return NULL;
		}
		j->depth = 1;
	}
	return j->stack[j->depth - 1];
}

/* Adds @value (taking it) under @key, or as the next item of an array. */
static void add(struct pc_json *j, const char *key, json_t *value)
{
	json_t *parent = top(j);
	int rc = -1;

	if (parent && value)
		rc = json_is_array(parent)
			     ? json_array_append_new(parent, value)
			     : json_object_set_new(parent, key ? key : "",
						   value);
	else
		json_decref(value);
	if (rc < 0)
		j->failed = true;
}

/* @s as a JSON string; bytes above 0x7f become '?' if @s is not UTF-8. */
static json_t *text(const char *s)
{
	json_t *value;
	char *ascii;

	if (!s)
		s = "";
	value = json_string(s);
	if (value)
		return value;
	ascii = strdup(s);
	if (!ascii)
		return NULL;
	for (char *p = ascii; *p; p++)
		if ((unsigned char)*p > 0x7f)
			*p = '?';
	value = json_string(ascii);
	free(ascii);
	return value;
}

void pc_json_int(struct pc_json *j, const char *key, int64_t value)
{
	add(j, key, json_integer((json_int_t)value));
}

void pc_json_uint(struct pc_json *j, const char *key, uint64_t value)
{
	add(j, key,
	    json_integer(value > INT64_MAX ? INT64_MAX : (json_int_t)value));
}

void pc_json_bool(struct pc_json *j, const char *key, bool value)
{
	add(j, key, json_boolean(value));
}

void pc_json_str(struct pc_json *j, const char *key, const char *value)
{
	add(j, key, text(value));
}

void pc_json_str_array(struct pc_json *j, const char *key, char *const *items,
		       size_t count)
{
	pc_json_open(j, key, '[');
	for (size_t i = 0; i < count; i++)
		pc_json_str(j, NULL, items[i]);
	pc_json_close(j);
}

void pc_json_open(struct pc_json *j, const char *key, char bracket)
{
	json_t *value;

	if (!top(j))
		return;
	if (j->depth == PC_JSON_DEPTH) {
		j->failed = true;
		return;
	}
	value = bracket == '[' ? json_array() : json_object();
	add(j, key, json_incref(value));
	if (j->failed) {
		json_decref(value);
		return;
	}
	json_decref(value); /* the parent holds it */
	j->stack[j->depth++] = value;
}

void pc_json_close(struct pc_json *j)
{
	if (!j->failed && j->depth > 1)
		j->depth--;
}

char *pc_json_finish(struct pc_json *j, size_t *len)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER;
	json_t *root = top(j);
	char *out = NULL;
	size_t n;

	if (root && !j->failed) {
		n = json_dumpb(root, NULL, 0, flags);
		out = n ? malloc(n + 2) : NULL;
		if (out && json_dumpb(root, out, n, flags) == n) {
			out[n] = '\n';
			out[n + 1] = '\0';
			*len = n + 1;
		} else {
			free(out);
			out = NULL;
		}
	}
	json_decref(j->stack[0]);
	memset(j, 0, sizeof(*j));
	return out;
}

int pc_json_print(struct pc_json *j, FILE *out)
{
	size_t len;
	char *text_out = pc_json_finish(j, &len);
	int rc = 0;

	if (!text_out)
		return -ENOMEM;
	if (fwrite(text_out, 1, len, out) != len)
		rc = -EIO;
	free(text_out);
	return rc;
}
