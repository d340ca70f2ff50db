public import CoreMetrics
public import Prometheus

/// The metrics system geard and gear-orchestrator install: swift-metrics into a Prometheus registry that `GET /metrics` emits, in the form
/// `promtool check metrics` accepts: names and labels valid (`http.route` becomes `http_route`), every family with a
/// `# HELP` line, counters ending in `_total` (Hummingbird's `hb_requests` is `hb_requests_total`).
public enum PrometheusMetrics {
    public static func factory(registry: PrometheusCollectorRegistry) -> GearMetricsFactory {
        GearMetricsFactory(registry: registry)
    }

    /// What each family means, by its Prometheus name. A family without an entry gets a generic text.
    static let help: [String: String] = [
        "hb_requests_total": "HTTP requests answered, by route pattern, method and status",
        "hb_request_errors_total": "HTTP requests whose handler threw, by route pattern, method and status",
        "http_server_request_duration": "Time to answer an HTTP request, in seconds",
        "http_server_active_requests": "HTTP requests being answered now",
        "gear_jobs_queued": "Jobs accepted and waiting to run",
        "gear_jobs_running": "Jobs running now",
        "gear_job_duration_seconds": "How long jobs ran, by kind and outcome",
        "gear_systemd_reloads_total": "systemd daemon-reloads geard asked for",
        "gear_log_streams_open": "Log answers being written now (follows included)",
        "gear_event_streams_open": "Event answers being written now (follows included)",
        "gear_file_transfer_bytes_total": "Bytes of file bodies moved, by direction",
        "gear_tls_handshakes_total": "TLS handshakes, by outcome (http1, http2, failed)",
        "gear_connections_refused_total": "Connections closed on accept: the listener's or the client address's connection limit was reached",
        "gear_containers_health": "Containers with a health check that run, by health status (starting, healthy, unhealthy)",
        "gear_health_checks_total": "Health checks run, by result",
        "gear_header_timeouts_total": "HTTP/1 connections closed because a request head did not arrive within the header timeout",
        "gear_orchestrator_leader": "1 while this orchestrator replica leads",
        "gear_orchestrator_terms_total": "Terms of leadership this replica began",
        "gear_orchestrator_deployments": "Deployments in etcd, as the leader last counted them",
        "gear_orchestrator_instances": "Instances of every deployment, by the state their status gives",
        "gear_orchestrator_cache_revision": "The etcd revision the leader's caches hold",
        "gear_orchestrator_writes_total": "The leader's transactions, written or refused as a conflict",
        "gear_orchestrator_instances_written_total": "Desired entries the leader wrote, by action (create, replace, delete)",
        "gear_orchestrator_rescheduled_total": "Instances taken off nodes silent past their grace period",
    ]

    /// The Prometheus name of a swift-metrics label; counters get `_total` when they lack it.
    static func name(_ label: String, counter: Bool = false) -> String {
        var out = String(
            label.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_") ? Character(scalar) : "_"
            })
        if out.first?.isNumber == true { out = "_" + out }
        if counter && !out.hasSuffix("_total") { out += "_total" }
        return out
    }

    static func labels(_ dimensions: [(String, String)]) -> [(String, String)] {
        dimensions.map { (name($0.0), $0.1) }
    }

    static func helpText(_ name: String) -> String { help[name] ?? "gear's \(name)" }
}

/// swift-metrics' factory over the registry with the names, `_total` suffixes and help texts of `PrometheusMetrics`
/// (swift-prometheus' own factory registers every family without help text).
public struct GearMetricsFactory: CoreMetrics.MetricsFactory, Sendable {
    let registry: PrometheusCollectorRegistry
    /// Seconds, for request and job durations (swift-prometheus' defaults).
    let durationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    let valueBuckets: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    private func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: PrometheusMetrics.helpText(name))
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(PrometheusMetrics.name(label, counter: true)), labels: PrometheusMetrics.labels(dimensions))
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(PrometheusMetrics.name(label, counter: true)), labels: PrometheusMetrics.labels(dimensions))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let name = PrometheusMetrics.name(label)
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(name), labels: PrometheusMetrics.labels(dimensions)) }
        return registry.makeValueHistogram(descriptor: descriptor(name), labels: PrometheusMetrics.labels(dimensions), buckets: valueBuckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(PrometheusMetrics.name(label)), labels: PrometheusMetrics.labels(dimensions))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: descriptor(PrometheusMetrics.name(label)), labels: PrometheusMetrics.labels(dimensions), buckets: durationBuckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: registry.unregisterGauge(gauge)
        case let histogram as Prometheus.Histogram<Double>: registry.unregisterValueHistogram(histogram)
        default: break
        }
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? Prometheus.Histogram<Duration> { registry.unregisterDurationHistogram(histogram) }
    }
}
