import Foundation
import KnowLMCore

/// What kind of action a tool is, for the action rules (`ActionRules`): which calls may follow
/// which, and which need the user's permission.
public enum ToolKind: String, Sendable, Codable, CaseIterable {
    /// Reads the knowledge base (graph, passages, the QA pipeline): gathers evidence.
    case knowledge
    /// Computes from what the model gives it (arithmetic, extraction from given text, time).
    case compute
    /// Reaches the network (off unless the user allows it).
    case network
    /// Declared by the caller and answered by the caller (an OpenAI `tools` entry, a BFCL
    /// function): calling it ends the run with the call.
    case client
    /// From an MCP server or another source we cannot classify.
    case external
}

/// What a tool gives back. Bytes are decoded as UTF-8 with replacement characters, so a tool
/// returning invalid UTF-8 still yields a readable observation.
public enum ToolOutput: Sendable {
    case text(String)
    case json(JSONValue)
    case bytes(Data)

    public var text: String {
        switch self {
        case .text(let s): return s
        case .json(let v): return v.serialized(itemSeparator: ", ", keySeparator: ": ")
        case .bytes(let d): return String(decoding: d, as: UTF8.self)
        }
    }
}

/// A tool the agent can call: a name, what it does, its parameters as a JSON Schema object, and
/// an asynchronous call. Calls run under the registry's timeout; a tool should also stop early
/// when its task is cancelled (`Task.checkCancellation()`), though one that does not is
/// abandoned at the timeout rather than waited for.
public protocol Tool: Sendable {
    var name: String { get }
    var description: String { get }
    /// A JSON Schema object (`{"type": "object", "properties": …, "required": […]}`).
    var parameters: JSONValue { get }
    var kind: ToolKind { get }
    func call(_ arguments: JSONValue) async throws -> ToolOutput
}

/// A tool failure the model should read (bad arguments, nothing found).
public struct ToolError: Error, LocalizedError, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var errorDescription: String? { message }
}

/// The outcome of one call, as the planner records it.
public struct ToolCallResult: Sendable {
    public enum Outcome: String, Sendable, Codable {
        case ok, error, timeout, cancelled
        /// The same call with the same arguments was made before; not run again.
        case repeated
    }
    public var outcome: Outcome
    /// What the model sees: the tool's output (truncated with a marker) or the error.
    public var observation: String
    /// The full output size in UTF-8 bytes before truncation.
    public var outputBytes: Int
    public var truncated: Bool
    public var seconds: Double
}

/// The tools of one agent, by name, and how they are run: timeouts, truncation of long
/// output, errors turned into observations.
public final class ToolRegistry: @unchecked Sendable {
    // @unchecked: `tools` is only mutated through `register` before a run starts.
    public private(set) var tools: [any Tool] = []
    /// Per-call limit; a call past it is abandoned and reported as a timeout.
    public var timeout: Duration = .seconds(30)
    /// Longest observation shown to the model, in characters; longer output is cut with a
    /// marker saying how much was left out.
    public var maxObservationCharacters = 1200

    public init(_ tools: [any Tool] = []) {
        for tool in tools { register(tool) }
    }

    /// Adds a tool; a later tool with the same name replaces the earlier one.
    public func register(_ tool: any Tool) {
        tools.removeAll { $0.name == tool.name }
        tools.append(tool)
    }

    public func tool(named name: String) -> (any Tool)? { tools.first { $0.name == name } }

