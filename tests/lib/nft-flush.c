/* nft-flush: what a root workload that means to escape brings into the guest. It
 * deletes every nf_tables table, as "nft flush ruleset" does, with one netlink
 * batch. The guest's image holds no nft (omerta-guest loads the kill switch over
 * netlink), so the tests' attackers carry this instead, base64 in their script
 * (tests/lib/nft-flush.sh). Freestanding: no libc, a few hundred bytes, so that the
 * script stays small. Exit 0 when the kernel acknowledged the deletion, 1 if not. */
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#define AF_UNSPEC 0
#define AF_NETLINK 16

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}

struct msg {
	struct nlmsghdr h;
	struct nfgenmsg g;
};

int flush_main(void);
int flush_main(void)
{
	/* begin, delete every table of every family (no name, family unspec), end */
	const unsigned short subsys = __builtin_bswap16(NFNL_SUBSYS_NFTABLES);
	struct msg m[3] = {
		{ .h = { sizeof(struct msg), NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, 0 },
		  .g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = subsys } },
		{ .h = { sizeof(struct msg), (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELTABLE,
			 NLM_F_REQUEST | NLM_F_ACK, 2, 0 },
		  .g = { .nfgen_family = NFPROTO_UNSPEC, .version = NFNETLINK_V0 } },
		{ .h = { sizeof(struct msg), NFNL_MSG_BATCH_END, NLM_F_REQUEST, 3, 0 },
		  .g = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = subsys } },
	};
	struct {
		struct nlmsghdr h;
		struct nlmsgerr e;
	} ack;
	struct sockaddr_nl {
		unsigned short family, pad;
		unsigned pid, groups;
	} kernel = { AF_NETLINK, 0, 0, 0 };
	long fd = sys(41 /* socket */, AF_NETLINK, 3 /* SOCK_RAW */, NETLINK_NETFILTER, 0, 0, 0);

	if (fd < 0)
		return 1;
	if (sys(44 /* sendto */, fd, (long)m, sizeof(m), 0, (long)&kernel, sizeof(kernel)) != sizeof(m))
		return 1;
	for (;;) {
		long n = sys(45 /* recvfrom */, fd, (long)&ack, sizeof(ack), 0, 0, 0);
		if (n < (long)sizeof(ack))
			return 1;
		/* Refused (no CAP_NET_ADMIN) acks the batch's begin; success acks the
		 * deletion itself. */
		if (ack.h.nlmsg_type == NLMSG_ERROR && (ack.e.error || ack.h.nlmsg_seq == 2))
			return ack.e.error != 0;
	}
}

/* The stack is 16-byte aligned at the entry point; main's callers expect it 8 off. */
__asm__(".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call flush_main\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n" /* exit_group */
	"	syscall\n");
