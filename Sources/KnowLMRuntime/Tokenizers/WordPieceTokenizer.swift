import Foundation

/// BERT's uncased WordPiece tokenizer from a `vocab.txt`: basic tokenization (control
/// characters dropped, CJK characters split apart, lowercasing and accent stripping, splitting
/// on whitespace and punctuation), then greedy longest-match WordPiece with `##` continuations.
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int32]
    public let unknownID: Int32
    public let classifierID: Int32
    public let separatorID: Int32
    public let padID: Int32
    public let lowercase: Bool
    static let maxWordLength = 100

    public init(vocabularyFile url: URL, lowercase: Bool = true) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw RuntimeError.cannotOpen(path: url.path, reason: "cannot read vocabulary: \(error.localizedDescription)")
        }
        var vocabulary: [String: Int32] = [:]
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let token = line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
            if !token.isEmpty && vocabulary[token] == nil { vocabulary[token] = Int32(i) }
        }
        func require(_ t: String) throws -> Int32 {
            guard let id = vocabulary[t] else { throw RuntimeError.tokenizer("vocab.txt has no \(t) token") }
            return id
        }
        self.vocabulary = vocabulary
        unknownID = try require("[UNK]")
        classifierID = try require("[CLS]")
        separatorID = try require("[SEP]")
        padID = vocabulary["[PAD]"] ?? 0
        self.lowercase = lowercase
    }

    /// `[CLS] pieces… [SEP]`, truncated to `maxLength` ids in all.
    public func encode(_ text: String, maxLength: Int) -> [Int32] {
        var ids: [Int32] = [classifierID]
        for word in basicTokens(text) {
            ids += wordPieces(word)
            if ids.count >= maxLength - 1 { break }
        }
        if ids.count > maxLength - 1 { ids.removeLast(ids.count - (maxLength - 1)) }
        ids.append(separatorID)
        return ids
    }

    func basicTokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        func flush() { if !current.isEmpty { tokens.append(current); current = "" } }
        let prepared = lowercase ? stripAccents(text.lowercased()) : text
        for scalar in prepared.unicodeScalars {
            let v = scalar.value
            if v == 0 || v == 0xFFFD || (scalar.properties.generalCategory == .control && scalar != "\t" && scalar != "\n" && scalar != "\r") {
                continue
            }
            if scalar.properties.isWhitespace || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                flush()
            } else if Self.isChineseCharacter(v) || Self.isPunctuation(scalar) {
                flush()
                tokens.append(String(scalar))
            } else {
                current.unicodeScalars.append(scalar)
            }
        }
        flush()
        return tokens
    }

    func stripAccents(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in s.decomposedStringWithCanonicalMapping.unicodeScalars where scalar.properties.generalCategory != .nonspacingMark {
            out.append(scalar)
        }
        return String(out)
    }

    static func isChineseCharacter(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// BERT counts all ASCII non-alphanumeric printable characters as punctuation too.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    func wordPieces(_ word: String) -> [Int32] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > Self.maxWordLength { return [unknownID] }
        var pieces: [Int32] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int32?
            while start < end {
                var piece = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if let id = vocabulary[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknownID] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}
