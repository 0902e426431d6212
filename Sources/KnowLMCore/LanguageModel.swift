/// A text generator: the on-device transformer or a remote endpoint.
///
/// Everything above this protocol (knowledge prompts, extraction, the agent, the server)
/// works with any implementation.
public protocol LanguageModel: Sendable {
    /// Short human-readable name (file name or remote model id).
    var name: String { get }
    /// Longest prompt plus generation, in tokens.
    var contextLength: Int { get }
    var tokenizer: any Tokenizer { get }

    /// Streams a completion of `prompt`. Cancelling the consuming task stops decoding.
    func generate(prompt: String, parameters: GenerateParameters) -> AsyncThrowingStream<Generation, any Error>
}

extension LanguageModel {
    /// Runs a generation to the end and returns its result.
    public func complete(prompt: String, parameters: GenerateParameters) async throws -> GenerationResult {
        for try await event in generate(prompt: prompt, parameters: parameters) {
            if case .done(let result) = event { return result }
        }
        throw KnowLMError.generationEndedEarly
    }
}

/// A chat turn, for chat-templated prompts and the OpenAI-compatible API.
public struct ChatMessage: Sendable, Codable, Equatable {
    public enum Role: String, Sendable, Codable { case system, user, assistant, tool }
    public var role: Role
    public var content: String
    public init(role: Role, content: String) { self.role = role; self.content = content }
}

/// A tool the model may call, described by a JSON schema for its arguments.
public struct ToolSpec: Sendable, Codable, Equatable {
    public var name: String
    public var description: String
    /// JSON Schema of the arguments object, as JSON text.
    public var parametersSchema: String
    public init(name: String, description: String, parametersSchema: String) {
        self.name = name; self.description = description; self.parametersSchema = parametersSchema
    }
}
