/// A token id as the model sees it.
public typealias TokenID = Int32

/// Turns text into token ids and back.
///
/// Implementations are immutable after loading, so one instance can be shared across tasks.
public protocol Tokenizer: Sendable {
    /// Number of entries in the vocabulary.
    var vocabularySize: Int { get }
    /// Beginning-of-sequence token, when the vocabulary has one.
    var bosID: TokenID? { get }
    /// End-of-sequence token, when the vocabulary has one.
    var eosID: TokenID? { get }
    /// Whether the model expects a BOS token in front of every prompt.
    var addsBOS: Bool { get }
    /// Tokens that end a generation besides EOS (for example Gemma's `<end_of_turn>`).
    var endOfGenerationIDs: Set<TokenID> { get }

    /// Encodes `text`. With `parseSpecial`, control tokens written in the text
    /// (`<start_of_turn>`) become their ids instead of being spelled out.
    func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID]

    /// The raw bytes one token stands for when detokenized (control tokens give no bytes unless
    /// `renderSpecial`). Bytes rather than a String: a token may hold half a UTF-8 character.
    func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8]
}

extension Tokenizer {
    /// Decodes a whole sequence; invalid UTF-8 is repaired with U+FFFD.
    public func decode(_ tokens: [TokenID], renderSpecial: Bool = false) -> String {
        var buffer: [UInt8] = []
        for token in tokens { buffer += bytes(for: token, renderSpecial: renderSpecial) }
        return String(decoding: buffer, as: UTF8.self)
    }
}

/// Turns a stream of tokens into text without ever emitting half a UTF-8 character.
public struct StreamingDetokenizer: Sendable {
    private var pending: [UInt8] = []
    public let renderSpecial: Bool

    public init(renderSpecial: Bool = false) { self.renderSpecial = renderSpecial }

    /// Appends a token and returns the text that is now complete (possibly empty).
    public mutating func append(_ token: TokenID, using tokenizer: some Tokenizer) -> String {
        pending += tokenizer.bytes(for: token, renderSpecial: renderSpecial)
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held back (an unfinished character at the very end), repaired.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a multi-byte character.
    /// Invalid bytes count as complete (they decode to U+FFFD rather than stall the stream).
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // Look back at most 3 bytes for the start of a character that is not yet finished.
        var i = n - 1
        var continuation = 0
        while i >= 0 && continuation < 4 {
            let b = bytes[i]
            if b & 0xC0 == 0x80 { continuation += 1; i -= 1; continue }
            let need: Int
            if b & 0x80 == 0 { need = 1 } else if b & 0xE0 == 0xC0 { need = 2 }
            else if b & 0xF0 == 0xE0 { need = 3 } else if b & 0xF8 == 0xF0 { need = 4 } else { return n }
            return continuation + 1 < need ? i : n
        }
        return n
    }
}
