import Foundation
import Store
import SweepCore

/// What a sweep.h5 merged with virtual activations reads from outside itself: each source file
/// (relative to the file's directory) with the checksum its fragment recorded when it was written,
/// and how it stands now. `xlsweep verify` reports it; a file whose activations are copied in has none.
public enum VirtualSources {
    public enum State: Sendable, Equatable {
        case intact
        case missing
        /// Present, but its bytes are not the ones merged (`actual` is their SHA-256).
        case changed(actual: String)
    }

    public struct Source: Sendable, Equatable {
        public let file: String
        public let recorded: String
        public let state: State
    }

    /// The sources `path` lists, each checked on disk (hashed when present); nil when its
    /// activations are stored in the file. Throws when the file cannot be read, or says its
    /// activations are virtual but lists no sources (merged by an older xlsweep: merge again).
    public static func check(_ path: String) throws -> [Source]? {
        let r = try HDF5Reader(path: path)
        guard r.exists("virtual_source") else {
            if r.exists("probe_hidden"), let storage = try? r.attribute("storage", on: "probe_hidden"), storage.hasPrefix("virtual") {
                throw SweepError("\(path): its activations are virtual datasets but it lists no sources to check (merged by an older "
                    + "xlsweep); merge it again (`xlsweep merge DIR`)")
            }
            return nil
        }
        let files = try r.strings("virtual_source"), sums = try r.strings("virtual_source_sha256")
        guard files.count == sums.count else { throw SweepError("\(path): virtual_source and virtual_source_sha256 differ in length") }
        let directory = (path as NSString).deletingLastPathComponent
        return zip(files, sums).map { file, recorded in
            let full = file.hasPrefix("/") ? file : (directory.isEmpty ? "." : directory) + "/" + file
            guard FileManager.default.fileExists(atPath: full) else { return Source(file: file, recorded: recorded, state: .missing) }
            guard let actual = try? Fragment.sha256(ofFile: full) else { return Source(file: file, recorded: recorded, state: .missing) }
            return Source(file: file, recorded: recorded, state: actual == recorded ? .intact : .changed(actual: actual))
        }
    }
}
