#include <arpa/inet.h>
#include <string.h>
#include "om_nl.h"

void *om_nl_put(struct om_nlmsg *m, const void *p, size_t n)
{
	void *at = m->buf + m->len;
	size_t pad = NLMSG_ALIGN(n);

	if (m->overflow || m->len + pad > sizeof(m->buf)) {
		m->overflow = true;
		return NULL;
	}
	memset(at, 0, pad);
	if (p)
		memcpy(at, p, n);
	m->len += pad;
	((struct nlmsghdr *)(void *)(m->buf + m->cur))->nlmsg_len = (uint32_t)(m->len - m->cur);
	return at;
}

void om_nl_begin(struct om_nlmsg *m, uint16_t type, uint16_t flags, const void *hdr, size_t hlen)
{
	struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags),
			      .nlmsg_seq = ++m->seq };

	m->cur = m->len;
	om_nl_put(m, &h, sizeof(h));
	if (hlen)
		om_nl_put(m, hdr, hlen);
	m->nmsg++;
}

void om_nl_attr(struct om_nlmsg *m, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };

	if (NLA_HDRLEN + n > 0xffff) {
		m->overflow = true;
		return;
	}
	om_nl_put(m, &a, sizeof(a));
	/* om_nl_put pads to 4 bytes; the attribute's own length stays unpadded. */
	om_nl_put(m, p, n);
}

void om_nl_attr_str(struct om_nlmsg *m, uint16_t type, const char *s)
{
	om_nl_attr(m, type, s, strlen(s) + 1);
}

void om_nl_attr_be32(struct om_nlmsg *m, uint16_t type, uint32_t v)
{
	v = htonl(v);
	om_nl_attr(m, type, &v, 4);
}

size_t om_nl_nest(struct om_nlmsg *m, uint16_t type)
{
	size_t at = m->len;
	struct nlattr a = { .nla_len = NLA_HDRLEN, .nla_type = (uint16_t)(type | NLA_F_NESTED) };

	om_nl_put(m, &a, sizeof(a));
	return at;
}

void om_nl_nest_end(struct om_nlmsg *m, size_t at)
{
	if (!m->overflow)
		((struct nlattr *)(void *)(m->buf + at))->nla_len = (uint16_t)(m->len - at);
}

void om_nl_each_attr(const void *p, size_t len, void (*fn)(const struct nlattr *, void *), void *arg)
{
	const uint8_t *b = p;

	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)b;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return;
		fn(a, arg);
		if ((size_t)NLA_ALIGN(a->nla_len) >= len)
			return;
		len -= (size_t)NLA_ALIGN(a->nla_len);
		b += NLA_ALIGN(a->nla_len);
	}
}
