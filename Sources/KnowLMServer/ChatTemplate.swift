import KnowLMKnowledge

/// One message of a chat request.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// How a chat becomes a prompt (the templates are `Prompts/chat_*.mustache`).
///
/// GGUF files carry their chat format as a Jinja template, which this project does not run;
/// the wrapper is chosen by architecture instead, and models without a known one get a plain
/// transcript.
public enum ChatTemplate: String, Sendable {
    /// `<start_of_turn>user … <end_of_turn>` (Gemma 3).
    case gemma
    /// `User: …` / `Assistant: …` paragraphs.
    case plain

    public init(architecture: String) {
        self = architecture.hasPrefix("gemma") ? .gemma : .plain
    }

    /// Text that ends the assistant's turn (besides the model's end-of-generation tokens).
    public var stops: [String] {
        switch self {
        case .gemma: return ["<end_of_turn>"]
        case .plain: return ["\nUser:", "\nSystem:"]
        }
    }

    /// The prompt for `messages`, ending where the assistant's reply begins.
    public func render(_ messages: [ChatMessage], prompts: PromptLibrary) throws -> String {
        switch self {
        case .gemma:
            // Gemma has no system role: its own template puts the system text at the top of the
            // first user turn.
            var system: [String] = []
            var turns: [[String: String]] = []
            for message in messages {
                switch message.role {
                case "system", "developer": system.append(message.content)
                default:
                    var content = message.content
                    if !system.isEmpty && message.role == "user" && !turns.contains(where: { $0["role"] == "user" }) {
                        content = system.joined(separator: "\n\n") + "\n\n" + content
                        system = []
                    }
                    turns.append(["role": message.role == "assistant" ? "model" : "user", "content": content])
                }
            }
            if !system.isEmpty { turns.insert(["role": "user", "content": system.joined(separator: "\n\n")], at: 0) }
            return try prompts.render("chat_gemma", ["turns": turns])
        case .plain:
            let turns = messages.map { message -> [String: String] in
                let label: String
                switch message.role {
                case "system", "developer": label = "System"
                case "assistant": label = "Assistant"
                case "tool": label = "Tool"
                default: label = "User"
                }
                return ["label": label, "content": message.content]
            }
            return try prompts.render("chat_plain", ["turns": turns])
        }
    }
}
