/*
 * test_open — open the DPDK target once (the caller's CPU affinity must survive EAL) and
 * report: "opened <mac> mtu <n>", drain and refill
 * its buffer pool through tx_alloc/tx_burst, exit 0; or "open: error <n>" and exit 3.
 * run_errors.sh feeds it bad configurations and checks the target's one-line diagnostic,
 * and one good one (net_null).
 *
 *   test_open <iface or -> <queue>      (EAL arguments from MTP_DPDK_ARGS)
 */
#include <sched.h>

#include "frames.h"
#include "mtp/target.h"

int main(int argc, char **argv)
{
    CHECK(argc == 3, "usage: %s <iface or -> <queue>", argv[0]);
    const struct mtp_target_ops *ops = &mtp_target_dpdk;
    struct mtp_target_config cfg = {
        .iface = strcmp(argv[1], "-") == 0 ? NULL : argv[1],
        .args = getenv("MTP_DPDK_ARGS"),
        .queue = (uint32_t)atoi(argv[2]),
    };
    cpu_set_t before, after;
    CHECK(sched_getaffinity(0, sizeof(before), &before) == 0, "sched_getaffinity");
    struct mtp_target *t = NULL;
    int err = ops->open(&t, &cfg);
    if (err) {
        CHECK(err < 0 && t == NULL, "a failed open returned %d and target %p", err, (void *)t);
        printf("open: error %d\n", err);
        return 3;
    }
    CHECK(sched_getaffinity(0, sizeof(after), &after) == 0, "sched_getaffinity");
    CHECK(CPU_EQUAL(&before, &after), "EAL left the caller pinned: %d CPUs before, %d after",
          CPU_COUNT(&before), CPU_COUNT(&after));
    struct mtp_link_info link;
    CHECK(ops->link_info(t, &link) == 0, "link_info failed");
    char mac[18];
    mac_format(link.mac, mac);
    printf("opened %s mtu %u\n", mac, link.mtu);

    /* Drain the buffer pool: tx_alloc hands out what is left, then nothing; frames given
     * back through tx_burst unsent (len 0 is refused) return to the pool. */
    enum { MAX_FRAMES = 65536, CHUNK = 100 };
    static struct mtp_frame fr[MAX_FRAMES];
    int total = 0, got;
    while (total + CHUNK <= MAX_FRAMES && (got = ops->tx_alloc(t, fr + total, CHUNK)) > 0) {
        CHECK(got <= CHUNK, "tx_alloc returned %d of %d", got, CHUNK);
        for (int i = total; i < total + got; i++)
            CHECK(fr[i].data && fr[i].cap >= link.mtu + 14 && fr[i].len == 0,
                  "frame %d: cap %u for MTU %u", i, fr[i].cap, link.mtu);
        total += got;
    }
    CHECK(total > 0 && total < MAX_FRAMES, "the pool gave %d frames", total);
    CHECK(total % CHUNK != 0, "the last tx_alloc was not partial (%d frames)", total);
    for (int i = 0; i < total; i++)
        fr[i].len = 0;
    CHECK(ops->tx_burst(t, fr, total) == 0, "tx_burst sent frames of length 0");
    int again = 0;
    while (again + CHUNK <= MAX_FRAMES && (got = ops->tx_alloc(t, fr + again, CHUNK)) > 0)
        again += got;
    CHECK(again == total, "after giving back %d frames, %d could be taken again", total, again);
    for (int i = 0; i < again; i++)
        fr[i].len = 0;
    ops->tx_burst(t, fr, again);
    printf("pool: %d frames, all returned\n", total);
    ops->close(t);
    return 0;
}
