/*
 * test_two_ports — two DPDK target instances in one process (EAL initialises once; the second
 * open hot-plugs its device): a memif server port and a memif client port on one socket
 * exchange frames both ways. Opening a device that is already open fails with -EBUSY; after
 * closing both, the same devices open again.
 *
 *   test_two_ports <socket> <frames> <timeout-s>
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "frames.h"
#include "mtp/target.h"

#define BURST    32
#define TEST_LEN 128

struct side {
    struct mtp_target *t;
    struct mtp_link_info link;
    uint8_t id;
    uint32_t sent, received;
};

static const struct mtp_target_ops *ops = &mtp_target_dpdk;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void side_open(struct side *s, const char *devargs, uint8_t id)
{
    struct mtp_target_config cfg = { .args = devargs };
    int err = ops->open(&s->t, &cfg);
    CHECK(err == 0 && s->t, "open %s failed: %d", devargs, err);
    CHECK(ops->link_info(s->t, &s->link) == 0, "link_info failed");
    s->id = id;
    s->sent = s->received = 0;
}

static void side_send(struct side *s, uint32_t frames)
{
    struct mtp_frame f[BURST];
    int n = (int)(frames - s->sent < BURST ? frames - s->sent : BURST);
    int got = ops->tx_alloc(s->t, f, n);
    for (int i = 0; i < got; i++) {
        uint32_t seq = s->sent + (uint32_t)i;
        eth_write(f[i].data, (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
                  s->link.mac, ETYPE_TEST);
        f[i].data[ETH_HLEN] = s->id;
        wr32(f[i].data + ETH_HLEN + 1, seq);
        for (uint32_t b = ETH_HLEN + 5; b < TEST_LEN; b++)
            f[i].data[b] = (uint8_t)(seq + b + s->id);
        f[i].len = TEST_LEN;
    }
    int sent = ops->tx_burst(s->t, f, got);
    CHECK(sent >= 0 && sent <= got, "tx_burst returned %d of %d", sent, got);
    s->sent += (uint32_t)sent;
}

static int side_recv(struct side *s, uint8_t from)
{
    struct mtp_frame f[BURST];
    int n = ops->rx_burst(s->t, f, BURST);
    CHECK(n >= 0 && n <= BURST, "rx_burst returned %d", n);
    for (int i = 0; i < n; i++) {
        CHECK(f[i].len == TEST_LEN && f[i].data[ETH_HLEN] == from, "foreign frame");
        uint32_t seq = rd32(f[i].data + ETH_HLEN + 1);
        CHECK(seq == s->received, "port %u got frame %u, expected %u", s->id, seq, s->received);
        for (uint32_t b = ETH_HLEN + 5; b < TEST_LEN; b++)
            CHECK(f[i].data[b] == (uint8_t)(seq + b + from), "frame %u corrupted", seq);
        s->received++;
    }
    ops->rx_release(s->t, f, n);
    return n;
}

static void exchange(struct side *a, struct side *b, uint32_t frames, uint64_t deadline)
{
    while (a->sent < frames || b->sent < frames || a->received < frames ||
           b->received < frames) {
        CHECK(now_ms() < deadline, "timed out: a %u/%u, b %u/%u (sent/received)", a->sent,
              a->received, b->sent, b->received);
        if (a->sent < frames)
            side_send(a, frames);
        if (b->sent < frames)
            side_send(b, frames);
        if (side_recv(a, b->id) + side_recv(b, a->id) == 0)
            usleep(200);
    }
}

int main(int argc, char **argv)
{
    CHECK(argc == 4, "usage: %s <socket> <frames> <timeout-s>", argv[0]);
    uint32_t frames = (uint32_t)atoi(argv[2]);
    uint64_t deadline = now_ms() + (uint64_t)atoi(argv[3]) * 1000;
    char srv[256], cli[256];

    for (int round = 0; round < 2; round++) {
        /* memif closes a listening socket asynchronously: each round has its own */
        snprintf(srv, sizeof(srv), "--vdev=net_memif0,role=server,id=1,socket=%s.%d", argv[1],
                 round);
        snprintf(cli, sizeof(cli), "--vdev=net_memif1,role=client,id=1,socket=%s.%d", argv[1],
                 round);
        struct side a, b;
        side_open(&a, srv, 'a');
        side_open(&b, cli, 'b');
        CHECK(memcmp(a.link.mac, b.link.mac, 6) != 0, "two ports with one MAC");
        struct mtp_target *again = NULL;
        struct mtp_target_config cfg = { .args = srv };
        int err = ops->open(&again, &cfg);
        CHECK(err == -EBUSY && again == NULL, "second open of an open device gave %d", err);
        exchange(&a, &b, frames, deadline);
        /* DPDK 22.11's memif handles the peer's disconnect in the EAL interrupt thread and
         * races with the removal of the peer's device in the same process: let the server
         * see the client go before it goes itself. */
        ops->close(b.t);
        usleep(100 * 1000);
        ops->close(a.t);
        printf("round %d: %u frames each way between two ports of one process\n", round,
               frames);
    }
    printf("ok\n");
    return 0;
}
