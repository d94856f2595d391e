/*
 * kidle — kernel memory per idle established TCP connection, for comparison with
 * idle_conns. Run it inside a fresh network namespace (bench.sh does): it opens N loopback
 * connections to its own listener on 127.0.0.1, accepts them all, and measures the kernel's
 * slab memory (sum of active_objs * objsize over /proc/slabinfo: socket, inode, dentry, file
 * objects...) and the TCP buffer memory of /proc/net/sockstat ("mem", pages) before the first
 * connect and with the N connections idle; then once more after one 64-byte request and
 * response on every connection. Differences divided by 2N (two endpoints per connection).
 * The slab figure is machine-wide, so anything else allocating at the same time adds noise.
 *
 *   kidle [N (10000)]   (lowered to what RLIMIT_NOFILE's hard limit allows: 2 fds each)
 * Prints `key value` lines (read by bench.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 500
#define MSG 64

static void die(const char *what)
{
    fprintf(stderr, "kidle: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double slab_bytes(void)
{
    FILE *f = fopen("/proc/slabinfo", "r");
    char line[512], name[128];
    unsigned long active, num, size;
    double total = 0;
    if (!f)
        die("/proc/slabinfo");
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127s %lu %lu %lu", name, &active, &num, &size) == 4)
            total += (double)active * (double)size;
    fclose(f);
    return total;
}

static double sockstat_tcp_mem_bytes(void)
{
    FILE *f = fopen("/proc/net/sockstat", "r");
    char line[512];
    double pages = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *m = strstr(line, " mem ");
        if (!strncmp(line, "TCP:", 4) && m)
            pages = atof(m + 5);
    }
    if (f)
        fclose(f);
    return pages * (double)sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    if (n <= 0 || n > 30000) {
        fprintf(stderr, "usage: kidle [N (1..30000)]\n");
        return 2;
    }
    /* two descriptors per connection: N is lowered to what the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    if (rl.rlim_max != RLIM_INFINITY && (rlim_t)(2 * n + 64) > rl.rlim_max)
        n = (int)((rl.rlim_max - 64) / 2);
    rl.rlim_cur = (rlim_t)(2 * n + 64);
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("setrlimit");
    int *cfd = calloc((size_t)n, sizeof *cfd), *sfd = calloc((size_t)n, sizeof *sfd);
    if (!cfd || !sfd)
        die("calloc");
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, BATCH) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) < 0)
        die("listen");

    double slab0 = slab_bytes(), mem0 = sockstat_tcp_mem_bytes();
    for (int done = 0; done < n;) {
        int end = done + BATCH < n ? done + BATCH : n;
        for (int i = done; i < end; i++) {
            if ((cfd[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0)
                die("socket");
            if (connect(cfd[i], (struct sockaddr *)&a, sizeof a) < 0)
                die("connect");
        }
        for (int i = done; i < end; i++)
            if ((sfd[i] = accept(lfd, NULL, NULL)) < 0)
                die("accept");
        done = end;
    }
    usleep(200000); /* let the last ACKs and any deferred frees settle */
    double slab1 = slab_bytes(), mem1 = sockstat_tcp_mem_bytes();

    char buf[MSG];
    memset(buf, 0x5a, sizeof buf);
    for (int i = 0; i < n; i++)
        if (send(cfd[i], buf, MSG, 0) != MSG)
            die("send");
    for (int i = 0; i < n; i++)
        if (recv(sfd[i], buf, MSG, MSG_WAITALL) != MSG || send(sfd[i], buf, MSG, 0) != MSG)
            die("server echo");
    for (int i = 0; i < n; i++)
        if (recv(cfd[i], buf, MSG, MSG_WAITALL) != MSG)
            die("client recv");
    usleep(200000);
    double slab2 = slab_bytes(), mem2 = sockstat_tcp_mem_bytes();

    double ends = 2.0 * n;
    printf("connections %d\n", n);
    printf("idle_slab_per_end %.0f\n", (slab1 - slab0) / ends);
    printf("idle_tcpmem_per_end %.0f\n", (mem1 - mem0) / ends);
    printf("used_slab_per_end %.0f\n", (slab2 - slab0) / ends);
    printf("used_tcpmem_per_end %.0f\n", (mem2 - mem0) / ends);
    for (int i = 0; i < n; i++) {
        close(cfd[i]);
        close(sfd[i]);
    }
    close(lfd);
    return 0;
}
