import Foundation

/// Whose fault a failure is, which decides what the coordinator does about it: only `node` and
/// `resource` faults count against the node that ran the task (`NodeHealth`); an `input` fault
/// fails the same way wherever it runs, and a `bug` is xlsweep's.
public enum FailureCode: String, Sendable, CaseIterable, Codable {
    /// The task's inputs: a checkpoint, the data set or the config (a missing concept, a tokenizer
    /// that adds no start token, a corrupt upstream fragment). Any node would fail the same way.
    case input
    /// This node: it cannot start, cannot reach a file the others can, or its fragment never arrived.
    case node
    /// Memory, disk space or file handles ran out.
    case resource
    /// An error xlsweep did not expect (a defect to report).
    case bug

    public var countsAgainstNode: Bool { self == .node || self == .resource }

    /// A code as it arrives on the wire; absent or unknown (an older or forged worker): `node`,
    /// which counts against the node as every failure did before codes existed.
    public init(wire: String?) { self = wire.flatMap(FailureCode.init(rawValue:)) ?? .node }
}

/// A task's failure as the coordinator records it (`{task, code, message, host}` on the wire).
public struct TaskFailure: Sendable, Equatable, Codable {
    public let task: String
    public let code: FailureCode
    public let message: String
    public let host: String

    public init(task: String, code: FailureCode, host: String, message: String) {
        self.task = task
        self.code = code
        self.message = message
        self.host = host
    }

    /// `extract/step1/en [input] on node3: …`
    public var line: String { "\(task) [\(code.rawValue)] on \(host): \(message)" }

    /// `input: 3, node: 1` (codes with no failure left out).
    public static func counts(_ failures: some Sequence<TaskFailure>) -> String {
        let byCode = Dictionary(grouping: failures, by: \.code)
        return FailureCode.allCases.compactMap { code in byCode[code].map { "\(code.rawValue): \($0.count)" } }.joined(separator: ", ")
    }
}

/// A task's error, with whose fault it is: the error a task throws for what it checks itself, and
/// what the coordinator, the transport and the wire codec report.
public struct SweepError: Error, CustomStringConvertible {
    public let description: String
    /// Whose fault it is when a task throws it (most of a task's own checks are about its inputs).
    public let code: FailureCode
    public init(_ description: String, code: FailureCode = .input) {
        self.description = description
        self.code = code
    }
}

/// Progress of a sweep as the coordinator counts it.
public struct SweepProgress: Sendable {
    public let done: Int
    public let total: Int
    public let running: Int
    public let failed: Int
    public let workers: Int
}
