import Foundation

/// A mention located in a text: offsets count Unicode scalars (code points, as Python's string
/// indices do), end exclusive.
public struct LocatedSpan: Sendable, Hashable, Codable {
    public var text: String
    public var label: String
    public var start: Int
    public var end: Int
    public init(text: String, label: String, start: Int, end: Int) {
        self.text = text; self.label = label; self.start = start; self.end = end
    }
}

/// A piece of a longer document and where it starts in it.
public struct TextWindow: Sendable, Equatable {
    public var text: String
    /// Offset of `text` in the document, in Unicode scalars.
    public var offset: Int
}

public enum TextSpans {
    /// Every occurrence of `mention` in `text`, as scalar offsets.
    public static func occurrences(of mention: String, in text: [Unicode.Scalar]) -> [Range<Int>] {
        let needle = Array(mention.unicodeScalars)
        guard !needle.isEmpty, needle.count <= text.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        while i + needle.count <= text.count {
            if text[i] == needle[0] && Array(text[i..<(i + needle.count)]) == needle {
                out.append(i..<(i + needle.count))
                i += needle.count
            } else {
                i += 1
            }
        }
        return out
    }

    /// Splits `text` into windows of at most `maxScalars` scalars, cutting after sentence ends
    /// (`.`, `!`, `?`, `。`, `！`, `？`, `;`, newlines) where possible and between words otherwise,
    /// so that a mention is rarely cut. Offsets point into `text`.
    public static func windows(_ text: String, maxScalars: Int) -> [TextWindow] {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count > maxScalars, maxScalars > 0 else { return scalars.isEmpty ? [] : [TextWindow(text: text, offset: 0)] }
        let enders: Set<Unicode.Scalar> = [".", "!", "?", "。", "！", "？", ";", "；", "\n"]
        var out: [TextWindow] = []
        var start = 0
        while start < scalars.count {
            var end = min(scalars.count, start + maxScalars)
            if end < scalars.count {
                // Last sentence end in the window, else the last space, else a hard cut.
                let floor = start + maxScalars / 4
                if let j = (floor..<end).last(where: { enders.contains(scalars[$0]) }) {
                    end = j + 1
                } else if let j = (floor..<end).last(where: { scalars[$0] == " " }) {
                    end = j + 1
                }
            }
            var piece = String(String.UnicodeScalarView(scalars[start..<end]))
            var lead = 0
            while let f = piece.unicodeScalars.first, f.properties.isWhitespace { piece.unicodeScalars.removeFirst(); lead += 1 }
            while let l = piece.unicodeScalars.last, l.properties.isWhitespace { piece.unicodeScalars.removeLast() }
            if !piece.isEmpty { out.append(TextWindow(text: piece, offset: start + lead)) }
            start = end
        }
        return out
    }
}

/// Candidate mentions for span typing: runs of capitalised words (with the short connectors
/// names contain: "of", "the", "for", "de", "van", "&" …), quoted titles, and names a caller
/// already knows (from the knowledge base). The model then decides each candidate's type, or
/// that it is none.
public struct SpanProposer: Sendable {
    /// Lower-case words allowed inside a capitalised run ("University of Bergen").
    public var connectors: Set<String> = ["of", "the", "for", "and", "de", "del", "della", "der", "di", "da", "du", "la", "le",
                                          "van", "von", "y", "&", "-"]
    /// Known names (for example labels from the knowledge base), matched whole-word, any case.
    public var knownNames: [String] = []
    /// Whether a word is an ordinary dictionary word (lower-cased); such a word alone at the
    /// start of a sentence is capitalised by position, not because it is a name.
    public var isOrdinaryWord: (@Sendable (String) -> Bool)?
    public init() {}

    struct Word { var text: String; var start: Int; var end: Int }

