/*
 * json.h - just enough JSON for peercachectl: a reader for one flat object
 * of strings, integers, booleans and arrays of those, as the control
 * socket sends, and a writer for the objects peercachectl makes itself
 * (offline answers, check reports).
 */
#ifndef PC_CTL_JSON_H
#define PC_CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- reading ---------------------------------------------------------------- */

struct json_field {
	char *key;
	char *text; /* strings decoded; numbers as written; arrays joined
		       with ", " */
	bool is_number;
	bool is_array;
	char **items; /* an array's values, decoded (owned) */
	size_t nitems;
};

struct json_object {
	size_t count;
	struct json_field *fields;
};

/* 0 or -EBADMSG.  Caller frees with json_free(). */
int json_parse_object(const char *text, struct json_object *out);
/* Borrowed value text or NULL. */
const char *json_get(const struct json_object *obj, const char *key);
/* The field of @key (borrowed) or NULL. */
const struct json_field *json_get_field(const struct json_object *obj,
					const char *key);
/* Integer value of @key, or @fallback. */
int64_t json_get_int(const struct json_object *obj, const char *key,
		     int64_t fallback);
/* true for the literal true, false for anything else. */
bool json_get_bool(const struct json_object *obj, const char *key);
void json_free(struct json_object *obj);

/* ---- writing ---------------------------------------------------------------- */

/* Writes one object to @out as it goes: jw_begin, members, jw_end. */
struct json_writer {
	FILE *out;
	bool comma; /* a member was written: the next needs a comma */
};

void jw_begin(struct json_writer *w, FILE *out);
void jw_end(struct json_writer *w); /* "}\n" */
void jw_str(struct json_writer *w, const char *key, const char *value);
void jw_int(struct json_writer *w, const char *key, int64_t value);
void jw_bool(struct json_writer *w, const char *key, bool value);
void jw_str_array(struct json_writer *w, const char *key, char *const *items,
		  size_t count);
/* A member whose value is an object or array the caller writes next:
 * jw_open(w, "x", '[') ... jw_close(w, ']').  A NULL key opens an
 * element of the enclosing array. */
void jw_open(struct json_writer *w, const char *key, char bracket);
void jw_close(struct json_writer *w, char bracket);

#endif
