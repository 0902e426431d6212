import Foundation
import KnowLMCore

/// A grammar bound to a vocabulary: computes, for any matcher state, which tokens may come
/// next, and caches the answers.
///
/// Masks are cached twice: per full state, and per *truncated* state (each stack cut to its top
/// few nodes). Most tokens never leave the innermost rules (a token inside a JSON string is
/// decided by the string rule alone), so one truncated mask serves every context the same rule
/// is used in; only the tokens that reach below the cut are re-checked against the full state.
/// Not thread-safe: one engine per owner (a generation, or a caller that serialises).
public final class GrammarEngine: @unchecked Sendable {
    // @unchecked: used by one generation at a time (see LogitsProcessor).
    public let grammar: CompiledGrammar
    public let trie: VocabularyTrie
    let matcher: GrammarMatcher
    /// Stack nodes kept when truncating states for the shared mask cache.
    static let truncationDepth = 2
    private let words: Int

    struct Mask {
        var bits: [UInt64]
        var count: Int
        /// Trie nodes whose subtrees the truncated walk could not decide.
        var uncertain: [Int32]
    }
    private var truncatedMasks: [Int32: Mask] = [:]
    private var fullMasks: [Int32: Mask] = [:]
    // 32 KB per mask (262,144 tokens): at most 8 MB per cache.
    private static let maxCachedMasks = 256

    public init(grammar: CompiledGrammar, trie: VocabularyTrie) {
        self.grammar = grammar
        self.trie = trie
        matcher = GrammarMatcher(grammar: grammar)
        words = (trie.vocabularySize + 63) / 64
    }

    public var initialState: Int32 { matcher.initial }
    public func isAccepting(_ state: Int32) -> Bool { matcher.isAccepting(state) }
    public func isComplete(_ state: Int32) -> Bool { matcher.isComplete(state) }
    public func isDead(_ state: Int32) -> Bool { state == GrammarMatcher.dead }

    /// The state after `bytes` (dead when they are not a prefix of any string of the grammar).
    public func advance(_ state: Int32, bytes: [UInt8]) -> Int32 { matcher.advance(state, bytes) }

    /// The state after `token`.
    public func advance(_ state: Int32, token: TokenID) -> Int32 {
        guard token >= 0, Int(token) < trie.tokenBytes.count else { return GrammarMatcher.dead }
        let bytes = trie.tokenBytes[Int(token)]
        guard !bytes.isEmpty else { return GrammarMatcher.dead }
        return matcher.advance(state, bytes)
    }

    /// The fewest bytes that take `state` to an accepting state (breadth-first over the
    /// automaton, memoised; 0 when the search would be too large, so callers stay permissive).
    public func distanceToAccept(_ state: Int32) -> Int {
        if let d = distances[state] { return d }
        var frontier: [Int32] = [state]
        var seen: Set<Int32> = [state]
        var depth = 0
        var result = 0
        search: while !frontier.isEmpty && seen.count < 20_000 {
            var next: [Int32] = []
            for s in frontier {
                if matcher.isAccepting(s) { result = depth; break search }
                for b in 0...255 {
                    let t = matcher.next(s, UInt8(b))
                    if t != GrammarMatcher.dead && seen.insert(t).inserted { next.append(t) }
                }
            }
            frontier = next
            depth += 1
            result = frontier.isEmpty ? Int.max : 0
        }
        distances[state] = result
        return result
    }
    private var distances: [Int32: Int] = [:]

    /// Bytes that end or briefly fill a JSON value: quotes and brackets, separators, a digit,
    /// a letter (for a non-empty string), a space.
    static let closingBytes: [UInt8] = Array("\"}],:0a ".utf8)

