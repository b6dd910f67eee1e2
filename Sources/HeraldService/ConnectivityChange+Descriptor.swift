public import HeraldWire

extension ConnectivityChange {
    /// The heartbeat event code the descriptor carries.
    public var descriptor: EventDescriptor {
        switch self {
        case .interfaceAdded, .interfaceFailed: return .interface
        case .nodeEligible, .nodeIneligible: return .eligible
        case .connectionEstablished, .connectionLost: return .connect
        }
    }
}
