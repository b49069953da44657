/*
 * Pieces every native-bench program needs, kept in one place: stop on a
 * signal, a monotonic clock, IPv4 "HOST:PORT" parsing and socket buffer sizing.
 * Header-only (static functions), so each program still builds from one .c file.
 */
#ifndef NATIVE_BENCH_COMMON_H
#define NATIVE_BENCH_COMMON_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static volatile sig_atomic_t g_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "HOST:PORT" (IPv4; HOST may be a name) for a socket of `socktype`. 0 on success. */
static int parse_addr(const char *s, struct sockaddr_in *out, int socktype)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host || colon == s)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || !end || *end || port < 0 || port > 65535)
        return -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = socktype;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return -1;
    memcpy(out, res->ai_addr, sizeof *out);
    freeaddrinfo(res);
    out->sin_port = htons((uint16_t)port);
    return 0;
}

/* Socket buffer of `bytes`: the FORCE option (needs CAP_NET_ADMIN) first, else the
 * plain one (capped by net.core.[rw]mem_max); on failure the default stays. */
static void set_buf(int fd, int force_opt, int opt, int bytes)
{
    if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) != 0)
        (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

#endif
