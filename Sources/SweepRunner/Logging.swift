import Foundation
import Logging
import SweepCore

/// One line per runtime message on standard error: `label: message (key=value, …)`, the sweep's
/// metadata (task, worker, checkpoint) sorted by key. What `run`, `coordinator` and `worker` print.
public struct OneLineLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let tail = all.isEmpty ? "" : " (" + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + ")"
        FileHandle.standardError.write(Data("\(label): \(event.message)\(tail)\n".utf8))
    }

    /// Installs the handler for the whole process (once; later calls are ignored by swift-log).
    public static func bootstrap() {
        LoggingSystem.bootstrap { OneLineLogHandler(label: $0) }
    }
}
