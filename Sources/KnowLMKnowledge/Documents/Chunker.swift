import Foundation

/// Splits text into chunks of whole sentences, greedily filling a token budget, with an
/// optional overlap of trailing sentences. Sentence ends: `.`, `!`, `?` (followed by a space or
/// line end) and the Chinese `。！？；` (no space needed); blank lines end paragraphs.
public struct Chunker: Sendable {
    /// Most tokens in a chunk (a single longer sentence becomes its own chunk).
    public var tokenBudget: Int
    /// Sentences repeated at the start of the next chunk.
    public var overlapSentences: Int
    /// Counts tokens; the default approximates a WordPiece count (words × 1.3, CJK characters 1 each).
    public var countTokens: @Sendable (String) -> Int

    public init(tokenBudget: Int = 200, overlapSentences: Int = 0,
                countTokens: @escaping @Sendable (String) -> Int = Chunker.approximateTokens) {
        self.tokenBudget = tokenBudget
        self.overlapSentences = overlapSentences
        self.countTokens = countTokens
    }

    public static func approximateTokens(_ text: String) -> Int {
        var cjk = 0, words = 0, inWord = false
        for s in text.unicodeScalars {
            if CJKText.isCJK(s) { cjk += 1; inWord = false }
            else if s.properties.isWhitespace { inWord = false }
            else if !inWord { words += 1; inWord = true }
        }
        return cjk + Int((Double(words) * 1.3).rounded(.up))
    }

    /// Sentences of `text`, whitespace-trimmed, in order.
    public static func sentences(_ text: String) -> [String] {
        var sentences: [String] = []
        var current = ""
        let scalars = Array(text.unicodeScalars)
        var i = 0
        func flush() {
            let s = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !s.isEmpty { sentences.append(s) }
            current = ""
        }
        while i < scalars.count {
            let c = scalars[i]
            current.unicodeScalars.append(c)
            if "。！？；".unicodeScalars.contains(c) {
                // Keep closing quotes with their sentence.
                while i + 1 < scalars.count, "”」』\"'）)".unicodeScalars.contains(scalars[i + 1]) { i += 1; current.unicodeScalars.append(scalars[i]) }
                flush()
            } else if c == "." || c == "!" || c == "?" {
                while i + 1 < scalars.count, "\"')]”’".unicodeScalars.contains(scalars[i + 1]) { i += 1; current.unicodeScalars.append(scalars[i]) }
                let atEnd = i + 1 >= scalars.count
                let nextIsSpace = !atEnd && scalars[i + 1].properties.isWhitespace
                // A lowercase word after the full stop continues the sentence ("3 p.m. on Monday").
                var j = i + 1
                while j < scalars.count && scalars[j].properties.isWhitespace { j += 1 }
                let nextIsLowercase = c == "." && j < scalars.count && scalars[j].properties.isLowercase
                if atEnd || (nextIsSpace && !nextIsLowercase && !endsWithAbbreviation(current)) { flush() }
            } else if c == "\n", i + 1 < scalars.count, scalars[i + 1] == "\n" {
                flush()
            }
            i += 1
        }
        flush()
        return sentences
    }

    static let abbreviations: Set<String> = ["mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e.", "etc.", "u.s.", "jr.", "sr.", "no.", "inc.", "ltd.", "co.", "a.m.", "p.m."]

    static func endsWithAbbreviation(_ s: String) -> Bool {
        guard let last = s.split(whereSeparator: { $0.isWhitespace }).last?.lowercased() else { return false }
        if abbreviations.contains(last) { return true }
        // Single capital initials ("J. R. R. Tolkien").
        return last.count == 2 && last.first!.isLetter && last.last == "."
    }

    /// Chunks of `text`.
    public func chunks(_ text: String) -> [String] {
        let sentences = Self.sentences(text)
        guard !sentences.isEmpty else { return [] }
        let counts = sentences.map(countTokens)
        var chunks: [String] = []
        var start = 0
        while start < sentences.count {
            var end = start
            var tokens = 0
            while end < sentences.count && (end == start || tokens + counts[end] <= tokenBudget) {
                tokens += counts[end]
                end += 1
            }
            chunks.append(Self.join(sentences[start..<end]))
            if end >= sentences.count { break }
            start = max(start + 1, end - overlapSentences)
        }
        return chunks
    }

    /// Joins sentences with a space, except between CJK sentences.
    static func join(_ parts: ArraySlice<String>) -> String {
        var out = ""
        for part in parts {
            if let last = out.unicodeScalars.last, let first = part.unicodeScalars.first,
               !(CJKText.isCJK(last) || "。！？；”".unicodeScalars.contains(last)) || !CJKText.isCJK(first) {
                out += " "
            }
            out += part
        }
        return out
    }
}
