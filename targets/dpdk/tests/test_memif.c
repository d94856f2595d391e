/*
 * test_memif — two processes exchange frames over net_memif through the DPDK target.
 *
 *   test_memif server|client <socket> <frames> <timeout-s>
 *
 * Each side sends <frames> test frames (ethertype 0x88b5, sequence number, a pattern that
 * depends on role and sequence) and checks that it receives the peer's <frames> frames in
 * order and intact. Then the wake-up fd is exercised: the client, idle, sleeps in epoll on
 * wake_fd (memif has rx interrupts) until the server's "last" frame wakes it; it answers
 * "bye", which the server waits for before it closes.
 */
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "frames.h"
#include "mtp/target.h"

#define BURST     32
#define TEST_LEN  256
#define KIND_DATA 1
#define KIND_LAST 2
#define KIND_BYE  3

struct memif_test {
    const struct mtp_target_ops *ops;
    struct mtp_target *t;
    struct mtp_link_info link;
    uint8_t role;          /* 's' or 'c' */
    uint32_t sent, received, frames;
    int got_last, got_bye;
    uint64_t deadline;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint8_t pattern(uint8_t role, uint32_t seq, uint32_t i)
{
    return (uint8_t)(role * 7 + seq * 13 + i);
}

static void frame_fill(struct mtp_frame *f, struct memif_test *mt, uint8_t kind, uint32_t seq)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    eth_write(f->data, bcast, mt->link.mac, ETYPE_TEST);
    f->data[ETH_HLEN] = kind;
    f->data[ETH_HLEN + 1] = mt->role;
    wr32(f->data + ETH_HLEN + 2, seq);
    for (uint32_t i = ETH_HLEN + 6; i < TEST_LEN; i++)
        f->data[i] = pattern(mt->role, seq, i);
    f->len = TEST_LEN;
}

/* Queue up to a burst of data frames; the ring may take fewer (peer slow, link not up). */
static void send_data(struct memif_test *mt)
{
    struct mtp_frame f[BURST];
    int n = (int)(mt->frames - mt->sent < BURST ? mt->frames - mt->sent : BURST);
    int got = mt->ops->tx_alloc(mt->t, f, n);
    CHECK(got >= 0 && got <= n, "tx_alloc returned %d", got);
    for (int i = 0; i < got; i++)
        frame_fill(&f[i], mt, KIND_DATA, mt->sent + (uint32_t)i);
    int sent = mt->ops->tx_burst(mt->t, f, got);
    CHECK(sent >= 0 && sent <= got, "tx_burst returned %d of %d", sent, got);
    mt->sent += (uint32_t)sent;
}

static void send_kind(struct memif_test *mt, uint8_t kind)
{
    for (;;) {
        CHECK(now_ms() < mt->deadline, "timed out sending a kind-%u frame", kind);
        struct mtp_frame f;
        CHECK(mt->ops->tx_alloc(mt->t, &f, 1) == 1, "tx_alloc gave no buffer");
        frame_fill(&f, mt, kind, 0);
        if (mt->ops->tx_burst(mt->t, &f, 1) == 1)
            return;
        usleep(1000);
    }
}

static void on_frame(struct memif_test *mt, const struct mtp_frame *f)
{
    CHECK(f->len == TEST_LEN, "frame of %u bytes", f->len);
    CHECK(rd16(f->data + 12) == ETYPE_TEST, "ethertype %04x", rd16(f->data + 12));
    uint8_t kind = f->data[ETH_HLEN], role = f->data[ETH_HLEN + 1];
    uint32_t seq = rd32(f->data + ETH_HLEN + 2);
    CHECK(role != mt->role && (role == 's' || role == 'c'), "frame from role %c", role);
    if (kind == KIND_LAST) {
        mt->got_last = 1;
        return;
    }
    if (kind == KIND_BYE) {
        mt->got_bye = 1;
        return;
    }
    CHECK(kind == KIND_DATA, "frame kind %u", kind);
    CHECK(seq == mt->received, "frame %u arrived when %u was expected", seq, mt->received);
    for (uint32_t i = ETH_HLEN + 6; i < TEST_LEN; i++)
        CHECK(f->data[i] == pattern(role, seq, i), "frame %u byte %u corrupted", seq, i);
    mt->received++;
}

