/*
 * json.h - the control socket's answers as peercachectl reads them: one
 * object of strings, integers, booleans and arrays of those or of
 * objects, parsed by jansson into flat fields that the printers look up
 * by name.
 */
#ifndef PC_CTL_JSON_H
#define PC_CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* What peercachectl prints itself (offline answers, check reports) is
 * built with common/pc_json.h, as the daemon's answers are. */
#include "pc_json.h"

#endif
