import Foundation
public import HeraldJournal
public import HeraldService
public import Logging

/// Everything `heraldd` can be told, from a JSON config file and/or flags (flags win).
/// Every field is optional in the file; absent fields keep their defaults.
public struct DaemonConfiguration: Codable, Sendable, Equatable {
    /// Data folder (journal, index, cursors). Default: `$HERALD_DATA_DIR`, else `./herald-data`.
    public var dataDirectory: String?
    /// Default: `$HERALD_SOCKET`, else `<data dir>/heraldd.sock`.
    public var socket: String?
    /// Octal permission bits of the socket file, e.g. "0660".
    public var socketMode: String?
    public var socketGroup: String?
    /// `fsync` (default), `batch:MS` or `none`.
    public var durability: String?
    /// Remove sealed segments older than this (`7d`, `12h`…) or beyond this many bytes.
    public var retentionAge: String?
    public var retentionBytes: Int64?
    /// A segment is sealed (and becomes removable by retention) once it holds this many
    /// bytes. Default 64 MiB.
    public var segmentBytes: Int64?
    /// `trace`, `debug`, `info` (default), `notice`, `warning`, `error`, `critical`.
    public var logLevel: String?
    /// Where Prometheus text is served: `unix:PATH`, `PORT` or `127.0.0.1:PORT` (loopback only).
    public var metrics: String?
    /// Where the read-only auditors' console is served: `unix:PATH`, `PORT` or `127.0.0.1:PORT`.
    public var http: String?
    /// A token every console request must carry (`?token=` or `Authorization: Bearer`).
    public var httpToken: String?
    public var limits: Limits?
    public var access: [AccessPolicy.Rule]?

    public struct Limits: Codable, Sendable, Equatable {
        public var channelsMax: Int?
        public var eventDataBytesMax: Int?
        public var patternsMax: Int?
        public var patternBytesMax: Int?
        public var streamsPerConnectionMax: Int?
        public var frameBytesMax: Int?
        /// Channel opens one connection may hold (default 1024).
        public var opensPerConnectionMax: Int?
        /// Subscriptions one channel open may hold (default 256).
        public var subscriptionsPerOpenMax: Int?
        public init() {}
    }

    public init() {}

