/*
 * tlsmap - compile, query and maintain a Postfix lmdb: TLS policy table.
 *
 * Usage: see usage() below and tlsmap(1).  The command line follows
 * postmap(1) so that administrators can use what they know; the difference
 * is that every value is validated as a TLS policy, and a source with any
 * problem is refused as a whole: the previous FILE.lmdb stays in place.
 *
 * Exit status: 0 success (for -q and -d: found); 1 failure, invalid table,
 * or (for -q and -d) not found; 2 usage error.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* policymap */
#include "policymap.h"

#define EXIT_USAGE 2

enum tlsmap_mode { MODE_BUILD, MODE_CHECK, MODE_QUERY, MODE_DUMP, MODE_DELETE };

struct options {
	enum tlsmap_mode mode;
	const char *mode_arg; /* key for -q/-d, "-" for stdin */
	int nul;	      /* store/delete with trailing NUL (-N default, -n) */
	int fold;	      /* -f clears */
	int replace;	      /* -r */
	int quiet_dups;	      /* -w */
	int verbose;	      /* -v */
	int keep_privileges;  /* -o */
	int default_perms;    /* -p */
	char source[PATH_MAX];
	char target[PATH_MAX];
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tlsmap [-N|-n] [-f] [-r|-w] [-o] [-p] [-v] [lmdb:]FILE\n"
	    "              build FILE.lmdb from FILE; refused if any entry is invalid\n"
	    "       tlsmap -c [-f] [-v] [lmdb:]FILE      check FILE only, write nothing\n"
	    "       tlsmap [-f] -q KEY [lmdb:]FILE       print the value of KEY\n"
	    "       tlsmap [-f] -q - [lmdb:]FILE         keys on stdin, print KEY<TAB>VALUE\n"
	    "       tlsmap -s [lmdb:]FILE                dump every KEY<TAB>VALUE\n"
	    "       tlsmap [-f] -d KEY|- [lmdb:]FILE     delete KEY (or keys on stdin)\n"
	    "options:\n"
	    "  -N  store keys and values with a trailing NUL (default, like postmap)\n"
	    "  -n  store them without it (like postmap -n)\n"
	    "  -f  do not fold keys to lower case\n"
	    "  -r  on duplicate keys keep the last value, silently\n"
	    "  -w  on duplicate keys keep the first value, silently\n"
	    "  -o  as root, do not switch to the source file's owner\n"
	    "  -p  give a new FILE.lmdb mode 0644 instead of following FILE\n"
	    "  -v  verbose\n"
	    "exit status: 0 success or found, 1 failure or not found, 2 usage error\n");
	exit(EXIT_USAGE);
}

static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "tlsmap: fatal: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
set_mode(struct options *o, enum tlsmap_mode mode, const char *arg)
{
	if (o->mode != MODE_BUILD && o->mode != mode) {
		fprintf(stderr, "tlsmap: options -c, -q, -s and -d are mutually exclusive\n");
		usage();
	}
	o->mode = mode;
	o->mode_arg = arg;
}

/*
 * Refuse a type other than lmdb:, with the fix where there is one: the
 * source of a hash:, btree:, cdb:, dbm: or sdbm: table compiles to lmdb:
 * as it is; a texthash: table is read as it is and needs no compiling.
 */
static void __attribute__((noreturn))
unsupported_type(const char *arg, size_t typelen)
{
	static const char *const compiled[] = { "hash", "btree", "cdb", "dbm", "sdbm" };
	const char *file = arg + typelen + 1;

	for (size_t i = 0; i < sizeof(compiled) / sizeof(compiled[0]); i++) {
		if (strlen(compiled[i]) == typelen && strncasecmp(arg, compiled[i], typelen) == 0) {
			fprintf(stderr,
			    "tlsmap: unsupported table type \"%.*s\": compile it with "
			    "\"tlsmap lmdb:%s\" and write \"lmdb:%s\" in smtp_tls_policy_maps\n",
			    (int)typelen, arg, file, file);
			exit(EXIT_USAGE);
		}
	}
	if (typelen == 8 && strncasecmp(arg, "texthash", 8) == 0) {
		fprintf(stderr,
		    "tlsmap: texthash:%s needs no compiling (the agent reads the source); "
		    "check it with \"tlsmap -c %s\"\n",
		    file, file);
		exit(EXIT_USAGE);
	}
	fprintf(stderr, "tlsmap: unsupported table type \"%.*s\": only lmdb: is supported\n",
	    (int)typelen, arg);
	exit(EXIT_USAGE);
}

