import Foundation
import TestSupport
import XCTest
import Store
@testable import SweepRunner
@testable import SweepCore

final class FragmentTests: XCTestCase {
    func scratch() throws -> String { try TestSupport.scratch(self, prefix: "xlsweep-frag") }

    /// A one-checkpoint, one-language plan and its inputs, from config text alone.
    func makePlan(_ extra: String = "") throws -> (Plan, PlanInputs) {
        let config = try SweepConfig(text: "output: out\ndata: d\nlanguages: [en]\ncheckpoints: [{name: step1, path: p}]\n" + extra,
                                     file: "/x/sweep.yaml")
        let plan = Plan(checkpoints: ["step1"], languages: ["en"], layers: ["step1": 3], concepts: ["joy"], generation: false)
        let fingerprints = SweepFingerprints(data: ["en": "sha256:aa"], lexicon: "none",
                                             checkpoints: ["step1": CheckpointFingerprint(files: "sha256:bb", tokenizer: "sha256:cc")])
        return (plan, PlanInputs(plan: plan, config: config, concepts: ["joy"], fingerprints: fingerprints))
    }

    func testWriteVerifyReadAndLedger() throws {
        let dir = try scratch()
        let store = FragmentStore(directory: dir)
        let (plan, inputs) = try makePlan()
        try store.write("extract/step1/en", inputs: inputs.inputs["extract/step1/en"]!) { w in
            try w.write("x", ints: [1, 2, 3, 4], shape: [2, 2])
        }
        try store.write("probe/step1/3", inputs: inputs.inputs["probe/step1/3"]!, read: ["extract/step1/en"]) { w in
            try w.write("accuracy", floats: [0.5, 0.75, 1], shape: [3])
            try w.write("texts", strings: ["ü", "日本", ""])
        }
        let path = store.path("probe/step1/3")
        XCTAssertEqual(path, dir + "/probe+step1+3.h5")
        XCTAssertTrue(Fragment.verify(path))
        do {
            let r = try HDF5Reader(path: path)
            XCTAssertEqual(try r.floats("accuracy").values, [0.5, 0.75, 1])
            XCTAssertEqual(try r.strings("texts"), ["ü", "日本", ""])
            XCTAssertEqual(try r.attribute("task"), "probe/step1/3")
            XCTAssertEqual(try r.attribute("inputs_digest"), inputs.digests["probe/step1/3"])
        }
        let first = Ledger(store: store, plan: plan, inputs: inputs)
        XCTAssertEqual(first.done, ["probe/step1/3", "extract/step1/en"])
        XCTAssertEqual(first.read, 2)
        // Rebuilt from the stamps remembered beside the fragments: nothing is read again…
        let again = Ledger(store: store, plan: plan, inputs: inputs)
        XCTAssertEqual(again.done, first.done)
        XCTAssertEqual(again.read, 0)
        // …until a fragment is written again (same bytes: it is read, and still done).
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.removeItem(atPath: path)
        try bytes.write(to: URL(fileURLWithPath: path))
        let rewritten = Ledger(store: store, plan: plan, inputs: inputs)
        XCTAssertEqual(rewritten.read, 1)
        XCTAssertEqual(rewritten.done, first.done)
        // A byte flipped in place, even keeping size and modification time, is caught (its change time moved).
        var flipped = bytes
        flipped[flipped.count - 200] ^= 0x01
        let mtime = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.write(contentsOf: flipped)
        try handle.close()
        try FileManager.default.setAttributes([.modificationDate: mtime], ofItemAtPath: path)
        let caught = Ledger(store: store, plan: plan, inputs: inputs)
        XCTAssertEqual(caught.broken, ["probe/step1/3"])
        try bytes.write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(Ledger(store: store, plan: plan, inputs: inputs).done, first.done)
        // No leftovers from staging.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("partial") || $0.contains("tmp") }, [])

        // A truncated fragment, and one whose checksum file is missing, are not done.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: 100)
        try h.close()
        try FileManager.default.removeItem(atPath: store.path("extract/step1/en") + ".sha256")
        let ledger = Ledger(store: store, plan: plan, inputs: inputs)
        XCTAssertEqual(ledger.done, Set<String>())
        XCTAssertEqual(ledger.broken, ["extract/step1/en", "probe/step1/3"])
        XCTAssertThrowsError(try HDF5Reader(path: path))
    }

