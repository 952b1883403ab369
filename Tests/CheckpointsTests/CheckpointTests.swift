import Digests
import Foundation
import TestSupport
import XCTest
@testable import Checkpoints
import Kernels

final class CheckpointTests: XCTestCase {
    static let fixtures = TestSupport.fixtures

    func store(_ name: String) throws -> WeightStore { try WeightStore(directory: Self.fixtures + "/" + name) }

    /// Every layout holds the same tensors with the same bytes.
    func testLayoutsHoldIdenticalTensors() throws {
        let reference = try store("bloom-tiny")
        for layout in ["bloom-tiny-bin", "bloom-tiny-sharded", "bloom-tiny-bin-sharded"] {
            let other = try store(layout)
            for (name, t) in reference.tensors {
                guard let u = other.tensors[name] else { XCTFail("\(layout) lacks \(name)"); continue }
                XCTAssertEqual(u.shape, t.shape, "\(layout) \(name)")
                XCTAssertEqual(u.dtype, t.dtype, "\(layout) \(name)")
                XCTAssertTrue(u.raw.elementsEqual(t.raw), "\(layout) \(name) bytes differ")
            }
        }
        XCTAssertEqual(try store("bloom-tiny-sharded").files.count, 3)
        XCTAssertEqual(try store("bloom-tiny-bin-sharded").files.count, 2)
    }

    func testReducedPrecisionStorage() throws {
        let fp32 = try store("bloom-tiny").tensors["transformer.h.0.mlp.dense_h_to_4h.weight"]!.floats()
        for (name, dtype, bound) in [("bloom-tiny-fp16", DType.f16, Float(1e-3)), ("bloom-tiny-bf16", .bf16, 8e-3),
                                     ("bloom-tiny-fp16-bin", .f16, 1e-3)] {
            let t = try store(name).tensors["transformer.h.0.mlp.dense_h_to_4h.weight"]!
            XCTAssertEqual(t.dtype, dtype, name)
            let values = try t.floats()
            // Rounding to 11 (fp16) or 8 (bf16) significant bits: relative error ≤ 2^-11 or 2^-8.
            for (a, b) in zip(values, fp32) { XCTAssertLessThanOrEqual(abs(a - b), bound * max(abs(b), 1e-2), name) }
        }
    }

