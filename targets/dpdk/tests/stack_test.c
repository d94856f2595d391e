/*
 * stack_test — an mtp stack on the DPDK target against the Linux kernel.
 *
 *   stack_test <iface or -> <our-ip> <peer-ip> <echoes> <timeout-s> [<linger-ms>]
 *   (EAL arguments from MTP_DPDK_ARGS)
 *
 * The stack runs a tiny hand-built program ("probe", a test fixture, not an .mtp program):
 * IPv4 protocol 17, one app event `send` whose processor generates an 8-byte header-only
 * datagram from port 7777 to <peer-ip>:7777 (checksum left to the stack), one net event
 * `recv` raised by the parser for datagrams to port 7777, whose processor notifies the test.
 *
 * The test posts `send` every 500 ms until a `recv` arrives: the stack has to resolve the
 * kernel's MAC by ARP to send, and the kernel (run_stack.sh) answers every datagram with one
 * of its own. Meanwhile the kernel pings us: ARP for our address and ICMP echo are the
 * stack's own work. Exits 0 when a datagram came back and <echoes> echo requests were
 * answered (the stack's counters), 1 on timeout. With <linger-ms> it keeps serving (and
 * sending) that long after success, for a peer that is another stack (run_stack_memif.sh).
 */
#include <stddef.h>
#include <time.h>
#include <unistd.h>

#include "frames.h"
#include "mtp/stack.h"

#define PROBE_PORT 7777
#define NOTE_RECV  256

enum { EV_SEND, EV_RECV };

struct probe_bp {
    uint16_t sport, dport;
};

static uint32_t probe_peer_ip;

static uint32_t probe_hdr_len(const void *bp)
{
    (void)bp;
    return 8;
}

static void probe_write_hdr(const void *bp, uint8_t *dst, uint32_t payload_len)
{
    const struct probe_bp *p = bp;
    wr16(dst, p->sport);
    wr16(dst + 2, p->dport);
    wr16(dst + 4, (uint16_t)(8 + payload_len));
    wr16(dst + 6, 0);
}

static int probe_parse(const struct mtp_rx_pkt *pkt, struct mtp_evsink *out)
{
    if (pkt->l4_len < 8)
        return MTP_PARSE_MALFORMED;
    if (rd16(pkt->l4 + 2) != PROBE_PORT)
        return MTP_PARSE_OK;
    uint32_t len = pkt->l4_len - 8;
    struct mtp_key key;
    memset(&key, 0, sizeof(key));
    mtp_evsink_push(out, EV_RECV, &len, sizeof(len), &key);
    return MTP_PARSE_OK;
}

static int probe_dispatch(struct mtp_exec *x, uint16_t type, const void *ev, void *ctx,
                          void *sp, int use_else)
{
    (void)ctx, (void)sp, (void)use_else;
    if (type == EV_SEND) {
        struct probe_bp bp = { .sport = PROBE_PORT, .dport = PROBE_PORT };
        uint32_t off = mtp_ibuf_copy(x->out, &bp, sizeof(bp));
        struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_PKT_GEN);
        if (!i || off == UINT32_MAX)
            return 1;
        i->arena_off = off;
        i->u.gen.bp = 0;
        i->u.gen.srule = MTP_NONE;
        i->u.gen.dst_ip = probe_peer_ip;
        return 1;
    }
    if (type == EV_RECV) {
        uint32_t len;
        memcpy(&len, ev, sizeof(len));
        struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_NOTIFY);
        if (!i)
            return 1;
        i->u.note.code = NOTE_RECV;
        i->u.note.value = len;
        return 1;
    }
    return 0;
}

static const struct mtp_event_desc probe_events[] = {
    [EV_SEND] = { .name = "send", .kind = MTP_EV_APP, .size = 0, .ctx_type = -1,
                  .has_chain = 1 },
    [EV_RECV] = { .name = "recv", .kind = MTP_EV_NET, .size = sizeof(uint32_t),
                  .ctx_type = -1, .has_chain = 1 },
};

static const struct mtp_bp_desc probe_bps[] = {
    { .name = "probe", .size = sizeof(struct probe_bp), .hdr_len = probe_hdr_len,
      .write_hdr = probe_write_hdr, .data_off = -1, .csum_off = 6 },
};

