import CoreMetrics

/// The daemon's metrics, through swift-metrics (the daemon bootstraps a Prometheus backend;
/// embedders and tests get whatever backend is bootstrapped, or none).
struct ServerMetrics: Sendable {
    let deliveries = Counter(label: "herald_deliveries_total")
    let acks = Counter(label: "herald_acks_total")
    let publishes = Counter(label: "herald_published_events_total")
    /// Publish requests answered on the direct path (socket reader → journal → reply).
    let directPublishes = Counter(label: "herald_publish_requests_direct_total")
    let refused = Counter(label: "herald_refused_requests_total")
    let badFrames = Counter(label: "herald_bad_frames_total")
    let connections = Gauge(label: "herald_connections")
    let connectionsTotal = Counter(label: "herald_connections_total")
}
