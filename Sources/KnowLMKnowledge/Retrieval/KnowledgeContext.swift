import Foundation

/// What a question is answered from: numbered facts from the graph and passages from the
/// documents. Ids are the numbers the prompt shows and the answer cites.
public struct KnowledgeContext: Sendable {
    public struct Item: Sendable, Equatable {
        public enum Kind: String, Sendable { case triple, passage }
        public var id: String
        public var kind: Kind
        /// As shown to the model ("Japan | currency | Japanese yen", or the passage text).
        public var text: String
        public var triple: Triple?
        public var passage: PassageHit?
        /// Names the item offers as an answer (the object's labels for a triple).
        public var answerNames: [String]
        public var score: Double
    }

    public var question: String
    /// "en" or "zh": which prompt and which labels are used.
    public var language: String
    public var facts: [Item]
    public var passages: [Item]
    /// Entities the question was linked to.
    public var entities: [LinkedEntity]

    public var items: [Item] { facts + passages }

    public func item(id: String) -> Item? { items.first { $0.id == id } }
}
