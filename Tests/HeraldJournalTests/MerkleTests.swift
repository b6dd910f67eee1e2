import CLibCrypto
import Foundation
import Testing

@testable import HeraldJournal

/// The Merkle tree of RFC 9162 over the journal's records. Proofs are checked by the
/// library's verifiers and by an independent one written here (a recursive reconstruction,
/// not the RFC's iterative algorithm the library uses), against a naive MTH of the leaves.
@Suite struct MerkleTests {
    // MARK: An independent reference, from RFC 9162 §2.1's definitions

    final class Reference {
        let leaves: [[UInt8]]
        private var memo: [UInt64: ChainHash] = [:]
        init(_ leaves: [[UInt8]]) { self.leaves = leaves }

        /// SHA-256 straight from libcrypto's one-shot digest (not the journal's hasher).
        static func sha(_ bytes: [UInt8]) -> ChainHash {
            var out = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 0
            bytes.withUnsafeBytes { input in
                _ = EVP_Digest(input.baseAddress, input.count, &out, &length, EVP_sha256(), nil)
            }
            return ChainHash(bytes: out)
        }

        /// MTH(D[a:b]), memoized.
        func mth(_ a: UInt64, _ b: UInt64) -> ChainHash {
            if a == b { return Self.sha([]) }
            let key = a << 32 | b
            if let known = memo[key] { return known }
            let value: ChainHash
            if b - a == 1 {
                value = Self.sha([0] + leaves[Int(a)])
            } else {
                var k: UInt64 = 1
                while k * 2 < b - a { k *= 2 }
                value = Self.sha([1] + mth(a, a + k).bytes + mth(a + k, b).bytes)
            }
            memo[key] = value
            return value
        }

        /// SUBPROOF(m, D[a:b], flag), recursively, as the RFC writes it.
        func subproof(_ m: UInt64, _ a: UInt64, _ b: UInt64, _ complete: Bool) -> [ChainHash] {
            if m == b - a { return complete ? [] : [mth(a, b)] }
            var k: UInt64 = 1
            while k * 2 < b - a { k *= 2 }
            if m <= k { return subproof(m, a, a + k, complete) + [mth(a + k, b)] }
            return subproof(m - k, a + k, b, false) + [mth(a, a + k)]
        }

        /// Rebuilds the root from a leaf and its audit path by descending the tree's shape:
        /// nil if the path does not fit it.
        static func rootFromPath(
            leaf: ChainHash, index: UInt64, _ a: UInt64, _ b: UInt64, path: inout [ChainHash]
        ) -> ChainHash? {
            if b - a == 1 { return leaf }
            guard let sibling = path.popLast() else { return nil }
            var k: UInt64 = 1
            while k * 2 < b - a { k *= 2 }
            if index < a + k {
                guard let left = rootFromPath(leaf: leaf, index: index, a, a + k, path: &path) else { return nil }
                return sha([1] + left.bytes + sibling.bytes)
            }
            guard let right = rootFromPath(leaf: leaf, index: index, a + k, b, path: &path) else { return nil }
            return sha([1] + sibling.bytes + right.bytes)
        }
    }

