/*
 * lm_fork.c — fork() under libmtp.so (run by test_fork.sh; a plain program: it runs on the
 * kernel and under libmtp.so alike).
 *
 *   lm_fork daemon PORT 1|2 PIDFILE   daemon() (1) or fork, setsid, fork (2) before any socket,
 *                                     then an echo server on PORT; the server's pid in PIDFILE
 *   lm_fork forkserve PORT            an echo server that forks a child every 20 ms (or 2 MB)
 *                                     while it echoes: each child closes every fd it inherited (the
 *                                     listener, the connection) and ends by exit() or _exit(),
 *                                     some at once, some after a while
 *   lm_fork inheritserve PORT HOW     accepts in the parent and forks a child per connection
 *                                     (inetd, PostgreSQL, sshd); the parent closes its copy at
 *                                     once. HOW: echo (the child echoes until end of stream),
 *                                     epoll (the same from an epoll set, non-blocking),
 *                                     greet (the child writes "hello\n", waits 300 ms and exits
 *                                     without reading), untouched (the child waits 300 ms and
 *                                     exits without touching it), hello (the child writes
 *                                     "hello\n" and closes), late (the child waits 1 s, then
 *                                     reads: says what its read returned), twins (two children
 *                                     get the connection: the first echoes, the second reads
 *                                     500 ms later and says what its read returned), once (the
 *                                     parent exits after its first fork; the child echoes)
 *   lm_fork dormantserve PORT GOFILE  listens (its stack starts), forks a child that never
 *                                     touches the listener (the parent's listener leaves its
 *                                     port group: nobody's stack serves the port), says
 *                                     "dormant", waits for GOFILE to exist, then echoes two
 *                                     connections one after the other: the first was made
 *                                     meanwhile (the kernel accepted it), the second after
 *                                     this process's listener joined its group again
 *   lm_fork retireserve PORT GOFILE ENDFILE
 *                                     accepts a first connection, forks a child that accepts
 *                                     and echoes every later one; once GOFILE exists closes
 *                                     its listener (nginx's old worker after a reload) and
 *                                     echoes the first connection on until ENDFILE exists,
 *                                     then closes it first; runs until stopped
 *   lm_fork handoffserve PORT GOFILE  forks a child that accepts and echoes every connection
 *                                     (an epoll loop); this process joins the port's group (one
 *                                     poll) but never accepts: connections hashed to it wait in
 *                                     its queue. Once GOFILE exists it closes its listener (an
 *                                     old nginx worker after a reload) and waits to be stopped
 *   lm_fork stream IP PORT BYTES [PAUSE_MS]
 *                                     sends BYTES of a pattern and checks the echo, byte-exact
 *                                     (pausing PAUSE_MS once, after the first MB echoed)
 *   lm_fork streamfork IP PORT BYTES  the same from a forked child: the parent connects, forks
 *                                     and closes its copy at once
 *   lm_fork expectreset IP PORT       writes 64 KB the server never reads (then a byte each
 *                                     quiet second): ok when the connection is reset
 *                                     (ECONNRESET/EPIPE), not ended by EOF
 *   lm_fork expecthello IP PORT       reads: ok when "hello\n" then end of stream arrive
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int listen_on(int port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 64) < 0) {
        perror("lm_fork: bind/listen");
        exit(1);
    }
    return l;
}

static int write_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ------------------------------------------------------------------ daemon */

static void double_fork(void)
{
    pid_t p = fork();
    if (p < 0)
        exit(1);
    if (p > 0)
        exit(0); /* a normal exit: destructors and atexit run in the first parent */
    setsid();
    p = fork();
    if (p < 0)
        exit(1);
    if (p > 0)
        exit(0);
}

static int daemon_serve(int port, int how, const char *pidfile)
{
    if (how == 1) {
        if (daemon(1, 1) < 0) {
            perror("lm_fork: daemon");
            return 1;
        }
    } else {
        double_fork();
    }
    signal(SIGPIPE, SIG_IGN);
    int l = listen_on(port);
    FILE *f = fopen(pidfile, "w");
    if (!f)
        return 1;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        char buf[65536];
        ssize_t r;
        while ((r = read(c, buf, sizeof buf)) > 0)
            if (write_all(c, buf, (size_t)r) < 0)
                break;
        close(c);
    }
    return 0;
}

