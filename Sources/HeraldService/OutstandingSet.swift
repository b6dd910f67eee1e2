/// The sequence numbers delivered and not yet acknowledged, with the lowest one in O(1)
/// amortized. Deliveries mostly come in increasing order (an older retained event for a
/// later subscription is the exception, placed by binary search); acknowledgements may come
/// in any order.
struct OutstandingSet: Sendable {
    private var members = Set<UInt64>()
    /// Members in delivery (increasing) order, plus acknowledged ones not yet dropped.
    private var order: [UInt64] = []
    private var head = 0

    var count: Int { members.count }
    var isEmpty: Bool { members.isEmpty }

    func contains(_ value: UInt64) -> Bool { members.contains(value) }

    mutating func insert(_ value: UInt64) {
        guard members.insert(value).inserted else { return }
        if order.last.map({ $0 < value }) ?? true {
            order.append(value)
            return
        }
        var low = head
        var high = order.count
        while low < high {
            let middle = (low + high) / 2
            if order[middle] < value { low = middle + 1 } else { high = middle }
        }
        order.insert(value, at: low)
    }

    /// Removes `value`; false if it was not outstanding.
    mutating func remove(_ value: UInt64) -> Bool {
        guard members.remove(value) != nil else { return false }
        while head < order.count && !members.contains(order[head]) { head += 1 }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return true
    }

    /// The lowest outstanding sequence number.
    var lowest: UInt64? { head < order.count ? order[head] : nil }
}
