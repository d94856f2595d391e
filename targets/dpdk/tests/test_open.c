/*
 * test_open — open the DPDK target once and report: "opened <mac> mtu <n>" and exit 0, or
 * "open: error <n>" and exit 3. run_errors.sh feeds it bad configurations and checks the
 * target's one-line diagnostic.
 *
 *   test_open <iface or -> <queue>      (EAL arguments from MTP_DPDK_ARGS)
 */
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
    struct mtp_target *t = NULL;
    int err = ops->open(&t, &cfg);
    if (err) {
        CHECK(err < 0 && t == NULL, "a failed open returned %d and target %p", err, (void *)t);
        printf("open: error %d\n", err);
        return 3;
    }
    struct mtp_link_info link;
    CHECK(ops->link_info(t, &link) == 0, "link_info failed");
    char mac[18];
    mac_format(link.mac, mac);
    printf("opened %s mtu %u\n", mac, link.mtu);
    ops->close(t);
    return 0;
}