    /// Abbreviations whose full stop belongs to the word inside names.
    static let abbreviations: Set<String> = ["St", "Mr", "Mrs", "Ms", "Dr", "Jr", "Sr", "Mt", "Co", "Inc", "Ltd", "Corp", "Bros", "Prof", "Gen", "Lt", "Col", "Capt", "vs"]

    static func words(_ scalars: [Unicode.Scalar]) -> [Word] {
        var out: [Word] = []
        var i = 0
        func isWordScalar(_ s: Unicode.Scalar) -> Bool {
            s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "'" || s == "-" || s == "." || s == "+" || s == "#" || s == "&"
        }
        while i < scalars.count {
            if scalars[i].properties.isWhitespace { i += 1; continue }
            let start = i
            if isWordScalar(scalars[i]) {
                while i < scalars.count && isWordScalar(scalars[i]) { i += 1 }
                // A trailing full stop ends the sentence, not the word (keep "U.S.").
                var end = i
                let body = String(String.UnicodeScalarView(scalars[start..<i]))
                let keepsStop = body.hasSuffix(".") && (body.count == 2 && body.first!.isUppercase
                    || Self.abbreviations.contains(String(body.dropLast())) || body.dropLast().contains("."))
                while !keepsStop && end > start + 1 && scalars[end - 1] == "." { end -= 1 }
                out.append(Word(text: String(String.UnicodeScalarView(scalars[start..<end])), start: start, end: end))
                if end < i { out.append(Word(text: ".", start: end, end: i)) }
            } else {
                i += 1
                out.append(Word(text: String(scalars[start]), start: start, end: i))
            }
        }
        return out
    }

    /// English words that begin sentences and capitalised runs without being part of a name.
    static let leadingFunctionWords: Set<String> = [
        "the", "a", "an", "in", "on", "at", "for", "of", "and", "but", "or", "this", "that", "these", "those",
        "his", "her", "its", "their", "our", "my", "your", "when", "while", "after", "before", "during", "with",
        "by", "from", "as", "if", "it", "he", "she", "they", "we", "i", "there", "then", "also", "however",
        "although", "since", "because", "to", "into", "between", "both", "each", "some", "many", "most",
    ]

