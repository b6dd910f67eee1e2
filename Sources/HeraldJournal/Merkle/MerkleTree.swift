import CHeraldSupport
import Foundation

/// The journal's Merkle tree (RFC 9162, `Merkle`), kept so that a proof over millions of
/// records costs a few hundred hashes:
///
/// - the hash of every complete *tile* (256 consecutive leaves, a level-8 node) and of every
///   complete node above the tiles, in memory (about 64 bytes per 256 records: 2.5 MB for
///   10 M records);
/// - the leaf hashes of the last, incomplete tile;
/// - those hashes in a file beside the segments (`merkle.tiles`: each tile's hash, then the
///   nodes it completed, 32 bytes each), so that opening rehashes only the records after the
///   last stored tile.
///
/// A node below the tile level inside a complete tile is recomputed from that tile's 256
/// records, read from the segments. The tree is derived data, like the index: the file is
/// rebuilt from the segments when it is missing, and trimmed when it is longer than the
/// journal (a torn tail was cut). Leaves stay provable while their records are retained;
/// tiles keep the tree whole after retention removed old segments.
public final class MerkleTree {
    public static let fileName = "merkle.tiles"
    public static let tileLevel = 8
    public static let tileLeaves: UInt64 = 1 << 8

    /// Leaves in the tree.
    public private(set) var size: UInt64 = 0
    /// Complete nodes per level: `counts[0]` tiles, `counts[k]` nodes of level 8 + k.
    private var counts = [Int](repeating: 0, count: 57)
    /// Nodes added since the tree was opened, per level, from index `firstAdded[k]` on; the
    /// ones before are read from the file when a proof needs them (opening reads nothing).
    private var added = [[ChainHash]](repeating: [], count: 57)
    private var firstAdded = [Int](repeating: 0, count: 57)
    /// The file's descriptor, for reading stored nodes (-1: no file).
    private let descriptor: Int32
    /// Leaf hashes of the incomplete last tile, 32 bytes each (`tailCount` of them): hashed
    /// and reduced to the tile's hash in place, with no allocation per leaf or node.
    private var tailBytes = [UInt8](repeating: 0, count: Int(tileLeaves) * ChainHash.byteCount)
    private var tailCount = 0
    private var tail: [ChainHash] {
        (0..<tailCount).map { ChainHash(bytes: Array(tailBytes[$0 * 32..<($0 + 1) * 32])) }
    }
    private let journal: Journal
    private let file: FileHandle?
    /// The last complete tile whose leaves were read back (a proof reads one or two).
    private var cachedTile: (index: UInt64, leaves: [ChainHash])?

    /// Opens the tree of `journal`: loads `merkle.tiles` from its folder and hashes the
    /// records after the last stored tile. `writable`: new complete tiles are appended to
    /// the file (heraldd); otherwise the file is only read (the CLI, read-only).
    public init(journal: Journal, directory: String, writable: Bool) throws {
        self.journal = journal
        let path = directory + "/" + Self.fileName
        let available = journal.head.sequence.rawValue / Self.tileLeaves
        if writable && !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = writable ? FileHandle(forUpdatingAtPath: path) : FileHandle(forReadingAtPath: path)
        if writable && handle == nil { throw JournalError.io(operation: "open", path: path, errno: errno) }
        descriptor = handle?.fileDescriptor ?? -1
        // Complete groups in the file (a torn last group, or tiles of a journal tail that
        // was cut, are left out).
        let bytes = UInt64((try? handle?.seekToEnd()) ?? 0)
        var low: UInt64 = 0
        var high = min(available, bytes / UInt64(ChainHash.byteCount))
        while low < high {
            let middle = (low + high + 1) / 2
            if Self.offset(ofTile: middle) <= bytes { low = middle } else { high = middle - 1 }
        }
        let tiles = low
        for level in 0..<counts.count {
            counts[level] = Int(tiles >> UInt64(level))
            firstAdded[level] = counts[level]
        }
        if writable, let handle {
            try handle.truncate(atOffset: Self.offset(ofTile: tiles))
            try handle.seekToEnd()
        }
        file = handle
        size = tiles * Self.tileLeaves
        try catchUp()
    }

    /// Where tile `t`'s group starts in the file. The file holds each tile's hash followed
    /// by the hashes of the nodes it completed (tile t completes trailingZeroBitCount(t + 1)
    /// of them), so the first t groups hold t tiles and t − popcount(t) nodes.
    static func offset(ofTile t: UInt64) -> UInt64 {
        (2 * t - UInt64(t.nonzeroBitCount)) * UInt64(ChainHash.byteCount)
    }

