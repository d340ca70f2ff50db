// Subscribers of geard's event stream for bench/events.sh (Python's parsing of 50 streams took more CPU than
// geard itself and inflated the latency it measured). SUBSCRIBERS connections send `GET /events?since=SINCE` at
// once and are read by one epoll loop; each NDJSON line's "seq" and "time" are read and the delivery latency is
// the wall clock at receipt minus the event's time. It stops when every connection has seen the event numbered
// UNTIL, read from UNTIL_FILE (written by the load when it finished; SINCE_FILE.ready is created once all are
// connected). Reports events received, whether each subscriber got every number from SINCE+1 to UNTIL exactly
// once and in order (no loss, no gap marker), how many were container state changes, and latency p50/p99/max.
// Build: cc -O2 -o event-subscribers bench/event-subscribers.c
// Usage: event-subscribers PORT SINCE SUBSCRIBERS UNTIL_FILE
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    char *buffer;
    size_t length, capacity;
    int in_body;
    long long next_seq;  // the seq expected next
    long long last_seq;
    int broken;          // a gap, a repeat or a number out of order
    long received, state_changes;
} Subscriber;

static double *latencies;
static size_t latency_count, latency_capacity;

static double now_unix(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

// "2026-12-01T10:00:00.123456Z" -> seconds since the epoch.
static double parse_time(const char *text) {
    struct tm tm = {0};
    int micros = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
               &micros) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + micros / 1e6;
}

static void record_latency(double ms) {
    if (latency_count == latency_capacity) {
        latency_capacity = latency_capacity ? latency_capacity * 2 : 1 << 16;
        latencies = realloc(latencies, latency_capacity * sizeof(double));
    }
    latencies[latency_count++] = ms;
}

// One NDJSON line (an event): check its number, measure its latency.
static void event_line(Subscriber *s, const char *line, double received_at) {
    const char *seq = strstr(line, "\"seq\":");
    const char *time = strstr(line, "\"time\":\"");
    if (strstr(line, "\"type\":\"gap\"")) s->broken = 1;
    if (!seq || !time) return;
    long long n = atoll(seq + 6);
    if (n != s->next_seq) s->broken = 1;
    s->next_seq = n + 1;
    s->last_seq = n;
    s->received++;
    if (strstr(line, "\"type\":\"container.")) s->state_changes++;
    record_latency((received_at - parse_time(time + 8)) * 1000);
}

// Consumes what is complete in the buffer: headers, then chunks of the chunked body holding NDJSON lines.
static void consume(Subscriber *s, double received_at) {
    size_t at = 0;
    if (!s->in_body) {
        char *end = memmem(s->buffer, s->length, "\r\n\r\n", 4);
        if (!end) return;
        at = end - s->buffer + 4;
        s->in_body = 1;
    }
    static char *lines;
    static size_t lines_length, lines_capacity;
    for (;;) {
        char *eol = memmem(s->buffer + at, s->length - at, "\r\n", 2);
        if (!eol) break;
        size_t size = strtoul(s->buffer + at, NULL, 16);
        size_t data = eol - s->buffer + 2;
        if (s->length < data + size + 2) break;
        // The chunk's lines (geard writes whole lines per chunk).
        if (lines_capacity < size + 1) {
            lines_capacity = size + 1;
            lines = realloc(lines, lines_capacity);
        }
        memcpy(lines, s->buffer + data, size);
        lines[size] = 0;
        lines_length = size;
        for (char *line = lines; line < lines + lines_length;) {
            char *newline = memchr(line, '\n', lines + lines_length - line);
            if (newline) *newline = 0;
            event_line(s, line, received_at);
            if (!newline) break;
            line = newline + 1;
        }
        at = data + size + 2;
    }
    memmove(s->buffer, s->buffer + at, s->length - at);
    s->length -= at;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT SINCE SUBSCRIBERS UNTIL_FILE\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long long since = atoll(argv[2]);
    int count = atoi(argv[3]);
    const char *until_file = argv[4];
    Subscriber *subscribers = calloc(count, sizeof(Subscriber));
    int epoll = epoll_create1(0);
    char request[256];
    snprintf(request, sizeof request, "GET /events?since=%lld HTTP/1.1\r\nHost: bench\r\nAccept: application/x-ndjson\r\n\r\n", since);
    for (int i = 0; i < count; i++) {
        Subscriber *s = &subscribers[i];
        s->fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        if (connect(s->fd, (struct sockaddr *)&address, sizeof address) != 0) {
            perror("connect");
            return 1;
        }
        if (write(s->fd, request, strlen(request)) < 0) return 1;
        s->capacity = 1 << 20;
        s->buffer = malloc(s->capacity);
        s->next_seq = since + 1;
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(epoll, EPOLL_CTL_ADD, s->fd, &event);
    }
    char ready[512];
    snprintf(ready, sizeof ready, "%s.ready", until_file);
    fclose(fopen(ready, "w"));
    long long until = -1;
    for (;;) {
        struct epoll_event events[64];
        int n = epoll_wait(epoll, events, 64, 200);
        double received_at = now_unix();
        for (int i = 0; i < n; i++) {
            Subscriber *s = events[i].data.ptr;
            if (s->capacity - s->length < 65536) {
                s->capacity *= 2;
                s->buffer = realloc(s->buffer, s->capacity);
            }
            ssize_t r = read(s->fd, s->buffer + s->length, s->capacity - s->length);
            if (r <= 0) {
                epoll_ctl(epoll, EPOLL_CTL_DEL, s->fd, NULL);
                continue;
            }
            s->length += r;
            consume(s, received_at);
        }
        if (until < 0) {
            FILE *f = fopen(until_file, "r");
            if (f) {
                if (fscanf(f, "%lld", &until) != 1) until = -1;
                fclose(f);
            }
        }
        if (until >= 0) {
            int done = 1;
            for (int i = 0; i < count; i++) done &= subscribers[i].last_seq >= until;
            if (done) break;
        }
    }
    long total = 0, complete = 0, states = 0;
    for (int i = 0; i < count; i++) {
        total += subscribers[i].received;
        states = subscribers[i].state_changes;
        complete += !subscribers[i].broken && subscribers[i].received == until - since;
    }
    qsort(latencies, latency_count, sizeof(double), compare);
    printf("subscribers: %d, events %lld..%lld (%lld, of them %ld container state changes), received %ld (expected %lld), "
           "complete and in order: %ld/%d\n",
           count, since + 1, until, until - since, states, total, (until - since) * count, complete, count);
    printf("delivery latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", latencies[latency_count / 2],
           latencies[(size_t)(latency_count * 0.99)], latencies[latency_count - 1]);
    return 0;
}
