import Foundation
import Store
import SweepCore

/// When and where a finished task ran, as its fragment records it (the sweep's timeline).
public struct TaskRecord: Sendable, Equatable {
    public let id: String
    public let kind: TaskKind
    /// Seconds since 1970 when the task started, and how long it took to its fragment.
    public let started: Double
    public let seconds: Double
    public let host: String
    public let worker: String
    public let attempt: Int
    /// The kernel level of the worker's CPU ("" in fragments older than this field).
    public let cpu: String
    /// The worker process's peak resident memory when the fragment was written.
    public let peakRSSBytes: Int

    /// The records of `tasks` whose fragments carry them (tasks without a fragment are left out).
    public static func read(_ store: FragmentStore, tasks: [SweepTask]) -> [TaskRecord] {
        tasks.compactMap { t in
            guard let r = try? store.reader(t.id), let started = (try? r.attribute("task_started")).flatMap(Double.init),
                  let seconds = (try? r.attribute("task_seconds")).flatMap(Double.init) else { return nil }
            return TaskRecord(id: t.id, kind: t.kind, started: started, seconds: seconds,
                              host: (try? r.attribute("task_host")) ?? "", worker: (try? r.attribute("task_worker")) ?? "",
                              attempt: (try? r.attribute("task_attempt")).flatMap(Int.init) ?? 0,
                              cpu: (try? r.attribute("task_cpu")) ?? "",
                              peakRSSBytes: (try? r.attribute("task_peak_rss_bytes")).flatMap(Int.init) ?? 0)
        }
    }

    /// Per task kind: tasks done, seconds spent, and seconds left at the kind's mean so far, one line each.
    public static func summary(_ records: [TaskRecord], plan: Plan, done: Set<String>) -> [String] {
        TaskKind.allCases.map { kind in
            let mine = records.filter { $0.kind == kind }
            let total = plan.count(kind)
            let finished = plan.tasks.filter { $0.kind == kind && done.contains($0.id) }.count
            let spent = mine.reduce(0) { $0 + $1.seconds }
            let mean = mine.isEmpty ? nil : spent / Double(mine.count)
            let left = mean.map { String(format: "%.0f s", $0 * Double(total - finished)) } ?? "?"
            return String(format: "  %@: %d/%d, %.0f s spent, %@ left", kind.rawValue, finished, total, spent, left)
        }
    }
}
