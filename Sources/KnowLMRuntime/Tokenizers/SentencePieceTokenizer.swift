import CSentencePiece
import Foundation
import KnowLMCore

/// A tokenizer backed by libsentencepiece, loaded from a `tokenizer.model` file or built from
/// the vocabulary stored in a GGUF file.
///
/// For GGUF files the vocabulary becomes a SentencePiece BPE model with an identity normalizer,
/// whitespace escaped to `▁`, extra whitespace kept and byte fallback: this reproduces
/// llama.cpp's SPM tokenizer token for token.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked: the processor is immutable after loading and libsentencepiece's encode is const.
    private let processor: OpaquePointer
    private let pieceBytes: [[UInt8]]
    private let pieceTypes: [SentencePieceModelProto.PieceType]
    private let specialTokens: SpecialTokenMatcher

    public let vocabularySize: Int
    public let bosID: TokenID?
    public let eosID: TokenID?
    public let addsBOS: Bool
    public let endOfGenerationIDs: Set<TokenID>

    /// Loads a SentencePiece `tokenizer.model` (for example from a Hugging Face llama folder).
    public convenience init(modelFile url: URL, addsBOS: Bool = true) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw RuntimeError.cannotOpen(path: url.path, reason: error.localizedDescription)
        }
        let bytes = [UInt8](data)
        let proto = try SentencePieceModelProto(parsing: bytes)
        try self.init(serialized: bytes, proto: proto, addsBOS: addsBOS, extraEndIDs: [])
    }

    /// Builds the tokenizer from `tokenizer.ggml.*` metadata.
    public convenience init(gguf: GGUFFile) throws {
        let model = gguf.string("tokenizer.ggml.model") ?? "llama"
        guard model == "llama" else {
            throw RuntimeError.tokenizer("tokenizer model '\(model)' is not supported yet (only SentencePiece vocabularies, tokenizer.ggml.model = llama)")
        }
        guard let tokens = gguf.metadata["tokenizer.ggml.tokens"]?.array, !tokens.isEmpty else {
            throw RuntimeError.missingMetadata("tokenizer.ggml.tokens")
        }
        let scores = gguf.metadata["tokenizer.ggml.scores"]?.array
        let types = gguf.metadata["tokenizer.ggml.token_type"]?.array
        guard scores == nil || scores!.count == tokens.count, types == nil || types!.count == tokens.count else {
            throw RuntimeError.tokenizer("tokenizer.ggml.scores / token_type do not have one entry per token")
        }

        var proto = SentencePieceModelProto()
        proto.modelType = .bpe
        proto.normalizerName = "identity"
        proto.addDummyPrefix = gguf.bool("tokenizer.ggml.add_space_prefix") ?? true
        proto.removeExtraWhitespaces = false
        proto.escapeWhitespaces = true
        proto.splitDigits = true
        let unk = Int32(gguf.int("tokenizer.ggml.unknown_token_id") ?? 0)
        proto.unkID = unk
        proto.bosID = Int32(gguf.int("tokenizer.ggml.bos_token_id") ?? -1)
        proto.eosID = Int32(gguf.int("tokenizer.ggml.eos_token_id") ?? -1)
        proto.padID = Int32(gguf.int("tokenizer.ggml.padding_token_id") ?? -1)
        // SentencePiece rejects ids that collide; keep only the first role for an id.
        if proto.padID == proto.unkID || proto.padID == proto.bosID || proto.padID == proto.eosID { proto.padID = -1 }
        if proto.bosID == proto.unkID { proto.bosID = -1 }
        if proto.eosID == proto.unkID || proto.eosID == proto.bosID { proto.eosID = -1 }

        var seen = Set<String>()
        var byteCount = 0
        proto.pieces.reserveCapacity(tokens.count)
        for (id, value) in tokens.enumerated() {
            var text = value.string ?? ""
            let rawType = types?[id].int ?? 1
            var type = SentencePieceModelProto.PieceType(rawValue: Int32(rawType)) ?? .normal
            if Int32(id) == unk { type = .unknown } else if type == .unknown { type = .control }
            if type == .userDefined { text = text.replacingOccurrences(of: " ", with: "\u{2581}") }
            if type == .byte { byteCount += 1 }
            // SentencePiece requires unique, non-empty pieces. A duplicate or empty entry can never
            // be produced by the encoder anyway; give it a private name (decoding uses our copy).
            if text.isEmpty || !seen.insert(text).inserted {
                text = "<knowlm-dup-\(id)>"
                seen.insert(text)
                if type != .unknown { type = .unused }
            }
            proto.pieces.append(.init(text: text, score: scores?[id].float ?? 0, type: type))
        }
        guard Int(unk) >= 0 && Int(unk) < tokens.count else {
            throw RuntimeError.tokenizer("unknown_token_id \(unk) is outside the vocabulary of \(tokens.count)")
        }
        proto.byteFallback = byteCount == 256

        var endIDs: Set<TokenID> = []
        if let eot = gguf.int("tokenizer.ggml.eot_token_id") { endIDs.insert(TokenID(eot)) }
        for (id, value) in tokens.enumerated() where ["<end_of_turn>", "<|eot_id|>", "<|im_end|>", "<|end|>"].contains(value.string ?? "") {
            endIDs.insert(TokenID(id))
        }
        let originalText = tokens.map { $0.string ?? "" }
        try self.init(serialized: proto.serialized(), proto: proto,
                      addsBOS: gguf.bool("tokenizer.ggml.add_bos_token") ?? true,
                      extraEndIDs: endIDs, originalPieces: originalText)
    }

    private init(serialized: [UInt8], proto: SentencePieceModelProto, addsBOS: Bool,
                 extraEndIDs: Set<TokenID>, originalPieces: [String]? = nil) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = serialized.withUnsafeBytes({
            kspm_load_serialized($0.baseAddress, $0.count, &error, error.count)
        }) else {
            throw RuntimeError.tokenizer("libsentencepiece refused the model: \(Self.message(error))")
        }
        processor = handle
        vocabularySize = proto.pieces.count
        pieceTypes = proto.pieces.map(\.type)
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(proto.pieces.count)
        for (id, piece) in proto.pieces.enumerated() {
            bytes.append(Self.surfaceBytes(of: originalPieces?[id] ?? piece.text, type: piece.type))
        }
        pieceBytes = bytes
        bosID = proto.bosID >= 0 ? proto.bosID : nil
        eosID = proto.eosID >= 0 ? proto.eosID : nil
        self.addsBOS = addsBOS && bosID != nil
        endOfGenerationIDs = extraEndIDs.union(eosID.map { [$0] } ?? [])
        let specials = proto.pieces.enumerated().compactMap { id, piece -> (String, TokenID)? in
            guard piece.type == .control || piece.type == .unknown else { return nil }
            let text = originalPieces?[id] ?? piece.text
            return text.isEmpty ? nil : (text, TokenID(id))
        }
        specialTokens = SpecialTokenMatcher(specials)
    }

    deinit { kspm_free(processor) }

    /// A NUL-terminated message from the C shim.
    private static func message(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// What a piece stands for in decoded text: `▁` is a space, `<0xAB>` one raw byte.
    private static func surfaceBytes(of text: String, type: SentencePieceModelProto.PieceType) -> [UInt8] {
        if type == .byte, text.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">"),
           let value = UInt8(text.dropFirst(3).prefix(2), radix: 16) {
            return [value]
        }
        // Scalar by scalar: Foundation's replacingOccurrences is slow over a 262k-entry vocabulary.
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar == "\u{2581}" { out.append(0x20) } else { UTF8.encode(scalar) { out.append($0) } }
        }
        return out
    }

    public func encode(_ text: String, addBOS: Bool, parseSpecial: Bool) throws -> [TokenID] {
        var ids: [TokenID] = []
        if addBOS, let bos = bosID { ids.append(bos) }
        let fragments = parseSpecial ? specialTokens.split(text) : [.text(Substring(text))]
        for fragment in fragments {
            switch fragment {
            case .special(let id): ids.append(id)
            case .text(let part): ids += try encodePlain(part)
            }
        }
        return ids
    }

    private func encodePlain(_ text: Substring) throws -> [TokenID] {
        guard !text.isEmpty else { return [] }
        let utf8 = Array(text.utf8)
        var capacity = utf8.count + 8
        while true {
            var ids = [Int32](repeating: 0, count: capacity)
            var count = 0
            var error = [CChar](repeating: 0, count: 256)
            let status = utf8.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    kspm_encode(processor, chars.baseAddress, chars.count, &ids, capacity, &count, &error, error.count)
                }
            }
            switch Int(status) {
            case Int(KSPM_OK): return Array(ids.prefix(count))
            case Int(KSPM_BUFFER_TOO_SMALL): capacity = count
            default: throw RuntimeError.tokenizer(Self.message(error))
            }
        }
    }

    public func bytes(for token: TokenID, renderSpecial: Bool) -> [UInt8] {
        guard token >= 0 && Int(token) < pieceBytes.count else { return [] }
        switch pieceTypes[Int(token)] {
        case .control, .unknown, .unused:
            return renderSpecial ? pieceBytes[Int(token)] : []
        default:
            return pieceBytes[Int(token)]
        }
    }

    /// The vocabulary entry of a token as stored (for `knowlm tokenize` and debugging).
    public func piece(_ token: TokenID) -> String {
        guard token >= 0 && Int(token) < pieceBytes.count else { return "" }
        return String(decoding: pieceBytes[Int(token)], as: UTF8.self)
    }

    /// Id of the control token spelled `text` (for example `<end_of_turn>`), if there is one.
    public func specialTokenID(_ text: String) -> TokenID? { specialTokens.id(for: text) }
}

