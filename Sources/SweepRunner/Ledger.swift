import Foundation
import Store
import SweepCore

/// The ledger of a sweep: which tasks have a current fragment on disk. Rebuilt from the files
/// alone, so a restarted coordinator resumes without redoing finished work. A fragment counts as
/// done only when it is complete (its checksum verifies), was made from exactly the inputs the
/// current plan derives for its task, and the fragments it read still hold the values it read.
/// Anything else runs again and its new fragment replaces the old one; nothing stale is merged.
public struct Ledger: Sendable {
    public let done: Set<String>
    /// Fragments present but failing verification (truncated, corrupt, or without checksum).
    public let broken: [String]
    /// Complete fragments made from other inputs: task id → what changed (recorded → current).
    public let stale: [String: [TaskInputs.Change]]
    /// Files that are no task of this plan (another config's, or an older fragment layout).
    public let foreign: [String]

    /// How many fragments this rebuild read (hashed and opened) rather than trusting `cache`.
    public let read: Int

    /// - Parameter cache: what earlier rebuilds learnt, by stamp (nil: read every fragment).
    public init(store: FragmentStore, plan: Plan, inputs: PlanInputs, cache: LedgerCache? = nil) {
        let cache = cache ?? LedgerCache(store: store)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []
        var contents: [String: String] = [:], recorded: [String: (entry: LedgerCache.Entry, name: String)] = [:]
        var broken: [String] = [], foreign: [String] = [], stale: [String: [TaskInputs.Change]] = [:]
        var read = 0
        for name in names.sorted() where name.hasSuffix(".h5") {
            guard let id = Fragment.taskID(fileName: name), inputs.inputs[id] != nil else { foreign.append(name); continue }
            let file = store.directory + "/" + name
            let known = LedgerCache.stamp(file).flatMap { cache.entry(name, stamp: $0) }
            if known == nil { read += 1 }
            guard let entry = known ?? cache.verify(file) else { broken.append(id); continue }
            guard entry.schema == FragmentStore.schema else {
                stale[id] = [TaskInputs.Change(key: "fragment_schema", old: entry.schema, new: FragmentStore.schema)]
                continue
            }
            contents[name] = entry.content
            recorded[id] = (entry, name)
        }
        var done = Set<String>()
        for (id, r) in recorded {
            var changes: [TaskInputs.Change] = []
            if r.entry.inputsDigest != inputs.digests[id] {
                // Other inputs: the fragment itself says which (read only for such a fragment).
                if let reader = try? HDF5Reader(path: store.directory + "/" + r.name), let json = try? reader.attribute("inputs"),
                   let made = try? TaskInputs(json: json) {
                    changes = inputs.inputs[id]!.changes(from: made)
                }
                if changes.isEmpty { changes = [TaskInputs.Change(key: "inputs_digest", old: r.entry.inputsDigest, new: inputs.digests[id])] }
            }
            // A fragment it read was made again since with other values: what it holds is out of date.
            for (dependency, sum) in r.entry.read.sorted(by: { $0.key < $1.key }) where contents[dependency] != nil && contents[dependency] != sum {
                let name = Fragment.taskID(fileName: dependency) ?? dependency
                changes.append(TaskInputs.Change(key: "read.\(name)", old: sum, new: contents[dependency]))
            }
            if changes.isEmpty { done.insert(id) } else { stale[id] = changes }
        }
        cache.retain(Set(names))
        cache.save()
        self.read = read
        self.done = done
        self.broken = broken
        self.stale = stale
        self.foreign = foreign
    }

    /// Why the stale fragments run again, one line per cause: `expertise.k 100 → 150: 130
    /// expertise, 10 alignment, 260 generate tasks will run again`. A change reaches a task through
    /// the tasks it reads, so each stale task is listed under the config or file changes at the
    /// root of its own.
    public func rerunReasons(plan: Plan) -> [String] {
        var memo: [String: Set<String>] = [:]
        func causes(_ id: String) -> Set<String> {
            if let m = memo[id] { return m }
            memo[id] = []   // cycles cannot happen (the plan is a DAG); this guards recursion anyway
            var out = Set<String>()
            for change in stale[id] ?? [] {
                if change.key.hasPrefix("input.") {
                    let upstream = String(change.key.dropFirst("input.".count))
                    let inner = stale[upstream] != nil ? causes(upstream) : []
                    out.formUnion(inner.isEmpty ? ["\(upstream) is made again"] : inner)
                } else if change.key.hasPrefix("read.") {
                    out.insert("\(change.key.dropFirst("read.".count)) was made again since")
                } else {
                    out.insert(change.description)
                }
            }
            memo[id] = out
            return out
        }
        var groups: [String: [TaskKind: Int]] = [:]
        let kinds = Dictionary(uniqueKeysWithValues: plan.tasks.map { ($0.id, $0.kind) })
        for id in stale.keys {
            let key = causes(id).sorted().joined(separator: ", ")
            groups[key, default: [:]][kinds[id]!, default: 0] += 1
        }
        return groups.sorted { $0.key < $1.key }.map { cause, counts in
            let list = TaskKind.allCases.compactMap { k in counts[k].map { "\($0) \(k.rawValue)" } }.joined(separator: ", ")
            let total = counts.values.reduce(0, +)
            return "\(cause): \(list) task\(total == 1 ? "" : "s") will run again"
        }
    }
}
