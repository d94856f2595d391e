/*
 * libmtp_exec.c — the exec family keeps libmtp.so and its configuration: a program started
 * with an environment of its own (execve, execvpe, execle, fexecve, posix_spawn[p]) gets
 * LD_PRELOAD with this library and every MTP_* variable of ours it does not set itself.
 * (execv, execvp, execl and execlp pass `environ`, which has them already.)
 *
 * MTP sockets do not survive exec: the new program finds their fds as unconnected kernel
 * sockets (the stack lived in the old image), where a kernel socket without FD_CLOEXEC would
 * keep its connection. Applications that exec mark their sockets FD_CLOEXEC in practice.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmtp.h"

extern char **environ;

static const char *self_path(void)
{
    static char path[PATH_MAX];
    Dl_info info;
    if (!path[0] && dladdr((void *)self_path, &info) && info.dli_fname)
        if (!realpath(info.dli_fname, path))
            path[0] = 0;
    return path[0] ? path : NULL;
}

static const char *lookup(char *const envp[], const char *name, size_t len)
{
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], name, len) && envp[i][len] == '=')
            return envp[i] + len + 1;
    return NULL;
}

/* envp with LD_PRELOAD and our MTP_* added where missing (malloc'd), or NULL: nothing to add
 * (or no memory: the program then runs with the environment it asked for). */
static char **env_with_us(char *const envp[])
{
    const char *self = self_path();
    if (!self || !g_lm.configured)
        return NULL;
    const char *pre = lookup(envp, "LD_PRELOAD", 10);
    bool need_preload = !pre || !strstr(pre, self);
    size_t n = 0, extra = 0;
    while (envp && envp[n])
        n++;
    for (char **e = environ; e && *e; e++) {
        size_t len = strcspn(*e, "=");
        if (!strncmp(*e, "MTP_", 4) && !lookup(envp, *e, len))
            extra++;
    }
    if (!need_preload && !extra)
        return NULL;
    char **out = calloc(n + extra + 2, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], "LD_PRELOAD=", 11) || !need_preload)
            out[k++] = envp[i];
    for (char **e = environ; e && *e; e++) {
        size_t len = strcspn(*e, "=");
        if (!strncmp(*e, "MTP_", 4) && !lookup(envp, *e, len))
            out[k++] = *e;
    }
    if (need_preload) {
        size_t len = strlen(self) + (pre ? strlen(pre) + 1 : 0) + 12;
        char *v = malloc(len);
        if (!v) {
            free(out);
            return NULL;
        }
        strcpy(v, "LD_PRELOAD=");
        strcat(v, self);
        if (pre && *pre) {
            strcat(v, ":");
            strcat(v, pre);
        }
        out[k++] = v;
    }
    out[k] = NULL;
    return out;
}

static void env_free(char **env, char *const orig[])
{
    if (!env)
        return;
    for (size_t i = 0; env[i]; i++)
        if (!strncmp(env[i], "LD_PRELOAD=", 11) && lookup(orig, "LD_PRELOAD", 10) != env[i] + 11)
            free(env[i]);
    free(env);
}

LM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    char **env = env_with_us(envp);
    int rc = lm_real.execve(path, argv, env ? env : envp);
    int err = errno;
    env_free(env, envp);
    errno = err;
    return rc;
}

LM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    static int (*real)(const char *, char *const[], char *const[]);
    if (!real)
        real = dlsym(RTLD_NEXT, "execvpe");
    char **env = env_with_us(envp);
    int rc = real(file, argv, env ? env : envp);
    int err = errno;
    env_free(env, envp);
    errno = err;
    return rc;
}

LM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    static int (*real)(int, char *const[], char *const[]);
    if (!real)
        real = dlsym(RTLD_NEXT, "fexecve");
    char **env = env_with_us(envp);
    int rc = real(fd, argv, env ? env : envp);
    int err = errno;
    env_free(env, envp);
    errno = err;
    return rc;
}

LM_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n = 1;
    va_start(ap, arg);
    while (va_arg(ap, const char *))
        n++;
    va_end(ap);
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) {
        errno = ENOMEM;
        return -1;
    }
    va_start(ap, arg);
    argv[0] = (char *)arg;
    for (size_t i = 1; i <= n; i++)
        argv[i] = va_arg(ap, char *);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    int rc = execve(path, argv, envp);
    int err = errno;
    free(argv);
    errno = err;
    return rc;
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);

static int spawn(const char *name, pid_t *pid, const char *path,
                 const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
                 char *const argv[], char *const envp[])
{
    spawn_fn real = (spawn_fn)dlsym(RTLD_NEXT, name);
    char **env = env_with_us(envp);
    int rc = real(pid, path, fa, at, argv, env ? env : envp);
    env_free(env, envp);
    return rc;
}

LM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    return spawn("posix_spawn", pid, path, fa, at, argv, envp);
}

LM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    return spawn("posix_spawnp", pid, file, fa, at, argv, envp);
}