/* "[lmdb:]FILE" -> source FILE and target FILE.lmdb. */
static void
set_table(struct options *o, const char *arg)
{
	const char *colon = strchr(arg, ':');
	const char *slash = strchr(arg, '/');
	const char *file = arg;

	if (colon != NULL && (slash == NULL || colon < slash)) {
		if ((size_t)(colon - arg) != 4 || strncmp(arg, "lmdb", 4) != 0)
			unsupported_type(arg, (size_t)(colon - arg));
		file = colon + 1;
	}
	if (*file == 0) {
		fprintf(stderr, "tlsmap: missing file name in \"%s\"\n", arg);
		exit(EXIT_USAGE);
	}
	if (strlen(file) + 6 >= sizeof(o->target))
		fatal("%s: file name too long", file);
	snprintf(o->source, sizeof(o->source), "%s", file);
	snprintf(o->target, sizeof(o->target), "%s.lmdb", file);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_BUILD;
	o->nul = 1;
	o->fold = 1;
	while ((ch = getopt(argc, argv, "cd:fnNopq:rsvw")) != -1) {
		switch (ch) {
		case 'c':
			set_mode(o, MODE_CHECK, NULL);
			break;
		case 'd':
			set_mode(o, MODE_DELETE, optarg);
			break;
		case 'f':
			o->fold = 0;
			break;
		case 'n':
			o->nul = 0;
			break;
		case 'N':
			o->nul = 1;
			break;
		case 'o':
			o->keep_privileges = 1;
			break;
		case 'p':
			o->default_perms = 1;
			break;
		case 'q':
			set_mode(o, MODE_QUERY, optarg);
			break;
		case 'r':
			o->replace = 1;
			break;
		case 's':
			set_mode(o, MODE_DUMP, NULL);
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'w':
			o->quiet_dups = 1;
			break;
		default:
			usage();
		}
	}
	if (o->replace && o->quiet_dups) {
		fprintf(stderr, "tlsmap: options -r and -w are mutually exclusive\n");
		usage();
	}
	if (argc - optind != 1)
		usage();
	set_table(o, argv[optind]);
}

static unsigned
source_flags(const struct options *o)
{
	return o->fold ? TABLE_SOURCE_FOLD : 0;
}

/* ------------------------------------------------------------------------
 * A set of keys seen so far, for duplicate detection with -c (a build
 * learns about duplicates from lmdb_builder_put instead).
 */
struct keyslot {
	uint32_t hash;
	char *key;
};

struct keyset {
	struct keyslot *slot;
	size_t nslots;
	size_t count;
};

static uint32_t
key_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

static size_t
keyset_find(const struct keyset *ks, const char *key, uint32_t hash)
{
	size_t mask = ks->nslots - 1;
	size_t i = hash & mask;

	while (ks->slot[i].key != NULL
	    && (ks->slot[i].hash != hash || strcmp(ks->slot[i].key, key) != 0))
		i = (i + 1) & mask;
	return i;
}

/* Returns 1 when KEY is new (and now recorded), 0 when seen before. */
static int
keyset_add(struct keyset *ks, const char *key)
{
	uint32_t hash = key_hash(key);
	size_t i;

	if ((ks->count + 1) * 2 > ks->nslots) {
		struct keyset bigger = { NULL, ks->nslots ? ks->nslots * 2 : 4096, ks->count };

		if ((bigger.slot = calloc(bigger.nslots, sizeof(*bigger.slot))) == NULL)
			fatal("out of memory");
		for (size_t j = 0; j < ks->nslots; j++)
			if (ks->slot[j].key != NULL)
				bigger
				    .slot[keyset_find(&bigger, ks->slot[j].key, ks->slot[j].hash)] =
				    ks->slot[j];
		free(ks->slot);
		*ks = bigger;
	}
	i = keyset_find(ks, key, hash);
	if (ks->slot[i].key != NULL)
		return 0;
	if ((ks->slot[i].key = strdup(key)) == NULL)
		fatal("out of memory");
	ks->slot[i].hash = hash;
	ks->count++;
	return 1;
}

static void
keyset_free(struct keyset *ks)
{
	for (size_t i = 0; i < ks->nslots; i++)
		free(ks->slot[i].key);
	free(ks->slot);
}

/* ------------------------------------------------------------------------
 * Building and checking.
 */

/*
 * A signal during a build stops reading and aborts, which removes the
 * temporary file; during the commit it is held until the new table is in
 * place.  Either way the table is complete, old or new.
 */
static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	interrupted = sig;
}

static void
catch_signals(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		(void)sigaction(sigs[i], &sa, NULL);
}
struct build {
	const struct options *opt;
	struct lmdb_builder *builder; /* NULL with -c */
	struct keyset keys;
	unsigned entries;
	unsigned errors;
	unsigned duplicates;
};

