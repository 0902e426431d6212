import Foundation
import KnowLMCore

/// A small, fast, seedable generator (xoshiro256**), so a seed reproduces a sample exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}

/// Picks the next token from logits with llama.cpp's default chain: penalties → top-k →
/// top-p → min-p → temperature → random draw (or argmax when the temperature is 0).
struct Sampler {
    let parameters: GenerateParameters
    private var rng: SeededGenerator

    init(parameters: GenerateParameters) {
        self.parameters = parameters
        rng = SeededGenerator(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// Applies repetition, frequency and presence penalties in place (llama.cpp semantics).
    static func applyPenalties(_ logits: UnsafeMutablePointer<Float>, vocabulary: Int, history: ArraySlice<TokenID>,
                               parameters p: GenerateParameters) {
        guard p.repeatPenalty != 1 || p.frequencyPenalty != 0 || p.presencePenalty != 0, p.repeatLastN != 0 else { return }
        let window = p.repeatLastN < 0 ? history : history.suffix(p.repeatLastN)
        var counts: [TokenID: Int] = [:]
        for t in window { counts[t, default: 0] += 1 }
        for (token, count) in counts where token >= 0 && Int(token) < vocabulary {
            let i = Int(token)
            if p.repeatPenalty != 1 {
                logits[i] = logits[i] > 0 ? logits[i] / p.repeatPenalty : logits[i] * p.repeatPenalty
            }
            logits[i] -= Float(count) * p.frequencyPenalty + (count > 0 ? p.presencePenalty : 0)
        }
    }

    static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> TokenID {
        var best = 0
        var value = -Float.infinity
        for i in 0..<count where logits[i] > value {
            value = logits[i]
            best = i
        }
        return TokenID(best)
    }

    /// The `k` highest logits as (token, logit), highest first.
    static func topK(_ logits: UnsafePointer<Float>, count: Int, k: Int) -> [(TokenID, Float)] {
        let k = min(k, count)
        guard k > 0 else { return [] }
        if k * 8 >= count {
            return (0..<count).map { (TokenID($0), logits[$0]) }.sorted { $0.1 > $1.1 }.prefix(k).map { $0 }
        }
        // Keep a sorted window of the best k seen so far; most logits fail the first comparison.
        var best: [(TokenID, Float)] = []
        best.reserveCapacity(k + 1)
        var threshold = -Float.infinity
        for i in 0..<count {
            let v = logits[i]
            if best.count == k && v <= threshold { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if best[mid].1 >= v { lo = mid + 1 } else { hi = mid }
            }
            best.insert((TokenID(i), v), at: lo)
            if best.count > k { best.removeLast() }
            if best.count == k { threshold = best[k - 1].1 }
        }
        return best
    }

    /// Log-softmax of the logits, evaluated at the given tokens.
    static func logSoftmax(_ logits: UnsafePointer<Float>, count: Int) -> (maximum: Float, logSum: Float) {
        var maximum = -Float.infinity
        for i in 0..<count where logits[i] > maximum { maximum = logits[i] }
        var sum: Double = 0
        for i in 0..<count { sum += Double(expf(logits[i] - maximum)) }
        return (maximum, Float(log(sum)))
    }

    static func logprobs(_ logits: UnsafePointer<Float>, count: Int, chosen: TokenID, top: Int) -> TokenLogprob {
        let (m, ls) = logSoftmax(logits, count: count)
        let alternatives = top > 0 ? topK(logits, count: count, k: top).map {
            TokenLogprob.Alternative(token: $0.0, logprob: $0.1 - m - ls)
        } : []
        return TokenLogprob(token: chosen, logprob: logits[Int(chosen)] - m - ls, top: alternatives)
    }

    /// Chooses a token that every processor permits with `remaining` tokens left: samples, and
    /// while a processor refuses the choice, removes it and samples again (the refusals are
    /// rare: a grammar closing its output before the token limit). Nil when none is left.
    mutating func sample(_ logits: UnsafeMutablePointer<Float>, vocabulary: Int, history: ArraySlice<TokenID>,
                         allowed: [TokenID]?, processors: [any LogitsProcessor], remaining: Int) -> TokenID? {
        var allowed = allowed
        var first = true
        for _ in 0..<16 {
            let token = sample(logits, vocabulary: vocabulary, history: first ? history : [], allowed: allowed)
            first = false  // penalties are applied once
            if logits[Int(token)] == -.infinity { return nil }
            if processors.allSatisfy({ $0.permits(token, remaining: remaining) }) { return token }
            logits[Int(token)] = -.infinity
            if let list = allowed {
                allowed = list.filter { $0 != token }
                if allowed!.isEmpty { return nil }
            }
        }
        // Many refusals (a row of string tokens near the limit): ask once about every candidate.
        let candidates = allowed ?? (0..<vocabulary).compactMap { logits[$0] > -.infinity ? TokenID($0) : nil }
        let permitted = candidates.filter { t in processors.allSatisfy { $0.permits(t, remaining: remaining) } }
        guard !permitted.isEmpty else { return nil }
        return sample(logits, vocabulary: vocabulary, history: [], allowed: permitted)
    }

    /// Chooses the next token. `logits` may be modified (penalties). With `allowed` (the only
    /// tokens whose logits are finite, from a constraint), only those are looked at.
    mutating func sample(_ logits: UnsafeMutablePointer<Float>, vocabulary: Int, history: ArraySlice<TokenID>,
                         allowed: [TokenID]? = nil) -> TokenID {
        let p = parameters
        Self.applyPenalties(logits, vocabulary: vocabulary, history: history, parameters: p)
        var candidates: [(TokenID, Float)]
        if let allowed {
            if p.temperature <= 0 {
                var best = allowed[0], value = -Float.infinity
                for t in allowed where logits[Int(t)] > value { value = logits[Int(t)]; best = t }
                return best
            }
            candidates = allowed.map { ($0, logits[Int($0)]) }.sorted { $0.1 > $1.1 }
            if p.topK > 0 && candidates.count > p.topK { candidates.removeSubrange(p.topK...) }
        } else {
            if p.temperature <= 0 { return Self.argmax(logits, count: vocabulary) }
            candidates = Self.topK(logits, count: vocabulary, k: p.topK > 0 ? p.topK : vocabulary)
        }
        candidates.removeAll { $0.1 == -.infinity }
        guard !candidates.isEmpty else { return Self.argmax(logits, count: vocabulary) }
        // top-p and min-p look at the distribution before temperature, as llama.cpp's chain does.
        var probabilities = Self.softmax(candidates.map(\.1))
        if p.topP < 1 {
            var cumulative: Float = 0
            var keep = candidates.count
            for (i, prob) in probabilities.enumerated() {
                cumulative += prob
                if cumulative >= p.topP { keep = i + 1; break }
            }
            candidates.removeSubrange(keep...)
            probabilities.removeSubrange(keep...)
        }
        if p.minP > 0, let top = probabilities.first {
            let keep = max(1, probabilities.prefix { $0 >= p.minP * top }.count)
            candidates.removeSubrange(keep...)
        }
        let final = Self.softmax(candidates.map { $0.1 / p.temperature })
        let r = Float(Double(rng.next() >> 11) * 0x1.0p-53)
        var cumulative: Float = 0
        for (i, prob) in final.enumerated() {
            cumulative += prob
            if r < cumulative { return candidates[i].0 }
        }
        return candidates.last!.0
    }

    static func softmax(_ values: [Float]) -> [Float] {
        guard let m = values.max() else { return [] }
        let e = values.map { expf($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}

/// Finds stop strings in generated text and decides how much text is safe to emit while a
/// stop string may still be forming.
struct StopStringMatcher {
    let stops: [String]

    /// The text before the first complete stop string, if one occurs.
    func truncateAtStop(_ text: String) -> String? {
        var earliest: String.Index?
        for stop in stops where !stop.isEmpty {
            if let range = text.range(of: stop), earliest == nil || range.lowerBound < earliest! {
                earliest = range.lowerBound
            }
        }
        return earliest.map { String(text[..<$0]) }
    }

    /// Number of trailing characters to hold back because they could begin a stop string.
    func heldBackCount(_ text: String) -> Int {
        var held = 0
        for stop in stops where !stop.isEmpty {
            var k = min(stop.count - 1, text.count)
            while k > held {
                if text.hasSuffix(stop.prefix(k)) { held = k; break }
                k -= 1
            }
        }
        return held
    }
}