static int poll_rx(struct memif_test *mt)
{
    struct mtp_frame f[BURST];
    int n = mt->ops->rx_burst(mt->t, f, BURST);
    CHECK(n >= 0 && n <= BURST, "rx_burst returned %d", n);
    for (int i = 0; i < n; i++)
        on_frame(mt, &f[i]);
    mt->ops->rx_release(mt->t, f, n);
    return n;
}

/* Sleep in the kernel on the target's wake-up fd until a frame arrives; poll without one. */
static void wait_wake(struct memif_test *mt, int wfd)
{
    if (wfd < 0) {
        while (!mt->got_last) {
            CHECK(now_ms() < mt->deadline, "the last frame did not arrive");
            if (poll_rx(mt) == 0)
                usleep(1000);
        }
        return;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN }, out;
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) == 0, "epoll setup failed");
    while (!mt->got_last) {
        CHECK(now_ms() < mt->deadline, "no wake-up for the last frame");
        if (poll_rx(mt) > 0)
            continue;
        /* rx_burst came back empty: the fd is armed; sleep until it fires */
        int r = epoll_wait(ep, &out, 1, (int)(mt->deadline - now_ms()));
        CHECK(r >= 0, "epoll_wait failed");
    }
    close(ep);
}

int main(int argc, char **argv)
{
    CHECK(argc == 5, "usage: %s server|client <socket> <frames> <timeout-s>", argv[0]);
    struct memif_test mt = { .ops = &mtp_target_dpdk };
    int server = strcmp(argv[1], "server") == 0;
    CHECK(server || strcmp(argv[1], "client") == 0, "role must be server or client");
    mt.role = server ? 's' : 'c';
    mt.frames = (uint32_t)atoi(argv[3]);
    mt.deadline = now_ms() + (uint64_t)atoi(argv[4]) * 1000;

    char args[512];
    snprintf(args, sizeof(args), "--vdev=net_memif0,role=%s,socket=%s", argv[1], argv[2]);
    struct mtp_target_config cfg = { .args = args };
    int err = mt.ops->open(&mt.t, &cfg);
    CHECK(err == 0 && mt.t, "open failed: %d", err);
    CHECK(mt.ops->link_info(mt.t, &mt.link) == 0, "link_info failed");
    CHECK(mt.link.owns_arp == 1, "owns_arp is %u", mt.link.owns_arp);
    int wfd = mt.ops->wake_fd(mt.t);
    CHECK(wfd >= 0, "wake_fd returned %d: the target always has one (interrupt or ticker)",
          wfd);
    printf("ready %s wake_fd %d\n", argv[1], wfd);
    fflush(stdout);

    while (mt.sent < mt.frames || mt.received < mt.frames) {
        CHECK(now_ms() < mt.deadline, "timed out: sent %u, received %u of %u", mt.sent,
              mt.received, mt.frames);
        if (mt.sent < mt.frames)
            send_data(&mt);
        if (poll_rx(&mt) == 0)
            usleep(200);
    }
    if (server) {
        usleep(100 * 1000); /* let the client go idle and sleep on its wake-up fd */
        send_kind(&mt, KIND_LAST);
        while (!mt.got_bye) {
            CHECK(now_ms() < mt.deadline, "no bye from the client");
            if (poll_rx(&mt) == 0)
                usleep(1000);
        }
    } else {
        wait_wake(&mt, wfd);
        send_kind(&mt, KIND_BYE);
        /* the server reads the bye before it closes; give it the time to (bounded) */
        for (int i = 0; i < 300; i++) {
            poll_rx(&mt);
            usleep(1000);
        }
    }
    mt.ops->close(mt.t);
    printf("ok: %s sent %u and received %u frames over memif\n", argv[1], mt.sent,
           mt.received);
    return 0;
}