/// Finds control tokens written literally in text, longest match first, as llama.cpp does
/// when asked to parse special tokens.
struct SpecialTokenMatcher: Sendable {
    enum Fragment: Equatable { case text(Substring), special(TokenID) }

    private let byFirstByte: [UInt8: [(bytes: [UInt8], id: TokenID)]]
    private let byText: [String: TokenID]

    init(_ tokens: [(String, TokenID)]) {
        var table: [UInt8: [(bytes: [UInt8], id: TokenID)]] = [:]
        var byText: [String: TokenID] = [:]
        for (text, id) in tokens {
            let bytes = Array(text.utf8)
            table[bytes[0], default: []].append((bytes, id))
            if byText[text] == nil { byText[text] = id }
        }
        for key in table.keys { table[key]!.sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = table
        self.byText = byText
    }

    func id(for text: String) -> TokenID? { byText[text] }

    func split(_ text: String) -> [Fragment] {
        guard !byFirstByte.isEmpty else { return [.text(Substring(text))] }
        let utf8 = Array(text.utf8)
        var fragments: [Fragment] = []
        var textStart = 0
        var i = 0
        while i < utf8.count {
            if let candidates = byFirstByte[utf8[i]],
               let match = candidates.first(where: { c in
                   c.bytes.count <= utf8.count - i && utf8[i..<(i + c.bytes.count)].elementsEqual(c.bytes)
               }) {
                if textStart < i { fragments.append(.text(Self.substring(text, utf8, textStart, i))) }
                fragments.append(.special(match.id))
                i += match.bytes.count
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < utf8.count { fragments.append(.text(Self.substring(text, utf8, textStart, utf8.count))) }
        return fragments
    }

    private static func substring(_ text: String, _ utf8: [UInt8], _ from: Int, _ to: Int) -> Substring {
        let start = text.utf8.index(text.utf8.startIndex, offsetBy: from)
        let end = text.utf8.index(text.utf8.startIndex, offsetBy: to)
        return text[start..<end]
    }
}
