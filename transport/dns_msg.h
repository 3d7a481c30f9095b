/*
 * dns_msg.h - bounded reading and writing of DNS messages (RFC 1035).
 *
 * c-ares sends our queries and matches the answers; everything we take out
 * of an answer goes through these helpers, which never read past the
 * message, refuse compression loops and over-long names, and turn names
 * into printable text.  Pure functions: no sockets, no allocation.
 *
 * Interface:
 *   dns_msg_build_query()    one question, RD and AD set, EDNS0 OPT with DO
 *   dns_msg_read_header()    id, flags (TC, AD, RCODE ...) and counts
 *   dns_msg_read_name()      a possibly compressed name as escaped text
 *   dns_msg_begin()          header and question; positions at the answers
 *   dns_msg_next()           the next answer record (owner, type, rdata)
 *   dns_msg_rdata_mx()       preference and exchange of an MX record
 *   dns_msg_follow_cnames()  the end of a CNAME chain inside one answer
 *   dns_msg_valid_hostname() is this text a host name we may use in SMTP,
 *                            SNI and logs?
 */
#ifndef TLSMTP_DNS_MSG_H
#define TLSMTP_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_HEADER_LEN    12
#define DNS_MSG_WIRE_NAME_MAX 255 /* RFC 1035 2.3.4, length octets included */
#define DNS_MSG_LABEL_MAX     63
/* Text of the longest wire name when every byte is escaped as \DDD. */
#define DNS_MSG_NAME_TEXT_MAX 1024
#define DNS_MSG_QUERY_MAX     (DNS_MSG_HEADER_LEN + DNS_MSG_WIRE_NAME_MAX + 4 + 11)

#define DNS_TYPE_A     1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_MX    15
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_OPT   41
#define DNS_TYPE_TLSA  52
#define DNS_CLASS_IN   1

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP   4
#define DNS_RCODE_REFUSED  5

struct dns_msg_header {
	unsigned id;
	unsigned qr, opcode, aa, tc, rd, ra, ad, cd, rcode;
	unsigned qdcount, ancount, nscount, arcount;
};

struct dns_msg_rr {
	char owner[DNS_MSG_NAME_TEXT_MAX]; /* escaped text, no trailing dot */
	unsigned type;
	unsigned rclass;
	uint32_t ttl;
	size_t rdata; /* offset of the RDATA in the message */
	size_t rdlen;
};

/* Walks the answer section of one message. */
struct dns_msg_iter {
	const uint8_t *msg;
	size_t len;
	size_t off;
	unsigned left; /* answer records not yet read */
};

/*
 * Build a query for name (host name syntax, optional trailing dot) and
 * type: ID 0 (c-ares assigns its own), RD and AD set (RFC 6840 5.7), one
 * OPT record advertising udp_size with the DO bit.  Returns 0 and the
 * length in *outlen, or -1 for a name that is not a valid host name or a
 * buffer that is too small.
 */
int dns_msg_build_query(const char *name, unsigned type, unsigned udp_size, uint8_t *buf,
    size_t cap, size_t *outlen);

/* Returns 0, or -1 when the message is shorter than a header. */
int dns_msg_read_header(const uint8_t *msg, size_t len, struct dns_msg_header *h);

/*
 * Read the name at *off.  The text has labels joined by '.', no trailing
 * dot, "" for the root; bytes other than letters, digits, '-' and '_' are
 * written as \DDD so that the text is printable and unambiguous.  Returns 0
 * and moves *off past the name as stored at *off, or -1 when the name runs
 * past the message, uses a reserved label type, has a label over 63 or a
 * wire length over 255 bytes, follows a pointer that does not point
 * strictly backwards (this also rules out loops), or does not fit in cap.
 */
int dns_msg_read_name(const uint8_t *msg, size_t len, size_t *off, char *text, size_t cap);

/*
 * Read the header and the question (exactly one is required).  qname must
 * hold DNS_MSG_NAME_TEXT_MAX bytes.  Returns 0, or -1 when malformed.
 */
int dns_msg_begin(struct dns_msg_iter *it, const uint8_t *msg, size_t len, struct dns_msg_header *h,
    char *qname, unsigned *qtype, unsigned *qclass);

/* Returns 1 with the next answer record, 0 after the last, -1 when malformed. */
int dns_msg_next(struct dns_msg_iter *it, struct dns_msg_rr *rr);

/*
 * RDATA of an MX record: the exchange must end exactly at the end of the
 * RDATA.  target must hold DNS_MSG_NAME_TEXT_MAX bytes; "" is the null MX.
 * Returns 0, or -1 when malformed.
 */
int dns_msg_rdata_mx(const struct dns_msg_iter *it, const struct dns_msg_rr *rr, unsigned *pref,
    char *target);

/*
 * Follow the CNAME chain that starts at name inside the answer section of
 * msg, at most max_links links.  Owners are compared case-insensitively and
 * exactly otherwise (answer names carry no trailing dot).  owner receives the
 * last name reached (name itself when there is no CNAME for it).  Returns 0,
 * or -1 when the message or a CNAME record is malformed (its target must end
 * exactly at the end of its RDATA) or a name does not fit in ownerlen bytes.
 */
int dns_msg_follow_cnames(const uint8_t *msg, size_t len, const char *name, unsigned max_links,
    char *owner, size_t ownerlen);

/*
 * 1 when name is a host name: 1..253 characters, labels of 1..63 letters,
 * digits, '-' or '_' not starting or ending with '-', a top-level label
 * that is not all digits; one trailing dot allowed.  0 otherwise.
 */
int dns_msg_valid_hostname(const char *name);

#endif