    static let calendarWords: Set<String> = [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
        "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    ]

    /// Closed-class English words (and the commonest verbs and vague modifiers) that end a
    /// lower-case term run.
    static let termStopWords: Set<String> = [
        "a", "an", "the", "this", "that", "these", "those", "some", "any", "each", "every", "all", "both", "either",
        "neither", "no", "not", "other", "another", "such", "same", "own", "many", "much", "more", "most", "few",
        "several", "various", "certain", "new", "old", "first", "second", "last", "next", "one", "two", "three",
        "four", "five", "six", "seven", "eight", "nine", "ten", "hundred", "thousand", "million",
        "of", "in", "on", "at", "by", "for", "with", "without", "from", "to", "into", "onto", "over", "under",
        "about", "above", "below", "between", "among", "through", "during", "before", "after", "since", "until",
        "within", "against", "across", "along", "around", "via", "per", "as", "like", "than", "upon", "toward",
        "towards", "and", "or", "but", "nor", "so", "yet", "if", "then", "else", "when", "while", "where",
        "whereas", "because", "although", "though", "whether", "which", "who", "whom", "whose", "what", "how",
        "why", "i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "us", "them", "my", "your", "his",
        "its", "our", "their", "is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had",
        "having", "do", "does", "did", "done", "can", "could", "will", "would", "shall", "should", "may",
        "might", "must", "also", "very", "too", "only", "just", "even", "still", "already", "often", "usually",
        "always", "never", "sometimes", "again", "there", "here", "now", "well", "however", "thus", "therefore",
        "include", "includes", "including", "use", "uses", "using", "make", "makes", "making", "take", "takes",
        "give", "gives", "get", "gets", "become", "becomes", "became", "called", "known", "based", "see", "seen",
        "show", "shows", "shown", "found", "made", "used", "given", "taken", "said", "say", "says", "etc",
        "e.g.", "i.e.", "up", "out", "off", "down", "number", "part", "way", "time", "times", "year",
        "years", "type", "types", "kind", "kinds", "example", "examples", "form", "forms", "work", "works",
    ]

    /// Lower-case noun phrases ("question answering", "naive Bayes classifier", "folk music"),
    /// which English does not capitalise: runs of two or more content words between function
    /// words and punctuation, with the run's last two words when it is longer (English phrases
    /// end in their head noun). Scalar ranges, no duplicates, in text order.
    public func proposeTerms(_ text: String) -> [Range<Int>] {
        let words = Self.words(Array(text.unicodeScalars))
        var spans: [Range<Int>] = []
        func add(_ r: Range<Int>) { if !r.isEmpty && !spans.contains(r) { spans.append(r) } }
        for r in termRuns(words) where r.count >= 2 {
            if r.count <= 5 { add(r.first!.start..<r.last!.end) }
            if r.count > 2 { add(r[r.count - 2].start..<r.last!.end) }
        }
        return spans.sorted { ($0.lowerBound, $0.upperBound) < ($1.lowerBound, $1.upperBound) }
    }

    /// Runs of lower-case content words, cut at punctuation and function words, at most six
    /// words, not ending in an "-ed" word, an adverb or a capitalised word. A capitalised word
    /// may begin or sit inside a run ("Gaussian mixture model", "naive Bayes classifier")
    /// unless it is an ordinary word capitalised by position ("Unlike"). Without a tagger, a
    /// verb between nouns stays inside a run ("team builds robots"); the model's typing (with
    /// a margin over "none") is what rejects such spans.
    func termRuns(_ words: [Word]) -> [[Word]] {
        func isLower(_ w: String) -> Bool {
            guard let f = w.unicodeScalars.first, f.properties.isLowercase, w.count >= 2 else { return false }
            return w.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0 == "-" || ("0"..."9").contains($0) }
                && !Self.termStopWords.contains(w) && !w.hasSuffix("ly")
        }
        var runs: [[Word]] = []
        var current: [Word] = []
        func flush() {
            while let last = current.last, last.text.hasSuffix("ed") || !isLower(last.text) { current.removeLast() }
            while let first = current.first, first.text.hasSuffix("ed") || !isLower(first.text)
                    && (!Self.isCapitalised(first.text) || isOrdinaryWord?(first.text) == true) { current.removeFirst() }
            if current.contains(where: { isLower($0.text) }) && !current.isEmpty {
                runs.append(current.count > 6 ? Array(current.suffix(6)) : current)
            }
            current = []
        }
        for w in words {
            let capitalised = Self.isCapitalised(w.text) && !Self.leadingFunctionWords.contains(w.text.lowercased())
                && !Self.termStopWords.contains(w.text.lowercased())
            if isLower(w.text) || capitalised { current.append(w) } else { flush() }
        }
        flush()
        return runs
    }

    static func isCapitalised(_ w: String) -> Bool {
        guard let first = w.unicodeScalars.first else { return false }
        if first.properties.isUppercase { return true }
        // "iPhone", "eBay", "word2vec"-like names with an inner capital or digits and letters.
        let inner = w.unicodeScalars.dropFirst()
        return first.properties.isLowercase && inner.contains { $0.properties.isUppercase }
    }

