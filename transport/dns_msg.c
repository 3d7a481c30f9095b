/*
 * dns_msg.c - bounded reading and writing of DNS messages.
 *
 * Every read checks the remaining length first; names are decoded with a
 * hop limit and backwards-only compression pointers, so a hostile answer
 * can cost at most a linear walk over its own bytes.
 *
 * Interface: dns_msg.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* dns */
#include "dns_msg.h"

#define DNS_MSG_MAX_POINTERS 127 /* more than any honest name needs */

static unsigned
get16(const uint8_t *p)
{
	return ((unsigned)p[0] << 8) | p[1];
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int
hostname_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
	    || c == '-' || c == '_';
}

int
dns_msg_valid_hostname(const char *name)
{
	size_t len = strlen(name);
	size_t label = 0;
	int label_digits = 1;
	const char *p;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (p = name; p < name + len; p++) {
		if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return 0;
			label = 0;
			label_digits = 1;
			continue;
		}
		if (!hostname_char((unsigned char)*p))
			return 0;
		if (*p == '-' && label == 0)
			return 0;
		if (*p < '0' || *p > '9')
			label_digits = 0;
		if (++label > DNS_MSG_LABEL_MAX)
			return 0;
	}
	if (label == 0 || p[-1] == '-' || label_digits)
		return 0;
	return 1;
}

int
dns_msg_build_query(const char *name, unsigned type, unsigned udp_size, uint8_t *buf, size_t cap,
    size_t *outlen)
{
	size_t namelen = strlen(name);
	size_t off = DNS_MSG_HEADER_LEN;
	const char *label;
	const char *dot;

	if (!dns_msg_valid_hostname(name))
		return -1;
	if (name[namelen - 1] == '.')
		namelen--;
	/* header + length octets and labels + root + qtype/qclass + OPT */
	if (cap < DNS_MSG_HEADER_LEN + namelen + 2 + 4 + 11)
		return -1;
	memset(buf, 0, DNS_MSG_HEADER_LEN);
	buf[2] = 0x01;	    /* RD */
	buf[3] = 0x20;	    /* AD: tell us what the resolver validated */
	put16(buf + 4, 1);  /* QDCOUNT */
	put16(buf + 10, 1); /* ARCOUNT: the OPT record */
	for (label = name; label < name + namelen; label = dot + 1) {
		dot = memchr(label, '.', (size_t)(name + namelen - label));
		if (dot == NULL)
			dot = name + namelen;
		buf[off++] = (uint8_t)(dot - label);
		memcpy(buf + off, label, (size_t)(dot - label));
		off += (size_t)(dot - label);
	}
	buf[off++] = 0;
	put16(buf + off, type);
	put16(buf + off + 2, DNS_CLASS_IN);
	off += 4;
	/* OPT: root owner, type 41, class = UDP payload size, TTL = ext. flags */
	buf[off++] = 0;
	put16(buf + off, DNS_TYPE_OPT);
	put16(buf + off + 2, udp_size);
	buf[off + 4] = 0;    /* extended RCODE */
	buf[off + 5] = 0;    /* version */
	buf[off + 6] = 0x80; /* DO */
	buf[off + 7] = 0;
	put16(buf + off + 8, 0); /* RDLENGTH */
	off += 10;
	*outlen = off;
	return 0;
}

int
dns_msg_read_header(const uint8_t *msg, size_t len, struct dns_msg_header *h)
{
	if (len < DNS_MSG_HEADER_LEN)
		return -1;
	h->id = get16(msg);
	h->qr = (msg[2] >> 7) & 1;
	h->opcode = (msg[2] >> 3) & 0x0f;
	h->aa = (msg[2] >> 2) & 1;
	h->tc = (msg[2] >> 1) & 1;
	h->rd = msg[2] & 1;
	h->ra = (msg[3] >> 7) & 1;
	h->ad = (msg[3] >> 5) & 1;
	h->cd = (msg[3] >> 4) & 1;
	h->rcode = msg[3] & 0x0f;
	h->qdcount = get16(msg + 4);
	h->ancount = get16(msg + 6);
	h->nscount = get16(msg + 8);
	h->arcount = get16(msg + 10);
	return 0;
}

/* Append one label to text as escaped text; -1 when it does not fit. */
static int
append_label(char *text, size_t cap, size_t *used, const uint8_t *label, size_t n)
{
	size_t i;

	if (*used > 0) {
		if (*used + 1 >= cap)
			return -1;
		text[(*used)++] = '.';
	}
	for (i = 0; i < n; i++) {
		if (hostname_char(label[i])) {
			if (*used + 1 >= cap)
				return -1;
			text[(*used)++] = (char)label[i];
		} else {
			if (*used + 4 >= cap)
				return -1;
			snprintf(text + *used, 5, "\\%03u", (unsigned)label[i]);
			*used += 4;
		}
	}
	text[*used] = 0;
	return 0;
}