/* ------------------------------------------------------------------ forkserve */

static unsigned forked;

/* A child like redis's BGSAVE child or a daemonising parent: it closes what it inherited and
 * ends. Half of them wait a little first (holding the copies while the parent keeps going),
 * odd ones end with _exit() (no destructor), even ones with exit(). */
static void child(unsigned n)
{
    if (n % 4 >= 2) {
        struct timespec t = {0, 30 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
    if (n % 2)
        _exit(0);
    exit(0);
}

static void fork_one(void)
{
    pid_t p = fork();
    if (p == 0)
        child(forked);
    if (p > 0)
        forked++;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* Forks every 20 ms or every 2 MB echoed, whichever comes first: a fast transfer still sees
 * a fork per 2 MB (a 40 MB one finished in 160 ms once, 8 forks on the clock alone). */
static void echo_forking(int c)
{
    char buf[65536];
    double next = now_s() + 0.02;
    size_t since = 0;
    for (;;) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        int n = poll(&p, 1, 20);
        if (now_s() >= next || since >= 2000000) {
            fork_one();
            next = now_s() + 0.02;
            since = 0;
        }
        if (n <= 0)
            continue;
        ssize_t r = read(c, buf, sizeof buf);
        if (r <= 0 || write_all(c, buf, (size_t)r) < 0)
            break;
        since += (size_t)r;
    }
    close(c);
}

static int forkserve(int port)
{
    signal(SIGPIPE, SIG_IGN);
    int l = listen_on(port);
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        echo_forking(c);
        printf("connection done, %u children forked so far\n", forked);
        fflush(stdout);
    }
    return 0;
}

/* Echoes c until its end and closes it; `say`: "child PID serving" at the first bytes and
 * "child PID done" at the end. */
static void echo_to_end(int c, bool say)
{
    char buf[65536];
    bool first = true;
    for (;;) {
        ssize_t r = read(c, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || write_all(c, buf, (size_t)r) < 0)
            break;
        if (say && first)
            printf("child %d serving\n", (int)getpid());
        first = false;
    }
    close(c);
    if (say)
        printf("child %d done\n", (int)getpid());
}

/* ------------------------------------------------------------------ dormantserve */

static int dormantserve(int port, const char *gofile)
{
    signal(SIGPIPE, SIG_IGN);
    int l = listen_on(port);
    pid_t p = fork();
    if (p == 0) { /* like nginx's master and worker the other way round: never accepts */
        struct timespec t = {2, 0};
        nanosleep(&t, NULL);
        _exit(0);
    }
    if (p < 0) {
        perror("lm_fork: fork");
        return 1;
    }
    printf("dormant\n");
    double give_up = now_s() + 20;
    while (access(gofile, F_OK) != 0) { /* (no socket call: the listener stays dormant) */
        if (now_s() > give_up) {
            fprintf(stderr, "lm_fork dormantserve: no %s in 20 s\n", gofile);
            return 1;
        }
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    for (int i = 0; i < 2; i++) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            perror("lm_fork dormantserve: accept");
            return 1;
        }
        echo_to_end(c, false);
        printf("connection %d done\n", i + 1);
    }
    waitpid(p, NULL, 0);
    return 0;
}

/* ------------------------------------------------------------------ retireserve */

/* nginx's reload in two processes: this one accepts a first connection and forks a child that
 * serves the listener from then on (accepts and echoes each connection to its end); when
 * GOFILE exists this one closes its listener, as an old worker does, and echoes its own
 * connection on until ENDFILE exists (then it closes it first) or its peer's end. */