    /// Runs one call. Never throws: failures, timeouts and cancellation become observations.
    public func run(_ name: String, arguments: JSONValue) async -> ToolCallResult {
        let start = ContinuousClock.now
        func seconds() -> Double {
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        guard let tool = tool(named: name) else {
            return ToolCallResult(outcome: .error, observation: "Error: there is no tool named \(name).", outputBytes: 0,
                                  truncated: false, seconds: 0)
        }
        let outcome = await Self.withTimeout(timeout) { try await tool.call(arguments) }
        switch outcome {
        case .finished(let output):
            let text = Self.clean(output.text)
            let (shown, cut) = Self.truncate(text, to: maxObservationCharacters)
            return ToolCallResult(outcome: .ok, observation: shown, outputBytes: text.utf8.count, truncated: cut, seconds: seconds())
        case .failed(let error):
            let message = (error as? LocalizedError)?.errorDescription ?? String(describing: error)
            let (shown, _) = Self.truncate("Error: " + Self.clean(message), to: maxObservationCharacters)
            return ToolCallResult(outcome: .error, observation: shown, outputBytes: 0, truncated: false, seconds: seconds())
        case .timedOut:
            return ToolCallResult(outcome: .timeout, observation: "Error: \(name) did not answer within \(Self.describe(timeout)).",
                                  outputBytes: 0, truncated: false, seconds: seconds())
        case .cancelled:
            return ToolCallResult(outcome: .cancelled, observation: "Error: the call was cancelled.", outputBytes: 0,
                                  truncated: false, seconds: seconds())
        }
    }

    enum TimedOutcome<T: Sendable>: Sendable {
        case finished(T), failed(any Error), timedOut, cancelled
    }

    /// Runs `body` in its own task and returns its result, or `.timedOut` after `limit` — without
    /// waiting for a body that ignores cancellation (it is cancelled and left to end by itself).
    static let deadlines = DispatchQueue(label: "knowlm.tool-deadlines", qos: .userInitiated)

    static func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> TimedOutcome<T> {
        let once = OnceBox<TimedOutcome<T>>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TimedOutcome<T>, Never>) in
                once.set(continuation)
                // On threads of its own: a tool that blocks its thread (a synchronous library
                // call, a sleep) must not hold one of the few cooperative threads the timer and
                // the model need.
                let work = Task(executorPreference: ToolExecutor.shared) {
                    do { once.resume(.finished(try await body())) } catch is CancellationError {
                        once.resume(.cancelled)
                    } catch { once.resume(.failed(error)) }
                }
                // The deadline is kept by Dispatch, not by a task: when every cooperative
                // thread is busy (other callers blocked in the model) a sleeping task would not
                // wake in time. On a serial queue of its own, which Dispatch serves with a new
                // thread when its pool is saturated; the global queue is not (a tool-timeout
                // test once saw its 0.3 s deadline fire after 3 s there, under load).
                let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
                Self.deadlines.asyncAfter(deadline: .now() + seconds) {
                    once.resume(.timedOut)
                    work.cancel()
                }
                once.onResume { work.cancel() }
            }
        } onCancel: {
            once.resume(.cancelled)
        }
    }

    /// Control characters other than newline and tab are dropped (they confuse the prompt and
    /// the JSON of the log); replacement characters from invalid UTF-8 stay.
    static func clean(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" { continue }
            if scalar.value == 0x7F { continue }
            out.append(scalar)
        }
        return String(out)
    }

    static func truncate(_ text: String, to limit: Int) -> (String, Bool) {
        guard text.count > limit else { return (text, false) }
        let kept = text.prefix(limit)
        return (kept + " …[truncated: \(text.count - limit) more characters]", true)
    }

    static func describe(_ d: Duration) -> String {
        let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        return s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }
}

/// A continuation resumed exactly once, by whichever of several racers gets there first.
final class OnceBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Never>?
    private var pending: T?
    private var done = false
    private var cleanup: (@Sendable () -> Void)?

    func set(_ c: CheckedContinuation<T, Never>) {
        lock.lock()
        if let value = pending, !done {
            done = true
            lock.unlock()
            c.resume(returning: value)
            return
        }
        continuation = c
        lock.unlock()
    }

    func onResume(_ action: @escaping @Sendable () -> Void) {
        lock.lock()
        if done { lock.unlock(); action(); return }
        cleanup = action
        lock.unlock()
    }

    func resume(_ value: T) {
        lock.lock()
        guard !done else { lock.unlock(); return }
        guard let c = continuation else {
            // Cancelled before the continuation existed: resume as soon as it is set.
            if pending == nil { pending = value }
            lock.unlock()
            return
        }
        done = true
        continuation = nil
        let action = cleanup
        cleanup = nil
        lock.unlock()
        c.resume(returning: value)
        action?()
    }
}

/// Runs tool calls on Dispatch threads, which grow when a job blocks, instead of Swift's
/// cooperative pool (one thread per core: two blocked tools would stall everything here).
final class ToolExecutor: TaskExecutor, @unchecked Sendable {
    static let shared = ToolExecutor()
    private let queue = DispatchQueue(label: "knowlm.agent.tools", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
