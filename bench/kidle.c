/*
 * kidle — kernel memory per idle established TCP connection, for comparison with
 * idle_conns. Run it inside a fresh network namespace (bench.sh does): it opens N loopback
 * connections on 127.0.0.1, accepts them all, and measures the kernel's
 * slab memory (sum of active_objs * objsize over /proc/slabinfo: socket, inode, dentry, file
 * objects...) and the TCP buffer memory of /proc/net/sockstat ("mem", pages) before the first
 * connect and with the N connections idle; then once more after one 64-byte request and
 * response on every connection. Differences divided by 2N (two endpoints per connection).
 * The slab figure is machine-wide, so anything else allocating at the same time adds noise.
 * The connections live in worker processes (fork), each with its own listener and at most
 * what its RLIMIT_NOFILE hard limit allows (two descriptors per connection: 20,000 here,
 * where root lacks CAP_SYS_RESOURCE to raise it); the workers exist before the first reading.
 *
 *   kidle [N (1..200000, default 10000)]
 * Prints `key value` lines (read by bench.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BATCH 500
#define MSG 64
#define MAX_CONNS 200000
#define MAX_WORKERS 64

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

/* One step of a worker: wait for the parent's byte, answer with one when done. */
static void await_parent(int rfd)
{
    char c;
    if (read(rfd, &c, 1) != 1)
        _exit(0); /* the parent is gone */
}

static void tell_parent(int wfd)
{
    if (write(wfd, "k", 1) != 1)
        die("pipe");
}

/* A worker: n connections to its own listener; opens them, then does one request/response on
 * each, a step per byte from the parent; exits when the parent closes its pipe. */
static void worker(int n, int rfd, int wfd)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    rl.rlim_cur = (rlim_t)(2 * n + 64); /* under the hard limit: start_workers saw to it */
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
    tell_parent(wfd);

    await_parent(rfd);
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
    tell_parent(wfd);

    await_parent(rfd);
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
    tell_parent(wfd);

    await_parent(rfd); /* returns only when the parent is gone: _exit closes everything */
    _exit(0);
}

struct workers {
    int n;
    pid_t pid[MAX_WORKERS];
    int to[MAX_WORKERS], from[MAX_WORKERS];
};

/* Every worker takes its next step; returns once all of them are done with it. */
static void step(const struct workers *w)
{
    for (int i = 0; i < w->n; i++)
        if (write(w->to[i], "g", 1) != 1)
            die("pipe to a worker");
    for (int i = 0; i < w->n; i++) {
        char c;
        if (read(w->from[i], &c, 1) != 1) {
            errno = ECHILD;
            die("a worker failed");
        }
    }
}

static void start_workers(struct workers *w, int n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    rlim_t max = rl.rlim_max == RLIM_INFINITY ? 2 * (rlim_t)MAX_CONNS + 64 : rl.rlim_max;
    int per = (int)((max - 64) / 2);
    w->n = (n + per - 1) / per;
    if (w->n > MAX_WORKERS) {
        errno = EMFILE;
        die("too few descriptors per process");
    }
    for (int i = 0; i < w->n; i++) {
        int down[2], up[2];
        if (pipe(down) < 0 || pipe(up) < 0)
            die("pipe");
        int m = n / w->n + (i < n % w->n);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            for (int j = 0; j < i; j++) {
                close(w->to[j]);
                close(w->from[j]);
            }
            close(down[1]);
            close(up[0]);
            worker(m, down[0], up[1]);
        }
        close(down[0]);
        close(up[1]);
        w->pid[i] = pid;
        w->to[i] = down[1];
        w->from[i] = up[0];
    }
    for (int i = 0; i < w->n; i++) { /* listening */
        char c;
        if (read(w->from[i], &c, 1) != 1) {
            errno = ECHILD;
            die("a worker failed");
        }
    }
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    if (n <= 0 || n > MAX_CONNS) {
        fprintf(stderr, "usage: kidle [N (1..%d)]\n", MAX_CONNS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct workers w;
    start_workers(&w, n);

    double slab0 = slab_bytes(), mem0 = sockstat_tcp_mem_bytes();
    step(&w); /* connect and accept */
    usleep(200000); /* let the last ACKs and any deferred frees settle */
    double slab1 = slab_bytes(), mem1 = sockstat_tcp_mem_bytes();
    step(&w); /* one request/response on each */
    usleep(200000);
    double slab2 = slab_bytes(), mem2 = sockstat_tcp_mem_bytes();

    double ends = 2.0 * n;
    printf("connections %d\n", n);
    printf("workers %d\n", w.n);
    printf("idle_slab_per_end %.0f\n", (slab1 - slab0) / ends);
    printf("idle_tcpmem_per_end %.0f\n", (mem1 - mem0) / ends);
    printf("used_slab_per_end %.0f\n", (slab2 - slab0) / ends);
    printf("used_tcpmem_per_end %.0f\n", (mem2 - mem0) / ends);
    fflush(stdout);
    for (int i = 0; i < w.n; i++) { /* a worker exits when its pipe closes */
        close(w.to[i]);
        close(w.from[i]);
    }
    for (int i = 0; i < w.n; i++)
        waitpid(w.pid[i], NULL, 0);
    return 0;
}