    /// The complete node `index` of `level` (0: tiles), from memory or the file.
    private func node(_ level: Int, _ index: Int) throws -> ChainHash {
        if index >= firstAdded[level] { return added[level][index - firstAdded[level]] }
        // Node (level, j) is completed by tile (j + 1)·2^level − 1, at place `level` in its group.
        let tile = UInt64(index + 1) << UInt64(level) - 1
        let position = Self.offset(ofTile: tile) + UInt64(level * ChainHash.byteCount)
        var bytes = [UInt8](repeating: 0, count: ChainHash.byteCount)
        let read = bytes.withUnsafeMutableBytes {
            pread(descriptor, $0.baseAddress, ChainHash.byteCount, off_t(position))
        }
        guard read == ChainHash.byteCount else {
            throw JournalError.io(operation: "read", path: Self.fileName, errno: read < 0 ? errno : EIO)
        }
        return ChainHash(bytes: bytes)
    }

    deinit { try? file?.close() }

    /// Hashes the records appended since the tree was last brought up to date. After an
    /// error, open the tree again.
    public func catchUp(limit: Int = .max) throws {
        let head = min(journal.head.sequence.rawValue, size &+ UInt64(clamping: limit))
        guard head > size else { return }
        let first = SequenceNumber(size + 1)
        guard first >= journal.oldestSequence else {
            throw MerkleError.notHashed(leaf: size, oldest: journal.oldestSequence.rawValue)
        }
        let reader = try journal.reader(from: .sequence(first))
        try reader.nextView { view in
            try append(leaf: view.bytes)
            return size < head
        }
    }

    /// Hashes a leaf into the tail; a full tail becomes a tile.
    private func append(leaf: UnsafeRawBufferPointer) throws {
        let offset = tailCount * ChainHash.byteCount
        tailBytes.withUnsafeMutableBytes { tail in
            herald_merkle_leaf(
                leaf.baseAddress, leaf.count, (tail.baseAddress! + offset).assumingMemoryBound(to: UInt8.self))
        }
        tailCount += 1
        size += 1
        guard tailCount == Int(Self.tileLeaves) else { return }
        // The tile's root: pairs reduced level by level, in place (node i is written after
        // its children 2i and 2i + 1 are read, and never over an unread one).
        tailBytes.withUnsafeMutableBytes { nodes in
            let base = nodes.baseAddress!
            var count = Int(Self.tileLeaves)
            while count > 1 {
                for index in 0..<count / 2 {
                    herald_merkle_node(
                        (base + 2 * index * 32).assumingMemoryBound(to: UInt8.self),
                        (base + index * 32).assumingMemoryBound(to: UInt8.self))
                }
                count /= 2
            }
        }
        let tile = ChainHash(bytes: Array(tailBytes[0..<ChainHash.byteCount]))
        tailCount = 0
        let completed = try appendTile(tile)
        // After a failed write (a full disk) the tree must be opened again: opening trims a
        // partly written group.
        if let file {
            var bytes = tile.bytes
            for node in completed { bytes += node.bytes }
            try file.write(contentsOf: bytes)
        }
    }

    /// Adds a tile and the nodes it completes; returns those nodes, lowest first.
    private func appendTile(_ tile: ChainHash) throws -> [ChainHash] {
        added[0].append(tile)
        counts[0] += 1
        var completed: [ChainHash] = []
        var level = 0
        // A new right child completes its parent.
        while counts[level] % 2 == 0 {
            let count = counts[level]
            let parent = Merkle.nodeHash(try node(level, count - 2), try node(level, count - 1))
            added[level + 1].append(parent)
            counts[level + 1] += 1
            completed.append(parent)
            level += 1
        }
        return completed
    }

    /// MTH of a run of leaf hashes.
    private func root(of leaves: ArraySlice<ChainHash>) -> ChainHash {
        if leaves.count == 1 { return leaves.first! }
        let k = Int(Merkle.split(UInt64(leaves.count)))
        let start = leaves.startIndex
        return Merkle.nodeHash(
            root(of: leaves[start..<start + k]), root(of: leaves[(start + k)...]))
    }

    /// MTH of leaves [start, end), end ≤ `size`.
    public func subtreeHash(_ start: UInt64, _ end: UInt64) throws -> ChainHash {
        precondition(start < end && end <= size, "subtree \(start)..<\(end) of a tree of \(size)")
        let count = end - start
        if count & (count - 1) == 0 && start % count == 0 {
            let level = count.trailingZeroBitCount
            if level >= Self.tileLevel && Int(start >> level) < counts[level - Self.tileLevel] {
                return try node(level - Self.tileLevel, Int(start >> level))
            }
            if count <= Self.tileLeaves {
                let tile = start / Self.tileLeaves
                let offset = Int(start % Self.tileLeaves)
                let leaves = try tileLeaves(tile)
                return root(of: leaves[offset..<offset + Int(count)])
            }
        }
        if count == 1 { return try tileLeaves(start / Self.tileLeaves)[Int(start % Self.tileLeaves)] }
        let k = Merkle.split(count)
        return Merkle.nodeHash(try subtreeHash(start, start + k), try subtreeHash(start + k, end))
    }