    /// The shortest bytes that take `state` to an accepting state (breadth-first, bounded like
    /// `distanceToAccept`), or nil when none is found. Closes an answer the token limit cut off:
    /// `{"a": ["x` becomes `{"a": ["x"]}`.
    public func shortestCompletion(from state: Int32) -> [UInt8]? {
        guard state != GrammarMatcher.dead else { return nil }
        var parent: [Int32: (Int32, UInt8)] = [:]
        var frontier: [Int32] = [state]
        var seen: Set<Int32> = [state]
        while !frontier.isEmpty && seen.count < 20_000 {
            var next: [Int32] = []
            for s in frontier {
                if matcher.isAccepting(s) {
                    var bytes: [UInt8] = []
                    var at = s
                    while at != state, let (from, byte) = parent[at] { bytes.append(byte); at = from }
                    return bytes.reversed()
                }
                // Where the grammar lets free text go on (a string, a number), only the bytes that
                // close or continue it shortly are tried: every byte of free text would be a new
                // state (length counters), and the search would run out before a closing quote
                // several levels up. Forced text (a key, a constant) has no closing byte among its
                // choices, so all of them are tried.
                var closing: [(Int32, UInt8)] = []
                for b in Self.closingBytes {
                    let t = matcher.next(s, b)
                    if t != GrammarMatcher.dead { closing.append((t, b)) }
                }
                let moves = !closing.isEmpty ? closing : (0...255).compactMap { b -> (Int32, UInt8)? in
                    let t = matcher.next(s, UInt8(b))
                    return t == GrammarMatcher.dead ? nil : (t, UInt8(b))
                }
                for (t, b) in moves where seen.insert(t).inserted { parent[t] = (s, b); next.append(t) }
            }
            frontier = next
        }
        return nil
    }

    /// Whether the grammar matches the whole of `bytes`.
    public func matches(_ bytes: [UInt8]) -> Bool { matcher.isAccepting(matcher.advance(matcher.initial, bytes)) }

    /// The tokens allowed in `state` (end-of-generation tokens excluded: allow those when
    /// `isAccepting`), as a bit mask with `vocabularySize` bits, and how many are set.
    public func mask(for state: Int32) -> (bits: [UInt64], count: Int) {
        if let m = fullMasks[state] { return (m.bits, m.count) }
        let t = matcher.truncated(state, depth: Self.truncationDepth)
        let base: Mask
        if let m = truncatedMasks[t] { base = m } else {
            base = walk(from: 0, state: t)
            if truncatedMasks.count >= Self.maxCachedMasks { truncatedMasks.removeAll() }
            truncatedMasks[t] = base
        }
        var result = Mask(bits: base.bits, count: base.count, uncertain: [])
        if !base.uncertain.isEmpty {
            // Subtrees the truncated walk left open: walk them again from the full state.
            result.bits.withUnsafeMutableBufferPointer { bits in
                var covered: Int32 = -1
                for node in base.uncertain where node > covered {
                    covered = trie.subtreeEnd[Int(node)]
                    let s = matcher.advance(state, trie.path(to: node))
                    if s != GrammarMatcher.dead { walk(from: node, state: s, bits: bits.baseAddress!, uncertain: nil) }
                }
            }
            result.count = result.bits.reduce(0) { $0 + $1.nonzeroBitCount }
        }
        if fullMasks.count >= Self.maxCachedMasks { fullMasks.removeAll() }
        fullMasks[state] = result
        return (result.bits, result.count)
    }

    private func walk(from node: Int32, state: Int32) -> Mask {
        var bits = [UInt64](repeating: 0, count: words)
        var uncertain: [Int32] = []
        bits.withUnsafeMutableBufferPointer { b in
            walk(from: node, state: state, bits: b.baseAddress!, uncertain: &uncertain)
        }
        uncertain.sort()
        return Mask(bits: bits, count: bits.reduce(0) { $0 + $1.nonzeroBitCount }, uncertain: uncertain)
    }

    private func walk(from node: Int32, state: Int32, bits: UnsafeMutablePointer<UInt64>, uncertain: inout [Int32]) {
        withUnsafeMutablePointer(to: &uncertain) { walk(from: node, state: state, bits: bits, uncertain: $0) }
    }

