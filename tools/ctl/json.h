/*
 * json.h - just enough JSON for peercachectl: one flat object of strings,
 * integers, booleans and arrays of strings, as the control socket sends.
 */
#ifndef PC_CTL_JSON_H
#define PC_CTL_JSON_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct json_field {
	char *key;
	char *text; /* strings decoded; numbers as written; arrays joined
			   with ", " */
	bool is_number;
};

struct json_object {
	size_t count;
	struct json_field *fields;
};

/* 0 or -EBADMSG.  Caller frees with json_free(). */
int json_parse_object(const char *text, struct json_object *out);
/* Borrowed value text or NULL. */
const char *json_get(const struct json_object *obj, const char *key);
/* Integer value of @key, or @fallback. */
int64_t json_get_int(const struct json_object *obj, const char *key,
		     int64_t fallback);
void json_free(struct json_object *obj);

#endif
