/// Text preparation for SQLite FTS5: CJK runs become overlapping bigrams plus single
/// characters, so two-character Chinese words match (FTS5's trigram tokenizer cannot).
enum CJKText {
    static func isCJK(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x3040...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0xAC00...0xD7AF, 0x20000...0x2FA1F:
            return true
        default:
            return false
        }
    }

    /// The CJK runs of `text`, each as a string.
    static func runs(_ text: String) -> [[Unicode.Scalar]] {
        var runs: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for scalar in text.unicodeScalars {
            if isCJK(scalar) { current.append(scalar) } else if !current.isEmpty { runs.append(current); current = [] }
        }
        if !current.isEmpty { runs.append(current) }
        return runs
    }

    /// Indexing form: every character and every adjacent pair of every CJK run.
    static func indexTerms(_ text: String) -> String {
        var terms: [String] = []
        for run in runs(text) {
            for s in run { terms.append(String(s)) }
            if run.count > 1 { for i in 0..<(run.count - 1) { terms.append(String(run[i]) + String(run[i + 1])) } }
        }
        return terms.joined(separator: " ")
    }

    /// Query form: bigrams of each run (a single character stands alone), as FTS5 phrases.
    static func queryTerms(_ text: String) -> [String] {
        var terms: [String] = []
        for run in runs(text) {
            if run.count == 1 { terms.append(String(run[0])); continue }
            for i in 0..<(run.count - 1) { terms.append(String(run[i]) + String(run[i + 1])) }
        }
        return terms
    }

    /// Words (letters and digits) of the non-CJK part, lowercased.
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for scalar in text.unicodeScalars {
            if !isCJK(scalar) && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil) {
                current.unicodeScalars.append(scalar)
            } else if !current.isEmpty {
                words.append(current.lowercased()); current = ""
            }
        }
        if !current.isEmpty { words.append(current.lowercased()) }
        return words
    }

    /// An FTS5 MATCH expression that finds rows sharing any word or CJK bigram with `text`
    /// (ranked by BM25); nil when the text has nothing to search for.
    static func matchExpression(_ text: String, textColumn: String = "text", cjkColumn: String = "cjk") -> String? {
        var parts: [String] = []
        for word in Set(words(text)) where word.count > 1 || word.first?.isNumber == true {
            parts.append("\(textColumn) : \"\(word.replacingOccurrences(of: "\"", with: ""))\"")
        }
        for term in Set(queryTerms(text)) { parts.append("\(cjkColumn) : \"\(term)\"") }
        return parts.isEmpty ? nil : parts.sorted().joined(separator: " OR ")
    }
}