    /// A fragment made from other inputs is stale, with the changed key named, and so is what was
    /// computed from it; a fragment it read that was made again (other bits) makes it stale too.
    func testStaleFragmentsAreNamedByTheKeysThatChanged() throws {
        let dir = try scratch()
        let store = FragmentStore(directory: dir)
        let (plan, old) = try makePlan("probe: {tokens_per_language: 100}\n")
        try store.write("extract/step1/en", inputs: old.inputs["extract/step1/en"]!) { try $0.write("x", ints: [1], shape: [1]) }
        try store.write("probe/step1/2", inputs: old.inputs["probe/step1/2"]!, read: ["extract/step1/en"]) {
            try $0.write("x", ints: [1], shape: [1])
        }
        try store.write("expertise/step1/en", inputs: old.inputs["expertise/step1/en"]!, read: ["extract/step1/en"]) {
            try $0.write("x", ints: [1], shape: [1])
        }
        XCTAssertEqual(Ledger(store: store, plan: plan, inputs: old).done.count, 3)
        // Settings that change no result (workers, lease, attempts) change no input.
        let (_, same) = try makePlan("probe: {tokens_per_language: 100}\nworkers: 7\nlease_seconds: 99\nmax_attempts: 9\n")
        XCTAssertEqual(same, old)
        let (_, new) = try makePlan("probe: {tokens_per_language: 150}\n")
        let ledger = Ledger(store: store, plan: plan, inputs: new)
        XCTAssertEqual(ledger.done, Set<String>())
        XCTAssertEqual(ledger.stale["extract/step1/en"]?.map(\.description), ["probe.tokens_per_language 100 → 150"])
        XCTAssertEqual(ledger.stale["probe/step1/2"]?.map(\.key), ["input.extract/step1/en"])
        XCTAssertEqual(ledger.rerunReasons(plan: plan),
                       ["probe.tokens_per_language 100 → 150: 1 extract, 1 probe, 1 expertise tasks will run again"])
        // The extraction made again with other bits: what read the old one is stale, with the reason.
        try store.write("extract/step1/en", inputs: old.inputs["extract/step1/en"]!) { try $0.write("x", ints: [2], shape: [1]) }
        let reread = Ledger(store: store, plan: plan, inputs: old)
        XCTAssertEqual(reread.done, ["extract/step1/en"])
        XCTAssertEqual(reread.stale["probe/step1/2"]?.map(\.key), ["read.extract/step1/en"])
        XCTAssertEqual(reread.rerunReasons(plan: plan), ["extract/step1/en was made again since: 1 probe, 1 expertise tasks will run again"])
    }

    /// Task ids ↔ file names is injective: names with `__`, `+`, `%`, spaces and non-ASCII round-trip.
    func testFragmentNamesRoundTripAndNeverCollide() {
        let ids = ["extract/step__1/en", "extract/step/1__en", "generate/a+b/c%2F/d", "probe/global_step3000/12",
                   "generate/ck pt/日本/zh", "extract/%41/en", "extract/A/en"]
        let names = ids.map { Fragment.fileName(task: $0) }
        XCTAssertEqual(Set(names).count, ids.count, "\(names)")
        for (id, name) in zip(ids, names) {
            XCTAssertEqual(Fragment.taskID(fileName: name), id, name)
            XCTAssertFalse(name.dropLast(3).contains("/"))
        }
        XCTAssertEqual(Fragment.fileName(task: "probe/global_step3000/12"), "probe+global_step3000+12.h5")
        XCTAssertNil(Fragment.taskID(fileName: "extract__step1__en.h5".replacingOccurrences(of: "__", with: "%zz")))
        XCTAssertNil(Fragment.taskID(fileName: "probe+a%2f.h5"), "only the canonical (upper-case) escape is a fragment name")
    }

    /// The same data written twice give the same bytes (no creation times), so a fragment made
    /// again identically leaves what read it current.
    func testSameDataSameBytes() throws {
        let dir = try scratch()
        var sums: [String] = []
        for _ in 0..<2 {
            try Fragment.write(task: "probe/a/1", directory: dir, attributes: ["inputs": "{}"]) { w in
                try w.createGroup("g")
                try w.write("g/x", floats: [1, 2, 3, 4], shape: [2, 2], chunk: [1, 2])
                try w.write("t", strings: ["a", "ü"])
            }
            sums.append(try Fragment.sha256(ofFile: dir + "/probe+a+1.h5"))
            sleep(1)
        }
        XCTAssertEqual(sums[0], sums[1])
    }

    /// The HDF5 writer refuses a value count that does not match the shape.
    func testWriterChecksCountsAgainstShapes() throws {
        let dir = try scratch()
        let w = try HDF5Writer(creating: dir + "/x.h5")
        XCTAssertThrowsError(try w.write("a", floats: [1, 2, 3], shape: [2, 2])) { XCTAssertTrue("\($0)".contains("3 values for shape [2, 2]"), "\($0)") }
        XCTAssertThrowsError(try w.write("b", int64s: [], shape: [1 << 40, 1 << 40]))
        try w.write("c", floats: [], shape: [0, 4])
        try w.close()
    }
}
