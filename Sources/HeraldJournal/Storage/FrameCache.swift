import Synchronization

/// One committed frame's decompressed records, kept in memory for readers that keep up.
/// Immutable after creation; owns its bytes, so views into them stay valid while it lives.
final class CachedFrame: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable; `base` is written only in init.
    let segment: SegmentID
    let offset: Int64
    let end: Int64
    let descriptor: FrameDescriptor
    let base: UnsafeMutableRawPointer
    let count: Int
    let offsets: [Int]
    /// A value per record that a reader's user derives from it (the service's delivery
    /// contents), made by the first reader that asks and then shared.
    private let derived = Mutex<AnyObject?>(nil)

    init(
        segment: SegmentID, offset: Int64, descriptor: FrameDescriptor, records: UnsafeRawBufferPointer, offsets: [Int]
    ) {
        self.segment = segment
        self.offset = offset
        self.end = offset + Int64(descriptor.frameLength)
        self.descriptor = descriptor
        self.count = records.count
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(records.count, 1), alignment: 16)
        if let source = records.baseAddress { base.copyMemory(from: source, byteCount: records.count) }
        self.offsets = offsets
    }

    deinit { base.deallocate() }

    /// `make` of every record, in order: made once, under the frame's lock, by the first
    /// caller, then shared. (One kind of value per frame: a caller asking for another type
    /// gets its own, unshared.)
    func shared<Value: Sendable>(_ make: (RecordView) -> Value) -> SharedValues<Value> {
        derived.withLock { derived in
            if let values = derived as? SharedValues<Value> { return values }
            let made = SharedValues((0..<offsets.count).map { make(record($0)) })
            if derived == nil { derived = made }
            return made
        }
    }

    func record(_ index: Int) -> RecordView {
        let start = offsets[index]
        let stop = index + 1 < offsets.count ? offsets[index + 1] : count
        return RecordCodec.viewUnchecked(UnsafeRawBufferPointer(start: base + start, count: stop - start))
    }
}

/// Values derived from a cached frame's records, one per record (a class: a reader checks
/// its type once per frame, without copying the array).
final class SharedValues<Value: Sendable>: Sendable {
    let values: [Value]
    init(_ values: [Value]) { self.values = values }
}

/// Recent frames, decompressed, shared by every reader of the journal: the first reader to
/// decode a frame of the active segment leaves it here, and every other reader that keeps
/// up takes it from memory instead of reading and decompressing the segment again. Filled
/// by readers, not by the writer, so appends pay nothing for it (filling it from the
/// writer cost about 15% of append throughput, measured). Oldest insertions leave first
/// once `capacityBytes` is exceeded.
final class FrameCache: Sendable {
    private struct State {
        var frames: [UInt64: CachedFrame] = [:]
        var order: [UInt64] = []
        var head = 0
        var bytes = 0
    }

    private let state = Mutex(State())
    let capacityBytes: Int

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    func insert(_ frame: CachedFrame) {
        guard capacityBytes > 0 else { return }
        state.withLock { state in
            let key = frame.descriptor.firstSequence.rawValue
            guard state.frames[key] == nil else { return }
            state.frames[key] = frame
            state.order.append(key)
            state.bytes += frame.count
            while state.bytes > capacityBytes && state.head < state.order.count {
                if let evicted = state.frames.removeValue(forKey: state.order[state.head]) {
                    state.bytes -= evicted.count
                }
                state.head += 1
            }
            if state.head > 4096 && state.head * 2 > state.order.count {
                state.order.removeFirst(state.head)
                state.head = 0
            }
        }
    }

    /// The cached frame whose first record is `sequence`.
    func frame(startingAt sequence: SequenceNumber) -> CachedFrame? {
        guard capacityBytes > 0 else { return nil }
        return state.withLock { $0.frames[sequence.rawValue] }
    }
}