static int retireserve(int port, const char *gofile, const char *endfile)
{
    signal(SIGPIPE, SIG_IGN);
    int l = listen_on(port);
    int c = accept(l, NULL, NULL);
    if (c < 0) {
        perror("lm_fork retireserve: accept");
        return 1;
    }
    pid_t p = fork();
    if (p == 0) {
        close(c);
        for (;;) {
            int n = accept(l, NULL, NULL);
            if (n >= 0)
                echo_to_end(n, false);
        }
    }
    if (p < 0) {
        perror("lm_fork: fork");
        return 1;
    }
    printf("child %d serves the listener\n", (int)p);
    /* non-blocking: a client that pauses its reading must not keep this one from closing
     * its listener meanwhile */
    fcntl(c, F_SETFL, O_NONBLOCK);
    char buf[65536];
    size_t have = 0, off = 0;
    double give_up = now_s() + 30;
    for (bool listening = true; now_s() < give_up;) {
        if (listening && access(gofile, F_OK) == 0) {
            close(l);
            listening = false;
            printf("listener closed\n");
        }
        if (!listening && !have && access(endfile, F_OK) == 0)
            break; /* this side closes first: its connection lingers in TIME_WAIT */
        struct pollfd pf = {.fd = c, .events = have ? POLLOUT : POLLIN};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        ssize_t n = have ? write(c, buf + off, have) : read(c, buf, sizeof buf);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n <= 0)
            break;
        if (have) {
            off += (size_t)n;
            have -= (size_t)n;
        } else {
            off = 0;
            have = (size_t)n;
        }
    }
    close(c);
    printf("first connection done\n");
    waitpid(p, NULL, 0); /* the child serves on until the test stops both */
    return 0;
}

/* ------------------------------------------------------------------ handoffserve */

/* Echoes every connection of listener l, any number at once, until stopped. */
static void echo_all(int l)
{
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev); /* (its first use: the listener joins the group) */
    printf("child serving\n");
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c = accept(l, NULL, NULL);
                ev.data.fd = c;
                if (c >= 0)
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                continue;
            }
            char buf[4096];
            ssize_t r = read(fd, buf, sizeof buf);
            if (r <= 0 || write_all(fd, buf, (size_t)r) < 0)
                close(fd);
        }
    }
}

