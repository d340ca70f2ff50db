import CoreMetrics
public import Prometheus

/// The metrics system geard installs: swift-metrics into a Prometheus registry that `GET /metrics` emits.
public enum PrometheusMetrics {
    /// A factory whose names and labels are valid Prometheus names (`http.route` becomes `http_route`).
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        return factory
    }

    static func sanitize(_ name: String) -> String {
        var out = String(
            name.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_") ? Character(scalar) : "_"
            })
        if out.first?.isNumber == true { out = "_" + out }
        return out
    }
}
