import CKernelSupport
import Dispatch
import XCTest
@testable import Kernels

/// The kernel threads' pool (pool.c): every chunk of every job runs exactly once, back to back
/// (a worker still leaving one job must never take a chunk of the next), nested and from several
/// threads at once.
final class PoolTests: XCTestCase {
    /// `jobs` jobs of 1 … 9 chunks through `xl_pool_run` on 2 threads; each chunk counts itself in
    /// its own slot of that job.
    func testEveryChunkOfBackToBackJobsRunsOnce() {
        let jobs = 20_000
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: jobs * 9)
        counts.initialize(repeating: 0, count: jobs * 9)
        defer { counts.deallocate() }
        for j in 0..<jobs {
            let chunks = 1 + j % 9
            xl_pool_run(2, Int32(chunks), { context, c in
                // Chunks of uneven length (up to a few microseconds), so that both threads take some.
                let slot = context!.assumingMemoryBound(to: Int32.self) + Int(c)
                var x = UInt64(c) &+ 1
                for _ in 0..<(Int(c) * 300) { x = x &* 6_364_136_223_846_793_005 &+ 1 }
                slot.pointee += x == 0 ? 2 : 1
            }, counts + j * 9)
        }
        for j in 0..<jobs {
            for c in 0..<9 {
                XCTAssertEqual(counts[j * 9 + c], c < 1 + j % 9 ? 1 : 0, "job \(j), chunk \(c)")
                if counts[j * 9 + c] != (c < 1 + j % 9 ? 1 : 0) { return }
            }
        }
    }

    /// `parallelChunks` inside a chunk (the pool is busy: the inner call runs its chunks itself)
    /// and from four threads at once: every element is written once with its own value.
    func testNestedAndConcurrentCallsCoverEveryElement() {
        let n = 50_000
        let out = UnsafeMutablePointer<Int>.allocate(capacity: 4 * n)
        out.initialize(repeating: 0, count: 4 * n)
        defer { out.deallocate() }
        let shared = SharedPointer(out)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<50 {
                parallelChunks(8, minimumChunk: 1) { outer in
                    for block in outer {
                        parallelChunks(n / 8, minimumChunk: 1) { inner in
                            for i in inner { shared.base[caller * n + block * (n / 8) + i] += 1 }
                        }
                    }
                }
            }
        }
        for caller in 0..<4 {
            for i in 0..<n where out[caller * n + i] != 50 {
                return XCTFail("caller \(caller), element \(i): written \(out[caller * n + i]) times, not 50")
            }
        }
    }

    /// One thread, or one chunk: the caller runs the chunks itself, in order.
    func testOneThreadRunsTheChunksInOrder() {
        var order: [Int32] = []
        withUnsafeMutablePointer(to: &order) { p in
            xl_pool_run(1, 5, { context, c in
                context!.assumingMemoryBound(to: [Int32].self).pointee.append(c)
            }, p)
        }
        XCTAssertEqual(order, [0, 1, 2, 3, 4])
    }
}
