import Foundation

/// Errors shared by every module above the runtime.
public enum KnowLMError: LocalizedError, Equatable {
    case generationEndedEarly
    case promptTooLong(tokens: Int, context: Int)
    case invalidParameter(String)

    public var errorDescription: String? {
        switch self {
        case .generationEndedEarly:
            return "generation ended without a result (the stream closed early)"
        case .promptTooLong(let tokens, let context):
            return "prompt is \(tokens) tokens but the context holds \(context); shorten it or raise -c"
        case .invalidParameter(let message):
            return "invalid parameter: \(message)"
        }
    }
}
