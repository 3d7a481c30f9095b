/*
 * tlsmtp.c - the delivery agent's main program, run by Postfix pipe(8)
 * once per message:
 *
 *   tlsmtp [-c FILE] [-o NAME=VALUE]... [-f SENDER] [-n NEXTHOP]
 *          [-i QUEUE_ID] [-v] [--] RECIPIENT...
 *
 * Order of work, chosen so that nothing touches the network before every
 * local check has passed: options, configuration, log, envelope addresses,
 * the destinations (every element of a next-hop list and of
 * smtp_fallback_relay parsed), the message (read to EOF); then for each
 * destination in turn its TLS policy, its route, and one SMTP attempt per
 * address until one settles the delivery.  The result is one output line,
 * "X.Y.Z text" (or the short success summary), and a sysexits code that
 * agrees with it (outcome.c).
 *
 * Destinations follow smtp(8)'s smtp_connect_inet(): "-n a, b" is tried
 * in order, then the fallback relays; each has its own policy lookup (its
 * own key), MX/address lookup, smtp_mx_address_limit and
 * smtp_mx_session_limit.  A soft failure moves on to the next address,
 * then to the next destination; what the last one tried says is the
 * result, so a permanent DNS failure of an earlier destination does not
 * bounce the mail, but one of the last does (a fallback relay's defers
 * with 4.3.5, as a configuration problem).  A permanent refusal by a
 * server (5xx to MAIL, RCPT, DATA) settles the delivery at once.  When
 * myhostname is a mail exchanger of a destination, no later destination
 * is tried (the loop rule).
 *
 * Our own mistakes never bounce mail: usage and configuration errors defer
 * with 4.3.5, internal faults with 4.3.0.  The overall delivery_deadline is
 * passed down as an absolute monotonic time that every wait honours; a
 * SIGALRM a little after it is the last resort should anything still
 * block, so that pipe(8)'s own time limit (which bounces) is never hit.
 *
 * The top of the stack, with no header of its own; the layers below are
 * described in docs/architecture.md.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* core */
#include "core.h"
/* dns */
#include "dns.h"
#include "route.h"
/* net */
#include "socketmap.h"
/* tls */
#include "mta_sts.h"
#include "tls_policy.h"
/* smtp */
#include "smtp.h"
#include "smtp_sasl.h"

#define RECIPIENT_MAX	10000
#define SUMMARY_MAX	256
#define DESTINATION_MAX 32 /* next-hop list and fallback relays together */


struct options {
	const char *config_file;
	char **overrides;
	size_t override_count;
	const char *sender;
	const char *nexthop;
	const char *queue_id;
	int verbose;
	char **rcpts;
	size_t rcpt_count;
};

struct timing {
	int64_t start, input_done, route_done, end;
};

static const char usage_text[] = "usage: tlsmtp [-c FILE] [-o NAME=VALUE]... [-f SENDER] "
				 "[-n NEXTHOP] [-i QUEUE_ID] [-v] [--] RECIPIENT...";

static int stdin_consumed;

/* ------------------------------------------------------------------------
 * Leaving: one line, one exit status.
 */

/*
 * pipe(8) ignores EPIPE only after exit 0, but reading the message in full
 * also lets pipe(8) finish its write cleanly; skip it for a terminal.
 */
static void
drain_stdin(void)
{
	char buf[65536];
	ssize_t n;

	if (stdin_consumed || isatty(STDIN_FILENO))
		return;
	stdin_consumed = 1;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EINTR)
			break;
}

static int
finish(const struct outcome *o)
{
	alarm(0);
	drain_stdin();
	log_close();
	outcome_print(o);
	return o->exit_code;
}

static void
deadline_alarm(int sig)
{
	static const char line[] = "4.4.2 delivery deadline exceeded: tlsmtp stopped\n";

	(void)sig;
	(void)!write(STDOUT_FILENO, line, sizeof(line) - 1);
	_exit(TLSMTP_EX_TEMPFAIL);
}

static void
arm_last_resort(int deadline_s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = deadline_alarm;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGALRM, &sa, NULL);
	/* Late enough for every stage deadline to have fired first. */
	alarm((unsigned)deadline_s + 2 + (unsigned)deadline_s / 100);
}

/* ------------------------------------------------------------------------
 * Options.
 */
