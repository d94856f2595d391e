/*
 * homa_uapi.h — the calling conventions of native Homa sockets, as HomaModule's homa.h
 * defines them (commit 9edb958; docs/HOMA.md "Native Homa sockets"): the subset libmtp.so
 * serves. Written from that ABI (sizes and field order must match), not copied. Applications
 * built against HomaModule's homa.h run unchanged; mtp's own tests include this file.
 */
#ifndef MTP_HOMA_UAPI_H
#define MTP_HOMA_UAPI_H

#include <stdint.h>

#ifndef IPPROTO_HOMA
#define IPPROTO_HOMA 146
#endif
#define HOMA_MAX_MESSAGE_LENGTH 1000000
#define HOMA_BPAGE_SHIFT 16
#define HOMA_BPAGE_SIZE (1 << HOMA_BPAGE_SHIFT)
#define HOMA_MAX_BPAGES ((HOMA_MAX_MESSAGE_LENGTH + HOMA_BPAGE_SIZE - 1) >> HOMA_BPAGE_SHIFT)

/* sendmsg: msg_control points to this (a plain pointer, not control messages) */
struct homa_sendmsg_args {
    uint64_t id;                /* in 0: a new request (out: its id); else: answer this request */
    uint64_t completion_cookie; /* requests: recvmsg returns it with the response */
    uint32_t flags;             /* HOMA_SENDMSG_PRIVATE */
    uint32_t reserved;
};
#define HOMA_SENDMSG_PRIVATE 0x01

/* recvmsg: msg_control points to this; the message is in the buffer region */
struct homa_recvmsg_args {
    uint64_t id;                /* in: 0 any, or a private RPC's id; out: the RPC's id */
    uint64_t completion_cookie; /* out: a response's cookie */
    uint32_t num_bpages;        /* in: bpages handed back; out: the message's */
    uint32_t reserved;
    uint32_t bpage_offsets[HOMA_MAX_BPAGES];
};

/* setsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &struct homa_rcvbuf_args, sizeof) */
#define SO_HOMA_RCVBUF 10
#define SO_HOMA_SERVER 11
struct homa_rcvbuf_args {
    uint64_t start;             /* the region's address (page aligned) */
    uint64_t length;            /* its size in bytes */
};

#endif
