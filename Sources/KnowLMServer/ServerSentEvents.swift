import Foundation
import Hummingbird
import KnowLMCore

/// Streaming responses as server-sent events, the way OpenAI streams: `data: {json}` per
/// event, an error object if one happens after the headers went out, then `data: [DONE]`.
enum ServerSentEvents {
    typealias Send = @Sendable (JSONValue) async throws -> Void

    /// Runs `produce` in a task of its own, feeding the response body. When the client goes
    /// away the body stops being read, `send` throws, and the generation behind it is
    /// cancelled. `ticket` (the request's admission) is held until the stream ends.
    static func response(ticket: AdmissionGate.Ticket,
                         _ produce: @escaping @Sendable (_ send: @escaping Send) async throws -> Void) -> Response {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .unbounded)
        let task = Task {
            let send: Send = { value in
                if case .terminated = continuation.yield(ByteBuffer(string: "data: \(value.serialized())\n\n")) {
                    throw CancellationError()
                }
            }
            do {
                try await produce(send)
            } catch is CancellationError {
                // The client left (or the server is stopping): nobody is reading.
            } catch {
                continuation.yield(ByteBuffer(string: "data: \(APIError.from(error).json.serialized())\n\n"))
            }
            continuation.yield(ByteBuffer(string: "data: [DONE]\n\n"))
            continuation.finish()
            withExtendedLifetime(ticket) {}
        }
        continuation.onTermination = { _ in task.cancel() }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody(asyncSequence: stream))
    }
}
