/// Turns texts into fixed-size vectors for semantic search.
public protocol TextEmbedder: Sendable {
    /// Identifies the model; vectors from different models are never compared.
    var modelName: String { get }
    var dimension: Int { get }
    /// Longest input in tokens; longer texts are truncated.
    var maxTokens: Int { get }
    /// Unit-length embeddings, one per text.
    func embed(_ texts: [String]) throws -> [[Float]]
    /// Tokens the model would see for `text` (for sizing chunks).
    func tokenCount(_ text: String) -> Int
}
