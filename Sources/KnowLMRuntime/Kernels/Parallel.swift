import CKernels
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
            var job = PoolJob(body: body, count: count, units: units, granularity: granularity)
            // The spinning pool when it is free; libdispatch when another loop holds it (a
            // second model used from another thread, or a loop inside a loop).
            let ran = ThreadCount.usePool && withUnsafeMutablePointer(to: &job) { pointer in
                kl_pool_run(Int32(chunks), { ctx, part, parts in
                    ctx!.assumingMemoryBound(to: PoolJob.self).pointee.run(Int(part), of: Int(parts))
                }, pointer) == 0
            }
            if !ran {
                let box = SendableBox(job)
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    box.value.run(chunk, of: chunks)
                }
            }
        }
    }

    /// `KNOWLM_THREAD_POOL=dispatch` runs parallel loops on libdispatch alone (for comparison).
    static let usePool = ProcessInfo.processInfo.environment["KNOWLM_THREAD_POOL"] != "dispatch"
}

/// One parallel loop: `units` work units of `granularity` items, split into contiguous parts.
private struct PoolJob {
    let body: (Range<Int>) -> Void
    let count: Int
    let units: Int
    let granularity: Int

    func run(_ part: Int, of parts: Int) {
        let lo = units * part / parts * granularity
        let hi = min(count, units * (part + 1) / parts * granularity)
        if lo < hi { body(lo..<hi) }
    }
}
