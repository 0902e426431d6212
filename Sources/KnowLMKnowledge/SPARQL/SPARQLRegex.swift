import Foundation

/// One compiled `regex(text, pattern, flags)` of a query.
///
/// Most patterns people write are plain words, perhaps anchored (`"guinea"`, `"^san "`):
/// those are matched as byte substrings, which is far cheaper than a regular-expression engine
/// call per row. Everything else goes to NSRegularExpression (ICU syntax, which agrees with
/// XPath regular expressions on the common constructs).
final class SPARQLRegexMatcher: @unchecked Sendable {
    private enum Kind {
        case literal(needle: [UInt8], anchoredStart: Bool, anchoredEnd: Bool, caseInsensitive: Bool)
        case expression(NSRegularExpression)
    }

    private let kind: Kind

    init(pattern: String, flags: String) throws {
        let caseInsensitive = flags.contains("i")
        if flags.contains("q") {
            let needle = caseInsensitive ? pattern.lowercased() : pattern
            kind = .literal(needle: Array(needle.utf8), anchoredStart: false, anchoredEnd: false, caseInsensitive: caseInsensitive)
            return
        }
        if !flags.contains("m") && !flags.contains("x") && !flags.contains("s"), let plain = Self.plainPattern(pattern) {
            let needle = caseInsensitive ? plain.text.lowercased() : plain.text
            kind = .literal(needle: Array(needle.utf8), anchoredStart: plain.start, anchoredEnd: plain.end, caseInsensitive: caseInsensitive)
            return
        }
        var options: NSRegularExpression.Options = []
        if caseInsensitive { options.insert(.caseInsensitive) }
        if flags.contains("s") { options.insert(.dotMatchesLineSeparators) }
        if flags.contains("m") { options.insert(.anchorsMatchLines) }
        if flags.contains("x") { options.insert(.allowCommentsAndWhitespace) }
        do {
            kind = .expression(try NSRegularExpression(pattern: pattern, options: options))
        } catch {
            throw KnowledgeBaseError.sparql("invalid regular expression \"\(pattern)\": \(error.localizedDescription)")
        }
    }

    /// The text of a pattern with no metacharacters apart from a leading `^` and a trailing `$`.
    private static func plainPattern(_ pattern: String) -> (text: String, start: Bool, end: Bool)? {
        var scalars = Substring(pattern).unicodeScalars[...]
        let start = scalars.first == "^"
        if start { scalars = scalars.dropFirst() }
        let end = scalars.last == "$"
        if end { scalars = scalars.dropLast() }
        let meta = Set("\\.[]{}()*+?|^$".unicodeScalars)
        guard !scalars.contains(where: { meta.contains($0) }) else { return nil }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        return (text, start, end)
    }

    func matches(_ text: String) -> Bool {
        switch kind {
        case .expression(let regex):
            return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        case .literal(let needle, let anchoredStart, let anchoredEnd, let caseInsensitive):
            let haystack = caseInsensitive ? text.lowercased() : text
            return haystack.utf8.withContiguousStorageIfAvailable { bytes in
                Self.find(needle, in: bytes, anchoredStart: anchoredStart, anchoredEnd: anchoredEnd)
            } ?? Self.find(needle, in: Array(haystack.utf8)[...], anchoredStart: anchoredStart, anchoredEnd: anchoredEnd)
        }
    }

    private static func find<C: RandomAccessCollection>(_ needle: [UInt8], in haystack: C, anchoredStart: Bool, anchoredEnd: Bool) -> Bool
    where C.Element == UInt8, C.Index == Int {
        let n = needle.count, h = haystack.count
        guard n <= h else { return false }
        let base = haystack.startIndex
        func matchesAt(_ offset: Int) -> Bool {
            for k in 0..<n where haystack[base + offset + k] != needle[k] { return false }
            return true
        }
        if anchoredStart && anchoredEnd { return n == h && matchesAt(0) }
        if anchoredStart { return matchesAt(0) }
        if anchoredEnd { return matchesAt(h - n) }
        if n == 0 { return true }
        for offset in 0...(h - n) where haystack[base + offset] == needle[0] && matchesAt(offset) { return true }
        return false
    }
}