    /// Marks every token below `node` (not `node`'s own) that the bytes keep alive from `state`.
    /// Depth-first over the trie with an explicit stack; a state holding the sentinel (the walk
    /// reached below the truncation) records its node in `uncertain` instead of descending.
    private func walk(from node: Int32, state: Int32, bits: UnsafeMutablePointer<UInt64>,
                      uncertain: UnsafeMutablePointer<[Int32]>?) {
        let firstChild = trie.firstChild, nextSibling = trie.nextSibling, byte = trie.byte
        let tokenStart = trie.tokenStart, endCount = trie.endCount, sortedTokens = trie.sortedTokens
        let depth = trie.maxDepth + 2
        let nodes = UnsafeMutablePointer<Int32>.allocate(capacity: depth)
        let states = UnsafeMutablePointer<Int32>.allocate(capacity: depth)
        defer { nodes.deallocate(); states.deallocate() }
        var table = matcher.table
        var flags = matcher.flags
        // nodes[d]: the next child to try at depth d; states[d]: the state at its parent.
        var top = 0
        if flags[Int(state)] & GrammarMatcher.sentinelFlag != 0 {
            if let uncertain { uncertain.pointee.append(node) }
            return
        }
        nodes[0] = firstChild[Int(node)]
        states[0] = state
        while top >= 0 {
            let child = nodes[top]
            if child < 0 { top -= 1; continue }
            nodes[top] = nextSibling[Int(child)]
            let from = states[top]
            var next = table[Int(from) << 8 | Int(byte[Int(child)])]
            if next < 0 {
                next = matcher.computeNext(from, byte[Int(child)])
                table = matcher.table
                flags = matcher.flags
            }
            if next == GrammarMatcher.dead { continue }
            let start = Int(tokenStart[Int(child)])
            for i in start..<(start + Int(endCount[Int(child)])) {
                let t = Int(sortedTokens[i])
                bits[t >> 6] |= 1 << UInt64(t & 63)
            }
            let grandchild = firstChild[Int(child)]
            if grandchild < 0 { continue }
            if flags[Int(next)] & GrammarMatcher.sentinelFlag != 0 {
                if let uncertain { uncertain.pointee.append(child) }
                continue
            }
            top += 1
            nodes[top] = grandchild
            states[top] = next
        }
    }
}

/// Constrains generation to a grammar: only tokens that keep the output a prefix of some
/// string of the grammar are allowed; end-of-generation only where the grammar accepts; the
/// generation stops by itself when the grammar allows nothing more.
public final class GrammarConstraint: LogitsProcessor, @unchecked Sendable {
    // @unchecked: used by one generation at a time (see LogitsProcessor).
    public let engine: GrammarEngine
    public private(set) var state: Int32

    public init(engine: GrammarEngine) {
        self.engine = engine
        state = engine.initialState
    }

    public convenience init(grammar: CompiledGrammar, trie: VocabularyTrie) {
        self.init(engine: GrammarEngine(grammar: grammar, trie: trie))
    }

    public func process(_ logits: inout TokenLogits) throws {
        var (bits, count) = engine.mask(for: state)
        if engine.isAccepting(state) {
            for t in logits.endOfGeneration where Int(t) < engine.trie.vocabularySize {
                if bits[Int(t) >> 6] & (1 << UInt64(t & 63)) == 0 { bits[Int(t) >> 6] |= 1 << UInt64(t & 63); count += 1 }
            }
        }
        guard count > 0 else { throw RuntimeError.constraintUnsatisfiable(step: logits.generated.count) }
        let needed = (logits.count + 63) / 64  // the model may have rows beyond the tokenizer's vocabulary
        if bits.count < needed { bits += [UInt64](repeating: 0, count: needed - bits.count) }
        bits.withUnsafeBufferPointer { logits.apply(mask: $0.baseAddress!, allowedCount: count) }
    }

    public func accept(_ token: TokenID) throws {
        let next = engine.advance(state, token: token)
        guard !engine.isDead(next) else {
            throw RuntimeError.grammar("token \(token) does not continue the grammar (a processor before this one allowed it)")
        }
        state = next
    }

    public var isFinished: Bool { engine.isComplete(state) }

    /// Refuses a token after which the grammar could not be completed within the tokens left
    /// (each later token spells at least one byte), so output cut by the token limit parses.
    public func permits(_ token: TokenID, remaining: Int) -> Bool {
        guard closesBeforeLimit else { return true }
        // Counting one byte per token is conservative: when even that bound cannot be met from
        // here, refusing would only stop generation, so the limit decides as usual.
        guard engine.distanceToAccept(state) <= remaining else { return true }
        let after = engine.advance(state, token: token)
        if engine.isDead(after) { return engine.isAccepting(state) }  // an end-of-generation token
        return engine.distanceToAccept(after) <= remaining - 1
    }

    /// Whether `permits` holds the output to what can still be completed (default: yes).
    public var closesBeforeLimit = true

    public func copy() -> any LogitsProcessor {
        let c = GrammarConstraint(engine: engine)
        c.closesBeforeLimit = closesBeforeLimit
        c.state = state
        return c
    }
}