static int handoffserve(int port, const char *gofile)
{
    signal(SIGPIPE, SIG_IGN);
    int l = listen_on(port);
    pid_t p = fork();
    if (p == 0) {
        echo_all(l);
        _exit(0);
    }
    if (p < 0) {
        perror("lm_fork: fork");
        return 1;
    }
    struct pollfd pf = {.fd = l, .events = POLLIN};
    poll(&pf, 1, 0); /* (its first use: the listener joins the port's group) */
    printf("child %d serves the listener, this process holds its queue\n", (int)p);
    double give_up = now_s() + 30;
    while (access(gofile, F_OK) != 0) {
        if (now_s() > give_up) {
            fprintf(stderr, "lm_fork handoffserve: no %s in 30 s\n", gofile);
            return 1;
        }
        struct timespec t = {0, 10 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    close(l);
    printf("listener closed\n");
    waitpid(p, NULL, 0); /* the child serves on until the test stops both */
    return 0;
}

/* ------------------------------------------------------------------ inheritserve */

static void inherited_echo(int c) { echo_to_end(c, true); }

/* The same from an epoll set, non-blocking (the set's epoll_ctl is the first use). */
static void inherited_echo_epoll(int c)
{
    static char buf[65536];
    int ep = epoll_create1(0);
    fcntl(c, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0) {
        perror("lm_fork: epoll");
        exit(1);
    }
    bool first = true;
    for (;;) {
        if (epoll_wait(ep, &ev, 1, 10000) <= 0)
            break;
        ssize_t r = read(c, buf, sizeof buf);
        if (r < 0 && errno == EAGAIN)
            continue;
        if (r <= 0)
            break;
        for (ssize_t off = 0; off < r;) { /* waits for room in poll */
            ssize_t w = write(c, buf + off, (size_t)(r - off));
            if (w > 0) {
                off += w;
            } else if (w < 0 && errno == EAGAIN) {
                struct pollfd p = {.fd = c, .events = POLLOUT};
                poll(&p, 1, 1000);
            } else {
                goto out;
            }
        }
        if (first)
            printf("child %d serving (epoll)\n", (int)getpid());
        first = false;
    }
out:
    close(c);
    printf("child %d done\n", (int)getpid());
}

static void inherited_child(int c, const char *how)
{
    struct timespec t = {0, 300 * 1000 * 1000};
    if (!strcmp(how, "echo")) {
        inherited_echo(c);
    } else if (!strcmp(how, "epoll")) {
        inherited_echo_epoll(c);
    } else if (!strcmp(how, "hello")) {
        write_all(c, "hello\n", 6);
        close(c);
    } else if (!strcmp(how, "late")) {
        struct timespec second = {1, 0};
        nanosleep(&second, NULL);
        char b[16];
        ssize_t r = read(c, b, sizeof b);
        printf("child %d read: %s\n", (int)getpid(), r < 0 ? strerror(errno) : "data or EOF");
    } else if (!strcmp(how, "greet")) {
        write_all(c, "hello\n", 6);
        printf("child %d greeted\n", (int)getpid());
        nanosleep(&t, NULL);
    } else {
        nanosleep(&t, NULL);
    }
    exit(0);
}

static int inheritserve(int port, const char *how)
{
    signal(SIGPIPE, SIG_IGN);
    int l = listen_on(port);
    printf("parent %d listening\n", (int)getpid());
    for (unsigned n = 0;; n++) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        pid_t p = fork();
        if (p == 0) {
            close(l);
            inherited_child(c, !strcmp(how, "twins") || !strcmp(how, "once") ? "echo" : how);
        }
        if (p > 0 && !strcmp(how, "twins") && fork() == 0) {
            close(l); /* a second child with a copy: after the first took it, a reset */
            struct timespec half = {0, 500 * 1000 * 1000};
            nanosleep(&half, NULL);
            char b[16];
            ssize_t r = read(c, b, sizeof b);
            printf("twin %d read: %s\n", (int)getpid(), r < 0 ? strerror(errno) : "data or EOF");
            exit(0);
        }
        close(c); /* at once: the child has its copy */
        printf("parent forked child %d for connection %u\n", (int)p, n + 1);
        if (!strcmp(how, "once"))
            exit(0); /* (a normal exit: what the child has not taken yet waits for it) */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
    return 0;
}

static int connect_to(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("lm_fork: connect");
        exit(1);
    }
    return fd;
}

static int expect_reset(const char *ip, int port)
{
    signal(SIGPIPE, SIG_IGN);
    int fd = connect_to(ip, port);
    static char out[65536], in[4096];
    memset(out, 'x', sizeof out);
    if (write_all(fd, out, sizeof out) < 0) {
        printf("ok reset (write: %s)\n", strerror(errno));
        return errno == ECONNRESET || errno == EPIPE ? 0 : 1;
    }
    size_t got = 0;
    for (int quiet = 0;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) <= 0) {
            /* a peer that vanished (its host, or its process's stack, killed) says nothing
             * until we send: one more byte a second */
            if (++quiet == 10) {
                fprintf(stderr, "lm_fork expectreset: nothing in 10 s\n");
                return 1;
            }
            if (write(fd, "y", 1) < 0) {
                printf("ok reset (write: %s)\n", strerror(errno));
                return errno == ECONNRESET || errno == EPIPE ? 0 : 1;
            }
            continue;
        }
        ssize_t r = read(fd, in, sizeof in);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0) {
            fprintf(stderr, "lm_fork expectreset: end of stream after %zu bytes, no reset\n", got);
            return 1;
        }
        printf("ok reset after %zu bytes read (%s)\n", got, strerror(errno));
        return errno == ECONNRESET ? 0 : 1;
    }
}

static int expect_hello(const char *ip, int port)
{
    int fd = connect_to(ip, port);
    char b[64];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0) {
            fprintf(stderr, "lm_fork expecthello: nothing in 10 s\n");
            return 1;
        }
        ssize_t r = read(fd, b + got, sizeof b - got);
        if (r < 0) {
            fprintf(stderr, "lm_fork expecthello: %s after %zu bytes\n", strerror(errno), got);
            return 1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got != 6 || memcmp(b, "hello\n", 6)) {
        fprintf(stderr, "lm_fork expecthello: %zu bytes before end of stream\n", got);
        return 1;
    }
    printf("ok hello, then end of stream\n");
    return 0;
}

