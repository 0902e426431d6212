import CKernels
import Foundation
import Testing
@testable import KnowLMRuntime

/// The spinning pool behind `ThreadCount.parallelFor` (Sources/CKernels/pool.c): every item is
/// run exactly once, whether the pool takes the loop or libdispatch does (a loop started while
/// another thread holds the pool, or from inside a pool job).
struct ThreadPoolTests {
    /// Runs a loop and returns how many times each item was visited.
    static func visits(_ threads: ThreadCount, count: Int, granularity: Int = 1) -> [Int] {
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        let box = SendableBox(hits)
        threads.parallelFor(count, granularity: granularity) { range in
            for i in range { box.value[i] += 1 }   // parts are disjoint
        }
        return Array(hits)
    }

    @Test func everyItemOnceForAnySplit() {
        for threads in [1, 2, 3, 5, 8] {
            for (count, granularity) in [(1, 1), (7, 1), (1000, 16), (1001, 16), (64, 64)] {
                let hits = Self.visits(ThreadCount(threads), count: count, granularity: granularity)
                #expect(hits.allSatisfy { $0 == 1 }, "threads \(threads), count \(count), granularity \(granularity)")
            }
        }
    }

    @Test func loopsFromSeveralThreadsAndNestedLoopsComplete() async {
        // Four callers at once: one holds the pool, the others fall back to libdispatch.
        let ok = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    (0..<200).allSatisfy { _ in Self.visits(ThreadCount(2), count: 513, granularity: 16).allSatisfy { $0 == 1 } }
                }
            }
            var all = true
            for await r in group { all = all && r }
            return all
        }
        #expect(ok)
        // A loop inside a pool job runs (on libdispatch) instead of waiting for the pool.
        let inner = UnsafeMutableBufferPointer<Int>.allocate(capacity: 4)
        inner.initialize(repeating: 0)
        defer { inner.deallocate() }
        let box = SendableBox(inner)
        ThreadCount(2).parallelFor(4) { outer in
            for o in outer {
                let hits = Self.visits(ThreadCount(2), count: 100)
                box.value[o] = hits.reduce(0, +)
            }
        }
        #expect(Array(inner) == [100, 100, 100, 100])
    }

    @Test func poolRunsOnePartInlineAndRefusesBadCounts() {
        // One part runs on the caller without the pool.
        var ran = 0
        let rc = withUnsafeMutablePointer(to: &ran) { p in
            kl_pool_run(1, { ctx, part, parts in
                ctx!.assumingMemoryBound(to: Int.self).pointee += Int(part + parts)
            }, p)
        }
        #expect(rc == 0 && ran == 1)
        // Out-of-range part counts are refused, not run.
        #expect(kl_pool_run(0, { _, _, _ in }, nil) == -1)
    }
}
