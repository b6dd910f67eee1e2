import HeraldJournal
public import HeraldWire

/// Who published an event, as the daemon read it from the publisher's socket
/// (SO_PEERCRED). Unlike the SAF publisher name, which the client chooses, it cannot be
/// forged by the client.
///
/// On disk: record flag bit `PublisherOrigin.flag` set, and the record's publisher field
/// starts with uid, gid, pid (u32 LE each) before the SAF publisher name.
public struct PublisherOrigin: Hashable, Sendable, CustomStringConvertible {
    public static let flag: UInt8 = RecordCodec.originFlag
    static let encodedBytes = RecordCodec.originBytes

    public var uid: UInt32
    public var gid: UInt32
    public var pid: UInt32

    public init(uid: UInt32, gid: UInt32, pid: UInt32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    public var description: String { "uid=\(uid) gid=\(gid) pid=\(pid)" }

    /// The record's publisher field for `name` published by `origin` with `route` (flags
    /// `PublisherOrigin.flag` and `RecordCodec.routeFlag` announce them).
    static func publisherField(_ origin: PublisherOrigin?, route: EventRoute? = nil, name: [UInt8]) -> [UInt8] {
        var field: [UInt8] = []
        if let origin {
            field += [UInt8](littleEndian: origin.uid)
            field += [UInt8](littleEndian: origin.gid)
            field += [UInt8](littleEndian: origin.pid)
        }
        if let route { field += route.recordBlock }
        return field + name
    }

    /// Splits a record's publisher field into origin and SAF publisher name (a route block
    /// between them is skipped: `route(flags:publisher:)` reads it).
    public static func split<Bytes: Collection<UInt8>>(flags: UInt8, publisher: Bytes) -> (
        origin: PublisherOrigin?, name: [UInt8]
    ) where Bytes.Index == Int {
        let base = publisher.startIndex
        let nameStart =
            publisher.withContiguousStorageIfAvailable {
                RecordCodec.nameStart(flags: flags, field: UnsafeRawBufferPointer($0))
            } ?? Array(publisher).withUnsafeBytes { RecordCodec.nameStart(flags: flags, field: $0) }
        guard flags & flag != 0, publisher.count >= encodedBytes else {
            return (nil, Array(publisher[(base + nameStart)...]))
        }
        func u32(_ offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(publisher[base + offset + $1]) << (8 * $1) }
        }
        return (
            PublisherOrigin(uid: u32(0), gid: u32(4), pid: u32(8)),
            Array(publisher[(base + nameStart)...])
        )
    }

    /// The route block of a record's publisher field, if its flags announce one: nil for an
    /// unrouted record (a broadcast); empty when the field is too short for the block.
    public static func routeBlock(flags: UInt8, publisher: [UInt8]) -> ArraySlice<UInt8>? {
        guard flags & RecordCodec.routeFlag != 0 else { return nil }
        let start = flags & flag != 0 ? encodedBytes : 0
        guard publisher.count >= start + 2 else { return [] }
        let length = Int(publisher[start]) | Int(publisher[start + 1]) << 8
        guard length >= 2, start + length <= publisher.count else { return [] }
        return publisher[start..<start + length]
    }

    /// The route a record carries (nil: none, or one that does not decode).
    public static func route(flags: UInt8, publisher: [UInt8]) -> EventRoute? {
        routeBlock(flags: flags, publisher: publisher).flatMap { EventRoute(recordBlock: $0) }
    }
}
