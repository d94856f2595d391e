/*
 * shim_homa.h — native Homa sockets (socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA)) in the Homa
 * shim, for libmtp.so: HomaModule's sendmsg/recvmsg conventions (homa_uapi.h) over
 * homa.mtp's RPCs. Only libmtp_sock.c's native-socket code and shim_homa.c include it.
 */
#ifndef MTP_SHIM_HOMA_H
#define MTP_SHIM_HOMA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "homa_uapi.h"
#include "sock.h"

/* Turns a listener of the Homa shim (mtp_sock_listen on the socket's port) into a native
 * socket: it takes requests on its port and sends requests from it. 0 or -ENOMEM. */
int mtp_homa_native_open(struct mtp_sock *sk);
/* 1: sk is a native socket. */
int mtp_homa_native_is(struct mtp_sock *sk);
/* SO_HOMA_RCVBUF: where incoming messages are written, in HOMA_BPAGE_SIZE pages. */
int mtp_homa_native_region(struct mtp_sock *sk, void *start, size_t len);
/* A request (a->id == 0: a->id gets the new RPC's id) or the response to request a->id, to
 * ip:port (host order). 0, or -EINVAL, -EMSGSIZE, -ENOMEM, -ENOTCONN (no such request). */
int mtp_homa_native_send(struct mtp_sock *sk, uint32_t ip, uint16_t port,
                         struct homa_sendmsg_args *a, const void *buf, size_t len, uint64_t now_ns);
/* The next complete message (a->id == 0) or that of RPC a->id, written to the region; a's
 * bpages are first handed back. The message's length, -EAGAIN (none yet), -EINVAL (no
 * region), -ENOMEM (no free bpages), or the RPC's failure (-ETIMEDOUT, a->id set). */
ssize_t mtp_homa_native_recv(struct mtp_sock *sk, struct homa_recvmsg_args *a, uint32_t *ip,
                             uint16_t *port);

#endif
