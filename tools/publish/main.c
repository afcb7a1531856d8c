/*
 * main.c - peercache-publish: command line of the mirror-side tool.
 * The work is in publish.c (new versions) and verify.c (checks, extract).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "pc_util.h"

#define MAX_KEYS 16

static const char usage_text[] =
	"usage:\n"
	"  peercache-publish keygen KEYFILE\n"
	"  peercache-publish --key KEYFILE --name NAME [--keep N]\n"
	"                    [--valid-for DURATION] [--[no-]progress]\n"
	"                    SOURCE_DIR REPO_DIR\n"
	"  peercache-publish verify --trusted-key PUBFILE... REPO_DIR\n"
	"  peercache-publish extract --trusted-key PUBFILE... REPO_DIR "
	"DEST_DIR\n"
	"\n"
	"keygen    writes an Ed25519 private key to KEYFILE (mode 0600) and "
	"its\n"
	"          public half to KEYFILE.pub; nodes trust KEYFILE.pub.\n"
	"publish   chunks SOURCE_DIR into REPO_DIR (new chunks only), writes "
	"the\n"
	"          manifest and then the signed head, as version = previous + "
	"1.\n"
	"          REPO_DIR is made with its parents (mkdir -p); it must not "
	"be\n"
	"          inside SOURCE_DIR.\n"
	"          --keep N        versions to retain (default 10); chunks "
	"that\n"
	"                          no retained version uses are removed\n"
	"          --valid-for D   head lifetime, e.g. 12h, 7d (default 7d)\n"
	"          --progress      progress bar (default: on a terminal)\n"
	"verify    checks the head signature, the manifest and every chunk;\n"
	"          prints each problem and exits 1 if there is any.\n"
	"extract   verifies, then rebuilds the published tree in DEST_DIR\n"
	"          (which must not exist).\n"
	"\n"
	"Exit status: 0 success, 1 failure, 2 usage error.\n"
	"The repository format is described in docs/FORMAT.md.\n";

static int usage(FILE *out, int status)
{
	fputs(usage_text, out);
	return status;
}

static int cmd_keygen(int argc, char **argv)
{
	char why[512];

	if (argc != 3)
		return usage(stderr, 2);
	if (pc_key_generate(argv[2], why, sizeof(why)) < 0) {
		fprintf(stderr, "error: %s\n", why);
		return 1;
	}
	printf("wrote %s (private, keep it secret) and %s.pub (give it to "
	       "nodes as trusted_key)\n",
	       argv[2], argv[2]);
	return 0;
}

/* verify and extract: --trusted-key (repeatable) and positionals. */
static int cmd_check(int argc, char **argv, bool extracting)
{
	static const struct option longopts[] = {
		{ "trusted-key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keys[MAX_KEYS];
	size_t nkeys = 0;
	int opt, want = extracting ? 2 : 1;

	optind = 2;
	while ((opt = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		if (opt == 'h')
			return usage(stdout, 0);
		if (opt != 'k' || nkeys == MAX_KEYS)
			return usage(stderr, 2);
		keys[nkeys++] = optarg;
	}
	if (nkeys == 0 || argc - optind != want) {
		fprintf(stderr, "error: %s needs --trusted-key and %s\n",
			argv[1], extracting ? "REPO_DIR DEST_DIR" : "REPO_DIR");
		return 2;
	}
	return verify_run(argv[optind], keys, nkeys,
			  extracting ? argv[optind + 1] : NULL) < 0
		       ? 1
		       : 0;
}

static int cmd_publish(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "keep", required_argument, NULL, 'K' },
		{ "valid-for", required_argument, NULL, 'v' },
		{ "progress", no_argument, NULL, 'p' },
		{ "no-progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct publish_opts opts = {
		.keep = 10,
		.valid_for = 7 * 86400,
		.progress = isatty(STDERR_FILENO),
	};
	unsigned long long keep;
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			opts.keyfile = optarg;
			break;
		case 'n':
			opts.name = optarg;
			break;
		case 'p':
			opts.progress = true;
			break;
		case 'P':
			opts.progress = false;
			break;
		case 'h':
			return usage(stdout, 0);
		case 'K':
			errno = 0;
			keep = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || keep < 1 ||
			    keep > 100000) {
				fprintf(stderr, "error: --keep wants a number "
						"of "
						"versions from 1 to 100000\n");
				return 2;
			}
			opts.keep = (unsigned)keep;
			break;
		case 'v':
			if (pc_parse_duration(optarg, &opts.valid_for) < 0 ||
			    opts.valid_for == 0 ||
			    opts.valid_for > 100ull * 365 * 86400) {
				fprintf(stderr, "error: --valid-for wants a "
						"duration like 12h or 7d\n");
				return 2;
			}
			break;
		default:
			return usage(stderr, 2);
		}
	}
	if (!opts.keyfile || !opts.name || argc - optind != 2) {
		fprintf(stderr, "error: publishing needs --key, --name, "
				"SOURCE_DIR and REPO_DIR\n");
		return usage(stderr, 2);
	}
	if (!pc_repo_name_valid(opts.name)) {
		fprintf(stderr,
			"error: invalid --name '%s': 1 to %d of "
			"A-Z a-z 0-9 . _ -, not starting with '.'\n",
			opts.name, PC_REPO_NAME_MAX);
		return 2;
	}
	opts.source = argv[optind];
	opts.repo = argv[optind + 1];
	return publish_run(&opts) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return cmd_check(argc, argv, false);
	if (argc >= 2 && strcmp(argv[1], "extract") == 0)
		return cmd_check(argc, argv, true);
	return cmd_publish(argc, argv);
}
