/// How each node (host) of a sweep has fared, as a pure state machine over reports: a node whose
/// workers fail `cutoff` times in a row (cannot start, cannot load a checkpoint, a task errors)
/// with no success between is cut off and gets no more work; a success resets its count.
/// `cutoff` 0 never cuts a node off (a local run, whose one node is the whole sweep).
public struct NodeHealth: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        public var failuresInARow = 0
        public var lastError: String?
        public var cutOff = false
    }

    public let cutoff: Int
    public private(set) var nodes: [String: Node] = [:]

    public init(cutoff: Int) { self.cutoff = cutoff }

    /// Records a failure on `host`; true when it is this failure that cuts the node off.
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

    public mutating func succeeded(host: String) {
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