    /// The test leaves used by Certificate Transparency's implementations, with the roots
    /// of their first 1...8 (values published with those implementations' tests).
    static let ctLeaves: [[UInt8]] = [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43], Array(0x50...0x57),
        Array(0x60...0x6F),
    ]
    static let ctRoots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    @Test func rootsOfTheKnownTestVectors() {
        let reference = Reference(Self.ctLeaves)
        for size in 1...8 {
            #expect(reference.mth(0, UInt64(size)).hex == Self.ctRoots[size - 1], "size \(size)")
        }
        #expect(Merkle.emptyRoot == Reference.sha([]))
        #expect(Merkle.leafHash([]).hex == Self.ctRoots[0])
    }

    @Test func everyInclusionProofOfTreesUpTo300Leaves() {
        let leaves = (0..<300).map { i in [UInt8](repeating: UInt8(i & 0xFF), count: i % 7) + [UInt8(i >> 8)] }
        let reference = Reference(leaves)
        var checked = 0
        for size in UInt64(1)...300 {
            let root = reference.mth(0, size)
            for index in 0..<size {
                let path = Merkle.inclusionPath(index: index, size: size, subtreeHash: reference.mth)
                let leaf = reference.mth(index, index + 1)
                var remaining = path
                let rebuilt = Reference.rootFromPath(leaf: leaf, index: index, 0, size, path: &remaining)
                #expect(rebuilt == root && remaining.isEmpty, "leaf \(index) of \(size)")
                #expect(Merkle.verifyInclusion(leaf: leaf, index: index, size: size, path: path, root: root))
                checked += 1
            }
            // The library's verifier refuses a wrong index, size, leaf or path.
            let index = size / 2
            let path = Merkle.inclusionPath(index: index, size: size, subtreeHash: reference.mth)
            let leaf = reference.mth(index, index + 1)
            if size > 1 {
                #expect(
                    !Merkle.verifyInclusion(leaf: leaf, index: (index + 1) % size, size: size, path: path, root: root))
                #expect(
                    !Merkle.verifyInclusion(
                        leaf: reference.mth(0, 1) == leaf ? reference.mth(1, 2) : reference.mth(0, 1), index: index,
                        size: size, path: path, root: root))
                var bad = path
                var bytes = bad[0].bytes
                bytes[5] ^= 1
                bad[0] = ChainHash(bytes: bytes)
                #expect(!Merkle.verifyInclusion(leaf: leaf, index: index, size: size, path: bad, root: root))
                #expect(
                    !Merkle.verifyInclusion(
                        leaf: leaf, index: index, size: size, path: Array(path.dropLast()), root: root))
            }
        }
        #expect(checked == 300 * 301 / 2)
    }

    @Test func everyConsistencyProofUpTo64() {
        let leaves = (0..<64).map { [UInt8]("leaf \($0)".utf8) }
        let reference = Reference(leaves)
        for second in UInt64(1)...64 {
            for first in UInt64(1)...second {
                let proof = Merkle.consistencyProof(first: first, second: second, subtreeHash: reference.mth)
                let expected = first == second ? [] : reference.subproof(first, 0, second, true)
                #expect(proof == expected, "\(first) → \(second)")
                let (a, b) = (reference.mth(0, first), reference.mth(0, second))
                #expect(
                    Merkle.verifyConsistency(first: first, second: second, proof: proof, firstRoot: a, secondRoot: b))
                if first < second {
                    // Another first tree, a damaged proof element: refused.
                    let other = reference.mth(0, first == 1 ? 2 : first - 1)
                    #expect(
                        !Merkle.verifyConsistency(
                            first: first, second: second, proof: proof, firstRoot: other, secondRoot: b))
                    var bad = proof
                    var bytes = bad[bad.count - 1].bytes
                    bytes[0] ^= 0x80
                    bad[bad.count - 1] = ChainHash(bytes: bytes)
                    #expect(
                        !Merkle.verifyConsistency(first: first, second: second, proof: bad, firstRoot: a, secondRoot: b)
                    )
                }
            }
        }
    }

    // MARK: The tree kept beside a real journal

    func journal(_ directory: String, records: Int, from start: Int = 0) throws -> Journal {
        let journal = try Journal.open(at: directory, options: JournalOptions())
        var entries: [JournalEntry] = []
        for i in start..<start + records {
            entries.append(
                JournalEntry(
                    time: Int64(i), descriptor: 0xC0_0003, channel: UInt32(i % 3), priority: 1, flags: 0,
                    publisher: Array("p\(i % 5)".utf8), data: Array("event \(i)".utf8)))
            if entries.count == 100 {
                _ = try journal.appendAndWait(entries)
                entries.removeAll()
            }
        }
        if !entries.isEmpty { _ = try journal.appendAndWait(entries) }
        return journal
    }

    func recordBytes(_ journal: Journal) throws -> [[UInt8]] {
        var all: [[UInt8]] = []
        let reader = try journal.reader(from: .oldest)
        try reader.nextView { view in
            all.append(Array(view.bytes))
            return true
        }
        return all
    }

    func readOnlyOptions() -> JournalOptions {
        var options = JournalOptions()
        options.readOnly = true
        return options
    }

    func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "herald-merkle-" + UUID().uuidString.prefix(8)
    }

    @Test func theJournalsTreeMatchesTheReferenceAndSurvivesReopening() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var journal = try self.journal(directory, records: 1000)
        var tree = try MerkleTree(journal: journal, directory: directory, writable: true)
        let reference = Reference(try recordBytes(journal))
        #expect(tree.size == 1000)
        for size in [1, 2, 255, 256, 257, 511, 512, 513, 768, 999, 1000] as [UInt64] {
            #expect(try tree.root(size: size) == reference.mth(0, size), "size \(size)")
        }
        for index in stride(from: UInt64(0), to: 1000, by: 37) {
            let path = try tree.inclusionProof(index: index, size: 1000)
            #expect(
                Merkle.verifyInclusion(
                    leaf: reference.mth(index, index + 1), index: index, size: 1000, path: path,
                    root: reference.mth(0, 1000)))
            #expect(try tree.leaf(index) == reference.leaves[Int(index)])
        }
        for (first, second) in [(1, 1000), (256, 1000), (300, 700), (999, 1000)] as [(UInt64, UInt64)] {
            #expect(
                try tree.consistencyProof(first: first, second: second) == reference.subproof(first, 0, second, true))
        }
        #expect(throws: MerkleError.beyondTree(size: 1001, tree: 1000)) { try tree.root(size: 1001) }
        let tiles =
            try FileManager.default.attributesOfItem(atPath: directory + "/" + MerkleTree.fileName)[.size] as? Int
        #expect(tiles == 4 * 32, "three complete tiles stored, and the node the second completed")

        // Reopened, with more records and a torn last tile hash: the same roots.
        journal.close()
        let handle = try #require(FileHandle(forUpdatingAtPath: directory + "/" + MerkleTree.fileName))
        try handle.truncate(atOffset: 2 * 32 + 17)
        try handle.close()
        journal = try self.journal(directory, records: 300, from: 1000)
        tree = try MerkleTree(journal: journal, directory: directory, writable: true)
        let longer = Reference(try recordBytes(journal))
        #expect(tree.size == 1300)
        #expect(try tree.root(size: 1300) == longer.mth(0, 1300))
        #expect(try tree.root(size: 1000) == reference.mth(0, 1000))
        journal.close()
    }

    @Test func anAlteredTileOrRecordIsFoundWhenItIsProved() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try self.journal(directory, records: 600)
        let tree = try MerkleTree(journal: journal, directory: directory, writable: true)
        _ = tree
        journal.close()
        // The second tile's stored hash altered.
        let path = directory + "/" + MerkleTree.fileName
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[40] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reopened = try Journal.open(at: directory, options: readOnlyOptions())
        let altered = try MerkleTree(journal: reopened, directory: directory, writable: false)
        #expect(throws: MerkleError.tileMismatch(tile: 1, firstSequence: 257)) {
            try altered.inclusionProof(index: 300, size: 600)
        }
        reopened.close()
    }
}
