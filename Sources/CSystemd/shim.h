// CSystemd: libsystemd (sd-bus, sd-journal, sd-daemon) for Swift.
// Only the SystemdBus and SystemdJournal targets import this module. Variadic libsystemd functions cannot be
// called from Swift; the few fixed-signature helpers they need live here as static inline functions.
#ifndef GEAR_CSYSTEMD_SHIM_H
#define GEAR_CSYSTEMD_SHIM_H

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <time.h>
#include <stdint.h>

/// CLOCK_MONOTONIC now in microseconds, the clock sd_bus_get_timeout() answers in.
static inline uint64_t gear_monotonic_usec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

#endif
