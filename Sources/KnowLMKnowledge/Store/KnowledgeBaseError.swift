import Foundation

/// Errors of the knowledge layer; messages say what was wrong and where.
public enum KnowledgeBaseError: LocalizedError, Equatable {
    case badLine(file: String, line: Int, reason: String)
    case unsupportedFormat(String)
    case notFound(String)
    case sparql(String)
    case invalidArgument(String)
    case embedderMismatch(String)

    public var errorDescription: String? {
        switch self {
        case .badLine(let file, let line, let reason):
            return "\(file):\(line): \(reason) (nothing was imported; fix the line or pass --skip-bad)"
        case .unsupportedFormat(let what): return "unsupported format: \(what)"
        case .notFound(let what): return "not found: \(what)"
        case .sparql(let message): return "SPARQL: \(message)"
        case .invalidArgument(let message): return message
        case .embedderMismatch(let message): return message
        }
    }
}
