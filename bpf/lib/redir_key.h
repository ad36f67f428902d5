/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The redirection key of a socket and of its peer (include/trestle/redir.h).
 * Plain C on plain integers, so the unit tests compile it as it is
 * (tests/unit/test_redir_key.c): the two ends of a connection must compute
 * each other's key exactly, whatever their socket families.
 */
#ifndef TR_BPF_REDIR_KEY_H
#define TR_BPF_REDIR_KEY_H

#include <trestle/abi.h>
#include <trestle/redir.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* ::ffff:0:0/96 in network order, compared word by word */
#define TR_V4MAPPED_W2 0xffff0000u /* bpf_htonl(0x0000ffff) on little endian */

static __always_inline int redir_v4mapped(const __u32 *a, __u32 ffff_be)
{
	return a[0] == 0 && a[1] == 0 && a[2] == ffff_be;
}

/*
 * Fill *k for one socket: family AF_INET or AF_INET6 (the socket's), its
 * addresses (lip4/rip4 for AF_INET, lip6/rip6 for AF_INET6, network order)
 * and ports (network order). peer != 0 builds the key the other end files
 * itself under: local and remote swapped. ffff_be is htonl(0xffff) (the
 * caller's byte order). Returns 0, or -1 for a family that is neither.
 */
static __always_inline int redir_key_fill(struct tr_redir_key *k, __u32 family,
					  __u32 lip4, __u32 rip4,
					  const __u32 *lip6, const __u32 *rip6,
					  __u16 lport, __u16 rport, int peer,
					  __u32 ffff_be)
{
	__u32 *mine = peer ? k->raddr : k->laddr;
	__u32 *theirs = peer ? k->laddr : k->raddr;

	__builtin_memset(k, 0, sizeof(*k));
	if (family == TR_AF_INET6 && redir_v4mapped(lip6, ffff_be) &&
	    redir_v4mapped(rip6, ffff_be)) {
		family = TR_AF_INET;
		lip4 = lip6[3];
		rip4 = rip6[3];
	}
	if (family == TR_AF_INET) {
		mine[0] = lip4;
		theirs[0] = rip4;
	} else if (family == TR_AF_INET6) {
		for (int i = 0; i < 4; i++) {
			mine[i] = lip6[i];
			theirs[i] = rip6[i];
		}
	} else {
		return -1;
	}
	k->family = (__u8)family;
	k->lport = peer ? rport : lport;
	k->rport = peer ? lport : rport;
	return 0;
}

#endif /* TR_BPF_REDIR_KEY_H */
