/*
 * pcap.h — MTP_PCAP: a capture file of every frame the stack sends and receives (internal).
 * Classic pcap, nanosecond timestamps (the stack's `now`), link type Ethernet.
 */
#ifndef MTP_PCAP_H
#define MTP_PCAP_H

#include <stdint.h>

struct mtp_pcap;

struct mtp_pcap *mtp__pcap_open(const char *path, int *err);
void mtp__pcap_write(struct mtp_pcap *p, const uint8_t *frame, uint32_t len, uint64_t now_ns);
void mtp__pcap_flush(struct mtp_pcap *p);
void mtp__pcap_close(struct mtp_pcap *p);

#endif
