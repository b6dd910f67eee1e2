import Glibc
import HeraldWire
import NIOCore

/// `struct ucred` of Linux (pid, uid, gid), which Swift's Glibc module does not import
/// (it needs _GNU_SOURCE); same layout, filled by getsockopt(SO_PEERCRED).
struct LinuxPeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

extension WireOrigin {
    /// The connected peer's uid, gid and pid (SO_PEERCRED), read once when it connects.
    static func peer(of channel: any Channel) async -> WireOrigin? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        do {
            let credentials: LinuxPeerCredentials = try await provider.unsafeGetSocketOption(
                level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
            ).get()
            return WireOrigin(uid: credentials.uid, gid: credentials.gid, pid: UInt32(bitPattern: credentials.pid))
        } catch {
            return nil
        }
    }
}
