import Foundation
import Hummingbird
import KnowLMCore

/// A JSON request body read field by field: every wrong type or value becomes a `400` that
/// names the field, never a crash or a `500`.
struct RequestFields {
    let object: JSONValue
    /// Field names are reported under this path (`parameters.top_p`).
    let path: String

    init(_ value: JSONValue, path: String = "") throws {
        guard case .object = value else {
            throw APIError.invalid(path.isEmpty ? "the request body must be a JSON object" : "\(path) must be an object", param: path.isEmpty ? nil : path)
        }
        object = value
        self.path = path
    }

    /// Reads and parses the body of `request`, at most `limit` bytes (`413` beyond).
    static func read(_ request: Request, limit: Int) async throws -> RequestFields {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: limit) } catch {
            throw APIError(.contentTooLarge, "the request body is larger than \(limit) bytes")
        }
        let text = String(buffer: buffer)
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch {
            throw APIError.invalid("the request body is not valid JSON: \(error)")
        }
        return try RequestFields(value)
    }

    func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        if let value = object[key], value != .null { return true }
        return false
    }

    func string(_ key: String) throws -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard let s = value.stringValue else { throw APIError.invalid("\(name(key)) must be a string", param: name(key)) }
        return s
    }

    func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw APIError.invalid("\(name(key)) is required", param: name(key)) }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        guard let b = value.boolValue else { throw APIError.invalid("\(name(key)) must be true or false", param: name(key)) }
        return b
    }

    func int(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = object[key], value != .null else { return nil }
        guard let i = value.intValue else { throw APIError.invalid("\(name(key)) must be an integer", param: name(key)) }
        if let range, !range.contains(i) {
            throw APIError.invalid("\(name(key)) must be between \(range.lowerBound) and \(range.upperBound), got \(i)", param: name(key))
        }
        return i
    }

    func double(_ key: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let value = object[key], value != .null else { return nil }
        guard case .number(let text) = value, let d = Double(text), d.isFinite else {
            throw APIError.invalid("\(name(key)) must be a number", param: name(key))
        }
        if let range, !range.contains(d) {
            throw APIError.invalid("\(name(key)) must be between \(range.lowerBound) and \(range.upperBound), got \(text)", param: name(key))
        }
        return d
    }

    func array(_ key: String) throws -> [JSONValue]? {
        guard let value = object[key], value != .null else { return nil }
        guard let a = value.arrayValue else { throw APIError.invalid("\(name(key)) must be an array", param: name(key)) }
        return a
    }

    func nested(_ key: String) throws -> RequestFields? {
        guard let value = object[key], value != .null else { return nil }
        return try RequestFields(value, path: name(key))
    }

    /// A string or an array of strings (OpenAI's `stop`, `input`, `prompt`).
    func strings(_ key: String, max: Int = .max) throws -> [String]? {
        guard let value = object[key], value != .null else { return nil }
        let list: [String]
        if let s = value.stringValue { list = [s] } else if let a = value.arrayValue, a.allSatisfy({ $0.stringValue != nil }) {
            list = a.compactMap(\.stringValue)
        } else {
            throw APIError.invalid("\(name(key)) must be a string or an array of strings", param: name(key))
        }
        if list.count > max { throw APIError.invalid("\(name(key)) may hold at most \(max) strings", param: name(key)) }
        return list
    }
}

extension JSONValue {
    /// A JSON number for `value` (integers without a fraction).
    static func num(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int(value))) }
        return .number(String(value))
    }

    static func num(_ value: Int) -> JSONValue { .number(String(value)) }
    /// Floats in their shortest round-tripping form (embeddings are long lists of them).
    static func num(_ value: Float) -> JSONValue { value.isFinite ? .number(String(value)) : .null }
}

/// A JSON response.
func jsonResponse(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json"],
             body: .init(byteBuffer: ByteBuffer(string: value.serialized())))
}
