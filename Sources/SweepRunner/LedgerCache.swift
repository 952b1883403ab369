import Foundation
import Store
import SweepCore

/// What the ledger learnt from each verified fragment, remembered under the stamps (size, inode,
/// modification and change time) of the fragment and of its checksum file, in `fragments/.ledger`
/// (one line per fragment): a restart rebuilds the ledger of 100,000 fragments from their stamps
/// without reading any whose stamps are unchanged, and a fragment the coordinator has just verified
/// is not hashed again when the plan is checked at its end. Any write to a fragment or its
/// checksum changes a stamp (a rename into place: the inode; a rewrite: the change time), so a
/// remembered entry never outlives the bytes it describes. A cache that cannot be read or written
/// costs only the reads it would have saved.
public final class LedgerCache: @unchecked Sendable {
    /// A verified fragment's binding: its layout version, the digest of the inputs it was made
    /// from, the digest of the values it holds, and the content digests of the fragments it read
    /// (by their file names).
    public struct Entry: Sendable, Equatable {
        public let stamp: String
        public let schema: String
        public let inputsDigest: String
        public let content: String
        public let read: [String: String]
    }

    public let path: String
    private var entries: [String: Entry] = [:]
    private var changed = false
    private let lock = NSLock()
    static let header = "xlsweep-ledger 1"

    /// The cache of the fragments in `store` (a hidden file among them).
    public convenience init(store: FragmentStore) {
        self.init(path: store.directory + "/.ledger")
    }

    public init(path: String) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else { return }
        // Parsed as bytes (tab-separated fields, newline-separated lines): 100,000 lines in a fraction of a second.
        let bytes = [UInt8](data)
        let header = Array((Self.header + "\n").utf8)
        guard bytes.starts(with: header) else { return }
        var i = header.count
        entries.reserveCapacity(bytes.count / 200)
        while i < bytes.count {
            var end = i
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var fields: [ArraySlice<UInt8>] = []
            var start = i
            for j in i..<end where bytes[j] == 0x09 {
                fields.append(bytes[start..<j])
                start = j + 1
            }
            fields.append(bytes[start..<end])
            i = end + 1
            guard fields.count == 6 else { continue }
            func text(_ f: ArraySlice<UInt8>) -> String { String(decoding: f, as: UTF8.self) }
            var read: [String: String] = [:]
            var p = fields[5].startIndex
            while p < fields[5].endIndex {
                var q = p
                while q < fields[5].endIndex && bytes[q] != 0x2C { q += 1 }
                if let eq = bytes[p..<q].firstIndex(of: 0x3D) { read[text(bytes[p..<eq])] = text(bytes[(eq + 1)..<q]) }
                p = q + 1
            }
            entries[text(fields[0])] = Entry(stamp: text(fields[1]), schema: text(fields[2]), inputsDigest: text(fields[3]),
                                             content: text(fields[4]), read: read)
        }
    }

    /// The stamps of fragment `file` and of its checksum file, or nil when either is missing.
    public static func stamp(_ file: String) -> String? {
        func one(_ p: String) -> String? {
            var st = stat()
            guard stat(p, &st) == 0 else { return nil }
            return "\(st.st_size).\(st.st_ino).\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec).\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
        }
        guard let a = one(file), let b = one(file + ".sha256") else { return nil }
        return a + "/" + b
    }

    /// The entry of fragment `name` when its stamps are still `stamp`.
    public func entry(_ name: String, stamp: String) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        guard let e = entries[name], e.stamp == stamp else { return nil }
        return e
    }

    public func remember(_ name: String, _ entry: Entry) {
        lock.lock()
        defer { lock.unlock() }
        guard entries[name] != entry else { return }
        entries[name] = entry
        changed = true
    }

    /// Reads and verifies fragment `file` (its checksum, its binding attributes) and remembers
    /// what it binds; nil when it does not verify or lacks them.
    public func verify(_ file: String) -> Entry? {
        let name = (file as NSString).lastPathComponent
        guard let stamp = Self.stamp(file) else { return nil }
        if let e = entry(name, stamp: stamp) { return e }
        guard Fragment.verify(file), let r = try? HDF5Reader(path: file) else { return nil }
        // A complete fragment of an older layout (no binding attributes) is stale, not broken: the
        // ledger names the layout change.
        let schema = (try? r.attribute("fragment_schema")) ?? "1", digest = (try? r.attribute("inputs_digest")) ?? "none"
        let byID = ((try? r.attribute("read")).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }) ?? [:]
        let read = Dictionary(byID.map { (Fragment.fileName(task: $0.key), $0.value) }, uniquingKeysWith: { a, _ in a })
        // The stamps again: a fragment replaced while it was read is not remembered under either.
        guard Self.stamp(file) == stamp else { return nil }
        let e = Entry(stamp: stamp, schema: schema, inputsDigest: digest, content: (try? r.attribute("content_digest")) ?? "none", read: read)
        remember(name, e)
        return e
    }

    /// Forgets the fragments not among `names` (deleted, or replaced under another name).
    public func retain(_ names: Set<String>) {
        lock.lock()
        defer { lock.unlock() }
        let before = entries.count
        entries = entries.filter { names.contains($0.key) }
        if entries.count != before { changed = true }
    }

    /// Writes the cache (atomically) when something new was learnt.
    public func save() {
        lock.lock()
        guard changed else { lock.unlock(); return }
        var text = Self.header + "\n"
        for (name, e) in entries.sorted(by: { $0.key < $1.key }) {
            let read = e.read.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            text += "\(name)\t\(e.stamp)\t\(e.schema)\t\(e.inputsDigest)\t\(e.content)\t\(read)\n"
        }
        changed = false
        lock.unlock()
        try? AtomicFile.write(Data(text.utf8), to: path)
    }
}
