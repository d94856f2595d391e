/*
 * fill_level.h — how many free frames the AF_XDP fill ring holds for the kernel (xdp.c).
 *
 * In copy mode the kernel copies each arriving packet into the frame at the head of the fill
 * ring, and the stack hands frames back at its tail, so every frame in the ring is touched
 * once per pass: the ring's level is the receive path's working set. At 2,048 frames that is
 * 8 MiB; first-touching it costs the first ~2,000 packets of a process about twice the
 * steady latency (redis GETs 51 vs 30 us on this host's veth), and in the steady state it
 * keeps the packets out of the caches (iperf3 over MTP both ends: median 7.5 -> 8.6 Gbit/s
 * with 256 frames instead of 2,048, 24 interleaved samples; 512 did as well). A small level
 * drops a burst the stack does not come back for in time, though: Homa's unscheduled bytes
 * arrive as bursts of up to the path's window, and a Fig. 4a server starting at 256 frames
 * dropped 134-144 (each one a RESEND 2 ms later), at 512 none. So the level starts at 512
 * and goes to the whole ring the first time the stack finds that the kernel took more than
 * three quarters of it before the stack came back to receive; it never shrinks (a workload
 * that once burst keeps the room it needed). iperf3 stays at 512.
 */
#ifndef MTP_XDP_FILL_LEVEL_H
#define MTP_XDP_FILL_LEVEL_H

#include <stdint.h>

#define FILL_LEVEL_MIN 512u

/* The level after a receive found `in_fill` of `level` frames still in the fill ring. */
static inline uint32_t fill_level_next(uint32_t level, uint32_t in_fill, uint32_t ring)
{
    return in_fill < level / 4 ? ring : level;
}

#endif
