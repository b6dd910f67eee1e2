import HeraldJournal
import HeraldWire

extension ChannelRegistry {
    static let snapshotVersion: UInt8 = 1

    /// The whole state as bytes: version, next channel id, membership payload, then each
    /// channel (id, name, linked, openers, retained events), all little-endian.
    public func snapshot() -> [UInt8] {
        var bytes: [UInt8] = [Self.snapshotVersion]
        bytes.appendLE(nextChannelID)
        let membership = self.membership?.encoded() ?? []
        bytes.appendLE(UInt32(membership.count))
        bytes += membership
        bytes.appendLE(UInt32(channels.count))
        for channel in channels.values.sorted(by: { $0.id < $1.id }) {
            bytes.appendLE(channel.id)
            bytes.appendLE(UInt16(channel.name.count))
            bytes += channel.name
            bytes.append(channel.linked ? 1 : 0)
            bytes.appendLE(UInt32(channel.openers.count))
            for (opener, flags) in channel.openers.sorted(by: { $0.key < $1.key }) {
                bytes.appendLE(opener)
                bytes.append(flags.rawValue)
            }
            bytes.appendLE(UInt32(channel.retained.count))
            for event in channel.retained {
                bytes.appendLE(event.sequence.rawValue)
                bytes.appendLE(event.expires)
            }
        }
        return bytes
    }

    /// Replaces the state with a snapshot's; false (state unchanged) if the bytes are not one.
    mutating func adopt(snapshot bytes: [UInt8]) -> Bool {
        var reader = ByteReader(bytes)
        guard reader.u8() == Self.snapshotVersion, let next = reader.u32(), let membershipLength = reader.u32(),
            let membershipBytes = reader.bytes(Int(membershipLength)), let channelCount = reader.u32()
        else { return false }
        let membership = membershipLength == 0 ? nil : MembershipEvent(decoding: membershipBytes)
        if membershipLength > 0 && membership == nil { return false }
        var channels: [UInt32: Channel] = [:]
        var byName: [[UInt8]: UInt32] = [:]
        for _ in 0..<channelCount {
            guard let id = reader.u32(), let nameLength = reader.u16(), let name = reader.bytes(Int(nameLength)),
                let linked = reader.u8(), let openerCount = reader.u32(), openerCount <= bytes.count
            else { return false }
            var openers: [UInt64: ChannelOpenFlags] = [:]
            for _ in 0..<openerCount {
                guard let opener = reader.u64(), let flags = reader.u8() else { return false }
                openers[opener] = ChannelOpenFlags(rawValue: flags)
            }
            guard let retainedCount = reader.u32(), retainedCount <= bytes.count else { return false }
            var retained: [RetainedEvent] = []
            for _ in 0..<retainedCount {
                guard let sequence = reader.u64(), let expires = reader.u64() else { return false }
                let number = SequenceNumber(sequence)
                retained.append(
                    RetainedEvent(id: EventID(sequence: number), sequence: number, expires: Int64(bitPattern: expires)))
            }
            channels[id] = Channel(id: id, name: name, linked: linked == 1, openers: openers, retained: retained)
            if linked == 1 { byName[name] = id }
        }
        guard reader.atEnd else { return false }
        self.channels = channels
        self.byName = byName
        self.nextChannelID = next
        self.membership = membership
        return true
    }
}

extension ByteReader {
    mutating func u64() -> UInt64? {
        bytes(8).map { $0.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
    }
}