int
dns_msg_read_name(const uint8_t *msg, size_t len, size_t *off, char *text, size_t cap)
{
	size_t pos = *off;
	size_t after = 0; /* where the name ends in place; 0 = not yet known */
	size_t wire = 1;  /* the root label's length octet */
	size_t used = 0;
	size_t label_start;
	unsigned pointers = 0;
	unsigned n;

	if (cap == 0)
		return -1;
	text[0] = 0;
	for (;;) {
		if (pos >= len)
			return -1;
		n = msg[pos];
		label_start = pos;
		if ((n & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len || ++pointers > DNS_MSG_MAX_POINTERS)
				return -1;
			target = ((size_t)(n & 0x3f) << 8) | msg[pos + 1];
			/* Strictly backwards: no loops, no forward references. */
			if (target >= label_start)
				return -1;
			if (after == 0)
				after = pos + 2;
			pos = target;
			continue;
		}
		if ((n & 0xc0) != 0)
			return -1; /* 0x40, 0x80: reserved/obsolete label types */
		if (n == 0) {
			if (after == 0)
				after = pos + 1;
			break;
		}
		if (pos + 1 + n > len)
			return -1;
		wire += 1 + n;
		if (wire > DNS_MSG_WIRE_NAME_MAX)
			return -1;
		if (append_label(text, cap, &used, msg + pos + 1, n) != 0)
			return -1;
		pos += 1 + n;
	}
	*off = after;
	return 0;
}

int
dns_msg_begin(struct dns_msg_iter *it, const uint8_t *msg, size_t len, struct dns_msg_header *h,
    char *qname, unsigned *qtype, unsigned *qclass)
{
	size_t off = DNS_MSG_HEADER_LEN;

	if (dns_msg_read_header(msg, len, h) != 0 || h->qdcount != 1)
		return -1;
	if (dns_msg_read_name(msg, len, &off, qname, DNS_MSG_NAME_TEXT_MAX) != 0)
		return -1;
	if (off + 4 > len)
		return -1;
	*qtype = get16(msg + off);
	*qclass = get16(msg + off + 2);
	off += 4;
	it->msg = msg;
	it->len = len;
	it->off = off;
	it->left = h->ancount;
	return 0;
}

int
dns_msg_next(struct dns_msg_iter *it, struct dns_msg_rr *rr)
{
	size_t off = it->off;

	if (it->left == 0)
		return 0;
	if (dns_msg_read_name(it->msg, it->len, &off, rr->owner, sizeof(rr->owner)) != 0)
		return -1;
	if (off + 10 > it->len)
		return -1;
	rr->type = get16(it->msg + off);
	rr->rclass = get16(it->msg + off + 2);
	rr->ttl = get32(it->msg + off + 4);
	rr->rdlen = get16(it->msg + off + 8);
	rr->rdata = off + 10;
	if (rr->rdlen > it->len - rr->rdata)
		return -1;
	it->off = rr->rdata + rr->rdlen;
	it->left--;
	return 1;
}

int
dns_msg_rdata_mx(const struct dns_msg_iter *it, const struct dns_msg_rr *rr, unsigned *pref,
    char *target)
{
	size_t off = rr->rdata + 2;

	if (rr->rdlen < 3)
		return -1;
	*pref = get16(it->msg + rr->rdata);
	/* The exchange may point back into the message, but its in-place part
	 * must end exactly where the RDATA does. */
	if (dns_msg_read_name(it->msg, rr->rdata + rr->rdlen, &off, target, DNS_MSG_NAME_TEXT_MAX)
	    != 0)
		return -1;
	if (off != rr->rdata + rr->rdlen)
		return -1;
	return 0;
}

/*
 * One link: the target of the CNAME owned by owner, if the answer has one.
 * Returns 1 with target filled, 0 when there is none, -1 when malformed.
 */
static int
cname_target(const uint8_t *msg, size_t len, const char *owner, char *target)
{
	struct dns_msg_iter it;
	struct dns_msg_header h;
	struct dns_msg_rr rr;
	char q[DNS_MSG_NAME_TEXT_MAX];
	unsigned qtype, qclass;
	size_t off;
	int r;

	if (dns_msg_begin(&it, msg, len, &h, q, &qtype, &qclass) != 0)
		return -1;
	while ((r = dns_msg_next(&it, &rr)) == 1) {
		if (rr.type != DNS_TYPE_CNAME || rr.rclass != DNS_CLASS_IN
		    || strcasecmp(rr.owner, owner) != 0)
			continue;
		off = rr.rdata;
		if (dns_msg_read_name(msg, rr.rdata + rr.rdlen, &off, target, DNS_MSG_NAME_TEXT_MAX)
			!= 0
		    || off != rr.rdata + rr.rdlen)
			return -1;
		return 1;
	}
	return r;
}

int
dns_msg_follow_cnames(const uint8_t *msg, size_t len, const char *name, unsigned max_links,
    char *owner, size_t ownerlen)
{
	char target[DNS_MSG_NAME_TEXT_MAX];
	unsigned link;
	int r;

	if (snprintf(owner, ownerlen, "%s", name) >= (int)ownerlen)
		return -1;
	for (link = 0; link < max_links; link++) {
		if ((r = cname_target(msg, len, owner, target)) <= 0)
			return r;
		if (snprintf(owner, ownerlen, "%s", target) >= (int)ownerlen)
			return -1;
	}
	return 0;
}
