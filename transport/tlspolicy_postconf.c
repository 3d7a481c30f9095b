/*
 * tlspolicy_postconf.c - Postfix's own answers for tlspolicy explain.
 *
 * Everything about Postfix's configuration comes from Postfix's commands,
 * so that its syntax, defaults, $name expansion and every map type it
 * supports are Postfix's, not a copy:
 *   postconf -c DIR -x NAME...   the parameters (expanded), read once
 *   postconf -c DIR -M           master.cf, read once
 *   postmap -c DIR -q KEY MAP    one key in one map
 * Every command names its configuration directory (never /etc/postfix
 * unless that is the directory asked for).  postconf is looked for in
 * PATH, then /usr/sbin and /sbin; postmap in Postfix's command_directory.
 *
 * The commands run without a shell, with stdin from /dev/null, each
 * bounded by PF_RUN_TIMEOUT_S (killed by pid after it) and by the size of
 * what they print.  postmap -q exits 1 both for "not found" and for a
 * fatal error; "fatal:" on its stderr tells them apart.
 *
 * Interface: tlspolicy.h (section tlspolicy_postconf.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* core */
#include "core.h"
/* main */
#include "tlspolicy.h"

#define PF_RUN_TIMEOUT_S 30
#define PF_OUTPUT_MAX	 (1 << 20) /* bytes kept of one command's stdout */
#define PF_STDERR_MAX	 4096
#define PF_PARAMS_MAX	 64
#define PF_SERVICES_MAX	 256

/* The parameters tlspolicy reads (postconf -x prints them expanded). */
static const char *const param_names[] = {
	"command_directory",
	"mail_version",
	"myhostname",
	"mydomain",
	"myorigin",
	"mydestination",
	"recipient_delimiter",
	"parent_domain_matches_subdomains",
	"local_transport",
	"virtual_transport",
	"relay_transport",
	"default_transport",
	"virtual_alias_domains",
	"virtual_mailbox_domains",
	"relay_domains",
	"relayhost",
	"sender_dependent_relayhost_maps",
	"empty_address_relayhost_maps_lookup_key",
	"sender_dependent_default_transport_maps",
	"empty_address_default_transport_maps_lookup_key",
	"transport_maps",
	"smtp_tls_security_level",
	"smtp_tls_policy_maps",
};

struct pf_param {
	char *name;
	char *value;
};

struct pf_service {
	char *name;
	char *type;
	char *command; /* fields 8 and later, as postconf -M prints them */
};

struct pf_conf {
	char dir[1024];
	char postconf[1024];
	char postmap[1024];
	struct pf_param param[PF_PARAMS_MAX];
	size_t param_count;
	struct pf_service service[PF_SERVICES_MAX];
	size_t service_count;
};

/* What a command printed and how it ended. */
struct run_result {
	char *out;
	size_t outlen;
	char errtext[PF_STDERR_MAX];
	size_t errlen;
	int status; /* exit status, or -1 when it did not exit normally */
};

static void
run_result_free(struct run_result *rr)
{
	free(rr->out);
	rr->out = NULL;
}

static int
append_out(struct run_result *rr, const char *buf, size_t n, size_t *cap)
{
	char *grown;

	if (rr->outlen + n > PF_OUTPUT_MAX)
		n = PF_OUTPUT_MAX - rr->outlen;
	if (rr->outlen + n + 1 > *cap) {
		size_t want = (rr->outlen + n + 1) * 2;

		if ((grown = realloc(rr->out, want)) == NULL)
			return -1;
		rr->out = grown;
		*cap = want;
	}
	memcpy(rr->out + rr->outlen, buf, n);
	rr->outlen += n;
	rr->out[rr->outlen] = '\0';
	return 0;
}

