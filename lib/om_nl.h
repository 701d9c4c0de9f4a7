/* Netlink messages, built in one buffer: several requests may be batched (nf_tables
 * commits a batch whole or not at all). libc only: the guest's helper
 * (initramfs/omerta-guest, musl) and the host's tools share it. */
#ifndef OM_NL_H
#define OM_NL_H
#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct om_nlmsg {
	uint8_t buf[8192] __attribute__((aligned(4)));
	size_t len, cur;  /* cur: offset of the message being built */
	uint32_t seq, nmsg;
	bool overflow;    /* something did not fit: the batch must not be sent */
};

/* Appends n bytes (p, or zeros when p is NULL) padded to 4, and grows the current
 * message's length. Returns where they went, or NULL (overflow set) when full. */
void *om_nl_put(struct om_nlmsg *m, const void *p, size_t n);
/* Starts a message of type with NLM_F_REQUEST | flags, the next sequence number,
 * and a family header of hlen bytes. */
void om_nl_begin(struct om_nlmsg *m, uint16_t type, uint16_t flags, const void *hdr, size_t hlen);
void om_nl_attr(struct om_nlmsg *m, uint16_t type, const void *p, size_t n);
void om_nl_attr_str(struct om_nlmsg *m, uint16_t type, const char *s);
void om_nl_attr_be32(struct om_nlmsg *m, uint16_t type, uint32_t v);
/* A nested attribute: om_nl_nest returns its offset for om_nl_nest_end. */
size_t om_nl_nest(struct om_nlmsg *m, uint16_t type);
void om_nl_nest_end(struct om_nlmsg *m, size_t at);

/* Calls fn for each well-formed attribute in [p, p+len); stops at the first that
 * is not (a length below the header or past the end). */
void om_nl_each_attr(const void *p, size_t len, void (*fn)(const struct nlattr *, void *), void *arg);

static inline const void *om_nla_data(const struct nlattr *a)
{
	return (const uint8_t *)a + NLA_HDRLEN;
}

static inline size_t om_nla_len(const struct nlattr *a)
{
	return a->nla_len - NLA_HDRLEN;
}

static inline uint16_t om_nla_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

#endif
