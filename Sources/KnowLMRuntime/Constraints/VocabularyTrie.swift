import KnowLMCore

/// The tokenizer's vocabulary as a trie of byte strings, so a grammar walks each shared prefix
/// once when it computes which tokens may come next. Nodes are numbered in preorder and tokens
/// sorted by their bytes, so every subtree is a contiguous range of both. Immutable.
public final class VocabularyTrie: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let vocabularySize: Int
    // Raw memory (freed in deinit): the mask walk visits every node, and reads here must not
    // pay for bounds or exclusivity checks.
    /// Node 0 is the root (the empty string).
    let firstChild: UnsafeMutablePointer<Int32>
    let nextSibling: UnsafeMutablePointer<Int32>
    let byte: UnsafeMutablePointer<UInt8>
    let parent: UnsafeMutablePointer<Int32>
    /// Tokens whose bytes end exactly at the node: `sortedTokens[tokenStart[n] ..< tokenStart[n] + endCount[n]]`.
    let tokenStart: UnsafeMutablePointer<Int32>
    let endCount: UnsafeMutablePointer<Int32>
    /// Last node of the node's subtree (preorder), inclusive.
    let subtreeEnd: UnsafeMutablePointer<Int32>
    let sortedTokens: UnsafeMutablePointer<TokenID>
    /// Longest token in bytes (the depth of the trie).
    let maxDepth: Int
    public let nodeCount: Int
    /// Bytes of every token (empty for control tokens, which no grammar can produce).
    public let tokenBytes: [[UInt8]]

    public init(tokenizer: any Tokenizer) {
        let n = tokenizer.vocabularySize
        vocabularySize = n
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(n)
        for t in 0..<n { bytes.append(tokenizer.bytes(for: TokenID(t), renderSpecial: false)) }
        tokenBytes = bytes
        let order = (0..<n).filter { !bytes[$0].isEmpty }.sorted {
            bytes[$0].lexicographicallyPrecedes(bytes[$1])
        }
        sortedTokens = Self.copy(order.map { TokenID($0) })
        maxDepth = order.map { bytes[$0].count }.max() ?? 0

        var firstChild: [Int32] = [-1], nextSibling: [Int32] = [-1], byte: [UInt8] = [0], parent: [Int32] = [-1]
        var tokenStart: [Int32] = [0], endCount: [Int32] = [0]
        var lastChild: [Int32] = [-1]
        var path: [Int32] = [0]  // nodes along the previous token's bytes; path[d] = node at depth d
        var previous: [UInt8] = []
        for (index, token) in order.enumerated() {
            let b = bytes[token]
            var common = 0
            while common < b.count && common < previous.count && b[common] == previous[common] { common += 1 }
            path.removeSubrange((common + 1)...)
            for d in common..<b.count {
                let p = path[d]
                let id = Int32(firstChild.count)
                firstChild.append(-1); nextSibling.append(-1); byte.append(b[d]); parent.append(p)
                tokenStart.append(Int32(index)); endCount.append(0); lastChild.append(-1)
                if lastChild[Int(p)] >= 0 { nextSibling[Int(lastChild[Int(p)])] = id } else { firstChild[Int(p)] = id }
                lastChild[Int(p)] = id
                path.append(id)
            }
            endCount[Int(path[b.count])] += 1
            previous = b
        }
        // Subtree ends: preorder numbering means a node's subtree runs to the node before its
        // next sibling (or its parent's subtree end).
        var subtreeEnd = [Int32](repeating: 0, count: firstChild.count)
        for node in stride(from: firstChild.count - 1, through: 0, by: -1) {
            var last = Int32(node)
            var child = firstChild[node]
            while child >= 0 { last = max(last, subtreeEnd[Int(child)]); child = nextSibling[Int(child)] }
            subtreeEnd[node] = last
        }
        nodeCount = firstChild.count
        self.firstChild = Self.copy(firstChild); self.nextSibling = Self.copy(nextSibling); self.byte = Self.copy(byte)
        self.parent = Self.copy(parent); self.tokenStart = Self.copy(tokenStart); self.endCount = Self.copy(endCount)
        self.subtreeEnd = Self.copy(subtreeEnd)
    }

    deinit {
        for p in [firstChild, nextSibling, parent, tokenStart, endCount, subtreeEnd] { p.deallocate() }
        byte.deallocate()
        sortedTokens.deallocate()
    }

    private static func copy<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, array.count))
        if !array.isEmpty { array.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: array.count) } }
        return p
    }

    /// Bytes from the root to `node`.
    func path(to node: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var n = node
        while n > 0 { out.append(byte[Int(n)]); n = parent[Int(n)] }
        return out.reversed()
    }
}
