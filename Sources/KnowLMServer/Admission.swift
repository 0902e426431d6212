import Foundation
import Hummingbird

/// Bounds how many requests the model has in hand: `parallel` running plus `maxQueued`
/// waiting. A request beyond that is refused at once (`429` with `Retry-After`) instead of
/// piling up memory and latency behind the others.
final class AdmissionGate: Sendable {
    let capacity: Int
    private let state = InFlightCount()

    init(parallel: Int, maxQueued: Int) {
        capacity = max(1, parallel) + max(0, maxQueued)
    }

    /// A ticket while there is room; the request holds it until its response is written
    /// (a streamed body outlives the handler), and releasing it is tied to its lifetime so
    /// no path forgets it.
    func admit() throws -> Ticket {
        guard state.increment(ifBelow: capacity) else {
            throw APIError(.tooManyRequests, "the server is busy (\(capacity) requests in hand); retry shortly", retryAfter: 1)
        }
        return Ticket(counter: state)
    }

    var inHand: Int { state.value }

    final class Ticket: Sendable {
        private let counter: InFlightCount
        fileprivate init(counter: InFlightCount) { self.counter = counter }
        deinit { counter.decrement() }
    }
}

/// A count shared across tasks.
final class InFlightCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var value: Int { lock.lock(); defer { lock.unlock() }; return count }

    func increment(ifBelow limit: Int = .max) -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard count < limit else { return false }
        count += 1
        return true
    }

    func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
    func decrement() { lock.lock(); count -= 1; lock.unlock() }
}

/// Requires `Authorization: Bearer KEY` on every path but `/health`.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/health" { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        guard given.hasPrefix("Bearer "), Self.constantTimeEqual(Array(given.utf8.dropFirst(7)), Array(key.utf8)) else {
            throw APIError(.unauthorized, given.isEmpty ? "this server needs an API key: send Authorization: Bearer KEY" : "the API key is not valid")
        }
        return try await next(request, context)
    }

    /// Compares without an early exit, so timing does not reveal how much of a guess matched.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
