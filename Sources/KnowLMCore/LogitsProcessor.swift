/// The next token's logits as a processor sees them: the full row, plus (when a processor
/// has narrowed it) the short list of tokens still allowed, so the sampler need not scan the
/// whole vocabulary.
public struct TokenLogits {
    /// One logit per vocabulary entry; a disallowed token holds `-infinity`.
    public let values: UnsafeMutablePointer<Float>
    public let count: Int
    /// Tokens generated so far in this generation (not the prompt).
    public let generated: [TokenID]
    /// Tokens that end a generation (EOS, `<end_of_turn>`), for processors that allow them
    /// only when their constraint is complete.
    public let endOfGeneration: Set<TokenID>
    /// When non-nil, the only tokens that may be chosen (ascending ids). It is authoritative:
    /// a processor that narrows to a short list does not spend a pass over the whole row
    /// writing `-infinity` outside it; `maskOutsideAllowed()` does that for code that reads
    /// the full row.
    public private(set) var allowed: [TokenID]?
    private var rowIsMasked = true

    public init(values: UnsafeMutablePointer<Float>, count: Int, generated: [TokenID], endOfGeneration: Set<TokenID>) {
        self.values = values; self.count = count; self.generated = generated; self.endOfGeneration = endOfGeneration
    }

    /// Keeps only `tokens` (ids outside the vocabulary are ignored); every other logit becomes
    /// `-infinity`. Narrowing twice keeps the intersection.
    public mutating func restrict(to tokens: [TokenID]) {
        var kept = tokens.filter { $0 >= 0 && Int($0) < count }
        kept.sort()
        if let previous = allowed {
            let before = Set(previous)
            kept = kept.filter { before.contains($0) }
        }
        var dedup: [TokenID] = []
        dedup.reserveCapacity(kept.count)
        for t in kept where dedup.last != t { dedup.append(t) }
        allowed = dedup
        rowIsMasked = false
    }

    /// Writes `-infinity` into every logit outside `allowed` (a no-op when nothing narrowed
    /// the row to a list, or when it is already done).
    public mutating func maskOutsideAllowed() {
        guard let allowed, !rowIsMasked else { return }
        let kept = allowed.map { values[Int($0)] }
        values.update(repeating: -.infinity, count: count)
        for (t, v) in zip(allowed, kept) { values[Int(t)] = v }
        rowIsMasked = true
    }

    /// Applies a bit mask (bit `t % 64` of word `t / 64` set = token `t` allowed). When few
    /// tokens remain, records them so sampling is sparse.
    public mutating func apply(mask: UnsafePointer<UInt64>, allowedCount: Int) {
        let words = (count + 63) / 64
        let tail = count - (words - 1) * 64
        let lastValid: UInt64 = tail == 64 ? ~0 : (1 << UInt64(tail)) - 1
        if allowedCount * 8 < count {
            // Few allowed: keep their logits, fill the row with -infinity in one pass, put them back.
            var list: [TokenID] = []
            list.reserveCapacity(allowedCount)
            for w in 0..<words {
                var bits = mask[w]
                if w == words - 1 { bits &= lastValid }
                while bits != 0 {
                    list.append(TokenID(w * 64 + bits.trailingZeroBitCount))
                    bits &= bits - 1
                }
            }
            if let previous = allowed {
                let before = Set(previous)
                list = list.filter { before.contains($0) }
            }
            allowed = list
            rowIsMasked = false
            return
        }
        // Most allowed: visit only the blocked tokens.
        maskOutsideAllowed()
        for w in 0..<words {
            var blocked = ~mask[w]
            if w == words - 1 { blocked &= lastValid }
            let base = w * 64
            while blocked != 0 {
                values[base + blocked.trailingZeroBitCount] = -.infinity
                blocked &= blocked - 1
            }
        }
        if let previous = allowed { allowed = previous.filter { values[Int($0)] > -.infinity } }
    }

    /// Adds `bias` to one token's logit.
    public mutating func bias(_ token: TokenID, by bias: Float) {
        guard token >= 0, Int(token) < count else { return }
        values[Int(token)] += bias
    }
}

/// A per-step hook on decoding: constrains or biases each next token, and follows the tokens
/// actually chosen. Grammar constraints, forced openings and token bans are processors.
///
/// A processor belongs to one generation at a time and is called on that generation's
/// thread only; beam search calls `copy()` to give each beam its own.
public protocol LogitsProcessor: AnyObject, Sendable {
    /// Masks or biases the next token's logits. Throws when the processor cannot go on (for
    /// example a grammar state that no token of the vocabulary can continue).
    func process(_ logits: inout TokenLogits) throws
    /// Tells the processor which token was chosen (never an end-of-generation token).
    func accept(_ token: TokenID) throws
    /// True when the processor allows nothing more: generation stops (`StopReason.complete`).
    var isFinished: Bool { get }
    /// An independent processor in the same state.
    func copy() -> any LogitsProcessor
    /// Whether `token` may be chosen now, when `remaining` tokens (this one included) are left
    /// before the token limit. A check on the sampled token only (cheap where a mask over the
    /// whole vocabulary would not be): a grammar refuses tokens after which it could no longer
    /// be completed in time, so output cut by the limit still parses. Default: yes.
    func permits(_ token: TokenID, remaining: Int) -> Bool
}

extension LogitsProcessor {
    public func permits(_ token: TokenID, remaining: Int) -> Bool { true }
}