/* ------------------------------------------------------------------ stream */

static unsigned char pattern(size_t i) { return (unsigned char)((i * 2654435761u) >> 13); }

static int stream_fd(int fd, size_t total, int pause_ms);

static int stream(const char *ip, int port, size_t total, int pause_ms)
{
    return stream_fd(connect_to(ip, port), total, pause_ms);
}

/* The parent connects, forks and closes its copy; the child streams on the inherited fd. */
static int stream_forked(const char *ip, int port, size_t total)
{
    int fd = connect_to(ip, port);
    pid_t p = fork();
    if (p == 0)
        exit(stream_fd(fd, total, 0));
    close(fd);
    int st = 1;
    if (p < 0 || waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "lm_fork streamfork: the child failed\n");
        return 1;
    }
    return 0;
}

static int stream_fd(int fd, size_t total, int pause_ms)
{
    fcntl(fd, F_SETFL, O_NONBLOCK);
    static unsigned char out[65536], in[65536];
    size_t sent = 0, got = 0;
    double deadline = now_s() + 60;
    while (got < total) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (now_s() > deadline) {
            fprintf(stderr, "lm_fork stream: stalled at %zu of %zu bytes echoed\n", got, total);
            return 1;
        }
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (sent < total && (p.revents & POLLOUT)) {
            size_t n = total - sent < sizeof out ? total - sent : sizeof out;
            for (size_t i = 0; i < n; i++)
                out[i] = pattern(sent + i);
            ssize_t w = write(fd, out, n);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN) {
                perror("lm_fork stream: write");
                return 1;
            }
            if (sent == total)
                shutdown(fd, SHUT_WR);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(fd, in, sizeof in);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                fprintf(stderr, "lm_fork stream: connection ended at %zu of %zu bytes (%s)\n", got,
                        total, r ? strerror(errno) : "EOF");
                return 1;
            }
            for (ssize_t i = 0; i < r; i++)
                if (in[i] != pattern(got + (size_t)i)) {
                    fprintf(stderr, "lm_fork stream: byte %zu differs\n", got + (size_t)i);
                    return 1;
                }
            if (r > 0)
                got += (size_t)r;
            if (pause_ms > 0 && got >= 1000000) {
                printf("pausing at %zu bytes\n", got);
                struct timespec t = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
                nanosleep(&t, NULL);
                pause_ms = 0;
            }
        }
    }
    close(fd);
    printf("ok stream %zu bytes echoed byte-exact\n", total);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 5 && !strcmp(argv[1], "daemon"))
        return daemon_serve(atoi(argv[2]), atoi(argv[3]), argv[4]);
    if (argc == 3 && !strcmp(argv[1], "forkserve"))
        return forkserve(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "dormantserve"))
        return dormantserve(atoi(argv[2]), argv[3]);
    if (argc == 5 && !strcmp(argv[1], "retireserve"))
        return retireserve(atoi(argv[2]), argv[3], argv[4]);
    if (argc == 4 && !strcmp(argv[1], "handoffserve"))
        return handoffserve(atoi(argv[2]), argv[3]);
    if (argc == 4 && !strcmp(argv[1], "inheritserve"))
        return inheritserve(atoi(argv[2]), argv[3]);
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "stream"))
        return stream(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10),
                      argc == 6 ? atoi(argv[5]) : 0);
    if (argc == 5 && !strcmp(argv[1], "streamfork"))
        return stream_forked(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
    if (argc == 4 && !strcmp(argv[1], "expectreset"))
        return expect_reset(argv[2], atoi(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "expecthello"))
        return expect_hello(argv[2], atoi(argv[3]));
    fprintf(stderr, "usage: lm_fork daemon PORT 1|2 PIDFILE | forkserve PORT | "
                    "dormantserve PORT GOFILE | retireserve PORT GOFILE ENDFILE | "
                    "handoffserve PORT GOFILE | "
                    "inheritserve PORT echo|epoll|greet|untouched|hello|late|twins|once | "
                    "stream IP PORT BYTES [PAUSE_MS] | streamfork IP PORT BYTES | "
                    "expectreset IP PORT | expecthello IP PORT\n");
    return 2;
}
