/* SPDX-License-Identifier: Apache-2.0 */
/* trace_signal's records: what signal.bpf.c puts in the ring buffer. User space
 * reads their layout from the object's BTF (src/traces/signal/index.ts names the
 * members); the program's RECORD_TYPE puts each struct there. */
#ifndef EBPF_FORWARD_SIGNAL_H
#define EBPF_FORWARD_SIGNAL_H

#include "events.h"

struct signal_event {
	struct event_header hdr;
	__s32 sig;
	__u32 tpid;      /* receiving pid (kill) or tid (tkill/tgkill); 0 for a group */
	__s32 error_raw; /* positive errno, 0 on success */
	__s32 target;    /* the pid argument as passed (negative: a process group) */
};

#endif
