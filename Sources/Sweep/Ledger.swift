import Foundation
import Store

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

    public init(store: FragmentStore, plan: Plan, inputs: PlanInputs) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []
        var contents: [String: String] = [:], recorded: [String: (inputs: TaskInputs, read: [String: String])] = [:]
        var broken: [String] = [], foreign: [String] = [], stale: [String: [TaskInputs.Change]] = [:]
        for name in names.sorted() where name.hasSuffix(".h5") {
            guard let id = Fragment.taskID(fileName: name), inputs.inputs[id] != nil else { foreign.append(name); continue }
            guard Fragment.verify(store.directory + "/" + name) else { broken.append(id); continue }
            guard let r = try? HDF5Reader(path: store.directory + "/" + name),
                  let schema = try? r.attribute("fragment_schema"), schema == FragmentStore.schema,
                  let json = try? r.attribute("inputs"), let made = try? TaskInputs(json: json) else {
                stale[id] = [TaskInputs.Change(key: "fragment_schema", old: "1", new: FragmentStore.schema)]
                continue
            }
            let read = ((try? r.attribute("read")).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }) ?? [:]
            contents[id] = (try? r.attribute("content_digest")) ?? "none"
            recorded[id] = (made, read)
        }
        var done = Set<String>()
        for (id, r) in recorded {
            var changes = inputs.inputs[id]!.changes(from: r.inputs)
            // A fragment it read was made again since with other values: what it holds is out of date.
            for (dependency, sum) in r.read.sorted(by: { $0.key < $1.key }) where contents[dependency] != nil && contents[dependency] != sum {
                changes.append(TaskInputs.Change(key: "read.\(dependency)", old: sum, new: contents[dependency]))
            }
            if changes.isEmpty { done.insert(id) } else { stale[id] = changes }
        }
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