static void
report(const struct build *bc, unsigned line, const char *msg)
{
	fprintf(stderr, "%s:%u: %s\n", bc->opt->source, line, msg);
}

static void
on_diag(unsigned line, const char *message, void *ctx)
{
	struct build *bc = ctx;

	report(bc, line, message);
	bc->errors++;
}

static void
check_value(struct build *bc, const struct table_entry *e)
{
	struct tls_policy p;
	char err[512];
	char msg[NEXTHOP_KEY_MAX + 600];

	tls_policy_init(&p);
	if (tls_policy_parse(e->value, &p, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "\"%s\": %s", e->key, err);
		report(bc, e->line, msg);
		bc->errors++;
	} else {
		for (size_t i = 0; i < p.note_count; i++) {
			snprintf(msg, sizeof(msg), "warning: \"%s\": %s", e->key, p.notes[i]);
			report(bc, e->line, msg);
		}
	}
	tls_policy_free(&p);
}

static int
on_entry(const struct table_entry *e, void *ctx)
{
	struct build *bc = ctx;
	char err[512];
	char msg[NEXTHOP_KEY_MAX + 64];
	int fresh;

	if (interrupted)
		return 1;
	bc->entries++;
	check_value(bc, e);
	if (bc->builder == NULL) {
		fresh = keyset_add(&bc->keys, e->key);
	} else {
		fresh = lmdb_builder_put(bc->builder, e->key, e->value, bc->opt->replace, err,
		    sizeof(err));
		if (fresh < 0) {
			report(bc, e->line, err);
			bc->errors++;
			return 0;
		}
	}
	if (!fresh) {
		bc->duplicates++;
		if (!bc->opt->quiet_dups && !bc->opt->replace) {
			snprintf(msg, sizeof(msg), "duplicate entry: \"%s\"", e->key);
			report(bc, e->line, msg);
		}
	}
	return 0;
}

/*
 * As root, work as the owner of the source file, like postmap: a table
 * owned by someone else must not let them make root write where they
 * choose.  -o keeps root.
 */
static void
drop_privileges(const struct options *o, const struct stat *st)
{
	gid_t gid = st->st_gid;

	if (o->keep_privileges || geteuid() != 0 || st->st_uid == 0)
		return;
	if (setgroups(1, &gid) < 0 || setgid(st->st_gid) < 0 || setuid(st->st_uid) < 0)
		fatal("switch to owner %lu of %s: %s", (unsigned long)st->st_uid, o->source,
		    strerror(errno));
}

/*
 * Mode of the table: an existing FILE.lmdb keeps its mode (postmap updates
 * it in place); a new one gets 0600 plus the source's group/other read
 * bits, or 0644 with -p.
 */
static unsigned
target_mode(const struct options *o, const struct stat *src)
{
	struct stat st;

	if (stat(o->target, &st) == 0)
		return st.st_mode & 07777;
	if (o->default_perms)
		return 0644;
	return 0600 | (src->st_mode & 0044);
}

