import CKernelSupport
import Foundation

/// Worker threads for row-parallel kernels: `XLSWEEP_THREADS`, else Slurm's `SLURM_CPUS_PER_TASK`
/// (a Slurm task's share of its node: two workers on one node must not each take every core),
/// else every online core.
public let kernelThreads: Int = threadCount(environment: ProcessInfo.processInfo.environment,
                                            cores: ProcessInfo.processInfo.activeProcessorCount)

/// `kernelThreads` for a given environment and core count.
public func threadCount(environment: [String: String], cores: Int) -> Int {
    for key in ["XLSWEEP_THREADS", "SLURM_CPUS_PER_TASK"] {
        if let text = environment[key], let n = Int(text), n > 0 { return n }
    }
    return max(1, cores)
}

/// Runs `body(range)` over `0..<count` split into contiguous chunks, one per thread, on the
/// kernel threads (`xl_pool_run`: workers that wait for the next kernel spinning, not asleep).
/// Chunk boundaries depend only on `count` and `kernelThreads`, and every element's arithmetic is
/// independent of its chunk, so results are bit-identical whatever the thread count.
public func parallelChunks(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = min(kernelThreads, max(1, count / max(1, minimumChunk)))
    if chunks <= 1 || count <= 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { escapable in
        // Each chunk touches a disjoint range; the caller's closure outlives none of them.
        var job = ChunkJob(count: count, chunks: chunks, body: escapable)
        withUnsafeMutablePointer(to: &job) { p in
            xl_pool_run(Int32(kernelThreads), Int32(chunks), { context, c in
                let job = context!.assumingMemoryBound(to: ChunkJob.self)
                let lo = job.pointee.count * Int(c) / job.pointee.chunks
                let hi = job.pointee.count * (Int(c) + 1) / job.pointee.chunks
                if lo < hi { job.pointee.body(lo..<hi) }
            }, p)
        }
    }
}

/// A `parallelChunks` call as its chunks read it.
private struct ChunkJob {
    let count: Int
    let chunks: Int
    let body: (Range<Int>) -> Void
}

/// Pointers shared across the threads of `parallelChunks`; each thread writes a disjoint range.
public struct SharedPointer<T>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<T>
    public init(_ base: UnsafeMutablePointer<T>) { self.base = base }
}

/// Element-wise work on large activations, split across the threads (each element is computed
/// alone, so the split changes no bit); below `parallelMinimum` floats a second thread costs
/// more than it saves.
public let parallelMinimum = 1 << 16

/// `dst[0..<count] = src[0..<count]`.
public func parallelCopy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
    if count < 2 * parallelMinimum { return dst.update(from: src, count: count) }
    let s = SharedPointer(UnsafeMutablePointer(mutating: src)), d = SharedPointer(dst)
    parallelChunks(count, minimumChunk: parallelMinimum) { r in
        (d.base + r.lowerBound).update(from: s.base + r.lowerBound, count: r.count)
    }
}

/// `y[i] += x[i]` for i in 0..<count (residual connections).
public func parallelAdd(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    @inline(__always) func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ r: Range<Int>) {
        for i in r { y[i] += x[i] }
    }
    if count < 2 * parallelMinimum { return add(y, x, 0..<count) }
    let ys = SharedPointer(y), xs = SharedPointer(UnsafeMutablePointer(mutating: x))
    parallelChunks(count, minimumChunk: parallelMinimum) { r in add(ys.base, xs.base, r) }
}
