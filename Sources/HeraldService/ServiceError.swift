/// The event service's errors, one case per SA Forum `SaAisErrorT` code (same numbers), so
/// the C bindings, the wire protocol and the CLI can share one table.
public enum ServiceError: Int32, Error, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case library = 2
    case version = 3
    case initialization = 4
    case timeout = 5
    case tryAgain = 6
    case invalidParameter = 7
    case noMemory = 8
    case badHandle = 9
    case busy = 10
    case access = 11
    case notExist = 12
    case nameTooLong = 13
    case exist = 14
    case noSpace = 15
    case interrupt = 16
    case nameNotFound = 17
    case noResources = 18
    case notSupported = 19
    case badOperation = 20
    case failedOperation = 21
    case messageError = 22
    case queueFull = 23
    case queueNotAvailable = 24
    case badFlags = 25
    case tooBig = 26
    case noSections = 27
    case noOperation = 28
    case repairPending = 29
    case noBindings = 30
    case unavailable = 31

    /// The C name, e.g. `SA_AIS_ERR_NOT_EXIST`.
    public var aisName: String {
        switch self {
        case .library: return "SA_AIS_ERR_LIBRARY"
        case .version: return "SA_AIS_ERR_VERSION"
        case .initialization: return "SA_AIS_ERR_INIT"
        case .timeout: return "SA_AIS_ERR_TIMEOUT"
        case .tryAgain: return "SA_AIS_ERR_TRY_AGAIN"
        case .invalidParameter: return "SA_AIS_ERR_INVALID_PARAM"
        case .noMemory: return "SA_AIS_ERR_NO_MEMORY"
        case .badHandle: return "SA_AIS_ERR_BAD_HANDLE"
        case .busy: return "SA_AIS_ERR_BUSY"
        case .access: return "SA_AIS_ERR_ACCESS"
        case .notExist: return "SA_AIS_ERR_NOT_EXIST"
        case .nameTooLong: return "SA_AIS_ERR_NAME_TOO_LONG"
        case .exist: return "SA_AIS_ERR_EXIST"
        case .noSpace: return "SA_AIS_ERR_NO_SPACE"
        case .interrupt: return "SA_AIS_ERR_INTERRUPT"
        case .nameNotFound: return "SA_AIS_ERR_NAME_NOT_FOUND"
        case .noResources: return "SA_AIS_ERR_NO_RESOURCES"
        case .notSupported: return "SA_AIS_ERR_NOT_SUPPORTED"
        case .badOperation: return "SA_AIS_ERR_BAD_OPERATION"
        case .failedOperation: return "SA_AIS_ERR_FAILED_OPERATION"
        case .messageError: return "SA_AIS_ERR_MESSAGE_ERROR"
        case .queueFull: return "SA_AIS_ERR_QUEUE_FULL"
        case .queueNotAvailable: return "SA_AIS_ERR_QUEUE_NOT_AVAILABLE"
        case .badFlags: return "SA_AIS_ERR_BAD_FLAGS"
        case .tooBig: return "SA_AIS_ERR_TOO_BIG"
        case .noSections: return "SA_AIS_ERR_NO_SECTIONS"
        case .noOperation: return "SA_AIS_ERR_NO_OP"
        case .repairPending: return "SA_AIS_ERR_REPAIR_PENDING"
        case .noBindings: return "SA_AIS_ERR_NO_BINDINGS"
        case .unavailable: return "SA_AIS_ERR_UNAVAILABLE"
        }
    }

    public var description: String { aisName }
}
