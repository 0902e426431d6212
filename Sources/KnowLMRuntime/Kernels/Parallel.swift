import Dispatch
import Foundation

/// Wraps a value that is shared across the worker threads of one parallel loop. The loops
/// below only hand workers disjoint output ranges, which is what makes this sound.
struct SendableBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Splits a range of work items over a fixed number of threads.
public struct ThreadCount: Sendable, Equatable {
    public let value: Int
    public init(_ value: Int) { self.value = max(1, value) }
    /// The number of CPU cores that are online.
    public static var cores: ThreadCount { ThreadCount(ProcessInfo.processInfo.activeProcessorCount) }

    /// Runs `body` over `count` items split into at most `value` contiguous chunks. Chunk
    /// boundaries are multiples of `granularity`.
    func parallelFor(_ count: Int, granularity: Int = 1, minimumPerThread: Int = 1,
                     _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let units = (count + granularity - 1) / granularity
        let chunks = min(value, max(1, units / max(1, minimumPerThread / granularity)), units)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = SendableBox(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let lo = units * chunk / chunks * granularity
                let hi = min(count, units * (chunk + 1) / chunks * granularity)
                if lo < hi { box.value(lo..<hi) }
            }
        }
    }
}
