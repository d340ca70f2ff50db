#if canImport(Glibc)
    import Glibc
#endif

/// Every log follower holds a journal handle (a descriptor per journal file plus an inotify one) and every client
/// a socket: 1,024 descriptors (the usual soft limit) run out at a few hundred followers. geard uses epoll, never
/// select(), so it raises its soft limit to the hard one, as systemd advises for such programs.
enum FileLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit; answers the limit in force.
    @discardableResult
    static func raise() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