static int
build(const struct options *o)
{
	struct build bc;
	struct stat st;
	FILE *fp;
	char err[1024];
	int rc;

	memset(&bc, 0, sizeof(bc));
	bc.opt = o;
	if ((fp = fopen(o->source, "r")) == NULL)
		fatal("open %s: %s", o->source, strerror(errno));
	if (fstat(fileno(fp), &st) < 0)
		fatal("stat %s: %s", o->source, strerror(errno));
	if (o->mode == MODE_BUILD) {
		catch_signals();
		drop_privileges(o, &st);
		if (lmdb_builder_begin(o->target, o->nul ? 0 : LMDB_BUILD_NO_NUL,
			target_mode(o, &st), &bc.builder, err, sizeof(err))
		    < 0)
			fatal("%s", err);
	}
	rc = table_source_read(fp, source_flags(o), on_entry, on_diag, &bc);
	if (rc < 0 || ferror(fp)) {
		fprintf(stderr, "tlsmap: read %s: %s\n", o->source, strerror(errno));
		bc.errors++;
	}
	fclose(fp);
	keyset_free(&bc.keys);
	if (interrupted) {
		lmdb_builder_abort(bc.builder);
		fprintf(stderr, "tlsmap: %s: interrupted by signal %d; table not installed\n",
		    o->source, (int)interrupted);
		return 1;
	}
	if (o->verbose)
		fprintf(stderr, "tlsmap: %s: %u entries, %u duplicates, %u errors\n", o->source,
		    bc.entries, bc.duplicates, bc.errors);
	if (bc.errors > 0) {
		lmdb_builder_abort(bc.builder);
		if (o->mode == MODE_BUILD && access(o->target, F_OK) == 0)
			fprintf(stderr,
			    "tlsmap: %s: %u error%s; table not installed, %s unchanged\n",
			    o->source, bc.errors, bc.errors == 1 ? "" : "s", o->target);
		else if (o->mode == MODE_BUILD)
			fprintf(stderr, "tlsmap: %s: %u error%s; table not installed\n", o->source,
			    bc.errors, bc.errors == 1 ? "" : "s");
		else
			fprintf(stderr, "tlsmap: %s: %u error%s\n", o->source, bc.errors,
			    bc.errors == 1 ? "" : "s");
		return 1;
	}
	if (bc.builder == NULL)
		return 0;
	if (lmdb_builder_commit(bc.builder, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (o->verbose)
		fprintf(stderr, "tlsmap: installed %s\n", o->target);
	return 0;
}

/* ------------------------------------------------------------------------
 * Queries, dumps and deletes.
 */
static void
fold_or_die(const struct options *o, const char *key, char *out, size_t outlen)
{
	char err[512];

	if (table_source_fold_key(key, source_flags(o), out, outlen, err, sizeof(err)) < 0)
		fatal("%s", err);
}

/* One stdin line without its newline; NULL at end of input. */
static char *
read_key_line(char **buf, size_t *cap)
{
	ssize_t n = getline(buf, cap, stdin);

	if (n < 0)
		return NULL;
	if (n > 0 && (*buf)[n - 1] == '\n')
		(*buf)[n - 1] = 0;
	return *buf;
}

static struct lmdb_table *
open_or_die(const struct options *o)
{
	struct lmdb_table *t;
	char err[1024];

	if (lmdb_table_open(o->target, &t, err, sizeof(err)) < 0)
		fatal("%s", err);
	return t;
}

/* Returns 1 found, 0 not found; dies on a lookup error. */
static int
query_one(const struct options *o, struct lmdb_table *t, const char *key, int with_key)
{
	char folded[NEXTHOP_KEY_MAX];
	char err[1024];
	char *value;
	int rc;

	fold_or_die(o, key, folded, sizeof(folded));
	if ((rc = lmdb_table_get(t, folded, &value, err, sizeof(err))) < 0)
		fatal("%s", err);
	if (rc == 0)
		return 0;
	if (with_key)
		printf("%s\t%s\n", key, value);
	else
		printf("%s\n", value);
	free(value);
	return 1;
}

static int
query(const struct options *o)
{
	struct lmdb_table *t = open_or_die(o);
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (strcmp(o->mode_arg, "-") != 0) {
		found = query_one(o, t, o->mode_arg, 0);
	} else {
		while (read_key_line(&line, &cap) != NULL)
			found |= query_one(o, t, line, 1);
		free(line);
	}
	lmdb_table_close(t);
	return found ? 0 : 1;
}

static int
print_entry(const char *key, size_t keylen, const char *value, size_t valuelen, void *ctx)
{
	(void)ctx;
	fwrite(key, 1, keylen, stdout);
	putchar('\t');
	fwrite(value, 1, valuelen, stdout);
	putchar('\n');
	return ferror(stdout) ? 1 : 0;
}

static int
dump(const struct options *o)
{
	struct lmdb_table *t = open_or_die(o);
	char err[1024];

	if (lmdb_table_walk(t, print_entry, NULL, err, sizeof(err)) < 0)
		fatal("%s", err);
	lmdb_table_close(t);
	return 0;
}

static int
delete_one(const struct options *o, const char *key)
{
	char folded[NEXTHOP_KEY_MAX];
	char err[1024];
	int rc;

	fold_or_die(o, key, folded, sizeof(folded));
	if ((rc = lmdb_table_delete(o->target, folded, err, sizeof(err))) < 0)
		fatal("%s", err);
	if (o->verbose)
		fprintf(stderr, "tlsmap: %s: %s\n", folded, rc ? "deleted" : "not found");
	return rc;
}

static int
delete(const struct options *o)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (access(o->target, F_OK) < 0)
		fatal("open database %s: %s", o->target, strerror(errno));
	if (strcmp(o->mode_arg, "-") != 0) {
		found = delete_one(o, o->mode_arg);
	} else {
		while (read_key_line(&line, &cap) != NULL)
			found |= delete_one(o, line);
		free(line);
	}
	return found ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct options opt;
	int status;

	parse_args(argc, argv, &opt);
	switch (opt.mode) {
	case MODE_QUERY:
		status = query(&opt);
		break;
	case MODE_DUMP:
		status = dump(&opt);
		break;
	case MODE_DELETE:
		status = delete (&opt);
		break;
	default:
		status = build(&opt);
		break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "tlsmap: write to standard output: %s\n", strerror(errno));
		return 1;
	}
	return status;
}
