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
        /// The answer's words when this item is cited ("Lima", or "A, B, C" for a list).
        public var answerText: String
        public var score: Double
        /// A graph fact whose relation the question names only by meaning (embedding
        /// similarity), not by its words: weaker evidence.
        public var byMeaningOnly = false

        public init(id: String, kind: Kind, text: String, triple: Triple?, passage: PassageHit?, answerNames: [String],
                    answerText: String, score: Double) {
            self.id = id
            self.kind = kind
            self.text = text
            self.triple = triple
            self.passage = passage
            self.answerNames = answerNames
            self.answerText = answerText
            self.score = score
        }
    }

    /// An answer the graph computed (a count, comparison or superlative).
    public struct ComputedAnswer: Sendable, Equatable {
        /// "count", "comparison" or "superlative".
        public var kind: String
        public var answer: String
    }

    public var question: String
    /// "en" or "zh": which prompt and which labels are used.
    public var language: String
    public var facts: [Item]
    public var passages: [Item]
    /// Entities the question was linked to.
    public var entities: [LinkedEntity]
    /// Set when the graph computed the answer; the facts then show how.
    public var computed: ComputedAnswer?
    /// Score of the graph's best candidate (`Retriever.supportThreshold` and above: the graph
    /// has facts on what is asked).
    public var bestScore: Double = 0
    /// What the question is about, named in an abstention.
    public var topic: String = ""
    /// The relations the question asks for most, with their scores (for `--show-context`).
    public var relations: [(name: String, score: Double)] = []

    public init(question: String, language: String, facts: [Item], passages: [Item], entities: [LinkedEntity]) {
        self.question = question
        self.language = language
        self.facts = facts
        self.passages = passages
        self.entities = entities
    }

    /// Whether the graph has facts on the relation asked (or computed the answer).
    public var graphSupports: Bool { computed != nil || bestScore >= Retriever.supportThreshold }

    public var items: [Item] { facts + passages }

    public func item(id: String) -> Item? { items.first { $0.id == id } }
}
