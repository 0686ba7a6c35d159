/* The interpreter line of the sandbox's Python stand-ins when tests/standin_server.py runs: a launcher starting
 * "#!/opt/standins/lib/standin-client -S" is run by the kernel as
 *     standin-client -S SCRIPT ARGS...
 * which is what it would pass /usr/bin/python3 for "#!/usr/bin/python3 -S" (without -S: the server with site). This client hands the server its
 * stdin, stdout and stderr (SCM_RIGHTS), its argv, environment, umask and signal state; the server forks a
 * child of its already started interpreter that enters this process's root, cwd and namespaces and runs
 * SCRIPT as python3 -S would. The client forwards the signals it can catch to that child and exits the way
 * the child did. Whenever the server is not there or declines (see the server), the client execs
 * /usr/bin/python3 with exactly the words the kernel gave it: the stand-in then runs as it always did. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The server for python3 -S, and the one for python3 with site. */
#define SOCKET_PATH "/opt/standins/lib/standin-server.sock"
#define SITE_SOCKET_PATH "/opt/standins/lib/standin-site-server.sock"
#define PYTHON "/usr/bin/python3"

extern char **environ;
static volatile pid_t child = 0;

static void python(int argc, char **argv) {
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (args == NULL) _exit(127);
    args[0] = PYTHON;
    for (int i = 1; i < argc; i++) args[i] = argv[i];
    execv(PYTHON, args);
    perror(PYTHON);
    _exit(127);
}

static void forward(int sig) {
    if (child > 0) kill(child, sig);
}

static int read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Appends "word\0" to the payload. */
static int add(char **buf, size_t *len, size_t *cap, const char *word) {
    size_t n = strlen(word) + 1;
    while (*len + n > *cap) {
        *cap = *cap * 2 + n;
        char *grown = realloc(*buf, *cap);
        if (grown == NULL) return -1;
        *buf = grown;
    }
    memcpy(*buf + *len, word, n);
    *len += n;
    return 0;
}

int main(int argc, char **argv) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, argc > 1 && strcmp(argv[1], "-S") == 0 ? SOCKET_PATH : SITE_SOCKET_PATH);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) python(argc, argv);

    /* The payload: umask, ignored signals, blocked signals (both as hex bit masks of signals 1..64), argc - 1,
     * the words after argv[0], then the environment; each NUL-terminated. */
    mode_t mask = umask(0);
    umask(mask);
    unsigned long long ignored = 0, blocked = 0;
    sigset_t set;
    sigprocmask(SIG_BLOCK, NULL, &set);
    for (int sig = 1; sig <= 64; sig++) {
        struct sigaction action;
        if (sigaction(sig, NULL, &action) == 0 && action.sa_handler == SIG_IGN) ignored |= 1ULL << (sig - 1);
        if (sigismember(&set, sig) == 1) blocked |= 1ULL << (sig - 1);
    }
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap), word[64];
    if (buf == NULL) python(argc, argv);
    snprintf(word, sizeof word, "%o", (unsigned)mask);
    int bad = add(&buf, &len, &cap, word);
    snprintf(word, sizeof word, "%llx", ignored);
    bad |= add(&buf, &len, &cap, word);
    snprintf(word, sizeof word, "%llx", blocked);
    bad |= add(&buf, &len, &cap, word);
    snprintf(word, sizeof word, "%d", argc - 1);
    bad |= add(&buf, &len, &cap, word);
    for (int i = 1; i < argc; i++) bad |= add(&buf, &len, &cap, argv[i]);
    for (char **e = environ; *e != NULL; e++) bad |= add(&buf, &len, &cap, *e);
    if (bad) python(argc, argv);

    /* The header: the payload's length, with stdin, stdout and stderr attached. */
    uint32_t size = (uint32_t)len;
    int fds[3] = {0, 1, 2};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct iovec iov = {.iov_base = &size, .iov_len = sizeof size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof fds);
    if (sendmsg(fd, &msg, 0) != (ssize_t)sizeof size || write_all(fd, buf, len) != 0) python(argc, argv);
    free(buf);

    /* The answer: "F" (run python3 yourself) or "P" and the child's pid, then its wait status. */
    char answer;
    if (read_all(fd, &answer, 1) != 0 || answer != 'P') python(argc, argv);
    int32_t pid, status;
    if (read_all(fd, &pid, sizeof pid) != 0) _exit(127);
    child = pid;
    int signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction action;
        if (sigaction(signals[i], NULL, &action) == 0 && action.sa_handler == SIG_IGN) continue;
        memset(&action, 0, sizeof action);
        action.sa_handler = forward;
        sigaction(signals[i], &action, NULL);
    }
    if (read_all(fd, &status, sizeof status) != 0) _exit(127);
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
    _exit(128 + sig);
}
