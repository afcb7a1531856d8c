/*
 * json_writer.h - the small JSON writer the daemon's answers are built with
 * (the control socket; net/ internal).  It appends to a buffer that grows
 * as needed; when memory runs out it sets @failed and drops the rest, so a
 * caller checks once, before sending.  Keys and strings are escaped;
 * numbers are written exactly.
 */
#ifndef PC_NET_JSON_WRITER_H
#define PC_NET_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json {
	char *buf;
	size_t len, cap;
	bool failed; /* out of memory: the reply is dropped */
	bool comma;  /* a member was written: the next needs a comma */
};

/* Raw text (punctuation, a number already formatted). */
void json_append(struct json *j, const char *s, size_t n);
void json_puts(struct json *j, const char *s);
/* @s as a quoted, escaped JSON string. */
void json_string(struct json *j, const char *s);
/* "@key": with the comma before it when a member came before. */
void json_key(struct json *j, const char *key);
/* Members: "@key":value. */
void json_int(struct json *j, const char *key, int64_t value);
void json_uint(struct json *j, const char *key, uint64_t value);
void json_bool(struct json *j, const char *key, bool value);
void json_str(struct json *j, const char *key,
	      const char *value); /* NULL: "" */
void json_str_array(struct json *j, const char *key, char *const *items,
		    size_t count);

#endif /* PC_NET_JSON_WRITER_H */
