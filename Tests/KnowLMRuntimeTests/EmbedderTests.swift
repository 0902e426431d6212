import Foundation
import Testing
@testable import KnowLMRuntime

/// all-MiniLM-L6-v2 against sentence-transformers (goldens made by
/// scripts/golden/sentence_transformers_goldens.py).
struct EmbedderTests {
    @Test func embeddingsMatchSentenceTransformers() throws {
        let golden = try Fixtures.json("golden/minilm_sentence_transformers.json")
        let folder = try ModelStore().resolve(ModelStore.defaultEmbedder)
        let embedder = try BERTEmbedder(folder: URL(fileURLWithPath: folder))
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
        print("largest 1 - cosine against sentence-transformers: \(worst)")
        #expect(worst <= 1e-3)
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
}
