/// The sequence numbers delivered and not yet acknowledged, with the lowest one in O(1)
/// amortized. Deliveries mostly come in increasing order (an older retained event for a
/// later subscription is the exception, placed by binary search); acknowledgements may come
/// in any order.
///
/// A sorted array of the delivered sequence numbers with a "still outstanding" flag each,
/// from `head` on: no hashing per delivery or acknowledgement (a set was ~10 % of heraldd's
/// replay profile). Membership is a binary search; entries before the lowest outstanding
/// one are dropped in bulk. Each entry also keeps its delivery's size, so that the window
/// can be bounded in bytes as well as in deliveries.
struct OutstandingSet: Sendable {
    /// Delivered sequence numbers in increasing order, from `head`.
    private var order: [UInt64] = []
    /// `live[i]`: `order[i]` is still outstanding.
    private var live: [Bool] = []
    /// `sizes[i]`: the bytes `order[i]`'s delivery counts for.
    private var sizes: [UInt32] = []
    private var head = 0
    private(set) var count = 0
    /// The bytes of the outstanding deliveries.
    private(set) var bytes = 0

    var isEmpty: Bool { count == 0 }

    func contains(_ value: UInt64) -> Bool {
        guard let index = position(of: value) else { return false }
        return live[index]
    }

    mutating func insert(_ value: UInt64, bytes size: Int = 0) {
        let size = UInt32(clamping: size)
        if head == order.count || order[order.count - 1] < value {
            order.append(value)
            live.append(true)
            sizes.append(size)
            count += 1
            bytes += Int(size)
            return
        }
        let index = lowerBound(value)
        if index < order.count && order[index] == value {
            if !live[index] {
                live[index] = true
                sizes[index] = size
                count += 1
                bytes += Int(size)
            }
            return
        }
        order.insert(value, at: index)
        live.insert(true, at: index)
        sizes.insert(size, at: index)
        count += 1
        bytes += Int(size)
    }

    /// Removes `value`; false if it was not outstanding.
    mutating func remove(_ value: UInt64) -> Bool {
        guard let index = position(of: value), live[index] else { return false }
        live[index] = false
        count -= 1
        bytes -= Int(sizes[index])
        while head < order.count && !live[head] { head += 1 }
        if head == order.count {
            order.removeAll(keepingCapacity: true)
            live.removeAll(keepingCapacity: true)
            sizes.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            live.removeFirst(head)
            sizes.removeFirst(head)
            head = 0
        }
        return true
    }

    /// The lowest outstanding sequence number.
    var lowest: UInt64? { head < order.count ? order[head] : nil }

    private func position(of value: UInt64) -> Int? {
        guard head < order.count, value >= order[head], value <= order[order.count - 1] else { return nil }
        // Acknowledgements come mostly in order: try the front first.
        if order[head] == value { return head }
        let index = lowerBound(value)
        return index < order.count && order[index] == value ? index : nil
    }

    private func lowerBound(_ value: UInt64) -> Int {
        var low = head
        var high = order.count
        while low < high {
            let middle = (low + high) / 2
            if order[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
