// A fixed-rate HTTPS load client with a client certificate (wrk cannot present one; Python's threads add
// milliseconds of their own jitter). CONNECTIONS threads, each with one keep-alive TLS connection, send
// `GET PATH` on a shared schedule of RATE requests per second for SECONDS; latency is measured from each
// request's scheduled time, so a stall shows in the requests queued behind it (no coordinated omission).
// Build: cc -O2 -pthread -o https-rate bench/https-rate.c -lssl -lcrypto
// Usage: https-rate HOST PORT PATH CERT KEY CA CONNECTIONS RATE SECONDS
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host, *path;
static int port, connections, seconds;
static double rate;
static SSL_CTX *context;
static struct timespec start;
static double *latencies;
static long *counts;
static long errors;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double seconds_since(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

static SSL *connect_tls(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) { close(fd); return NULL; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(context);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) { SSL_free(ssl); close(fd); return NULL; }
    return ssl;
}

/// Reads one response (headers and a Content-Length body); 1 when it was a 200.
static int read_response(SSL *ssl) {
    char buffer[65536];
    int have = 0, header_end = -1;
    long length = -1;
    while (header_end < 0) {
        int n = SSL_read(ssl, buffer + have, sizeof buffer - 1 - have);
        if (n <= 0) return -1;
        have += n;
        buffer[have] = 0;
        char *end = strstr(buffer, "\r\n\r\n");
        if (end) header_end = (int)(end - buffer) + 4;
    }
    for (char *line = buffer; line && line < buffer + header_end; line = strstr(line, "\r\n") ? strstr(line, "\r\n") + 2 : NULL) {
        if (strncasecmp(line, "content-length:", 15) == 0) length = strtol(line + 15, NULL, 10);
    }
    if (length < 0) return -1;
    int ok = strncmp(buffer, "HTTP/1.1 200", 12) == 0 || strncmp(buffer, "HTTP/1.0 200", 12) == 0;
    long remaining = length - (have - header_end);
    while (remaining > 0) {
        int n = SSL_read(ssl, buffer, remaining < (long)sizeof buffer ? (int)remaining : (int)sizeof buffer);
        if (n <= 0) return -1;
        remaining -= n;
    }
    return ok;
}

static void *worker(void *argument) {
    long index = (long)argument;
    double interval = connections / rate;
    long per = (long)(seconds * rate / connections) + 1;
    double *mine = latencies + index * per;
    long n = 0, failed = 0;
    SSL *ssl = connect_tls();
    char request[512];
    int length = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    for (;; n++) {
        double scheduled = 1.0 + index / rate + n * interval;
        if (scheduled - 1.0 >= seconds) break;
        struct timespec at = start;
        at.tv_sec += (time_t)scheduled;
        at.tv_nsec += (long)((scheduled - (double)(long)scheduled) * 1e9);
        if (at.tv_nsec >= 1000000000L) { at.tv_sec += 1; at.tv_nsec -= 1000000000L; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
        int ok = 0;
        if (ssl && SSL_write(ssl, request, length) == length) ok = read_response(ssl) == 1;
        if (!ok) {
            failed++;
            if (ssl) { close(SSL_get_fd(ssl)); SSL_free(ssl); }
            ssl = connect_tls();
        }
        mine[n] = seconds_since(&start) - scheduled;
    }
    counts[index] = n;
    pthread_mutex_lock(&lock);
    errors += failed;
    pthread_mutex_unlock(&lock);
    if (ssl) { SSL_shutdown(ssl); close(SSL_get_fd(ssl)); SSL_free(ssl); }
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: %s HOST PORT PATH CERT KEY CA CONNECTIONS RATE SECONDS\n", argv[0]);
        return 64;
    }
    host = argv[1]; port = atoi(argv[2]); path = argv[3];
    connections = atoi(argv[7]); rate = atof(argv[8]); seconds = atoi(argv[9]);
    context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(context, argv[4]) != 1 || SSL_CTX_use_PrivateKey_file(context, argv[5], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(context, argv[6], NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    long per = (long)(seconds * rate / connections) + 1;
    latencies = calloc((size_t)(per * connections), sizeof(double));
    counts = calloc((size_t)connections, sizeof(long));
    pthread_t threads[connections];
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < connections; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < connections; i++) pthread_join(threads[i], NULL);
    long total = 0;
    for (int i = 0; i < connections; i++) {
        memmove(latencies + total, latencies + i * per, (size_t)counts[i] * sizeof(double));
        total += counts[i];
    }
    qsort(latencies, (size_t)total, sizeof(double), compare);
#define P(q) (latencies[(long)((total - 1) * (q))] * 1000)
    printf("requests %ld (%.0f/s), errors %ld, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", total, total / (double)seconds,
        errors, P(0.5), P(0.9), P(0.99), latencies[total - 1] * 1000);
    return 0;
}
