import Foundation

/// Stage 0 of retrieval: the question as words, and what its grammar says about the answer
/// (a count, a comparison and its direction, the kind of thing asked for).
///
/// Everything here is knowledge of the English and Chinese languages (function words,
/// comparatives, question words), never of a particular graph: relations and entities are
/// found in the knowledge base by the later stages.
public struct QuestionAnalysis: Sendable {
    public struct Word: Sendable, Equatable {
        /// Lower-cased.
        public var text: String
        /// Character offsets in the question.
        public var range: Range<Int>
        /// An article, preposition, pronoun, auxiliary or question word.
        public var isFunctionWord: Bool
    }

    /// Which end of a numeric relation a comparison or superlative asks for.
    public enum Direction: String, Sendable { case largest, smallest }

    /// What the question word says the answer is.
    public enum AnswerType: Sendable { case any, person, time, place, quantity }

    public var question: String
    public var lowercased: String
    /// "en" or "zh".
    public var language: String
    public var words: [Word]
    /// "how many …", "number of …", "多少个 …": the answer may be a count of things.
    public var asksCount: Bool
    /// A comparative or superlative, with the direction its word asks for (nil: none).
    public var direction: Direction?
    /// The comparative word says older/younger (inverted for dates: older is earlier).
    public var agesAreInverted: Bool
    /// "most", "-est", "最": one item of a set, picked by a numeric relation.
    public var isSuperlative: Bool
    public var answerType: AnswerType
    /// "other", "another", "else": the question wants the other things related the same way
    /// ("which other element did the discoverer of X discover").
    public var asksForOthers: Bool

    public init(_ question: String) {
        self.question = question
        lowercased = question.lowercased()
        let chinese = question.unicodeScalars.contains(where: CJKText.isCJK)
        language = chinese ? "zh" : "en"
        words = Self.words(question)
        let tokens = words.map(\.text)
        asksForOthers = tokens.contains { ["other", "another", "else", "others"].contains($0) } || question.contains("其他") || question.contains("另")
        let lower = lowercased
        asksCount = lower.contains("how many") || lower.contains("number of") || ["多少个", "几个", "多少种", "多少部", "多少位"].contains { lower.contains($0) }
        var direction: Direction?
        var inverted = false
        var superlative = false
        for token in tokens {
            if let d = Self.comparatives[token] {
                direction = d.direction
                if d.superlative { superlative = true }
                if d.age { inverted = true }
                break
            }
        }
        if direction == nil {
            for (word, d) in Self.chineseComparatives where lower.contains(word) {
                direction = d.direction
                if d.superlative { superlative = true }
                break
            }
        }
        if direction == nil, tokens.contains("or") || lower.contains("还是") {
            // "Which is denser, A or B?": an unknown "-er" word still compares, largest first.
            if let word = tokens.first(where: { $0.count > 4 && $0.hasSuffix("er") && !Self.functionWords.contains($0) }) {
                direction = word.hasPrefix("less") ? .smallest : .largest
            }
        }
        if direction == nil, tokens.contains(where: { $0.count > 5 && $0.hasSuffix("est") }) {
            // An unknown "-est" word: a superlative, largest first.
            direction = .largest
            superlative = true
        }
        self.direction = direction
        agesAreInverted = inverted
        isSuperlative = superlative
        if tokens.first == "who" || tokens.contains("whom") || tokens.contains("whose") || lower.hasPrefix("谁") || lower.contains("是谁") {
            answerType = .person
        } else if tokens.contains("when") || lower.contains("what year") || lower.contains("which year") || lower.contains("哪一年") || lower.contains("何时") {
            answerType = .time
        } else if tokens.contains("where") || lower.contains("哪里") {
            answerType = .place
        } else if (lower.contains("how many") || lower.contains("how much")) || lower.contains("多少") {
            answerType = .quantity
        } else {
            answerType = .any
        }
    }

    /// Words (runs of letters and digits, with inner hyphens, apostrophes and dots) with their
    /// character ranges; a possessive "'s" is dropped.
    public static func words(_ question: String) -> [Word] {
        let chars = Array(question)
        var out: [Word] = []
        var i = 0
        func isWordChar(_ c: Character) -> Bool {
            (c.isLetter && !c.unicodeScalars.contains(where: CJKText.isCJK)) || c.isNumber
        }
        while i < chars.count {
            guard isWordChar(chars[i]) else { i += 1; continue }
            var j = i
            while j < chars.count, isWordChar(chars[j]) || ("-'.’".contains(chars[j]) && j + 1 < chars.count && isWordChar(chars[j + 1])) {
                j += 1
            }
            var word = String(chars[i..<j])
            if word.hasSuffix("'s") || word.hasSuffix("’s") { word.removeLast(2) }
            let lower = word.lowercased()
            out.append(Word(text: lower, range: i..<(i + word.count), isFunctionWord: functionWords.contains(lower)))
            i = j
        }
        return out
    }

