/*
 * pc_list.h - the one intrusive list of the tree: a circular, doubly
 * linked list whose links live inside the items (libuv's queue, the Linux
 * kernel's list_head), so that adding and removing never allocates and an
 * item can leave any list it is in knowing only itself.
 *
 * A list is a struct pc_list head; an item embeds a struct pc_list link
 * and is found from it with container_of().  A removed link points at
 * itself, so removing twice is harmless and pc_list_linked() tells whether
 * an item is in a list.  No locking: the list's owner says what guards it.
 */
#ifndef PC_LIST_H
#define PC_LIST_H

#include <stdbool.h>
#include <stddef.h>

#ifndef container_of
/* The struct of type @type whose @member is at @ptr. */
#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#endif

struct pc_list {
	struct pc_list *prev, *next;
};

static inline void pc_list_init(struct pc_list *head)
{
	head->prev = head->next = head;
}

static inline bool pc_list_empty(const struct pc_list *head)
{
	return head->next == head;
}

/* True while @item is in a list (it was inserted and not removed). */
static inline bool pc_list_linked(const struct pc_list *item)
{
	return item->next != item;
}

static inline void pc_list_insert_tail(struct pc_list *head,
				       struct pc_list *item)
{
	item->prev = head->prev;
	item->next = head;
	head->prev->next = item;
	head->prev = item;
}

static inline void pc_list_insert_head(struct pc_list *head,
				       struct pc_list *item)
{
	item->next = head->next;
	item->prev = head;
	head->next->prev = item;
	head->next = item;
}

static inline void pc_list_remove(struct pc_list *item)
{
	item->prev->next = item->next;
	item->next->prev = item->prev;
	pc_list_init(item);
}

/* Every link of @head, in order; @pos may not be removed inside (see
 * pc_list_each_safe). */
#define pc_list_each(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
/* The same, where the body may remove @pos (@tmp holds the next one). */
#define pc_list_each_safe(pos, tmp, head)                                \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

#endif /* PC_LIST_H */
