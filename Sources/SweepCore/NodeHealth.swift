/// How each node (host) of a sweep has fared, as a pure state machine over reports: a node whose
/// workers fail `cutoff` times in a row with a node or resource fault (cannot start, cannot load a
/// checkpoint, a disk fills) with no success between is cut off and gets no more work; a success
/// resets its count. A task's `input` or `bug` failure never counts against the node that ran it,
/// and a node-coded failure that another node already had for the same task, word for word, is the
/// task's (its inputs'), not the nodes': it is recoded `input` and the first node is forgiven.
/// `cutoff` 0 never cuts a node off (a local run, whose one node is the whole sweep).
public struct NodeHealth: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var failuresInARow = 0
        public var lastError: String?
        public var cutOff = false
    }

    public let cutoff: Int
    public private(set) var nodes: [String: Node] = [:]
    /// The last node-coded failure of each task not yet done: which host, and what it said.
    private var lastNodeFailure: [String: (host: String, message: String)] = [:]

    public static func == (a: NodeHealth, b: NodeHealth) -> Bool { a.cutoff == b.cutoff && a.nodes == b.nodes }

    public init(cutoff: Int) { self.cutoff = cutoff }

    /// Records a failure on `host` that is not a task's (a worker could not start); true when it is
    /// this failure that cuts the node off.
    @discardableResult
    public mutating func failed(host: String, error: String) -> Bool {
        var node = nodes[host] ?? Node()
        node.failuresInARow += 1
        node.lastError = error
        let newly = cutoff > 0 && !node.cutOff && node.failuresInARow >= cutoff
        if newly { node.cutOff = true }
        nodes[host] = node
        return newly
    }

    /// Records a task's failure; returns the code it is counted under (a node fault seen on two
    /// nodes becomes `input`) and whether it is this failure that cuts the node off.
    public mutating func failed(_ failure: TaskFailure) -> (code: FailureCode, cutOff: Bool) {
        let error = "\(failure.task): \(failure.message)"
        guard failure.code.countsAgainstNode else {
            nodes[failure.host, default: Node()].lastError = error
            return (failure.code, false)
        }
        if let earlier = lastNodeFailure[failure.task], earlier.host != failure.host, earlier.message == failure.message {
            lastNodeFailure[failure.task] = nil
            if var first = nodes[earlier.host], !first.cutOff, first.failuresInARow > 0 {
                first.failuresInARow -= 1
                nodes[earlier.host] = first
            }
            nodes[failure.host, default: Node()].lastError = error
            return (.input, false)
        }
        lastNodeFailure[failure.task] = (failure.host, failure.message)
        return (failure.code, failed(host: failure.host, error: error))
    }

    public mutating func succeeded(host: String, task: String? = nil) {
        if let task { lastNodeFailure[task] = nil }
        guard nodes[host] != nil else { return }
        nodes[host]!.failuresInARow = 0
    }

    public func isCutOff(_ host: String) -> Bool { nodes[host]?.cutOff ?? false }

    /// Why `host` gets no work, for its workers and for `status`.
    public func reason(_ host: String) -> String? {
        guard let n = nodes[host], n.cutOff else { return nil }
        return "node \(host) failed \(n.failuresInARow) times in a row (max_node_failures \(cutoff)); "
            + "it gets no more work in this run. Last error: \(n.lastError ?? "?")"
    }

    /// One line per node cut off.
    public var cutOffLines: [String] { nodes.keys.sorted().compactMap(reason) }
}
