import Dispatch
import Foundation
import SweepCore

/// Signals that stop a process cleanly: caught (not fatal) and remembered, so that the process can
/// end its workers, give its task back or drain its sweep first. The first one received counts.
public final class StopSignals: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    private var sources: [DispatchSourceSignal] = []

    public init(_ signals: [Int32]) {
        for s in signals {
            Foundation.signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                if self.signal == nil { self.signal = s }
                self.lock.unlock()
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for s in sources { s.cancel() }
    }

    public var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return signal
    }

    public static func name(_ signal: Int32) -> String {
        [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2"][signal] ?? "signal \(signal)"
    }
}
