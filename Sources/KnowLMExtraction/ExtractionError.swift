import Foundation

/// What can go wrong in extraction, each with what to do about it.
public enum ExtractionError: LocalizedError, Sendable, Equatable {
    case invalidSchema(String)
    case invalidInput(String)
    case unsupported(String)
    case invalidData(String)

    public var errorDescription: String? {
        switch self {
        case .invalidSchema(let why): return "schema: \(why)"
        case .invalidInput(let why): return "input: \(why)"
        case .unsupported(let why): return why
        case .invalidData(let why): return "evaluation data: \(why)"
        }
    }
}