    /// Words that carry grammar, not content: never names of relations or entities on their own.
    public static let functionWords: Set<String> = [
        "a", "an", "the", "of", "in", "on", "at", "to", "into", "onto", "from", "by", "with", "without", "for", "about",
        "as", "than", "and", "or", "but", "not", "no", "nor", "is", "are", "was", "were", "be", "been", "being", "am",
        "do", "does", "did", "done", "has", "have", "had", "having", "can", "could", "will", "would", "shall", "should",
        "may", "might", "must", "what", "which", "who", "whom", "whose", "where", "when", "why", "how", "that", "this",
        "these", "those", "it", "its", "it's", "he", "she", "they", "them", "his", "her", "hers", "their", "theirs",
        "him", "we", "us", "our", "you", "your", "i", "me", "my", "there", "here", "any", "some", "all", "each", "every",
        "one", "ones", "other", "another", "else", "also", "too", "very", "much", "many", "more", "most", "less",
        "least", "name", "list", "tell", "give", "please", "kind", "sort", "type", "thing", "things", "someone",
        "something", "between", "among", "whether", "if", "so", "then", "same", "such", "both", "either", "neither",
        "via", "per", "over", "under", "after", "before", "since", "until", "up", "down", "out", "off",
    ]

    /// Prepositions that can end a relation's name ("discovered by", "born in"): they tell
    /// two relations of the same verb apart.
    static let relationPrepositions: Set<String> = ["by", "in", "at", "of", "from", "to", "on", "for", "with", "into"]

    private struct Comparative { var direction: Direction; var superlative: Bool = false; var age: Bool = false }

    /// English comparatives and superlatives whose direction the word itself gives.
    private static let comparatives: [String: Comparative] = {
        var table: [String: Comparative] = [:]
        for w in ["more", "larger", "bigger", "greater", "higher", "longer", "taller", "heavier", "later", "newer",
                  "wider", "deeper", "faster", "richer", "hotter", "above", "after"] {
            table[w] = Comparative(direction: .largest)
        }
        for w in ["most", "largest", "biggest", "greatest", "highest", "longest", "tallest", "heaviest", "latest",
                  "newest", "widest", "deepest", "fastest", "richest", "hottest", "maximum", "last", "recent"] {
            table[w] = Comparative(direction: .largest, superlative: true)
        }
        for w in ["less", "fewer", "smaller", "lower", "shorter", "lighter", "earlier", "before", "narrower",
                  "shallower", "slower", "poorer", "colder", "below"] {
            table[w] = Comparative(direction: .smallest)
        }
        for w in ["least", "fewest", "smallest", "lowest", "shortest", "lightest", "earliest", "first", "narrowest",
                  "slowest", "minimum", "coldest"] {
            table[w] = Comparative(direction: .smallest, superlative: true)
        }
        // Age: older means a larger age but an earlier date.
        table["older"] = Comparative(direction: .largest, age: true)
        table["oldest"] = Comparative(direction: .largest, superlative: true, age: true)
        table["younger"] = Comparative(direction: .smallest, age: true)
        table["youngest"] = Comparative(direction: .smallest, superlative: true, age: true)
        return table
    }()

    private static let chineseComparatives: [(String, Comparative)] = [
        ("最多", Comparative(direction: .largest, superlative: true)), ("最大", Comparative(direction: .largest, superlative: true)),
        ("最高", Comparative(direction: .largest, superlative: true)), ("最少", Comparative(direction: .smallest, superlative: true)),
        ("最小", Comparative(direction: .smallest, superlative: true)), ("最低", Comparative(direction: .smallest, superlative: true)),
        ("最早", Comparative(direction: .smallest, superlative: true)), ("最晚", Comparative(direction: .largest, superlative: true)),
        ("更多", Comparative(direction: .largest)), ("更大", Comparative(direction: .largest)), ("更高", Comparative(direction: .largest)),
        ("较多", Comparative(direction: .largest)), ("多于", Comparative(direction: .largest)), ("更少", Comparative(direction: .smallest)),
        ("更小", Comparative(direction: .smallest)), ("较少", Comparative(direction: .smallest)), ("更早", Comparative(direction: .smallest)),
        ("更晚", Comparative(direction: .largest)),
    ]

