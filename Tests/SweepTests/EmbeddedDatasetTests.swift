import Foundation
import Kernels
import Store
import TestSupport
import XCTest

/// `writeVirtual(embed: true)` assembles each chunk in memory and writes it whole: what it stores
/// must read exactly as the virtual dataset over the same blocks does (HDF5's own mapping is the
/// reference), with blocks that share a chunk, blocks that straddle chunks, chunks cut by the
/// dataset's edge, and chunks no block touches (fill values).
final class EmbeddedDatasetTests: XCTestCase {
    func testEmbeddedCopyReadsAsTheVirtualDataset() throws {
        let dir = try TestSupport.scratch(self, prefix: "xlsweep-embed")
        // Two sources, [7, 16] floats and [5] int64s each.
        var rng = SplitMix64(seed: 11)
        for s in 0..<2 {
            let w = try HDF5Writer(creating: "\(dir)/src\(s).h5")
            try w.write("a", floats: (0..<112).map { _ in Float(rng.next() % 1000) / 7 }, shape: [7, 16])
            try w.write("b", int64s: (0..<5).map { Int64(s * 100 + $0) }, shape: [5])
            try w.close()
        }
        // Target [2, 9, 23] in chunks [1, 4, 10]: the last chunk along each axis is cut by the edge.
        let shape = [2, 9, 23], chunk = [1, 4, 10]
        var blocks: [HDF5Writer.VirtualBlock] = []
        func block(_ s: Int, start: [Int], count: [Int], from: [Int]) {
            blocks.append(.init(file: "src\(s).h5", dataset: "a", start: start, count: count,
                                sourceShape: [7, 16], sourceStart: from, sourceCount: [count[1], count[2]]))
        }
        block(0, start: [0, 0, 0], count: [1, 2, 10], from: [0, 0])     // two blocks in one chunk
        block(1, start: [0, 2, 0], count: [1, 2, 10], from: [3, 0])
        block(0, start: [0, 3, 12], count: [1, 3, 8], from: [1, 2])     // straddles rows 0–3 and 4–7
        block(1, start: [1, 8, 20], count: [1, 1, 3], from: [6, 7])     // the corner chunk, cut to [1, 1, 3]
        block(0, start: [1, 5, 5], count: [1, 2, 15], from: [2, 0])     // straddles three column chunks
        let ints = [HDF5Writer.VirtualBlock(file: "src1.h5", dataset: "b", start: [1, 2], count: [1, 3],
                                            sourceShape: [5], sourceStart: [1], sourceCount: [3])]
        for embed in [false, true] {
            let w = try HDF5Writer(creating: "\(dir)/\(embed ? "copy" : "virtual").h5")
            try w.writeVirtual("x", type: .float32, shape: shape, blocks: blocks, embed: embed, chunk: chunk, compress: false)
            try w.writeVirtual("y", type: .int64, shape: [2, 6], blocks: ints, embed: embed)
            try w.close()
        }
        let virtual = try HDF5Reader(path: "\(dir)/virtual.h5"), copy = try HDF5Reader(path: "\(dir)/copy.h5")
        let (v, vShape) = try virtual.floats("x"), (c, cShape) = try copy.floats("x")
        XCTAssertEqual(vShape, shape)
        XCTAssertEqual(cShape, shape)
        XCTAssertEqual(v.map(\.bitPattern), c.map(\.bitPattern))
        XCTAssertEqual(c.filter { !$0.isNaN }.count, 20 + 20 + 24 + 3 + 30, "exactly the blocks' elements are set")
        XCTAssertEqual(try virtual.ints("y").values, try copy.ints("y").values)
        XCTAssertEqual(try copy.ints("y").values, [-1, -1, -1, -1, -1, -1, -1, -1, 101, 102, 103, -1])
    }
}