static int
parse_options(int argc, char **argv, struct options *opt, char *err, size_t errlen)
{
	int c;

	memset(opt, 0, sizeof(*opt));
	if ((opt->overrides = calloc((size_t)argc + 1, sizeof(char *))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	opterr = 0;
	/* "+": stop at the first recipient; GNU permutation never applies. */
	while ((c = getopt(argc, argv, "+:c:o:f:n:i:v")) != -1) {
		switch (c) {
		case 'c':
			if (opt->config_file != NULL)
				goto twice;
			opt->config_file = optarg;
			break;
		case 'o':
			opt->overrides[opt->override_count++] = optarg;
			break;
		case 'f':
			if (opt->sender != NULL)
				goto twice;
			opt->sender = optarg;
			break;
		case 'n':
			if (opt->nexthop != NULL)
				goto twice;
			opt->nexthop = optarg;
			break;
		case 'i':
			if (opt->queue_id != NULL)
				goto twice;
			opt->queue_id = optarg;
			break;
		case 'v':
			opt->verbose++;
			break;
		case ':':
			snprintf(err, errlen, "option -%c needs a value; %s", optopt, usage_text);
			return -1;
		default:
			snprintf(err, errlen, "unknown option -%c; %s",
			    optopt > 0x20 && optopt < 0x7f ? optopt : '?', usage_text);
			return -1;
		}
	}
	if (opt->sender == NULL) {
		snprintf(err, errlen, "no sender (-f SENDER, -f '' for the null sender); %s",
		    usage_text);
		return -1;
	}
	opt->rcpts = argv + optind;
	opt->rcpt_count = (size_t)(argc - optind);
	if (opt->rcpt_count == 0) {
		snprintf(err, errlen, "no recipients; %s", usage_text);
		return -1;
	}
	if (opt->rcpt_count > RECIPIENT_MAX) {
		snprintf(err, errlen, "more than %d recipients", RECIPIENT_MAX);
		return -1;
	}
	return 0;
twice:
	snprintf(err, errlen, "option -%c given twice; %s", c, usage_text);
	return -1;
}

/* ------------------------------------------------------------------------
 * Envelope.
 */
struct envelope {
	char sender[ADDRESS_MAX + 1];
	struct smtp_rcpt *rcpts;
	char **paths; /* each malloc'ed, the checked recipients */
	size_t count;
	int need_smtputf8;
};

static int
is_mailer_daemon(const char *s)
{
	return strcasecmp(s, "MAILER-DAEMON") == 0;
}

/* An argument for a warning: printable, and short (it may be garbage). */
static const char *
shown_address(const char *arg, char *buf, size_t buflen)
{
	return outcome_quote_text(arg, strnlen(arg, 200), buf, buflen);
}

/* The sender: "" for the null sender; -1 with the outcome set. */
static int
check_sender(const struct options *opt, struct envelope *env, struct outcome *o)
{
	char err[256], q[300];
	int utf8, rc;

	if (opt->sender[0] == '\0' || is_mailer_daemon(opt->sender)) {
		/* pipe(8) without null_sender= passes MAILER-DAEMON for <>. */
		if (opt->sender[0] != '\0')
			log_warn(
			    "sender %s taken as the null sender; set null_sender= in master.cf",
			    opt->sender);
		env->sender[0] = '\0';
		return 0;
	}
	rc = address_check(opt->sender, env->sender, sizeof(env->sender), &utf8, err, sizeof(err));
	if (rc == ADDRESS_OK) {
		env->need_smtputf8 |= utf8;
		return 0;
	}
	log_warn("%s sender address <%s>: %s", rc == ADDRESS_DEFER ? "unusable" : "malformed",
	    shown_address(opt->sender, q, sizeof(q)), err);
	if (rc == ADDRESS_DEFER)
		outcome_set(o, "4.1.3", "sender address not sent: %s", err);
	else
		outcome_set(o, "5.1.3", "bad sender address syntax: %s", err);
	return -1;
}

/*
 * Every address is checked before anything else happens.  A malformed
 * address (one recipient, or all of them) is refused with 5.1.3; when only
 * some recipients of a batch are malformed, the batch is deferred rather
 * than bouncing the good ones with them.  An address longer than
 * ADDRESS_MAX defers (4.1.3): no local length limit ever bounces mail.
 */
static int
check_envelope(const struct tlsmtp_config *cfg, const struct options *opt, struct envelope *env,
    struct outcome *o)
{
	char err[256], q[300], first_err[256] = "", *path = NULL;
	size_t bad = 0, deferred = 0;
	int utf8, rc;

	memset(env, 0, sizeof(*env));
	if (check_sender(opt, env, o) != 0)
		return -1;

	env->count = opt->rcpt_count;
	env->rcpts = calloc(env->count, sizeof(*env->rcpts));
	env->paths = calloc(env->count, sizeof(*env->paths));
	if (env->rcpts == NULL || env->paths == NULL || (path = malloc(ADDRESS_MAX + 1)) == NULL) {
		outcome_set(o, "4.3.0", "out of memory");
		return -1;
	}
	for (size_t i = 0; i < env->count; i++) {
		env->rcpts[i].state = RCPT_PENDING;
		rc = address_check(opt->rcpts[i], path, ADDRESS_MAX + 1, &utf8, err, sizeof(err));
		if (rc != ADDRESS_OK) {
			log_warn("%s recipient address <%s>: %s",
			    rc == ADDRESS_DEFER ? "unusable" : "malformed",
			    shown_address(opt->rcpts[i], q, sizeof(q)), err);
			if (rc == ADDRESS_DEFER && deferred++ == 0)
				outcome_set(o, "4.1.3", "recipient address not sent: %s", err);
			if (rc == ADDRESS_MALFORMED && bad++ == 0)
				snprintf(first_err, sizeof(first_err), "%s", err);
			env->rcpts[i].addr = "";
			continue;
		}
		if ((env->paths[i] = strdup(path)) == NULL) {
			free(path);
			outcome_set(o, "4.3.0", "out of memory");
			return -1;
		}
		env->rcpts[i].addr = env->paths[i];
		if (utf8)
			env->need_smtputf8 = 1;
	}
	free(path);
	if (bad == 0 && deferred == 0)
		return 0;
	if (bad == env->count) {
		outcome_set(o, "5.1.3", "bad recipient address syntax: %s", first_err);
		return -1;
	}
	if (deferred > 0)
		return -1;
	outcome_set(o, "4.3.5",
	    "bad recipient address syntax (%s) in a batch of %zu recipients; "
	    "set %s_destination_recipient_limit = 1",
	    first_err, env->count, cfg->service_name);
	return -1;
}

static void
envelope_free(struct envelope *env)
{
	for (size_t i = 0; env->paths != NULL && i < env->count; i++)
		free(env->paths[i]);
	free(env->rcpts);
	free(env->paths);
}

/* The destinations to try, in order: smtp(8)'s "sites". */
struct destinations {
	struct nexthop *list;
	size_t count;	/* all of them */
	size_t primary; /* the next-hop's own; list[primary..] are fallback relays */
};

/* smtp_tcp_port as a number: config_load() checked and normalised it. */
static unsigned
default_port(const struct tlsmtp_config *cfg)
{
	unsigned port = 25;

	(void)config_parse_port(cfg->tcp_port, &port);
	return port;
}

/* The -n list, or the recipients' common domain. */
static int
primary_destinations(const struct options *opt, const struct envelope *env, struct destinations *d,
    struct outcome *o)
{
	char err[512], text[NEXTHOP_KEY_MAX + 4];
	const char *domain;
	int n;

	if (opt->nexthop != NULL) {
		if ((n = nexthop_list_parse(opt->nexthop, d->list, DESTINATION_MAX, err,
			 sizeof(err)))
		    < 0) {
			outcome_set(o, "4.3.5",
			    "mail system configuration error: bad next-hop (-n): %s", err);
			return -1;
		}
		if (n == 0) {
			outcome_set(o, "4.3.5",
			    "mail system configuration error: bad next-hop (-n): "
			    "empty next-hop destination");
			return -1;
		}
		d->count = (size_t)n;
		return 0;
	}
	domain = address_domain(env->rcpts[0].addr);
	for (size_t i = 1; i < env->count; i++) {
		if (strcasecmp(domain, address_domain(env->rcpts[i].addr)) != 0) {
			outcome_set(o, "4.3.5",
			    "mail system configuration error: recipients in different "
			    "domains and no next-hop (-n)");
			return -1;
		}
	}
	/* An address literal u@[192.0.2.1] is already next-hop syntax. */
	snprintf(text, sizeof(text), "%s", domain);
	if (nexthop_parse(text, &d->list[0], err, sizeof(err)) != 0) {
		outcome_set(o, "4.3.5", "mail system configuration error: bad recipient domain: %s",
		    err);
		return -1;
	}
	d->count = 1;
	return 0;
}

/*
 * Every destination, fallback relays included, parsed and its port known
 * before anything is sent: a mistake anywhere in the list defers (4.3.5).
 */
static int
choose_destinations(const struct tlsmtp_config *cfg, const struct options *opt,
    const struct envelope *env, struct destinations *d, struct outcome *o)
{
	char err[512];
	struct route_error rerr;
	unsigned port;
	int n;

	memset(d, 0, sizeof(*d));
	if ((d->list = calloc(DESTINATION_MAX, sizeof(*d->list))) == NULL) {
		outcome_set(o, "4.3.0", "out of memory");
		return -1;
	}
	if (primary_destinations(opt, env, d, o) != 0)
		return -1;
	d->primary = d->count;
	if ((n = nexthop_list_parse(cfg->fallback_relay, d->list + d->count,
		 DESTINATION_MAX - d->count, err, sizeof(err)))
	    < 0) {
		outcome_set(o, "4.3.5",
		    "mail system configuration error: bad smtp_fallback_relay: %s", err);
		return -1;
	}
	d->count += (size_t)n;
	for (size_t i = 0; i < d->count; i++) {
		if (route_port(&d->list[i], default_port(cfg), &port, &rerr) != 0) {
			outcome_set(o, "4.3.5",
			    "mail system configuration error: unknown port \"%s\"",
			    d->list[i].has_port ? d->list[i].port : cfg->tcp_port);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Logging the result, one Postfix-style line per recipient.
 */
static void
format_seconds(char *buf, size_t len, int64_t ms)
{
	double s = ms < 0 ? 0 : (double)ms / 1000.0;
	char *p;

	if (s >= 10)
		snprintf(buf, len, "%.0f", s);
	else if (s >= 1)
		snprintf(buf, len, "%.1f", s);
	else
		snprintf(buf, len, "%.2f", s);
	if (strchr(buf, '.') == NULL)
		return;
	p = buf + strlen(buf);
	while (p > buf && p[-1] == '0')
		*--p = '\0';
	if (p > buf && p[-1] == '.')
		p[-1] = '\0';
}

static unsigned log_conn_use; /* Postfix's conn_use=N, shown when N > 1 */

static void
log_delivery(const struct smtp_rcpt *r, const char *relay, const struct timing *t, const char *dsn,
    const char *status, const char *text)
{
	char delay[16], a[16], b[16], c[16], use[32] = "";

	format_seconds(delay, sizeof(delay), t->end - t->start);
	format_seconds(a, sizeof(a), t->input_done - t->start);
	format_seconds(b, sizeof(b), t->route_done - t->input_done);
	format_seconds(c, sizeof(c), t->end - t->route_done);
	if (log_conn_use > 1)
		snprintf(use, sizeof(use), ", conn_use=%u", log_conn_use);
	log_info("to=<%s>, relay=%s%s, delay=%s, delays=%s/%s/%s/0, dsn=%s, status=%s (%s)",
	    r->addr, relay, use, delay, a, b, c, dsn, status, text);
}

/*
 * The batch result from the recipients' states: exit 0 only when every
 * recipient was delivered; a bounce only when none was delivered and every
 * failure is permanent; otherwise defer (Postfix then tries all again).
 */
static void
decide(const struct tlsmtp_config *cfg, struct envelope *env, const struct outcome *attempt,
    const char *summary, struct outcome *final)
{
	size_t done = 0, hard = 0, other = 0;
	const struct smtp_rcpt *first_fail = NULL;

	for (size_t i = 0; i < env->count; i++) {
		const struct smtp_rcpt *r = &env->rcpts[i];

		if (r->state == RCPT_DONE) {
			done++;
			continue;
		}
		if (r->state == RCPT_HARD)
			hard++;
		else
			other++;
		if (first_fail == NULL)
			first_fail = r;
	}
	if (done == env->count) {
		outcome_set(final, "2.0.0", "%s", summary[0] != '\0' ? summary : "delivered");
		return;
	}
	if (done == 0) {
		/* The attempt's own outcome speaks for all (one recipient, or all alike). */
		if (attempt->dsn[0] == '5' && other > 0 && hard > 0) {
			outcome_set(final, "4.3.0", "some recipients deferred, some refused: %s",
			    attempt->text);
			return;
		}
		if (attempt->dsn[0] == '4' || attempt->dsn[0] == '5') {
			*final = *attempt;
			return;
		}
		if (first_fail != NULL && first_fail->dsn[0] != '\0') {
			outcome_set(final,
			    first_fail->state == RCPT_HARD ? first_fail->dsn : "4.3.0", "%s",
			    first_fail->reply);
			return;
		}
		outcome_set(final, "4.3.0", "delivery status unknown");
		return;
	}
	outcome_set(final, "4.3.0",
	    "delivered to %zu of %zu recipients, not to <%s>: %s; the batch is "
	    "deferred and the delivered recipients will receive it again (set "
	    "%s_destination_recipient_limit = 1)",
	    done, env->count, first_fail->addr,
	    first_fail->reply[0] != '\0' ? first_fail->reply : attempt->text, cfg->service_name);
}

/*
 * One line per recipient.  When a refusal held the batch back, each line
 * gives that recipient's own reason (the advice was logged once already).
 */
static void
log_results(const struct envelope *env, const struct outcome *final, const char *relay,
    const struct timing *t, const char *summary, int held_back)
{
	const char *status = final->exit_code == 0   ? "sent"
	    : final->exit_code == TLSMTP_EX_TEMPFAIL ? "deferred"
						     : "bounced";

	for (size_t i = 0; i < env->count; i++) {
		const struct smtp_rcpt *r = &env->rcpts[i];

		if (final->exit_code == 0) {
			log_delivery(r, relay, t, r->dsn[0] == '2' ? r->dsn : "2.0.0", status,
			    summary[0] != '\0' ? summary : "delivered");
		} else if (r->state == RCPT_DONE) {
			log_delivery(r, relay, t, final->dsn, status,
			    "accepted by the server, but deferred with the rest of the batch");
		} else if (final->exit_code != TLSMTP_EX_TEMPFAIL && r->state == RCPT_HARD
		    && r->dsn[0] == '5') {
			log_delivery(r, relay, t, r->dsn, status,
			    r->reply[0] ? r->reply : final->text);
		} else if (held_back && r->reply[0] != '\0') {
			log_delivery(r, relay, t, final->dsn, status, r->reply);
		} else {
			log_delivery(r, relay, t, final->dsn, status, final->text);
		}
	}
}

/* ------------------------------------------------------------------------
 * Delivery.
 */
static void
route_options_from(const struct tlsmtp_config *cfg, unsigned port, int64_t deadline,
    struct route_options *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->port = port;
	ro->mx_address_limit = (unsigned)cfg->mx_address_limit;
	ro->address_preference = strcmp(cfg->address_preference, "ipv4") == 0 ? ROUTE_PREF_IPV4
	    : strcmp(cfg->address_preference, "ipv6") == 0		      ? ROUTE_PREF_IPV6
									      : ROUTE_PREF_ANY;
	ro->randomize = cfg->randomize_addresses;
	ro->myhostname = cfg->myhostname;
	ro->deadline_ms = deadline;
}

/* Where the attempts are recorded: the last outcome and its server. */
struct attempts {
	struct outcome last;
	char summary[SUMMARY_MAX];
	char relay[ROUTE_LABEL_MAX];
	size_t tried; /* index of the last destination tried */
};

/*
 * Try each address of one destination in turn.  The final server (the
 * last address of the last destination, or the one where
 * smtp_mx_session_limit ends it) decides; a soft failure of any other is
 * logged as Postfix does, "QUEUEID: reason", and the next one is tried.
 * smtp_mx_address_limit and smtp_mx_session_limit count per destination.
 */
static enum attempt_status
try_addresses(struct smtp_request *req, const struct route_list *route, int final_destination,
    struct attempts *at)
{
	const struct tlsmtp_config *cfg = req->cfg;
	size_t limit = route->count; /* route.c applied smtp_mx_address_limit */

	req->sessions = 0;
	for (size_t i = 0; i < limit; i++) {
		const struct route_addr *a = &route->addrs[i];
		enum attempt_status st;
		int retry_plain = 0, unused, last;

		if (now_ms() >= req->deadline_ms) {
			/* The last server's reason stands; without one, the deadline's. */
			if (i == 0)
				outcome_set(&at->last, "4.4.2",
				    "delivery deadline exceeded before "
				    "trying %s[%s]",
				    a->host, a->addr);
			return ATTEMPT_TRY_NEXT;
		}
		route_addr_label(a, at->relay, sizeof(at->relay));
		log_verbose("trying %s (%zu of %zu)", at->relay, i + 1, limit);
		st = smtp_attempt(req, a, 0, &at->last, &retry_plain, at->summary,
		    sizeof(at->summary));
		if (st == ATTEMPT_TRY_NEXT && retry_plain) {
			/* "may": after a failed handshake, a new plaintext connection. */
			log_info("%s[%s]: %s; trying again without TLS", a->host, a->addr,
			    at->last.text);
			st = smtp_attempt(req, a, 1, &at->last, &unused, at->summary,
			    sizeof(at->summary));
		}
		if (st == ATTEMPT_SETTLED)
			return ATTEMPT_SETTLED;
		/* As Postfix: no session, no relay (connect failures are 4.4.1). */
		if (strcmp(at->last.dsn, "4.4.1") == 0)
			snprintf(at->relay, sizeof(at->relay), "none");
		last = i + 1 >= limit
		    || (cfg->mx_session_limit > 0
			&& req->sessions >= (unsigned)cfg->mx_session_limit);
		if (last && final_destination)
			return ATTEMPT_TRY_NEXT;
		/* Not the final server: an info line, then the next one. */
		log_info("%s", at->last.text);
		if (last)
			return ATTEMPT_TRY_NEXT;
	}
	return ATTEMPT_TRY_NEXT;
}

/*
 * A connection an earlier delivery left open for this next-hop and
 * policy (conn_cache.h), before any DNS lookup, as smtp(8) looks in its
 * connection cache by destination first.
 */
static enum attempt_status
try_reuse(struct smtp_request *req, struct timing *t, struct attempts *at)
{
	enum attempt_status st;
	int fresh;

	/*
	 * Not yet with SASL credentials or MTA-STS: neither is part of the
	 * reuse key (conn_cache_key_make), so a held connection could be
	 * handed to a delivery that needs AUTH or an STS-verified MX.
	 */
	if (req->cfg->sasl_auth_enable || req->cfg->tls_mta_sts)
		return ATTEMPT_TRY_NEXT;
	st = smtp_attempt_reuse(req, &at->last, at->summary, sizeof(at->summary), at->relay,
	    sizeof(at->relay), &fresh);
	if (fresh)
		return ATTEMPT_TRY_NEXT;
	if (t->route_done == 0)
		t->route_done = now_ms();
	log_conn_use = req->conn_use;
	return st;
}

/* What one destination came to. */
enum destination_result {
	DEST_SETTLED, /* delivered, or refused for good: stop */
	DEST_FAILED,  /* soft, or a lookup failure: the next destination may do */
	DEST_LAST     /* failed, and the loop rule forbids any other destination */
};

/*
 * The MTA-STS policy of a destination, when one applies: *sts_eff is set
 * up for enforce (req->sts then points at it); testing only logs.
 * Returns the policy (malloc'ed) or NULL.
 */
static struct mta_sts_result *
sts_prepare(struct smtp_request *req, struct dns_ctx *dns, const struct nexthop *nh,
    struct tls_effective *sts_eff)
{
	struct mta_sts_result *sts;
	char source[TLS_POLICY_SOURCE_MAX];

	if ((sts = malloc(sizeof(*sts))) == NULL)
		return NULL;
	(void)mta_sts_discover(dns, req->cfg, nh->host, 0, req->deadline_ms, sts);
	if (!sts->active) {
		log_verbose("MTA-STS: no policy applies to %s", nh->host);
		free(sts);
		return NULL;
	}
	log_verbose("MTA-STS policy for %s: mode %s, id %s, %zu mx patterns, %s", sts->domain,
	    sts_mode_name(sts->policy.mode), sts->id, sts->policy.mx_count,
	    sts->from_cache ? "cached" : "fetched");
	if (sts->policy.mode == STS_MODE_ENFORCE) {
		text_cut(source, sizeof(source), "MTA-STS policy %s id %s", sts->domain, sts->id);
		tls_policy_mta_sts(req->cfg, source, sts_eff);
		if (sts_eff->level == TLS_LEVEL_INVALID)
			log_warn("%s: %s", source, sts_eff->invalid_reason);
	}
	return sts;
}

/*
 * One destination: its own TLS policy (the policy key is this destination
 * as written), its own route, then its addresses.
 */
static enum destination_result
try_destination(struct smtp_request *req, struct policy_maps *maps, struct dns_ctx *dns,
    const struct nexthop *nh, int final, struct timing *t, struct attempts *at)
{
	const struct tlsmtp_config *cfg = req->cfg;
	struct tls_effective eff;
	struct route_list route = { NULL, 0, 0, 0 };
	struct route_error rerr;
	struct route_options ro;
	enum destination_result result = DEST_FAILED;
	struct mta_sts_result *sts = NULL;
	struct tls_effective sts_eff;

	snprintf(at->relay, sizeof(at->relay), "none");
	at->summary[0] = '\0';
	memset(&eff, 0, sizeof(eff));
	memset(&sts_eff, 0, sizeof(sts_eff));
	tls_policy_resolve(cfg, maps, nh, &eff);
	if (eff.level == TLS_LEVEL_INVALID) {
		/* tls_policy_resolve() logged why; as Postfix, the next destination may do. */
		outcome_set(&at->last, "4.7.5", "client TLS configuration problem");
		goto out;
	}
	log_verbose("next-hop %s: TLS level %s (%s)", nh->key, tls_level_name(eff.level),
	    eff.source);

	req->nexthop = nh;
	req->tls = &eff;
	if (try_reuse(req, t, at) == ATTEMPT_SETTLED) {
		result = DEST_SETTLED;
		goto out;
	}
	req->nexthop = NULL;
	req->tls = NULL;

	route_options_from(cfg, default_port(cfg), req->deadline_ms, &ro);
	if (route_resolve(dns, nh, &ro, &route, &rerr) != 0) {
		if (t->route_done == 0)
			t->route_done = now_ms();
		if (rerr.warning[0] != '\0')
			log_warn("%s", rerr.warning);
		outcome_set(&at->last, rerr.dsn, "%s", rerr.text);
		result = rerr.self ? DEST_LAST : DEST_FAILED;
		goto out;
	}
	if (t->route_done == 0)
		t->route_done = now_ms();
	if (mta_sts_wanted(cfg, nh, &eff) && (sts = sts_prepare(req, dns, nh, &sts_eff)) != NULL) {
		if (sts->policy.mode == STS_MODE_ENFORCE && sts_eff.level == TLS_LEVEL_INVALID) {
			outcome_set(&at->last, "4.7.5", "client TLS configuration problem");
			goto out;
		}
		if (mta_sts_filter(sts, &route) == 0) {
			outcome_set(&at->last, "4.7.5",
			    "MTA-STS policy for %s: no MX host matches the policy's mx patterns",
			    sts->domain);
			goto out;
		}
		if (sts->policy.mode == STS_MODE_ENFORCE)
			req->sts = &sts_eff;
	}

	req->nexthop = nh;
	req->tls = &eff;
	req->mx_secure = route.mx_secure;
	req->best_pref = route.addrs[0].pref;
	if (try_addresses(req, &route, final || route.self, at) == ATTEMPT_SETTLED)
		result = DEST_SETTLED;
	if (result == DEST_SETTLED && sts != NULL && sts->policy.mode == STS_MODE_TESTING
	    && strstr(at->summary, " Verified)") == NULL)
		/* Section 5: testing delivers; say what enforce would have done. */
		log_info("MTA-STS policy for %s (testing, id %s): %s was not verified TLS for its "
			 "name; enforce would have refused it",
		    sts->domain, sts->id, at->relay);
	else if (route.self)
		result = DEST_LAST;
	if (result != DEST_SETTLED && req->sts != NULL && req->sts_last
	    && strncmp(at->last.dsn, "4.7.", 4) == 0) {
		/* Section 5.1: an enforce failure defers, with the reason. */
		char text[OUTCOME_TEXT_MAX], dsn[OUTCOME_DSN_MAX];
		snprintf(text, sizeof(text), "%s", at->last.text);
		snprintf(dsn, sizeof(dsn), "%s", at->last.dsn);
		outcome_set(&at->last, dsn, "%s (MTA-STS policy of %s: enforce)", text,
		    sts->domain);
	}
out:
	req->nexthop = NULL;
	req->tls = NULL;
	req->sts = NULL;
	/* No server was tried, and the next destination will be: say why here. */
	if (result == DEST_FAILED && !final && route.count == 0)
		log_info("%s", at->last.text);
	route_list_free(&route);
	tls_effective_free(&eff);
	tls_effective_free(&sts_eff);
	free(sts);
	return result;
}

/*
 * Each destination in turn until one settles the delivery (smtp(8)'s
 * loop over the next-hop list and the fallback relays).
 */
static void
try_destinations(struct smtp_request *req, struct policy_maps *maps, struct dns_ctx *dns,
    const struct destinations *d, struct timing *t, struct attempts *at)
{
	enum destination_result r = DEST_FAILED;

	outcome_set(&at->last, "4.4.3", "no address to try");
	for (size_t i = 0; i < d->count; i++) {
		const struct nexthop *nh = &d->list[i];

		if (now_ms() >= req->deadline_ms) {
			/* A soft reason stands; a permanent one must not bounce untried destinations. */
			if (i == 0 || at->last.dsn[0] != '4') {
				outcome_set(&at->last, "4.4.2",
				    "delivery deadline exceeded before "
				    "trying %s",
				    nh->key);
				snprintf(at->relay, sizeof(at->relay), "none");
				at->tried = i;
			}
			return;
		}
		at->tried = i;
		if (d->count > 1)
			log_info("trying %s %s (%zu of %zu)",
			    i < d->primary ? "next-hop" : "fallback relay", nh->key, i + 1,
			    d->count);
		/* The success line names a list's destination when the server's name cannot. */
		req->via = d->count > 1 && nh->kind == NEXTHOP_DOMAIN ? nh->key : NULL;
		if ((r = try_destination(req, maps, dns, nh, i + 1 == d->count, t, at))
		    != DEST_FAILED)
			break;
	}
	/*
	 * As Postfix: a fallback relay that does not resolve (or loops) is a
	 * configuration problem, never a reason to bounce.
	 */
	if (r != DEST_SETTLED && at->tried >= d->primary && at->last.dsn[0] == '5') {
		log_warn("smtp_fallback_relay configuration problem");
		outcome_set(&at->last, "4.3.5", "%s", at->last.text);
	}
}

/* A failure after trying a list: say which destination the reason is from. */
static void
name_destination(struct outcome *o, const struct destinations *d, size_t tried)
{
	char text[sizeof(o->text)], dsn[sizeof(o->dsn)];

	if (d->count < 2 || o->exit_code == TLSMTP_EX_OK)
		return;
	text_cut(text, sizeof(text), "%s (%s %s, %zu of %zu)", o->text,
	    tried < d->primary ? "next-hop" : "fallback relay", d->list[tried].key, tried + 1,
	    d->count);
	memcpy(dsn, o->dsn, sizeof(dsn));
	outcome_set(o, dsn, "%s", text);
}

static int
deliver(struct tlsmtp_config *cfg, const struct options *opt, struct envelope *env,
    struct timing *t, int64_t deadline)
{
	struct outcome o;
	struct destinations dests;
	struct attempts *at;
	struct spool *msg = NULL;
	struct policy_maps *maps = NULL;
	struct socketmap_settings sockmap, secret_sockmap;
	struct policy_map_backend sockmap_type, secret_sockmap_type;
	struct sasl_maps *sasl = NULL;
	struct dns_ctx *dns = NULL;
	struct smtp_request req;
	char err[OUTCOME_TEXT_MAX];
	const char *relay = "none", *summary = "";
	int held_back = 0;

	if ((at = calloc(1, sizeof(*at))) == NULL) {
		outcome_set(&o, "4.3.0", "out of memory");
		memset(&dests, 0, sizeof(dests));
		goto out;
	}
	if (choose_destinations(cfg, opt, env, &dests, &o) != 0)
		goto out;
	stdin_consumed = 1;
	if (spool_read(STDIN_FILENO, &msg, err, sizeof(err)) != 0) {
		log_warn("%s", err);
		outcome_set(&o, "4.3.0", "cannot read the message: %s", err);
		goto out;
	}
	t->input_done = now_ms();

	memset(&sockmap, 0, sizeof(sockmap));
	sockmap.timeout_s = cfg->socketmap_timeout;
	sockmap.max_reply = (size_t)cfg->socketmap_max_reply;
	sockmap.deadline_ms = deadline;
	socketmap_backend(&sockmap, &sockmap_type);
	if (cfg->tls_policy_maps[0] != '\0'
	    && policy_maps_open_with(cfg->tls_policy_maps, &sockmap_type, 1, &maps, err,
		   sizeof(err))
		!= 0) {
		log_warn("smtp_tls_policy_maps: %s", err);
		outcome_set(&o, "4.7.5", "client TLS configuration problem");
		goto out;
	}
	/* smtp_sasl_password_maps: the same map types; socketmap: never quotes a value. */
	secret_sockmap = sockmap;
	secret_sockmap.secret_values = 1;
	socketmap_backend(&secret_sockmap, &secret_sockmap_type);
	if (sasl_maps_open(cfg, &secret_sockmap_type, 1, &sasl, err, sizeof(err)) != 0) {
		log_warn("%s", err);
		outcome_set(&o, "4.3.5", "mail system configuration error: %s", err);
		goto out;
	}
	if (dns_open(&dns, cfg->dns_servers, err, sizeof(err)) != 0) {
		log_warn("dns_servers: %s", err);
		outcome_set(&o, "4.3.5", "mail system configuration error: %s", err);
		goto out;
	}

	memset(&req, 0, sizeof(req));
	req.cfg = cfg;
	req.queue_id = opt->queue_id != NULL ? opt->queue_id : "";
	req.sender = env->sender;
	req.need_smtputf8 = env->need_smtputf8;
	req.rcpts = env->rcpts;
	req.rcpt_count = env->count;
	req.msg = msg;
	req.deadline_ms = deadline;
	req.verbose = opt->verbose;
	req.dns = dns;
	req.sasl = sasl;
	try_destinations(&req, maps, dns, &dests, t, at);
	decide(cfg, env, &at->last, at->summary, &o);
	name_destination(&o, &dests, at->tried);
	relay = at->relay;
	summary = at->summary;
	held_back = req.held_back;
out:
	if (t->input_done == 0)
		t->input_done = now_ms();
	if (t->route_done == 0)
		t->route_done = t->input_done;
	t->end = now_ms();
	log_results(env, &o, relay, t, summary, held_back);
	if (dns != NULL)
		dns_close(dns);
	policy_maps_close(maps);
	sasl_maps_close(sasl);
	spool_free(msg);
	free(dests.list);
	free(at);
	return finish(&o);
}

int
main(int argc, char **argv)
{
	struct options opt;
	struct tlsmtp_config cfg;
	struct envelope env;
	struct outcome o;
	struct timing t;
	char err[1024];
	int64_t deadline;
	int rc;

	memset(&t, 0, sizeof(t));
	t.start = now_ms();
	(void)signal(SIGPIPE, SIG_IGN);

	if (parse_options(argc, argv, &opt, err, sizeof(err)) != 0) {
		log_open(NULL, NULL, 0);
		log_warn("%s", err);
		outcome_set(&o, "4.3.5", "mail system configuration error: %s", err);
		free(opt.overrides);
		return finish(&o);
	}
	if (config_load(&cfg, opt.config_file, opt.overrides, opt.override_count, err, sizeof(err))
	    != 0) {
		log_open(NULL, opt.queue_id, opt.verbose);
		log_warn("%s", err);
		outcome_set(&o, "4.3.5", "mail system configuration error: %s", err);
		free(opt.overrides);
		return finish(&o);
	}
	deadline = t.start + (int64_t)cfg.delivery_deadline * 1000;
	arm_last_resort(cfg.delivery_deadline);
	log_open(cfg.maillog_file, opt.queue_id, opt.verbose);

	if (check_envelope(&cfg, &opt, &env, &o) != 0) {
		t.end = t.input_done = t.route_done = now_ms();
		for (size_t i = 0; i < opt.rcpt_count; i++) {
			struct smtp_rcpt shown;
			char q[300];

			/* Checked, or as given (made printable): nothing was sent. */
			memset(&shown, 0, sizeof(shown));
			shown.addr = env.paths != NULL && env.paths[i] != NULL
			    ? env.paths[i]
			    : outcome_quote_text(opt.rcpts[i], strnlen(opt.rcpts[i], 256), q,
				sizeof(q));
			log_delivery(&shown, "none", &t, o.dsn,
			    o.exit_code == TLSMTP_EX_TEMPFAIL ? "deferred" : "bounced", o.text);
		}
		rc = finish(&o);
	} else {
		rc = deliver(&cfg, &opt, &env, &t, deadline);
	}
	envelope_free(&env);
	config_free(&cfg);
	free(opt.overrides);
	return rc;
}