    /// What English comparatives measure ("longer" → length, duration, time): nouns a relation
    /// of that dimension is likely named with. Knowledge of the language, not of any graph.
    static let dimensions: [String: [String]] = {
        var table: [String: [String]] = [:]
        func add(_ words: [String], _ nouns: [String]) { for w in words { table[w] = nouns } }
        add(["longer", "longest", "shorter", "shortest"], ["length", "duration", "time", "long"])
        add(["heavier", "heaviest", "lighter", "lightest"], ["weight", "mass"])
        add(["taller", "tallest"], ["height", "tall"])
        add(["older", "oldest", "younger", "youngest"], ["age", "date", "year", "birth", "founded"])
        add(["bigger", "biggest", "larger", "largest", "smaller", "smallest"], ["size", "area"])
        add(["higher", "highest", "lower", "lowest"], ["height", "elevation", "altitude"])
        add(["denser", "densest"], ["density"])
        add(["earlier", "earliest", "later", "latest"], ["date", "year", "time"])
        add(["faster", "fastest", "slower", "slowest"], ["speed"])
        add(["wider", "widest", "narrower", "narrowest"], ["width"])
        add(["deeper", "deepest", "shallower"], ["depth"])
        add(["hotter", "hottest", "colder", "coldest"], ["temperature"])
        add(["richer", "richest", "poorer"], ["wealth", "income"])
        return table
    }()

    /// Dimension nouns of the question's comparatives, each with the offset of its comparative.
    public var dimensionWords: [Word] {
        words.flatMap { w in (Self.dimensions[w.text] ?? []).map { Word(text: $0, range: w.range, isFunctionWord: false) } }
    }

    /// The words outside the given character ranges (the entity mentions) that carry content.
    public func contentWords(excluding spans: [Range<Int>]) -> [Word] {
        words.filter { w in !w.isFunctionWord && !spans.contains { $0.overlaps(w.range) } && Self.comparatives[w.text] == nil }
    }

    /// The question with the given character ranges removed (for embedding what is asked).
    public func text(excluding spans: [Range<Int>]) -> String {
        var chars = Array(question)
        for span in spans.sorted(by: { $0.lowerBound > $1.lowerBound }) where span.upperBound <= chars.count {
            chars.replaceSubrange(span, with: [])
        }
        return String(chars).split(whereSeparator: { $0 == " " }).joined(separator: " ")
    }
}

/// Word matching for relation names: the same word up to its ending ("discovered" and
/// "discovery", "denser" and "density", "producer" and "produces"), and English words whose
/// related forms are spelled otherwise ("born" and "birth").
enum WordStem {
    /// Irregular English forms, mapped to a regular relative (English morphology, not any graph).
    static let irregular: [String: [String]] = [
        "born": ["birth"], "bore": ["birth"], "died": ["death"], "dead": ["death"], "dies": ["death"],
        "wrote": ["write"], "written": ["write"], "made": ["make"], "built": ["build"], "sang": ["sing"],
        "sung": ["sing"], "song": ["sing"], "taught": ["teach"], "led": ["lead"], "won": ["win"], "spoke": ["speak"],
        "spoken": ["speak"], "held": ["hold"], "grew": ["grow"], "grown": ["grow"], "drew": ["draw"], "drawn": ["draw"],
        "flew": ["fly"], "flown": ["fly"], "ran": ["run"], "began": ["begin"], "begun": ["begin"], "founded": ["found"],
        "lives": ["live"], "lived": ["live"], "children": ["child"], "men": ["man"], "women": ["woman"], "people": ["person"],
    ]

    /// Whether two lower-cased words share a stem: equal, or a common prefix of at least five
    /// characters (four when both words are short), covering all but the last few characters.
    static func related(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        if let forms = irregular[a], forms.contains(where: { related($0, b) }) { return true }
        if let forms = irregular[b], forms.contains(where: { related(a, $0) }) { return true }
        let x = Array(a), y = Array(b)
        let shorter = min(x.count, y.count)
        if shorter < 4 { return false }
        var common = 0
        while common < shorter && x[common] == y[common] { common += 1 }
        if common >= 5 && common >= shorter - 3 { return true }
        return common >= 4 && max(x.count, y.count) <= 7 && common >= shorter - 2
    }
}
