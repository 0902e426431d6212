import Foundation
import HTTPTypes
import Hummingbird
import KnowLMAgent
import KnowLMCore
import KnowLMExtraction
import KnowLMKnowledge
import KnowLMRuntime

/// An error answered as an OpenAI error object:
/// `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    /// OpenAI's error types: `invalid_request_error`, `authentication_error`, `not_found_error`,
    /// `rate_limit_error`, `server_error`, `timeout_error`.
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds for `Retry-After` (429 and 503).
    public var retryAfter: Int?
    /// `Allow` header of a 405.
    public var allow: String?

    public init(_ status: HTTPResponse.Status, _ message: String, type: String? = nil, param: String? = nil,
                code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type ?? APIError.defaultType(status)
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    static func defaultType(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 401: return "authentication_error"
        case 404: return "not_found_error"
        case 429: return "rate_limit_error"
        case 504: return "timeout_error"
        case 400..<500: return "invalid_request_error"
        default: return "server_error"
        }
    }

    public static func invalid(_ message: String, param: String? = nil) -> APIError {
        APIError(.badRequest, message, param: param)
    }

    /// The OpenAI error object.
    public var json: JSONValue {
        .object([("error", .object([
            ("message", .string(message)),
            ("type", .string(type)),
            ("param", param.map { .string($0) } ?? .null),
            ("code", code.map { .string($0) } ?? .null),
        ]))])
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.serialized())))
    }

    /// Maps an error from below the server (tokenizer, runtime, knowledge base) to a response:
    /// what the caller gave wrong is a `400`, anything else a `500` with the error's message.
    public static func from(_ error: any Error) -> APIError {
        if let api = error as? APIError { return api }
        if error is JSONParseError { return .invalid("the request body is not valid JSON: \(error)") }
        let message = (error as? LocalizedError)?.errorDescription ?? String(describing: error)
        switch error {
        case KnowLMError.invalidParameter, KnowLMError.promptTooLong:
            return .invalid(message)
        case RuntimeError.promptTooLong, RuntimeError.invalidArgument, RuntimeError.constraintUnsatisfiable,
             RuntimeError.grammar, RuntimeError.tokenizer:
            // Prompt-size and constraint problems are the request's, not the server's.
            return .invalid(message)
        case ExtractionError.invalidSchema, ExtractionError.invalidInput, ExtractionError.unsupported:
            return .invalid(message)
        case KnowledgeBaseError.badLine, KnowledgeBaseError.unsupportedFormat, KnowledgeBaseError.invalidArgument,
             KnowledgeBaseError.sparql:
            return .invalid(message)
        case AgentError.invalidToolFile, AgentError.promptTooLong:
            return .invalid(message)
        default:
            break
        }
        return APIError(.internalServerError, message)
    }
}

extension HTTPField.Name {
    static let retryAfter = HTTPField.Name("Retry-After")!
}