static void
child(char *const argv[], int outfd, int errfd)
{
	int null = open("/dev/null", O_RDONLY);

	if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(outfd, STDOUT_FILENO) < 0
	    || dup2(errfd, STDERR_FILENO) < 0)
		_exit(127);
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "fatal: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Both pipes to their end, or until the deadline; 0, or -1 on timeout. */
static int
collect(int outfd, int errfd, struct run_result *rr, int64_t deadline)
{
	struct pollfd pfd[2] = { { outfd, POLLIN, 0 }, { errfd, POLLIN, 0 } };
	size_t cap = 0;
	char buf[8192];
	ssize_t n;
	int open_fds = 2;

	while (open_fds > 0) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -1;
		if (poll(pfd, 2, (int)(left > 1000 ? 1000 : left)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				pfd[i].fd = -1;
				open_fds--;
				continue;
			}
			if (i == 0 && append_out(rr, buf, (size_t)n, &cap) != 0)
				return -1;
			if (i == 1 && rr->errlen + 1 < sizeof(rr->errtext)) {
				size_t room = sizeof(rr->errtext) - rr->errlen - 1;
				size_t k = (size_t)n < room ? (size_t)n : room;

				memcpy(rr->errtext + rr->errlen, buf, k);
				rr->errlen += k;
				rr->errtext[rr->errlen] = '\0';
			}
		}
	}
	return 0;
}

static void
close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			(void)close(fds[i]);
	fds[0] = fds[1] = -1;
}

/* Run argv[0] (a path) with no shell; -1 with a reason when it cannot run or overran. */
static int
run(char *const argv[], struct run_result *rr, char *err, size_t errlen)
{
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, wstatus, rc;
	pid_t pid;

	memset(rr, 0, sizeof(*rr));
	rr->status = -1;
	if (pipe(outp) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe(errp) != 0 || (pid = fork()) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(errno));
		close_pair(outp);
		close_pair(errp);
		return -1;
	}
	if (pid == 0) {
		close(outp[0]);
		close(errp[0]);
		child(argv, outp[1], errp[1]);
	}
	close(outp[1]);
	close(errp[1]);
	rc = collect(outp[0], errp[0], rr, now_ms() + PF_RUN_TIMEOUT_S * 1000);
	close(outp[0]);
	close(errp[0]);
	if (rc != 0)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		continue;
	if (rc != 0) {
		snprintf(err, errlen, "%s did not finish within %ds", argv[0], PF_RUN_TIMEOUT_S);
		run_result_free(rr);
		return -1;
	}
	rr->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	return 0;
}

/* The first line of a command's stderr, for a reason. */
static const char *
first_line(char *text)
{
	text[strcspn(text, "\n")] = '\0';
	return text[0] != '\0' ? text : "no reason given";
}

static int
executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* postconf in PATH, then where Debian and most systems keep it. */
static int
find_postconf(char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	char *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path != NULL ? path : "");
	for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(out, outlen, "%s/postconf", d) < outlen && executable(out))
			return 0;
	}
	return -1;
}

static int
add_param(struct pf_conf *c, const char *line)
{
	const char *eq = strstr(line, " = ");
	struct pf_param *p;

	if (c->param_count == PF_PARAMS_MAX)
		return 0;
	p = &c->param[c->param_count];
	if (eq == NULL) {
		/* "name =" with an empty value */
		size_t len = strlen(line);

		if (len < 2 || strcmp(line + len - 2, " =") != 0)
			return 0;
		p->name = strndup(line, len - 2);
		p->value = strdup("");
	} else {
		p->name = strndup(line, (size_t)(eq - line));
		p->value = strdup(eq + 3);
	}
	if (p->name == NULL || p->value == NULL) {
		free(p->name);
		free(p->value);
		return -1;
	}
	c->param_count++;
	return 0;
}

