import HeraldJournal

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

    /// The record's publisher field for `name` published by `origin`.
    static func publisherField(_ origin: PublisherOrigin?, name: [UInt8]) -> [UInt8] {
        guard let origin else { return name }
        var field = [UInt8](littleEndian: origin.uid)
        field += [UInt8](littleEndian: origin.gid)
        field += [UInt8](littleEndian: origin.pid)
        return field + name
    }

    /// Splits a record's publisher field into origin and SAF publisher name.
    public static func split<Bytes: Collection<UInt8>>(flags: UInt8, publisher: Bytes) -> (
        origin: PublisherOrigin?, name: [UInt8]
    ) where Bytes.Index == Int {
        guard flags & flag != 0, publisher.count >= encodedBytes else { return (nil, Array(publisher)) }
        let base = publisher.startIndex
        func u32(_ offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(publisher[base + offset + $1]) << (8 * $1) }
        }
        return (
            PublisherOrigin(uid: u32(0), gid: u32(4), pid: u32(8)),
            Array(publisher[(base + encodedBytes)...])
        )
    }
}
