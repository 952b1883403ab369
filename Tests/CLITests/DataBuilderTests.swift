import Foundation
import XCTest

/// The data builder is deterministic: rebuilding from the offline Bible gives the committed
/// manifest's counts and file hashes; and the bundled series loads with distinct weights.
final class DataBuilderTests: XCTestCase {
    func testBuilderReproducesTheCommittedManifest() throws {
        let dir = try CLI.scratch(self)
        let r = try CLI.python([CLI.root + "/tools/build_data.py", "--out", dir + "/demo"])
        XCTAssertEqual(r.status, 0, r.stderr)
        func manifest(_ path: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        }
        let built = try manifest(dir + "/demo/manifest.json")
        let committed = try manifest(CLI.root + "/configs/demo-data.manifest.json")
        XCTAssertEqual(built["fingerprint"] as? String, committed["fingerprint"] as? String)
        XCTAssertEqual(built["files"] as? [String: String], committed["files"] as? [String: String])
        let concepts = built["concepts"] as? [String] ?? []
        XCTAssertGreaterThanOrEqual(concepts.count, 30)
        XCTAssertTrue(concepts.contains("joy") && concepts.contains("earthquake"))
        XCTAssertGreaterThanOrEqual((built["languages"] as? [String])?.count ?? 0, 12)
    }

    func testBundledSeriesLoadsWithDistinctWeights() throws {
        let series = CLI.root + "/models/bundled"
        let steps = try FileManager.default.contentsOfDirectory(atPath: series).filter { $0.hasPrefix("global_step") }
        XCTAssertGreaterThanOrEqual(steps.count, 8)
        var fingerprints = Set<String>()
        for step in steps {
            let r = try CLI.run(["inspect", series + "/" + step, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let info = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(info["architecture"] as? String, "bloom")
            XCTAssertTrue((info["dtype"] as? String ?? "").hasPrefix("F16"))
            fingerprints.insert(info["fingerprint"] as? String ?? "")
        }
        XCTAssertEqual(fingerprints.count, steps.count, "every checkpoint holds different weights")
    }
}