    /// Reads a JSON config file; unknown keys are an error (a typo should not be ignored).
    public static func load(from path: String) throws -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServerError.configuration("cannot read \(path)")
        }
        do {
            let object = try JSONSerialization.jsonObject(with: data)
            if let keys = (object as? [String: Any]).map({ Set($0.keys) }) {
                let known = Set(CodingKeys.allCases.map(\.stringValue))
                if let unknown = keys.subtracting(known).sorted().first {
                    throw ServerError.configuration("\(path): unknown key \"\(unknown)\"")
                }
            }
            return try JSONDecoder().decode(DaemonConfiguration.self, from: data)
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError.configuration("\(path): \(error)")
        }
    }

    /// `other`'s set fields over this one's.
    public func overridden(by other: DaemonConfiguration) -> DaemonConfiguration {
        var merged = self
        merged.dataDirectory = other.dataDirectory ?? dataDirectory
        merged.socket = other.socket ?? socket
        merged.socketMode = other.socketMode ?? socketMode
        merged.socketGroup = other.socketGroup ?? socketGroup
        merged.durability = other.durability ?? durability
        merged.retentionAge = other.retentionAge ?? retentionAge
        merged.retentionBytes = other.retentionBytes ?? retentionBytes
        merged.segmentBytes = other.segmentBytes ?? segmentBytes
        merged.logLevel = other.logLevel ?? logLevel
        merged.metrics = other.metrics ?? metrics
        merged.http = other.http ?? http
        merged.httpToken = other.httpToken ?? httpToken
        merged.limits = other.limits ?? limits
        merged.access = other.access ?? access
        return merged
    }

    // MARK: Resolved values

    public var resolvedDataDirectory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["HERALD_DATA_DIR"] ?? "herald-data"
    }

    public var resolvedSocket: String {
        socket ?? ProcessInfo.processInfo.environment["HERALD_SOCKET"] ?? resolvedDataDirectory + "/heraldd.sock"
    }

    public func journalOptions() throws -> JournalOptions {
        var options = JournalOptions()
        switch durability ?? "fsync" {
        case "fsync": options.durability = .fsync
        case "none": options.durability = .none
        case let text where text.hasPrefix("batch:"):
            guard let milliseconds = Int(text.dropFirst(6)), milliseconds > 0 else {
                throw ServerError.configuration("durability \(text): expected batch:MILLISECONDS")
            }
            options.durability = .batch(intervalMilliseconds: milliseconds)
        case let text:
            throw ServerError.configuration("durability \(text): expected fsync, batch:MS or none")
        }
        if let age = retentionAge {
            guard let nanoseconds = DurationText.nanoseconds(age), nanoseconds > 0 else {
                throw ServerError.configuration("retention age \(age): expected e.g. 7d, 12h, 30m")
            }
            options.retentionAge = nanoseconds
        }
        if let bytes = retentionBytes {
            guard bytes > 0 else { throw ServerError.configuration("retention bytes must be positive") }
            options.retentionBytes = bytes
        }
        if let bytes = segmentBytes {
            guard bytes >= 4096 else { throw ServerError.configuration("segment bytes must be at least 4096") }
            options.segmentBytesMax = bytes
        }
        if let data = limits?.eventDataBytesMax { options.limits.dataBytesMax = max(options.limits.dataBytesMax, data) }
        return options
    }

    public func serviceLimits() -> ServiceLimits {
        var service = ServiceLimits()
        if let value = limits?.channelsMax { service.channelsMax = value }
        if let value = limits?.eventDataBytesMax { service.eventDataBytesMax = value }
        if let value = limits?.patternsMax { service.patternsMax = value }
        if let value = limits?.patternBytesMax { service.patternBytesMax = value }
        if let value = limits?.subscriptionsPerOpenMax { service.subscriptionsPerOpenMax = max(1, value) }
        return service
    }

    public func socketOptions() throws -> SocketServer.Options {
        var options = SocketServer.Options(socketPath: resolvedSocket)
        if let text = socketMode {
            guard let mode = UInt32(text, radix: 8), mode <= 0o777 else {
                throw ServerError.configuration("socket mode \(text): expected octal like 0660")
            }
            options.socketMode = mode
        }
        options.socketGroup = socketGroup
        options.policy = AccessPolicy(rules: access ?? [])
        // The wire's limits are ceilings against abuse (a breach closes the connection);
        // the service's smaller limits are refusals (TOO_BIG) that leave it open.
        let service = serviceLimits()
        options.limits.dataBytesMax = max(service.eventDataBytesMax, 1 << 20)
        options.limits.patternsMax = max(service.patternsMax, 255)
        options.limits.patternBytesMax = max(service.patternBytesMax, 4096)
        options.limits.nameBytesMax = max(service.channelNameBytesMax, service.publisherNameBytesMax, 4096)
        options.limits.publisherNameBytesMax = max(service.publisherNameBytesMax, 4096)
        if let value = limits?.streamsPerConnectionMax { options.limits.streamsMax = value }
        if let value = limits?.frameBytesMax { options.limits.frameBytesMax = value }
        if let value = limits?.opensPerConnectionMax { options.limits.opensMax = max(1, value) }
        let frameNeeded = service.eventDataBytesMax + 64 * 1024
        guard options.limits.frameBytesMax >= frameNeeded else {
            throw ServerError.configuration("frameBytesMax must hold at least one largest event (\(frameNeeded) bytes)")
        }
        return options
    }

    public func resolvedLogLevel() throws -> Logger.Level {
        guard let text = logLevel else { return .info }
        guard let level = Logger.Level(rawValue: text) else {
            throw ServerError.configuration(
                "log level \(text): expected trace, debug, info, notice, warning, error or critical")
        }
        return level
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataDirectory, socket, socketMode, socketGroup, durability, retentionAge, retentionBytes, segmentBytes
        case logLevel
        case metrics, http, httpToken, limits, access
    }
}
