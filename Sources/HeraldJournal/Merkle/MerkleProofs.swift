import CHeraldSupport

/// The Merkle tree of RFC 9162 §2.1 over the journal's records: leaf *i* is the record with
/// sequence number *i + 1*, exactly as encoded in the segments.
///
///     leaf hash  = SHA-256(0x00 ‖ record bytes)
///     node hash  = SHA-256(0x01 ‖ left ‖ right)
///     MTH(D[n])  = the hash of the n leaves, split at the largest power of two below n
///
/// The algorithms here work on any `subtreeHash(start, end)` (MTH of leaves
/// [start, end)); `MerkleTree` supplies one from stored hashes.
public enum Merkle {
    /// MTH of an empty tree: SHA-256 of nothing.
    public static let emptyRoot = ChainHash(hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")!

    /// SHA-256(0x00 ‖ leaf), with no allocation but the result's.
    static func leafHash(_ leaf: UnsafeRawBufferPointer) -> ChainHash {
        ChainHash(
            bytes: [UInt8](unsafeUninitializedCapacity: 32) { out, count in
                herald_merkle_leaf(leaf.baseAddress, leaf.count, out.baseAddress)
                count = 32
            })
    }

    public static func leafHash(_ leaf: [UInt8]) -> ChainHash {
        leaf.withUnsafeBytes { leafHash($0) }
    }

    /// SHA-256(0x01 ‖ left ‖ right).
    static func nodeHash(_ left: ChainHash, _ right: ChainHash) -> ChainHash {
        let pair = left.bytes + right.bytes
        return ChainHash(
            bytes: [UInt8](unsafeUninitializedCapacity: 32) { out, count in
                herald_merkle_node(pair, out.baseAddress)
                count = 32
            })
    }

    /// The largest power of two smaller than `n` (n ≥ 2).
    static func split(_ n: UInt64) -> UInt64 {
        precondition(n >= 2)
        return UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// The audit path of leaf `index` in the tree of the first `size` leaves (RFC 9162
    /// §2.1.3.1: PATH(m, D[n])), leaf-side first.
    public static func inclusionPath(
        index: UInt64, size: UInt64, subtreeHash: (UInt64, UInt64) throws -> ChainHash
    ) rethrows -> [ChainHash] {
        precondition(index < size)
        var path: [ChainHash] = []
        var (start, end) = (UInt64(0), size)
        // From the root down; the siblings are collected root-side first, then reversed.
        while end - start > 1 {
            let k = split(end - start)
            if index < start + k {
                path.append(try subtreeHash(start + k, end))
                end = start + k
            } else {
                path.append(try subtreeHash(start, start + k))
                start += k
            }
        }
        return path.reversed()
    }

    /// The consistency proof between the trees of the first `first` and `second` leaves
    /// (RFC 9162 §2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true)), leaf-side first.
    public static func consistencyProof(
        first: UInt64, second: UInt64, subtreeHash: (UInt64, UInt64) throws -> ChainHash
    ) rethrows -> [ChainHash] {
        precondition(first <= second)
        guard first > 0, first < second else { return [] }
        var proof: [ChainHash] = []
        var (m, start, end, complete) = (first, UInt64(0), second, true)
        while true {
            let n = end - start
            if m == n {
                if !complete { proof.append(try subtreeHash(start, end)) }
                break
            }
            let k = split(n)
            if m <= k {
                proof.append(try subtreeHash(start + k, end))
                end = start + k
            } else {
                proof.append(try subtreeHash(start, start + k))
                m -= k
                start += k
                complete = false
            }
        }
        return proof.reversed()
    }

    /// RFC 9162 §2.1.3.2: whether `path` proves that the leaf of hash `leaf` is leaf
    /// `index` of the tree of `size` leaves whose root is `root`.
    public static func verifyInclusion(
        leaf: ChainHash, index: UInt64, size: UInt64, path: [ChainHash], root: ChainHash
    ) -> Bool {
        guard index < size else { return false }
        var (fn, sn) = (index, size - 1)
        var r = leaf
        for p in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: whether `proof` proves that the tree of `first` leaves (root
    /// `firstRoot`) is a prefix of the tree of `second` leaves (root `secondRoot`).
    public static func verifyConsistency(
        first: UInt64, second: UInt64, proof: [ChainHash], firstRoot: ChainHash, secondRoot: ChainHash
    ) -> Bool {
        guard first <= second else { return false }
        if first == second { return proof.isEmpty && firstRoot == secondRoot }
        if first == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        // A power-of-two first tree is itself a node of the second: it starts the path.
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }
        var (fn, sn) = (first - 1, second - 1)
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == firstRoot && sr == secondRoot && sn == 0
    }
}