    /// sha256 against Python's hashlib (recorded in the fixture manifest).
    func testSHA256MatchesHashlib() throws {
        let manifest = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/manifest.json"))) as! [String: Any]
        let files = manifest["files"] as! [String: String]
        for name in ["bloom-tiny/config.json", "bloom-tiny-bin/pytorch_model.bin", "xglm-tiny/model.safetensors"] {
            let file = try MappedFile(path: Self.fixtures + "/" + name)
            // Whole, and in uneven pieces.
            var h = SHA256(), pieces = SHA256()
            h.update(UnsafeRawBufferPointer(start: file.bytes, count: file.size))
            XCTAssertEqual(SHA256.hex(h.finalize()), files[name], name)
            var offset = 0, step = 1
            while offset < file.size {
                let n = min(step, file.size - offset)
                pieces.update(UnsafeRawBufferPointer(start: file.bytes + offset, count: n))
                offset += n
                step = step * 3 + 1
            }
            XCTAssertEqual(SHA256.hex(pieces.finalize()), files[name], "\(name) in pieces")
            XCTAssertEqual(SHA256.hexDigest(ofFile: Self.fixtures + "/" + name), files[name], name)
        }
        var empty = SHA256()
        XCTAssertEqual(SHA256.hex(empty.finalize()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    // MARK: bad input

    func assertThrows(_ expected: (CheckpointError) -> Bool, _ what: String, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(what): no error")
        } catch let error as CheckpointError {
            XCTAssertTrue(expected(error), "\(what): unexpected \(error)")
        } catch {
            XCTFail("\(what): unexpected \(error)")
        }
    }

    /// A remembered weights fingerprint is the computed one, and a weight file written since
    /// (same size, one byte changed) is hashed again.
    func testRememberedFingerprintFollowsTheFile() throws {
        let dir = NSTemporaryDirectory() + "xlsweep-fingerprint-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: Self.fixtures + "/bloom-tiny", toPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func fingerprints() throws -> (computed: String, remembered: String) {
            let store = try WeightStore(directory: dir)
            let canonical = Dictionary(uniqueKeysWithValues: store.tensors.keys.map { ($0, $0) })
            var cache = DigestCache(path: dir + "/cache.json")
            let remembered = store.fingerprint(canonical: canonical, cache: &cache)
            cache.save()
            return (store.fingerprint(canonical: canonical), remembered)
        }
        let first = try fingerprints()
        XCTAssertEqual(first.computed, first.remembered)
        XCTAssertEqual(try fingerprints().remembered, first.computed, "from the cache")
        let weights = dir + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: weights))
        let changed = try fingerprints()
        XCTAssertNotEqual(changed.computed, first.computed)
        XCTAssertEqual(changed.remembered, changed.computed)
    }

    /// Files hashed ahead, several at once, carry coreutils' `sha256sum` digests; a file written
    /// since is hashed again by `digest(ofFile:)`; a file that cannot be read is not remembered,
    /// and `rehash` replaces what was remembered.
    func testFilesHashedAheadCarryTheirOwnDigests() throws {
        let dir = try scratch()
        var files: [String] = []
        for name in ["bloom-tiny", "xglm-tiny", "llama-tiny"] {
            let file = dir + "/\(name).safetensors"
            try FileManager.default.copyItem(atPath: Self.fixtures + "/\(name)/model.safetensors", toPath: file)
            files.append(file)
        }
        func coreutils(_ file: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["sha256sum", file]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return String(out.prefix(64))
        }
        var cache = DigestCache(path: dir + "/cache.json")
        cache.hashAhead(files + [dir + "/missing.safetensors"])
        cache.save()
        var reread = DigestCache(path: dir + "/cache.json")
        for file in files {
            let expected = try coreutils(file)
            XCTAssertEqual(expected.count, 64)
            XCTAssertEqual(try reread.digest(ofFile: file), expected, file)
        }
        XCTAssertThrowsError(try reread.digest(ofFile: dir + "/missing.safetensors"))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: files[0]))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: files[0]))
        XCTAssertEqual(try reread.digest(ofFile: files[0]), try coreutils(files[0]), "written since: hashed again")
        reread.hashAhead(files, rehash: true)
        for file in files { XCTAssertEqual(try reread.digest(ofFile: file), try coreutils(file), "rehash") }
    }

    func testPickleNamingOtherCallablesIsRefusedAndNothingRuns() throws {
        let marker = "/tmp/xlsweep-pickle-executed"
        try? FileManager.default.removeItem(atPath: marker)
        for (dir, global) in [("bad/evil-pickle", "posix.system"), ("bad/evil-stack-global", "builtins.eval")] {
            assertThrows({ if case .refusedGlobal(let path, let g) = $0 { return g == global && path.hasSuffix("pytorch_model.bin") }
                           return false }, dir) { _ = try self.store(dir) }
            let message = (try? store(dir)).map { _ in "" } ?? "\(CheckpointError.refusedGlobal(path: "p", global: global))"
            XCTAssertTrue(message.contains(global) && message.contains("nothing was executed"))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a pickle payload ran")
    }

    func scratch() throws -> String { try TestSupport.scratch(self) }

    func testTruncatedAndCorruptFiles() throws {
        let dir = try scratch()
        let original = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/bloom-tiny/model.safetensors"))
        try original.prefix(original.count - 100).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        assertThrows({ if case .truncated(let p, let d) = $0 { return p.hasSuffix("model.safetensors") && d.contains("tensor") }
                       return false }, "truncated data") { _ = try WeightStore(directory: dir) }
        try original.prefix(5).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        assertThrows({ if case .truncated = $0 { return true }; return false }, "five bytes") { _ = try WeightStore(directory: dir) }
        var garbled = original
        garbled[10] = 0x7B  // '{' inside the JSON header
        garbled[11] = 0x7B
        try garbled.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        assertThrows({ if case .corrupt = $0 { return true }; return false }, "bad header") { _ = try WeightStore(directory: dir) }
        let bin = try Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/bloom-tiny-bin/pytorch_model.bin"))
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors")
        try bin.prefix(bin.count / 2).write(to: URL(fileURLWithPath: dir + "/pytorch_model.bin"))
        assertThrows({ if case .corrupt = $0 { return true }; return false }, "half a zip") { _ = try WeightStore(directory: dir) }
        try FileManager.default.removeItem(atPath: dir + "/pytorch_model.bin")
        assertThrows({ if case .noWeights = $0 { return true }; return false }, "empty dir") { _ = try WeightStore(directory: dir) }
    }

    /// `refs/<rev>` → `snapshots/<sha>/`, offline, with a clear error for a missing revision.
    func testHubCacheResolution() throws {
        let cache = try scratch()
        let repo = cache + "/hub/models--bigscience--bloom-tiny-intermediate"
        let sha = "0123456789abcdef0123456789abcdef01234567"
        try FileManager.default.createDirectory(atPath: repo + "/refs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/snapshots", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: repo + "/snapshots/" + sha,
                                                   withDestinationPath: Self.fixtures + "/bloom-tiny")
        try sha.write(toFile: repo + "/refs/global_step1000", atomically: true, encoding: .utf8)
        let env = ["HF_HOME": cache]
        let dir = try ModelLocator.resolve("bigscience/bloom-tiny-intermediate", revision: "global_step1000", environment: env)
        XCTAssertEqual(dir, repo + "/snapshots/" + sha)
        XCTAssertEqual(try ModelLocator.resolve("bigscience/bloom-tiny-intermediate", revision: sha, environment: env), dir)
        assertThrows({ if case .revisionNotFound(_, "global_step2000", _, let available) = $0 { return available == ["global_step1000"] }
                       return false }, "missing revision") {
            _ = try ModelLocator.resolve("bigscience/bloom-tiny-intermediate", revision: "global_step2000", environment: env)
        }
        assertThrows({ if case .repoNotFound = $0 { return true }; return false }, "missing repo") {
            _ = try ModelLocator.resolve("bigscience/nothing", revision: "main", environment: env)
        }
    }
}
