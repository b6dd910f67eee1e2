/// OCF event classes (`oc_ev_class_t`).
public enum EventClass: UInt32, Hashable, Sendable, CaseIterable {
    /// Connectivity (draft: `OC_EV_COMM_CLASS`, heartbeat: `OC_EV_CONN_CLASS`).
    case connectivity = 1
    case membership = 2
    case group = 3
}

/// An OCF event descriptor (`oc_ed_t`): class in the upper 10 bits, event in the lower 22.
public struct EventDescriptor: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public static let classShift: UInt32 = 22
    public static let eventMask: UInt32 = 0x3F_FFFF

    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ eventClass: EventClass, _ event: UInt32) {
        rawValue = eventClass.rawValue << Self.classShift | (event & Self.eventMask)
    }

    public var classCode: UInt32 { rawValue >> Self.classShift }
    public var eventClass: EventClass? { EventClass(rawValue: classCode) }
    public var event: UInt32 { rawValue & Self.eventMask }

    public var description: String { "class \(classCode) event \(event)" }

    // Membership events (class 2).
    public static let membershipInvalid = EventDescriptor(.membership, 0)
    public static let newMembership = EventDescriptor(.membership, 1)
    public static let notPrimary = EventDescriptor(.membership, 2)
    public static let primaryRestored = EventDescriptor(.membership, 3)
    public static let evicted = EventDescriptor(.membership, 4)

    // Connectivity events (class 1); Herald's extra codes follow heartbeat's 0...3.
    public static let connectivityInvalid = EventDescriptor(.connectivity, 0)
    public static let interface = EventDescriptor(.connectivity, 1)
    public static let eligible = EventDescriptor(.connectivity, 2)
    public static let connect = EventDescriptor(.connectivity, 3)

    // Group events (class 3).
    public static let groupInvalid = EventDescriptor(.group, 0)
    public static let join = EventDescriptor(.group, 1)
    public static let leave = EventDescriptor(.group, 2)
    public static let cast = EventDescriptor(.group, 3)
    public static let reply = EventDescriptor(.group, 4)
}
