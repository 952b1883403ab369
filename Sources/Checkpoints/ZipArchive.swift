/// The central directory of a ZIP file (PKWARE APPNOTE 6.3.x §4.3), as written by `torch.save`:
/// stored (uncompressed) entries, with ZIP64 records for large files.
struct ZipArchive {
    struct Entry {
        let name: String
        let dataOffset: Int
        let size: Int
    }

    let file: MappedFile
    let entries: [String: Entry]

    init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        // End of central directory: signature 0x06054b50, searched backwards over the comment.
        var eocd = -1
        var i = file.size - 22
        let floor = max(0, file.size - 22 - 65_535)
        while i >= floor {
            if try file.read(UInt32.self, at: i, what: "end of central directory") == 0x0605_4b50 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else {
            throw CheckpointError.corrupt(path: path, detail: "not a ZIP archive (no end of central directory; "
                + "legacy pre-1.6 torch.save files are not supported: re-save with a current torch)")
        }
        var count = Int(try file.read(UInt16.self, at: eocd + 10, what: "entry count"))
        var directoryOffset = Int(try file.read(UInt32.self, at: eocd + 16, what: "central directory offset"))
        if count == 0xFFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64 locator sits just before the classic record.
            let locator = eocd - 20
            guard try file.read(UInt32.self, at: locator, what: "zip64 locator") == 0x0706_4b50 else {
                throw CheckpointError.corrupt(path: path, detail: "missing zip64 end of central directory locator")
            }
            let record = try file.readOffset(at: locator + 8, what: "zip64 record offset")
            guard try file.read(UInt32.self, at: record, what: "zip64 record") == 0x0606_4b50 else {
                throw CheckpointError.corrupt(path: path, detail: "bad zip64 end of central directory record")
            }
            count = try file.readOffset(at: record + 32, what: "zip64 entry count")
            directoryOffset = try file.readOffset(at: record + 48, what: "zip64 directory offset")
        }
        var entries: [String: Entry] = [:]
        var p = directoryOffset
        for _ in 0..<count {
            guard try file.read(UInt32.self, at: p, what: "central directory entry") == 0x0201_4b50 else {
                throw CheckpointError.corrupt(path: path, detail: "bad central directory entry at byte \(p)")
            }
            let method = try file.read(UInt16.self, at: p + 10, what: "compression method")
            var size = Int(try file.read(UInt32.self, at: p + 24, what: "entry size"))
            let nameLength = Int(try file.read(UInt16.self, at: p + 28, what: "name length"))
            let extraLength = Int(try file.read(UInt16.self, at: p + 30, what: "extra length"))
            let commentLength = Int(try file.read(UInt16.self, at: p + 32, what: "comment length"))
            var localOffset = Int(try file.read(UInt32.self, at: p + 42, what: "local header offset"))
            guard p + 46 + nameLength <= file.size else {
                throw CheckpointError.truncated(path: path, detail: "entry name at byte \(p + 46)")
            }
            let name = String(decoding: UnsafeRawBufferPointer(start: file.bytes + p + 46, count: nameLength),
                              as: UTF8.self)
            // ZIP64 extended information (header id 0x0001) replaces fields saturated at 0xFFFFFFFF.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try file.read(UInt16.self, at: e, what: "extra field id")
                let length = Int(try file.read(UInt16.self, at: e + 2, what: "extra field length"))
                if id == 0x0001 {
                    var q = e + 4
                    let uncompressed = try file.read(UInt32.self, at: p + 24, what: "entry size")
                    if uncompressed == 0xFFFF_FFFF { size = try file.readOffset(at: q, what: "zip64 size"); q += 8 }
                    if try file.read(UInt32.self, at: p + 20, what: "compressed size") == 0xFFFF_FFFF { q += 8 }
                    if localOffset == 0xFFFF_FFFF {
                        localOffset = try file.readOffset(at: q, what: "zip64 offset")
                    }
                }
                e += 4 + length
            }
            guard method == 0 else {
                throw CheckpointError.corrupt(path: path, detail: "entry '\(name)' is compressed (method \(method)); "
                    + "torch.save writes stored entries")
            }
            guard try file.read(UInt32.self, at: localOffset, what: "local header of '\(name)'") == 0x0403_4b50 else {
                throw CheckpointError.corrupt(path: path, detail: "bad local header for '\(name)'")
            }
            let localName = Int(try file.read(UInt16.self, at: localOffset + 26, what: "local name length"))
            let localExtra = Int(try file.read(UInt16.self, at: localOffset + 28, what: "local extra length"))
            let dataOffset = localOffset + 30 + localName + localExtra
            guard dataOffset + size <= file.size else {
                throw CheckpointError.truncated(path: path, detail: "entry '\(name)' ends at byte \(dataOffset + size), "
                    + "file has \(file.size)")
            }
            entries[name] = Entry(name: name, dataOffset: dataOffset, size: size)
            p = extraEnd + commentLength
        }
        self.entries = entries
    }
}
