/*
 * json.c - the control socket's answers read with jansson into the flat
 * fields of json.h.  A value is kept as text: strings decoded, integers
 * and reals as jansson writes them, true/false/null as their literals;
 * an array as its items (an object item as its JSON text, for
 * json_parse_object) and their text joined with ", ".  Anything that is
 * not one JSON object is refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* @value as the text of a field or item; NULL if out of memory. */
static char *value_text(const json_t *value)
{
	char *text = NULL;

	switch (json_typeof(value)) {
	case JSON_STRING:
		return strndup(json_string_value(value),
			       json_string_length(value));
	case JSON_INTEGER:
		if (asprintf(&text, "%" JSON_INTEGER_FORMAT,
			     json_integer_value(value)) < 0)
			return NULL;
		return text;
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_NULL:
		return strdup("null");
	default: /* reals, objects */
		return json_dumps(value, DUMP_FLAGS);
	}
}

static void free_items(char **items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i]);
	free(items);
}

/* An array's items and their joined text into @f. */
static int read_array(const json_t *array, struct json_field *f)
{
	size_t n = json_array_size(array), len = 0, i;
	const json_t *item;

	f->is_array = true;
	f->items = calloc(n ? n : 1, sizeof(*f->items));
	if (!f->items)
		return -ENOMEM;
	json_array_foreach(array, i, item)
	{
		f->items[i] = value_text(item);
		if (!f->items[i])
			return -ENOMEM;
		f->nitems++;
		len += strlen(f->items[i]) + 2;
	}
	f->text = calloc(1, len + 1);
	if (!f->text)
		return -ENOMEM;
	for (i = 0; i < f->nitems; i++) {
		if (i)
			strcat(f->text, ", ");
		strcat(f->text, f->items[i]);
	}
	return 0;
}

static int read_field(const char *key, const json_t *value,
		      struct json_field *f)
{
	f->key = strdup(key);
	if (!f->key)
		return -ENOMEM;
	f->is_number = json_is_number(value);
	if (json_is_array(value))
		return read_array(value, f);
	f->text = value_text(value);
	return f->text ? 0 : -ENOMEM;
}

int json_parse_object(const char *text, struct json_object *out)
{
	json_t *root = json_loads(text, 0, NULL);
	const char *key;
	json_t *value;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(root)) {
		json_decref(root);
		return -EBADMSG;
	}
	out->fields = calloc(json_object_size(root) + 1, sizeof(*out->fields));
	if (!out->fields)
		rc = -ENOMEM;
	json_object_foreach(root, key, value)
	{
		if (rc < 0)
			break;
		rc = read_field(key, value, &out->fields[out->count++]);
	}
	json_decref(root);
	if (rc < 0) {
		json_free(out);
		return -EBADMSG;
	}
	return 0;
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
