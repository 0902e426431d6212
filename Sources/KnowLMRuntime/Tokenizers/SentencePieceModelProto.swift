import Foundation

/// The parts of SentencePiece's `ModelProto` that KnowLM reads and writes, with a minimal
/// protobuf wire-format codec (SentencePiece's own protobuf headers are not installed by
/// Debian, and the schema here is small and stable).
///
/// Field numbers follow `sentencepiece_model.proto`.
struct SentencePieceModelProto: Equatable {
    enum PieceType: Int32 { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }
    enum ModelType: Int32 { case unigram = 1, bpe = 2, word = 3, char = 4 }

    struct Piece: Equatable {
        var text: String
        var score: Float
        var type: PieceType
    }

    var pieces: [Piece] = []
    var modelType: ModelType = .unigram
    var unkID: Int32 = 0
    var bosID: Int32 = 1
    var eosID: Int32 = 2
    var padID: Int32 = -1
    var byteFallback = false
    var splitDigits = false
    var normalizerName = "nmt_nfkc"
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    // MARK: writing

    func serialized() -> [UInt8] {
        var out = ProtoWriter()
        for piece in pieces {
            var p = ProtoWriter()
            p.string(1, piece.text)
            p.float(2, piece.score)
            p.varint(3, UInt64(piece.type.rawValue))
            out.message(1, p.bytes)
        }
        var trainer = ProtoWriter()
        trainer.varint(3, UInt64(modelType.rawValue))
        trainer.varint(4, UInt64(pieces.count))
        trainer.varint(25, splitDigits ? 1 : 0)
        trainer.varint(35, byteFallback ? 1 : 0)
        trainer.varint(40, UInt64(bitPattern: Int64(unkID)))
        trainer.varint(41, UInt64(bitPattern: Int64(bosID)))
        trainer.varint(42, UInt64(bitPattern: Int64(eosID)))
        trainer.varint(43, UInt64(bitPattern: Int64(padID)))
        out.message(2, trainer.bytes)
        var normalizer = ProtoWriter()
        normalizer.string(1, normalizerName)
        normalizer.varint(3, addDummyPrefix ? 1 : 0)
        normalizer.varint(4, removeExtraWhitespaces ? 1 : 0)
        normalizer.varint(5, escapeWhitespaces ? 1 : 0)
        out.message(3, normalizer.bytes)
        return out.bytes
    }

    // MARK: reading

    /// Parses a `tokenizer.model` file's bytes (fields not listed above are skipped; the
    /// original bytes, not a re-serialization, are what libsentencepiece loads).
    init(parsing bytes: [UInt8]) throws {
        var reader = ProtoReader(bytes: bytes[...])
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, 2):
                var piece = Piece(text: "", score: 0, type: .normal)
                var p = ProtoReader(bytes: try reader.lengthDelimited())
                while let (f, w) = try p.nextField() {
                    switch (f, w) {
                    case (1, 2): piece.text = String(decoding: try p.lengthDelimited(), as: UTF8.self)
                    case (2, 5): piece.score = Float(bitPattern: try p.fixed32())
                    case (3, 0): piece.type = PieceType(rawValue: Int32(truncatingIfNeeded: try p.varint())) ?? .normal
                    default: try p.skip(wire: w)
                    }
                }
                pieces.append(piece)
            case (2, 2):
                var t = ProtoReader(bytes: try reader.lengthDelimited())
                while let (f, w) = try t.nextField() {
                    switch (f, w) {
                    case (3, 0): modelType = ModelType(rawValue: Int32(truncatingIfNeeded: try t.varint())) ?? .unigram
                    case (25, 0): splitDigits = try t.varint() != 0
                    case (35, 0): byteFallback = try t.varint() != 0
                    case (40, 0): unkID = Int32(truncatingIfNeeded: try t.varint())
                    case (41, 0): bosID = Int32(truncatingIfNeeded: try t.varint())
                    case (42, 0): eosID = Int32(truncatingIfNeeded: try t.varint())
                    case (43, 0): padID = Int32(truncatingIfNeeded: try t.varint())
                    default: try t.skip(wire: w)
                    }
                }
            case (3, 2):
                var n = ProtoReader(bytes: try reader.lengthDelimited())
                while let (f, w) = try n.nextField() {
                    switch (f, w) {
                    case (1, 2): normalizerName = String(decoding: try n.lengthDelimited(), as: UTF8.self)
                    case (3, 0): addDummyPrefix = try n.varint() != 0
                    case (4, 0): removeExtraWhitespaces = try n.varint() != 0
                    case (5, 0): escapeWhitespaces = try n.varint() != 0
                    default: try n.skip(wire: w)
                    }
                }
            default:
                try reader.skip(wire: wire)
            }
        }
    }

    init() {}
}

private struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func key(_ field: Int, _ wire: Int) { rawVarint(UInt64(field << 3 | wire)) }

    mutating func varint(_ field: Int, _ value: UInt64) { key(field, 0); rawVarint(value) }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ field: Int, _ value: String) { message(field, Array(value.utf8)) }

    mutating func message(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        rawVarint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }
}

private struct ProtoReader {
    var bytes: ArraySlice<UInt8>

    mutating func varint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let b = bytes.popFirst(), shift < 64 else { throw RuntimeError.tokenizer("tokenizer.model is not a valid SentencePiece model (bad varint)") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func nextField() throws -> (Int, Int)? {
        guard !bytes.isEmpty else { return nil }
        let key = try varint()
        return (Int(key >> 3), Int(key & 7))
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let n = try varint()
        guard n <= UInt64(bytes.count) else { throw RuntimeError.tokenizer("tokenizer.model is truncated") }
        let start = bytes.startIndex
        defer { bytes = bytes[(start + Int(n))...] }
        return bytes[start..<(start + Int(n))]
    }

    mutating func fixed32() throws -> UInt32 {
        guard bytes.count >= 4 else { throw RuntimeError.tokenizer("tokenizer.model is truncated") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[bytes.startIndex + i]) << (8 * i) }
        bytes = bytes.dropFirst(4)
        return v
    }

    mutating func skip(wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1:
            guard bytes.count >= 8 else { throw RuntimeError.tokenizer("tokenizer.model is truncated") }
            bytes = bytes.dropFirst(8)
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw RuntimeError.tokenizer("tokenizer.model is not a valid SentencePiece model (wire type \(wire))")
        }
    }
}
