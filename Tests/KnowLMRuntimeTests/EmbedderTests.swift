import CKernels
import Foundation
import Testing
@testable import KnowLMRuntime

/// all-MiniLM-L6-v2 against sentence-transformers (goldens made by
/// scripts/golden/sentence_transformers_goldens.py).
struct EmbedderTests {
    /// float32 agrees with sentence-transformers to rounding; bfloat16 (`--fast-embeddings`, on
    /// CPUs with AVX512_BF16; float32 elsewhere) within 1e-4 in cosine (measured 1.8e-5 at
    /// worst over 2,000 questions, BENCHMARKS.md).
    @Test(arguments: [(EmbeddingPrecision.float32, Float(1e-6)), (.bfloat16, 1e-4)])
    func embeddingsMatchSentenceTransformers(precision: EmbeddingPrecision, tolerance: Float) throws {
        let golden = try Fixtures.json("golden/minilm_sentence_transformers.json")
        let folder = try ModelStore().resolve(ModelStore.defaultEmbedder)
        let embedder = try BERTEmbedder(folder: URL(fileURLWithPath: folder), precision: precision)
        #expect(embedder.precision == (precision == .bfloat16 && kl_bf16_available() == 0 ? .float32 : precision))
        let cases = golden["cases"] as! [[String: Any]]
        #expect(cases.count >= 30)
        let vectors = try embedder.embed(cases.map { $0["text"] as! String })
        var worst: Float = 0
        for (c, ours) in zip(cases, vectors) {
            let theirs = (c["embedding"] as! [Any]).floats
            #expect(ours.count == 384)
            var dot: Float = 0, a: Float = 0, b: Float = 0
            for i in 0..<ours.count { dot += ours[i] * theirs[i]; a += ours[i] * ours[i]; b += theirs[i] * theirs[i] }
            worst = max(worst, 1 - dot / (a.squareRoot() * b.squareRoot()))
            #expect(abs(a - 1) < 1e-4, "embeddings are unit length")
        }
        print("\(embedder.precision): largest 1 - cosine against sentence-transformers: \(worst)")
        #expect(worst <= tolerance)
        // Truncation: the long inputs are cut at 256 tokens like sentence-transformers does.
        #expect(embedder.tokenizer.encode(String(repeating: "word ", count: 400), maxLength: 256).count == 256)
    }

    @Test func wordPieceSplitsLikeBert() throws {
        let folder = try ModelStore().resolve(ModelStore.defaultEmbedder)
        let tokenizer = try WordPieceTokenizer(vocabularyFile: URL(fileURLWithPath: folder).appendingPathComponent("vocab.txt"))
        #expect(tokenizer.basicTokens("Hello, Wörld! 浙江大学") == ["hello", ",", "world", "!", "浙", "江", "大", "学"])
        let ids = tokenizer.encode("unaffable", maxLength: 16)
        #expect(ids.first == tokenizer.classifierID && ids.last == tokenizer.separatorID)
        #expect(ids.count > 3)  // split into word pieces
    }

    /// The rational erf of BERT's GELU against libm's erff over [-6, 6].
    @Test func erfApproximationIsWithinAFewUlp() {
        var worst: Float = 0
        for i in 0...120_000 {
            let x = Float(i) / 10_000 - 6
            worst = max(worst, abs(kl_erf_approx(x) - erff(x)))
        }
        #expect(worst <= 5e-7, "max |erf error| \(worst)")
    }

    /// The bfloat16 linear layer against the same products in float64 from the bfloat16-rounded
    /// inputs, on sizes with row and column tails.
    @Test func bfloat16LinearMatchesItsDefinition() throws {
        try #require(kl_bf16_available() != 0, "this CPU has no AVX512_BF16; --fast-embeddings stays float32 here")
        var state: UInt64 = 7
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 11) / Double(1 << 53) * 2 - 1)
        }
        func bf16(_ x: Float) -> Double { Double(Float(bitPattern: UInt32(kl_fp32_to_bf16(x)) << 16)) }
        for (m, k, n) in [(1, 8, 16), (7, 64, 80), (70, 384, 1152), (5, 1536, 384)] {
            let x = (0..<(m * k)).map { _ in uniform() }, w = (0..<(n * k)).map { _ in uniform() }, bias = (0..<n).map { _ in uniform() }
            var packed = [UInt16](repeating: 0, count: kl_bf16_packed_count(Int64(n), Int64(k)))
            #expect(kl_bf16_pack(w, Int64(n), Int64(k), &packed) == 0)
            var scratch = [UInt16](repeating: 0, count: kl_bf16_scratch_count(Int64(k)))
            var out = [Float](repeating: .nan, count: m * n)
            #expect(kl_bf16_linear(x, Int64(m), Int64(k), packed, bias, Int64(n), &out, &scratch) == 0)
            var worst = 0.0
            for r in 0..<m {
                for c in 0..<n {
                    var expected = Double(bias[c])
                    for j in 0..<k { expected += bf16(x[r * k + j]) * bf16(w[c * k + j]) }
                    worst = max(worst, abs(Double(out[r * n + c]) - expected) / max(1, abs(expected)))
                }
            }
            #expect(worst <= 1e-5, "m \(m) k \(k) n \(n): max relative error \(worst)")
        }
        var packed = [UInt16](repeating: 0, count: 24 * 8)
        #expect(kl_bf16_pack([Float](repeating: 1, count: 24 * 8), 24, 8, &packed) == -1, "24 outputs is not a multiple of 16")
    }
}
