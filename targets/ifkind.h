/*
 * ifkind.h — what kind of kernel interface a target runs on (enum mtp_link_kind), for the
 * targets that sit on one (xdp; dpdk's net_af_xdp and net_af_packet). Header-only: each
 * target compiles its own copy, so neither library depends on the other.
 *
 * lo is recognised by IFF_LOOPBACK, veth and tun/tap by the driver the kernel reports
 * (ETHTOOL_GDRVINFO: "veth", "tun"); anything else, or a failed query, is a wire: its
 * checksums are verified in full under MTP_RX_CSUM=auto.
 */
#ifndef MTP_TARGETS_IFKIND_H
#define MTP_TARGETS_IFKIND_H

#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>

#include "mtp/target.h"

static inline enum mtp_link_kind mtp__ifkind(const char *ifname)
{
    enum mtp_link_kind kind = MTP_LINK_WIRE;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kind;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_LOOPBACK)) {
        kind = MTP_LINK_LOOPBACK;
    } else {
        ifr.ifr_data = (void *)&di;
        if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
            if (!strcmp(di.driver, "veth"))
                kind = MTP_LINK_VETH;
            else if (!strcmp(di.driver, "tun"))
                kind = MTP_LINK_TAP;
        }
    }
    close(fd);
    return kind;
}

static inline enum mtp_link_kind mtp__ifkind_by_index(int ifindex)
{
    char name[IF_NAMESIZE];
    return ifindex > 0 && if_indextoname((unsigned)ifindex, name) ? mtp__ifkind(name)
                                                                   : MTP_LINK_WIRE;
}

#endif
