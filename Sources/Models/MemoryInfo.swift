import Foundation

/// Memory this process may still use: /proc/meminfo's MemAvailable, capped by every memory limit
/// of the cgroups it is in (v2 `memory.max`, v1 `memory.limit_in_bytes`, less what each already
/// uses), walking from its own cgroup up to the root: a Slurm job's `--mem` is such a limit.
public enum MemoryInfo {
    /// `proc` and `cgroup`: where /proc and /sys/fs/cgroup are (tests point them elsewhere).
    public static func availableBytes(proc: String = "/proc", cgroup: String = "/sys/fs/cgroup") -> Int? {
        func number(_ path: String) -> Int? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        var best: Int?
        func cap(_ bytes: Int) { best = min(best ?? Int.max, max(0, bytes)) }
        if let text = try? String(contentsOfFile: proc + "/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            best = kb * 1024
        }
        // `hierarchy-id:controllers:path`; v2 is `0::path`. A path of "/" (a cgroup namespace) is the mount itself.
        let membership = (try? String(contentsOfFile: proc + "/self/cgroup", encoding: .utf8)) ?? "0::/\n"
        for line in membership.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let controllers = parts[1].split(separator: ",")
            let (base, limitFile, usageFile): (String, String, String)
            if parts[0] == "0" && parts[1].isEmpty {
                (base, limitFile, usageFile) = (cgroup, "memory.max", "memory.current")
            } else if controllers.contains("memory") {
                (base, limitFile, usageFile) = (cgroup + "/memory", "memory.limit_in_bytes", "memory.usage_in_bytes")
            } else { continue }
            var path = String(parts[2])
            while true {
                let dir = base + (path == "/" ? "" : path)
                // v2 writes "max" and v1 a huge number when there is no limit.
                if let limit = number(dir + "/" + limitFile), limit < 1 << 60 { cap(limit - (number(dir + "/" + usageFile) ?? 0)) }
                if path == "/" || path.isEmpty { break }
                path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
                if path.isEmpty { path = "/" }
            }
        }
        return best
    }

    /// This process's resident high-water mark (`VmHWM` in /proc/self/status): since it started, or
    /// since the last `resetPeakResident`. Nil where /proc has no such line.
    public static func peakResidentBytes(proc: String = "/proc") -> Int? {
        guard let text = try? String(contentsOfFile: proc + "/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        return kb * 1024
    }

    /// Starts a new high-water mark at the current resident size (Linux 4.0 on: "5" written to
    /// /proc/self/clear_refs), so `peakResidentBytes` measures what follows. False where it cannot.
    @discardableResult
    public static func resetPeakResident(proc: String = "/proc") -> Bool {
        (try? "5".write(toFile: proc + "/self/clear_refs", atomically: false, encoding: .utf8)) != nil
    }
}