    /// Candidate spans of `text` (scalar ranges, no duplicates, in text order).
    public func propose(_ text: String) -> [Range<Int>] {
        let scalars = Array(text.unicodeScalars)
        let words = Self.words(scalars)
        var spans: [Range<Int>] = []
        func add(_ r: Range<Int>) { if !r.isEmpty && !spans.contains(r) { spans.append(r) } }
        func startsSentence(_ k: Int) -> Bool { k == 0 || [".", "!", "?", ":", ";", "\"", "(", "“"].contains(words[k - 1].text) }
        var i = 0
        while i < words.count {
            guard Self.isCapitalised(words[i].text) || (words[i].text.first?.isNumber == true && words[i].text.count >= 3 && words[i].text.contains(where: \.isLetter)) else { i += 1; continue }
            var j = i
            var last = i
            while j + 1 < words.count {
                let next = words[j + 1].text
                if Self.isCapitalised(next) || next.first?.isNumber == true { j += 1; last = j; continue }
                // Up to two connectors join only when a capitalised word follows them
                // ("Prize of the Ecumenical Jury").
                if connectors.contains(next.lowercased()) {
                    if j + 2 < words.count && Self.isCapitalised(words[j + 2].text) { j += 2; last = j; continue }
                    if j + 3 < words.count && connectors.contains(words[j + 2].text.lowercased()) && Self.isCapitalised(words[j + 3].text) {
                        j += 3; last = j; continue
                    }
                }
                break
            }
            // Leading function words are not part of a name ("In", "After" …), but a capital
            // "The" inside a sentence begins a title ("read The Book of Spies").
            var first = i
            while first <= last, Self.leadingFunctionWords.contains(words[first].text.lowercased()),
                  !(words[first].text == "The" && !startsSentence(first) && first < last) { first += 1 }
            guard first <= last else { i = last + 1; continue }
            let run = Array(words[first...last])
            // Dates are not names ("February 2015", "Monday").
            if run.allSatisfy({ Self.calendarWords.contains($0.text.lowercased()) || $0.text.first?.isNumber == true || $0.text == "," }) {
                i = last + 1; continue
            }
            // A single ordinary word that begins a sentence ("Finally", "Typical").
            if run.count == 1 && startsSentence(first), let isOrdinary = isOrdinaryWord, isOrdinary(run[0].text) {
                i = last + 1; continue
            }
            // "A and B", "A & B", "A, B": two names, not one.
            var pieceStart = 0
            var split = false
            for (k, w) in run.enumerated() where w.text == "and" || w.text == "&" || w.text == "," {
                if k > pieceStart { add(run[pieceStart].start..<run[k - 1].end) }
                pieceStart = k + 1
                split = true
            }
            if split { if pieceStart < run.count { add(run[pieceStart].start..<run.last!.end) } } else { add(run.first!.start..<run.last!.end) }
            i = last + 1
        }
        // Quoted titles: text between matching quotes, up to twelve words.
        let quotePairs: [(Unicode.Scalar, Unicode.Scalar)] = [("\"", "\""), ("“", "”"), ("«", "»")]
        for (open, close) in quotePairs {
            var k = 0
            while k < scalars.count {
                guard scalars[k] == open, let end = scalars[(k + 1)...].firstIndex(of: close) else { k += 1; continue }
                var a = k + 1, b = end
                while a < b && scalars[a].properties.isWhitespace { a += 1 }
                while b > a && scalars[b - 1].properties.isWhitespace { b -= 1 }
                let inner = String(String.UnicodeScalarView(scalars[a..<b]))
                if b > a && inner.split(separator: " ").count <= 12 { add(a..<b) }
                k = end + 1
            }
        }
        // Known names, whole words, ignoring case.
        if !knownNames.isEmpty {
            let lower = Array(text.lowercased().unicodeScalars)
            if lower.count == scalars.count {
                for name in knownNames where name.unicodeScalars.count >= 3 {
                    for r in TextSpans.occurrences(of: name.lowercased(), in: lower) {
                        let before = r.lowerBound == 0 || !scalars[r.lowerBound - 1].properties.isAlphabetic
                        let after = r.upperBound == scalars.count || !scalars[r.upperBound].properties.isAlphabetic
                        if before && after { add(r) }
                    }
                }
            }
        }
        return spans.sorted { ($0.lowerBound, $0.upperBound) < ($1.lowerBound, $1.upperBound) }
    }
}
