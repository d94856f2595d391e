/*
 * pcap.c — writes the classic pcap format by hand: a 24-byte file header, then per frame a
 * 16-byte record header and the bytes. Native byte order (readers detect it by the magic).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "pcap.h"

#define PCAP_MAGIC_NS 0xa1b23c4du /* nanosecond-resolution timestamps */
#define PCAP_SNAPLEN 65535u
#define PCAP_LINKTYPE_ETHERNET 1u

struct mtp_pcap {
    FILE *f;
};

struct pcap_file_hdr {
    uint32_t magic;
    uint16_t major, minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
};

struct pcap_rec_hdr {
    uint32_t ts_sec, ts_nsec, incl_len, orig_len;
};

struct mtp_pcap *mtp__pcap_open(const char *path, int *err)
{
    struct mtp_pcap *p = calloc(1, sizeof *p);
    if (!p) {
        *err = -ENOMEM;
        return NULL;
    }
    p->f = fopen(path, "wb");
    if (!p->f) {
        *err = -errno;
        free(p);
        return NULL;
    }
    struct pcap_file_hdr h = { PCAP_MAGIC_NS, 2, 4, 0, 0, PCAP_SNAPLEN, PCAP_LINKTYPE_ETHERNET };
    if (fwrite(&h, sizeof h, 1, p->f) != 1) {
        *err = -EIO;
        fclose(p->f);
        free(p);
        return NULL;
    }
    return p;
}

void mtp__pcap_write(struct mtp_pcap *p, const uint8_t *frame, uint32_t len, uint64_t now_ns)
{
    uint32_t incl = len < PCAP_SNAPLEN ? len : PCAP_SNAPLEN;
    struct pcap_rec_hdr r = { (uint32_t)(now_ns / 1000000000u), (uint32_t)(now_ns % 1000000000u),
                              incl, len };
    /* A full disk loses capture records, never packets: errors are ignored here. */
    if (fwrite(&r, sizeof r, 1, p->f) == 1)
        (void)!fwrite(frame, 1, incl, p->f);
}

void mtp__pcap_flush(struct mtp_pcap *p) { fflush(p->f); }

void mtp__pcap_close(struct mtp_pcap *p)
{
    if (!p)
        return;
    fclose(p->f);
    free(p);
}