static int
read_params(struct pf_conf *c, char *err, size_t errlen)
{
	char *argv[4 + sizeof(param_names) / sizeof(param_names[0]) + 1];
	struct run_result rr;
	size_t n = 0;
	char *line, *save = NULL;

	argv[n++] = c->postconf;
	argv[n++] = (char *)"-c";
	argv[n++] = c->dir;
	argv[n++] = (char *)"-x";
	for (size_t i = 0; i < sizeof(param_names) / sizeof(param_names[0]); i++)
		argv[n++] = (char *)param_names[i];
	argv[n] = NULL;
	if (run(argv, &rr, err, errlen) != 0)
		return -1;
	if (rr.status != 0) {
		snprintf(err, errlen, "postconf -c %s: %s", c->dir, first_line(rr.errtext));
		run_result_free(&rr);
		return -1;
	}
	for (line = strtok_r(rr.out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (add_param(c, line) != 0) {
			snprintf(err, errlen, "out of memory");
			run_result_free(&rr);
			return -1;
		}
	}
	run_result_free(&rr);
	return 0;
}

/* One line of postconf -M: "name type private unpriv chroot wakeup maxproc command...". */
static int
add_service(struct pf_conf *c, char *line)
{
	char *field[7], *p = line;
	struct pf_service *s;

	if (c->service_count == PF_SERVICES_MAX)
		return 0;
	for (int i = 0; i < 7; i++) {
		p += strspn(p, " \t");
		if (*p == '\0')
			return 0;
		field[i] = p;
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	p += strspn(p, " \t");
	s = &c->service[c->service_count];
	if ((s->name = strdup(field[0])) == NULL || (s->type = strdup(field[1])) == NULL
	    || (s->command = strdup(p)) == NULL) {
		free(s->name);
		free(s->type);
		return -1;
	}
	c->service_count++;
	return 0;
}

static int
read_master(struct pf_conf *c, char *err, size_t errlen)
{
	char *argv[] = { c->postconf, (char *)"-c", c->dir, (char *)"-M", NULL };
	struct run_result rr;
	char *line, *save = NULL;

	if (run(argv, &rr, err, errlen) != 0)
		return -1;
	if (rr.status != 0) {
		snprintf(err, errlen, "postconf -c %s -M: %s", c->dir, first_line(rr.errtext));
		run_result_free(&rr);
		return -1;
	}
	for (line = strtok_r(rr.out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (add_service(c, line) != 0) {
			snprintf(err, errlen, "out of memory");
			run_result_free(&rr);
			return -1;
		}
	}
	run_result_free(&rr);
	return 0;
}

int
pf_conf_open(const char *dir, struct pf_conf **out, char *err, size_t errlen)
{
	struct pf_conf *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s", dir) >= sizeof(c->dir)) {
		snprintf(err, errlen, "configuration directory name too long");
		free(c);
		return -1;
	}
	if (find_postconf(c->postconf, sizeof(c->postconf)) != 0) {
		snprintf(err, errlen,
		    "postconf not found in PATH, /usr/sbin or /sbin "
		    "(is Postfix installed?)");
		free(c);
		return -1;
	}
	if (read_params(c, err, errlen) != 0 || read_master(c, err, errlen) != 0) {
		pf_conf_close(c);
		return -1;
	}
	snprintf(c->postmap, sizeof(c->postmap), "%s/postmap", pf_param(c, "command_directory"));
	*out = c;
	return 0;
}

void
pf_conf_close(struct pf_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->param_count; i++) {
		free(c->param[i].name);
		free(c->param[i].value);
	}
	for (size_t i = 0; i < c->service_count; i++) {
		free(c->service[i].name);
		free(c->service[i].type);
		free(c->service[i].command);
	}
	free(c);
}

const char *
pf_conf_dir(const struct pf_conf *c)
{
	return c->dir;
}

const char *
pf_param(const struct pf_conf *c, const char *name)
{
	for (size_t i = 0; i < c->param_count; i++)
		if (strcmp(c->param[i].name, name) == 0)
			return c->param[i].value;
	return "";
}

enum pf_lookup
pf_map_query(const struct pf_conf *c, const char *map, const char *key, char **value, char *err,
    size_t errlen)
{
	char *argv[] = { (char *)c->postmap, (char *)"-c", (char *)c->dir, (char *)"-q",
		(char *)key, (char *)map, NULL };
	struct run_result rr;
	size_t len;

	*value = NULL;
	if (run(argv, &rr, err, errlen) != 0)
		return PF_ERROR;
	if (rr.status == 0) {
		len = rr.outlen;
		while (len > 0 && (rr.out[len - 1] == '\n' || rr.out[len - 1] == '\r'))
			len--;
		*value = strndup(rr.out != NULL ? rr.out : "", len);
		run_result_free(&rr);
		if (*value == NULL) {
			snprintf(err, errlen, "out of memory");
			return PF_ERROR;
		}
		return PF_FOUND;
	}
	run_result_free(&rr);
	if (rr.status == 1 && strstr(rr.errtext, "fatal:") == NULL)
		return PF_NOT_FOUND;
	snprintf(err, errlen, "postmap -q %s %s: %s", key, map, first_line(rr.errtext));
	return PF_ERROR;
}

const char *
pf_master_command(const struct pf_conf *c, const char *name, const char *type)
{
	for (size_t i = 0; i < c->service_count; i++)
		if (strcmp(c->service[i].name, name) == 0 && strcmp(c->service[i].type, type) == 0)
			return c->service[i].command;
	return NULL;
}
