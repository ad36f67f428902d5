/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Includes and small definitions every Trestle BPF program needs. */
#ifndef TR_BPF_COMMON_H
#define TR_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <trestle/abi.h>
#include <trestle/maps.h>
#include <trestle/reasons.h>

#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif
#ifndef EPERM
#define EPERM 1
#endif

/* cgroup sock_addr verdicts */
#define SYS_REJECT 0
#define SYS_PROCEED 1

#endif /* TR_BPF_COMMON_H */
