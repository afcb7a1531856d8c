/*
 * config-keys.c - pc-config-keys: the daemon's configuration keys, one a
 * line, as the table in common/config.c has them:
 *
 *     NAME <tab> KIND <tab> HAS_DEFAULT (0|1) <tab> DEFAULT <tab> SCOPE
 *
 * SCOPE says where the key may be given (pc_config_key_info): host,
 * repository (only in a [repository NAME] section), both, or single (the
 * top level of a file without sections).
 *
 * A build tool (not installed): mkman.py makes the key reference of
 * peercache.conf(5) from it and the comments of the sample configuration,
 * and tests/integration/admin/test_man.sh checks both against it, so that
 * a key is written once in the code and documented from there.
 */
#include <stdio.h>

#include "pc_config.h"

int main(void)
{
	struct pc_config_key_info key;

	for (size_t i = 0; pc_config_key_info(i, &key); i++)
		printf("%s\t%s\t%d\t%s\t%s\n", key.name, key.kind,
		       key.fallback != NULL, key.fallback ? key.fallback : "",
		       key.scope);
	return 0;
}
