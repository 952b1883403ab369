import Foundation
import XCTest
import Store

final class FragmentTests: XCTestCase {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("xlsweep-frag-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testWriteVerifyReadAndLedger() throws {
        let dir = try scratch()
        try Fragment.write(task: "probe/step1/3", directory: dir) { w in
            try w.write("accuracy", floats: [0.5, 0.75, 1], shape: [3])
            try w.write("texts", strings: ["ü", "日本", ""])
            try w.setAttribute("kind", "probe")
        }
        try Fragment.write(task: "extract/step1/en", directory: dir) { w in
            try w.write("x", ints: [1, 2, 3, 4], shape: [2, 2])
        }
        let path = dir + "/probe__step1__3.h5"
        XCTAssertTrue(Fragment.verify(path))
        do {
            let r = try HDF5Reader(path: path)
            XCTAssertEqual(try r.floats("accuracy").values, [0.5, 0.75, 1])
            XCTAssertEqual(try r.strings("texts"), ["ü", "日本", ""])
            XCTAssertEqual(try r.attribute("task"), "probe/step1/3")
            XCTAssertEqual(try r.attribute("kind"), "probe")
        }
        XCTAssertEqual(try HDF5Reader(path: dir + "/extract__step1__en.h5").ints("x").shape, [2, 2])
        XCTAssertEqual(Ledger(directory: dir).done, ["probe/step1/3", "extract/step1/en"])
        // No leftovers from staging.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") || $0.contains("tmp") }, [])

        // A truncated fragment, and one whose checksum file is missing, are not done.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: 100)
        try h.close()
        try FileManager.default.removeItem(atPath: dir + "/extract__step1__en.h5.sha256")
        let ledger = Ledger(directory: dir)
        XCTAssertEqual(ledger.done, [])
        XCTAssertEqual(ledger.broken, ["extract/step1/en", "probe/step1/3"])
        XCTAssertThrowsError(try HDF5Reader(path: path))
        // Writing the task again (a late or retried worker) replaces the broken copy.
        try Fragment.write(task: "probe/step1/3", directory: dir) { w in try w.write("accuracy", floats: [1], shape: [1]) }
        XCTAssertEqual(Ledger(directory: dir).done, ["probe/step1/3"])
    }
}