static const struct mtp_program probe_program = {
    .abi_version = MTP_ABI_VERSION,
    .name = "probe",
    .source = "targets/dpdk/tests/stack_test.c",
    .ip_proto = 17,
    .steer_port_off = 2,
    .l4_min_len = 8,
    .n_events = 2,
    .events = probe_events,
    .n_bps = 1,
    .bps = probe_bps,
    .parse = probe_parse,
    .dispatch = probe_dispatch,
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int received;

static void on_note(void *user, const struct mtp_note *note)
{
    (void)user;
    if (note->code == NOTE_RECV)
        received++;
}

static void stats_print(const struct mtp_stats *st)
{
#define STAT(f) fprintf(stderr, " " #f "=%llu", (unsigned long long)st->f)
    fprintf(stderr, "stats:");
    STAT(rx_frames), STAT(tx_frames), STAT(events), STAT(instructions), STAT(blueprints);
    STAT(arp_requests), STAT(arp_replies), STAT(icmp_echo_replies), STAT(icmp_unreach_sent);
    STAT(drop_malformed), STAT(drop_bad_csum), STAT(drop_no_ctx), STAT(drop_no_chain);
    STAT(drop_ip_frag), STAT(drop_not_mine), STAT(drop_tx_full), STAT(drop_arp_unresolved);
    STAT(instr_overflow), STAT(event_overflow), STAT(pool_exhausted);
    fputc('\n', stderr);
#undef STAT
}

int main(int argc, char **argv)
{
    CHECK(argc == 6 || argc == 7,
          "usage: %s <iface or -> <our-ip> <peer-ip> <echoes> <timeout-s> [<linger-ms>]",
          argv[0]);
    uint64_t linger_ns = argc == 7 ? (uint64_t)atoi(argv[6]) * 1000000u : 0;
    const struct mtp_target_ops *ops = &mtp_target_dpdk;
    uint32_t ip = ip_parse(argv[2]);
    probe_peer_ip = ip_parse(argv[3]);
    uint64_t want_echoes = (uint64_t)atoi(argv[4]);
    uint64_t deadline = now_ns() + (uint64_t)atoi(argv[5]) * 1000000000u;

    struct mtp_target_config tcfg = {
        .iface = strcmp(argv[1], "-") == 0 ? NULL : argv[1],
        .args = getenv("MTP_DPDK_ARGS"),
        .ip_proto = probe_program.ip_proto,
        .steer_port_off = probe_program.steer_port_off,
    };
    struct mtp_target *t = NULL;
    int err = ops->open(&t, &tcfg);
    CHECK(err == 0 && t, "target open failed: %d", err);
    struct mtp_stack_config scfg = {
        .prog = &probe_program, .ops = ops, .target = t, .ipv4 = ip, .prefix_len = 24,
        .seed = 1, .pcap_path = getenv("MTP_PCAP"),
    };
    struct mtp_stack *s = mtp_stack_new(&scfg, &err);
    CHECK(s, "mtp_stack_new failed: %d", err);
    mtp_stack_set_notify(s, on_note, NULL);
    CHECK(mtp_stack_port_claim(s, PROBE_PORT) >= 0, "port_claim failed");
    struct mtp_link_info link;
    CHECK(ops->link_info(t, &link) == 0, "link_info failed");
    char mac[18];
    mac_format(link.mac, mac);
    printf("ready %s offload_caps %u\n", mac, link.offload_caps);
    fflush(stdout);

    const struct mtp_stats *st = mtp_stack_stats(s);
    uint64_t next_send = 0, done_at = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!done_at && received > 0 && st->icmp_echo_replies >= want_echoes)
            done_at = now;
        if (done_at && now - done_at >= linger_ns)
            break;
        if (now >= deadline)
            stats_print(st);
        CHECK(now < deadline, "timed out: %d datagrams back, %llu echo replies", received,
              (unsigned long long)st->icmp_echo_replies);
        if ((received == 0 || linger_ns) && now >= next_send) {
            struct mtp_key key;
            memset(&key, 0, sizeof(key));
            CHECK(mtp_stack_post(s, EV_SEND, &key, NULL, 0, now) >= 0, "post failed");
            next_send = now + 500000000u;
        }
        if (mtp_stack_poll(s, now) == 0)
            usleep(1000);
    }
    printf("ok: %d datagrams back, %llu echo replies, %llu ARP requests sent, %llu ARP replies\n",
           received, (unsigned long long)st->icmp_echo_replies,
           (unsigned long long)st->arp_requests, (unsigned long long)st->arp_replies);
    mtp_stack_port_release(s, PROBE_PORT);
    mtp_stack_free(s);
    ops->close(t);
    return 0;
}