    /// The leaf hashes of tile `index` (the incomplete last tile's from memory, a complete
    /// one's from its records in the segments).
    private func tileLeaves(_ index: UInt64) throws -> [ChainHash] {
        if index == size / Self.tileLeaves { return tail }
        if let cachedTile, cachedTile.index == index { return cachedTile.leaves }
        let first = SequenceNumber(index * Self.tileLeaves + 1)
        guard first >= journal.oldestSequence else {
            throw MerkleError.notRetained(leaf: first.rawValue - 1, oldest: journal.oldestSequence.rawValue)
        }
        var leaves: [ChainHash] = []
        leaves.reserveCapacity(Int(Self.tileLeaves))
        let reader = try journal.reader(from: .sequence(first))
        try reader.nextView { view in
            leaves.append(Merkle.leafHash(view.bytes))
            return leaves.count < Int(Self.tileLeaves)
        }
        guard leaves.count == Int(Self.tileLeaves) else {
            throw MerkleError.notRetained(leaf: first.rawValue - 1, oldest: journal.oldestSequence.rawValue)
        }
        // The stored tile hash must be what the records hash to now.
        guard root(of: leaves[...]) == (try node(0, Int(index))) else {
            throw MerkleError.tileMismatch(tile: index, firstSequence: first.rawValue)
        }
        cachedTile = (index, leaves)
        return leaves
    }

    /// The first stored node (tile or above, as leaves `first..<end`) that differs from
    /// `other`'s, comparing every complete node both hold: `audit verify` compares the stored
    /// tree with one rebuilt from every record.
    public func firstDifference(from other: MerkleTree) throws -> (first: UInt64, end: UInt64)? {
        for level in 0..<counts.count where counts[level] > 0 && other.counts[level] > 0 {
            for index in 0..<min(counts[level], other.counts[level])
            where try node(level, index) != other.node(level, index) {
                let span = Self.tileLeaves << UInt64(level)
                return (UInt64(index) * span, UInt64(index + 1) * span)
            }
        }
        return nil
    }

    /// The root of the tree of the first `treeSize` leaves.
    public func root(size treeSize: UInt64) throws -> ChainHash {
        try checkSize(treeSize)
        return treeSize == 0 ? Merkle.emptyRoot : try subtreeHash(0, treeSize)
    }

    public var root: ChainHash { get throws { try root(size: size) } }

    /// The exact bytes of leaf `index` (the record of sequence `index + 1`).
    public func leaf(_ index: UInt64) throws -> [UInt8] {
        let sequence = SequenceNumber(index + 1)
        guard index < size else { throw MerkleError.beyondTree(size: index + 1, tree: size) }
        guard sequence >= journal.oldestSequence else {
            throw MerkleError.notRetained(leaf: index, oldest: journal.oldestSequence.rawValue)
        }
        var bytes: [UInt8] = []
        let reader = try journal.reader(from: .sequence(sequence))
        try reader.nextView { view in
            bytes = Array(view.bytes)
            return false
        }
        return bytes
    }

    public func inclusionProof(index: UInt64, size treeSize: UInt64) throws -> [ChainHash] {
        try checkSize(treeSize)
        guard index < treeSize else { throw MerkleError.beyondTree(size: index + 1, tree: treeSize) }
        return try Merkle.inclusionPath(index: index, size: treeSize, subtreeHash: subtreeHash)
    }

    public func consistencyProof(first: UInt64, second: UInt64) throws -> [ChainHash] {
        try checkSize(second)
        guard first <= second else { throw MerkleError.beyondTree(size: first, tree: second) }
        return try Merkle.consistencyProof(first: first, second: second, subtreeHash: subtreeHash)
    }

    private func checkSize(_ treeSize: UInt64) throws {
        guard treeSize <= size else { throw MerkleError.beyondTree(size: treeSize, tree: size) }
    }
}

public enum MerkleError: Error, Equatable, CustomStringConvertible {
    /// A tree size beyond the tree (or a leaf beyond the tree size asked for).
    case beyondTree(size: UInt64, tree: UInt64)
    /// The leaf's record (or a record of its tile) was removed by retention.
    case notRetained(leaf: UInt64, oldest: UInt64)
    /// Records were removed before the tree hashed them (its tile file was lost).
    case notHashed(leaf: UInt64, oldest: UInt64)
    /// A stored tile hash differs from what its records hash to now: the segments or the
    /// tile file were altered.
    case tileMismatch(tile: UInt64, firstSequence: UInt64)

    public var description: String {
        switch self {
        case .beyondTree(let size, let tree): return "tree size \(size) is beyond the tree (\(tree) leaves)"
        case .notRetained(let leaf, let oldest):
            return "leaf \(leaf) (sequence \(leaf + 1)) is not retained: the oldest record is \(oldest)"
        case .notHashed(let leaf, let oldest):
            return
                "the Merkle tree stops at leaf \(leaf) but the oldest retained record is \(oldest): "
                + "records were removed before they were hashed (\(MerkleTree.fileName) was lost)"
        case .tileMismatch(let tile, let first):
            return
                "tile \(tile) (sequences \(first)...\(first + MerkleTree.tileLeaves - 1)) does not hash to the "
                + "stored tree: the segments or \(MerkleTree.fileName) were altered"
        }
    }
}
