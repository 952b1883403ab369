import Checkpoints
import Kernels

/// The forward frame every architecture shares, written once: checking the batch and the
/// interventions, running only the layers a request needs, the working KV caches, recording and
/// forcing hook sites, the `hidden.L+1 = blocks.L.resid_post = blocks.L+1.resid_pre` aliasing,
/// the final norm, the logits and the cache commit. An architecture supplies its embedding, its
/// block and its final norm (and, in its file, the diagram and the table of its weight names).
protocol DecoderStack: LanguageModel {
    /// Buffers one block needs for `rows` tokens, allocated once per forward and reused by every layer.
    associatedtype Scratch
    /// The prefixes checkpoints store the weights under (`transformer.`, `model.`, or none).
    static var weightPrefixes: [String] { get }
    /// Reads the architecture's keys of config.json into `config` (the common ones are read already).
    static func readConfig(_ json: ConfigJSON, into config: inout ModelConfig) throws
    /// Builds the model from `loader`'s tensors (a checkpoint's, or random ones).
    init(config: ModelConfig, loader: WeightLoader) throws
    var head: LinearWeights { get }
    func makeScratch(rows: Int) -> Scratch
    /// Writes the new tokens' input embeddings `[rows, dModel]` (positions continue each cache).
    func embed(_ pass: ForwardPass, into x: UnsafeMutablePointer<Float>) throws
    /// Runs block `layer` on the residual stream `x` in place, visiting attn_out, mlp_post and mlp_out.
    func block(_ layer: Int, _ x: UnsafeMutablePointer<Float>, _ scratch: Scratch, _ pass: inout ForwardPass)
    func applyFinalNorm(_ x: UnsafeMutablePointer<Float>, rows: Int)
}

extension DecoderStack {
    /// Canonical names and shapes of the weights a model of `config` consumes, written once: the
    /// architecture's own loading code run with a recording loader (nothing read or allocated
    /// beyond norm-sized vectors).
    static func weightTable(_ config: ModelConfig) -> WeightTable {
        let loader = WeightLoader(recording: weightPrefixes)
        _ = try? Self(config: config, loader: loader)
        return loader.recorder!.table
    }

    /// The model over a checkpoint's weights, read under the prefixes of the architecture's table.
    init(config: ModelConfig, weights: WeightStore, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(store: weights, prefixes: Self.weightPrefixes, precision: precision))
    }

    /// A model of `config`'s shape with random weights (benchmarks; nothing is read from disk).
    init(config: ModelConfig, randomSeed: UInt64, precision: WeightPrecision = .fp32) throws {
        try self.init(config: config, loader: WeightLoader(randomSeed: randomSeed, precision: precision))
    }

    public func forward(_ batch: [[Int]], caches: [KVCache], request: ForwardRequest) throws -> ForwardResult {
        try validate(batch, caches: caches, config: config)
        try request.interventions.validate(config)
        let d = config.dModel
        let (layers, finalNormNeeded) = layersNeeded(request)
        var pass = ForwardPass(batch, caches, request, config: config)
        let t = pass.rows
        let x = FloatBuffer(count: t * d, uninitialized: true)
        try embed(pass, into: x.pointer)
        pass.visit([.hidden(0), .residPre(0)], x.pointer, width: d)
        let scratch = makeScratch(rows: t)
        for l in 0..<layers {
            block(l, x.pointer, scratch, &pass)
            let next: [HookSite] = l + 1 < config.nLayers ? [.hidden(l + 1), .residPre(l + 1)] : []
            pass.visit([.residPost(l)] + next, x.pointer, width: d)
        }
        var logits: [Float] = []
        if finalNormNeeded {
            applyFinalNorm(x.pointer, rows: t)
            pass.visit([.hidden(config.nLayers)], x.pointer, width: d)
            logits = computeLogits(request.logits, x: x.pointer, lengths: pass.lengths, width: d, head: head,
                                   into: request.logitsOutput)
        }
        if layers == config.nLayers { pass.work.commit(pass.lengths) }
        return ForwardResult(lengths: pass.lengths, activations: pass.recorder.captured, logits: logits)
    }

    public func lens(_ hidden: UnsafePointer<Float>, rows: Int, normed: Bool, into logits: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        if normed { return head(hidden, logits, rows: rows) }
        let x = FloatBuffer(count: rows * config.dModel, uninitialized: true)
        x.pointer.update(from: hidden, count: rows * config.dModel)
        applyFinalNorm(x.pointer, rows: rows)
        head(x.pointer, logits, rows: rows)
    }
}

/// One forward's state as blocks see it: the packed batch, each sequence's KV cache, and the site recorder.
struct ForwardPass {
    let batch: [[Int]]
    /// New tokens per sequence, and their total (the rows of every activation).
    let lengths: [Int]
    let rows: Int
    let work: WorkingCaches
    var recorder: SiteRecorder

    init(_ batch: [[Int]], _ caches: [KVCache], _ request: ForwardRequest, config: ModelConfig) {
        self.batch = batch
        lengths = batch.map(\.count)
        rows = lengths.reduce(0, +)
        work = WorkingCaches(batch, caches, layers: config.nLayers, width: config.kvWidth)
        recorder = SiteRecorder(request)
    }

    var caches: [KVCache] { work.caches }

    /// Index of model layer `layer` in the caches.
    func slot(_ layer: Int) -> Int { work.slot(layer) }

    /// `sites` all name `[rows, width]` at `p`: forces their units, then copies those requested.
    mutating func visit(_ sites: [HookSite], _ p: UnsafeMutablePointer<Float>, width: Int) {
        recorder.visit(sites, p, rows: rows, width: width)
    }

    /// (sequence, absolute position) of every new token, in row order.
    var positions: [(sequence: Int, position: Int)] {
        var out: [(Int, Int)] = []
        out.reserveCapacity(rows)
        for (s, n) in lengths.enumerated() { for i in 0..<n { out.append((s, caches[s].length + i)) } }
        return out
    }

    /// Self-attention of block `layer`: the new tokens' keys and values `[rows, kvWidth]` appended to
    /// each sequence's cache (read where they lie when the forward keeps none), then causal
    /// attention of the queries `[rows, heads · headDim]` over them into `out` — what all six architectures share. `scale` defaults to 1/√headDim; ALiBi
    /// `slopes` (BLOOM), a sliding `window` (Gemma's local layers) and grouped key/value heads
    /// (from the config) are the differences.
    func attend(_ layer: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, config: ModelConfig,
                scale: Float? = nil, slopes: [Float]? = nil, window: Int? = nil, into out: UnsafeMutablePointer<Float>) {
        let source = keysValues(layer, keys: k, values: v, rowStride: config.kvWidth, headStride: config.headDim, headDim: config.headDim)
        CausalAttention.run(q: q, keysValues: source, lengths: lengths, heads: config.nHeads, headDim: config.headDim,
                            scale: scale ?? 1 / Float(config.headDim).squareRoot(), slopes: slopes,
                            kvHeads: config.nKVHeads == config.nHeads ? nil : config.nKVHeads, window: window, out: out)
    }

    /// `attend` over a fused QKV product `[rows, heads, 3, headDim]` (BLOOM's `query_key_value`) as it
    /// lies: the keys and values copied straight into the caches (or read in place when the forward
    /// keeps none), the queries read in place; the same values as splitting it into three buffers first.
    func attendFused(_ layer: Int, qkv: UnsafePointer<Float>, config: ModelConfig, slopes: [Float]? = nil,
                     into out: UnsafeMutablePointer<Float>) {
        let hd = config.headDim, rowStride = 3 * config.nHeads * hd
        let source = keysValues(layer, keys: qkv + hd, values: qkv + 2 * hd, rowStride: rowStride, headStride: 3 * hd, headDim: hd)
        CausalAttention.run(q: qkv, keysValues: source, lengths: lengths, heads: config.nHeads, headDim: hd,
                            scale: 1 / Float(hd).squareRoot(), slopes: slopes, queryRows: (rowStride, 3 * hd), out: out)
    }

    /// Where layer `layer`'s attention reads the keys and values `keys`/`values` (heads `headDim`
    /// wide, rows and heads at those strides): appended to the caches when the forward keeps them;
    /// else read where they lie, since a forward that keeps no cache has no past (nothing copied:
    /// 2·T·G·D floats a layer).
    func keysValues(_ layer: Int, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                    rowStride: Int, headStride: Int, headDim: Int) -> KeyValueSource {
        guard work.persistent else { return .rows(keys: keys, values: values, rowStride: rowStride, headStride: headStride) }
        appendKV(keys: keys, values: values, layer: layer, rowStride: rowStride, headStride: headStride, headDim: headDim)
        return .caches(caches, layer: slot(layer))
    }

    /// Appends each new token's key and value heads (`headDim` wide, rows and heads at those
    /// strides; `[rows, kvWidth]` when they are kvWidth and headDim) to its sequence's cache at layer `layer`.
    func appendKV(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, layer: Int,
                  rowStride: Int, headStride: Int, headDim: Int) {
        let width = caches.first?.width ?? 0
        var starts: [Int] = []
        var row = 0
        for n in lengths { starts.append(row); row += n }
        let ks = SharedPointer(UnsafeMutablePointer(mutating: keys)), vs = SharedPointer(UnsafeMutablePointer(mutating: values))
        // Sequences split across the threads when there is enough to copy (a decoding step's rows are not).
        parallelChunks(lengths.count, minimumChunk: rows * width < 2 * parallelMinimum ? lengths.count : 1) { sequences in
            for s in sequences {
                let c = caches[s], at = c.length * width, n = lengths[s]
                let kc = c.keys[slot(layer)].pointer + at, vc = c.values[slot(layer)].pointer + at
                if rowStride == width && headStride == headDim {
                    kc.update(from: ks.base + starts[s] * width, count: n * width)
                    vc.update(from: vs.base + starts[s] * width, count: n * width)
                    continue
                }
                for i in 0..<n {
                    let src = (starts[s] + i) * rowStride
                    for h in 0..<(width / headDim) {
                        copyFloats(ks.base + src + h * headStride, to: kc + i * width + h * headDim, count: headDim)
                        copyFloats(vs.base + src + h * headStride, to: vc + i * width + h * headDim, count: headDim)
                    }
                }
            }
        }
    }
}

extension LanguageModel {
    /// Layers a request needs: up to the deepest requested site, or all of them for logits.
    func layersNeeded(_ request: ForwardRequest) -> (layers: Int, finalNorm: Bool) {
        if request.logits != .none || request.sites.contains(.hidden(config.nLayers)) { return (config.nLayers, true) }
        let deepest = request.sites.map { site -> Int in
            if case .hidden(let l) = site { return l } else { return site.layer + 1 }
        }.max() ?? 0
        return (deepest, false)
    }
}

/// Applies interventions and copies requested sites as the forward pass reaches them.
struct SiteRecorder {
    let wanted: Set<HookSite>
    let interventions: Interventions
    var captured: [HookSite: [Float]] = [:]

    init(_ request: ForwardRequest) {
        wanted = request.sites
        interventions = request.interventions
    }

    /// `sites` all name the tensor at `p` (`[rows, width]`), e.g. `blocks.L.resid_post` and `hidden.L+1`.
    mutating func visit(_ sites: [HookSite], _ p: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        force(sites, p, rows: rows, width: width)
        for site in sites where wanted.contains(site) {
            captured[site] = [Float](unsafeUninitializedCapacity: rows * width) { b, count in
                if let base = b.baseAddress { parallelCopy(p, to: base, count: rows * width) }
                count = rows * width
            }
        }
    }

    /// Holds the forced units of `sites` at their values in the tensor at `p`.
    func force(_ sites: [HookSite], _ p: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for site in sites {
            guard let units = interventions.values[site] else { continue }
            for r in 0..<rows { for (unit, value) in units { p[r * width + unit] = value } }
        }
    }

    /// `site`'s tensor (`[rows, width]`), computed by `make` straight into the array that is kept
    /// when the site is requested (no copy), else into `scratch`; then forced. `use` reads it.
    mutating func produce(_ site: HookSite, rows: Int, width: Int, scratch: UnsafeMutablePointer<Float>,
                          make: (UnsafeMutablePointer<Float>) -> Void, use: (UnsafeMutablePointer<Float>) -> Void) {
        guard wanted.contains(site) else {
            make(scratch)
            force([site], scratch, rows: rows, width: width)
            return use(scratch)
        }
        var kept = [Float](unsafeUninitializedCapacity: rows * width) { b, count in
            make(b.baseAddress!)
            count = rows * width
        }
        kept.withUnsafeMutableBufferPointer { b in
            force([site], b.baseAddress!, rows: rows, width: width)
            use(b.baseAddress!)
        }
        captured[site] = kept
    }
}

/// Checks a batch before a forward: ids inside the vocabulary, caches matching the batch.
func validate(_ batch: [[Int]], caches: [KVCache], config: ModelConfig) throws {
    guard caches.isEmpty || caches.count == batch.count else {
        throw ForwardError("\(caches.count) caches for a batch of \(batch.count)")
    }
    for (s, ids) in batch.enumerated() {
        guard !ids.isEmpty else { throw ForwardError("sequence \(s) of the batch is empty") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ForwardError("sequence \(s): token id \(bad) is outside the vocabulary (0..<\(config.vocabSize))")
        }
    }
}

/// Caches for a forward: the caller's, or empty ones (a cache-free forward keeps no keys and
/// values: each layer's attention reads them where its products left them).
struct WorkingCaches {
    let caches: [KVCache]
    let persistent: Bool

    init(_ batch: [[Int]], _ caches: [KVCache], layers: Int, width: Int) {
        persistent = !caches.isEmpty
        // Without caches to keep, attention reads each layer's keys and values where the products
        // left them: the empty caches only say that every sequence starts at position 0.
        self.caches = persistent ? caches : batch.map { _ in KVCache(layers: 1, width: width) }
        if persistent { for (s, c) in self.caches.enumerated() { c.reserve(batch[s].count) } }
    }

    /// Index of model layer `layer` in the caches.
    func slot(_ layer: Int) -> Int { persistent ? layer : 0 }

    /// Records the new tokens once every layer has written them.
    func commit(_ lengths: [Int]) {
        if persistent { for (s, c) in caches.enumerated() { c.advance(lengths[s]) } }
    }
}

/// Logits of the requested rows through the (tied) head: into `output` when it is given and
/// holds them (an empty array is returned then), else into a new array.
func computeLogits(_ selection: LogitsSelection, x: UnsafePointer<Float>, lengths: [Int], width: Int,
                   head: LinearWeights, into output: FloatBuffer? = nil) -> [Float] {
    let rows: Int
    switch selection {
    case .none: return []
    case .allPositions: rows = lengths.reduce(0, +)
    case .lastPosition: rows = lengths.count
    }
    // `.lastPosition`: each sequence's last row, gathered first.
    var gathered: FloatBuffer?
    if selection == .lastPosition {
        let last = FloatBuffer(count: rows * width, uninitialized: true)
        var row = 0
        for (s, n) in lengths.enumerated() {
            row += n
            (last.pointer + s * width).update(from: x + (row - 1) * width, count: width)
        }
        gathered = last
    }
    return withExtendedLifetime(gathered) {
        let source = gathered.map { UnsafePointer($0.pointer) } ?? x
        if let output, output.count >= rows * head.outFeatures {
            head(source, output.pointer, rows: rows)
            return []
        }
        // The head writes every element: no zero-filling first (105 MB a decoding step at 100 × 262k).
        return [Float](unsafeUninitializedCapacity: rows * head.outFeatures) { b, count in
            head(source, b.baseAddress!, rows: rows)
            count = rows * head.outFeatures
        }
    }
}

/// In-place y += x over `count` floats (residual connections).
func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
    parallelAdd(y, x, count: count)
}

/// The plain MLP of BLOOM, XGLM and GPT-NeoX: `down(act(up·x))` into `out`, with the hidden layer
/// `[rows, dMLP]` (in `hidden`, or straight into the array kept when the site is requested) recorded (and forced) at `blocks.L.mlp_post`.
func plainMLP(_ x: UnsafePointer<Float>, up: LinearWeights, down: LinearWeights, activation: String,
              hidden: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, layer l: Int, dMLP: Int, _ pass: inout ForwardPass) {
    let rows = pass.rows
    // BLOOM's GELU and the tanh GELU are applied by the up product to each tile it finishes (no pass
    // of their own over the hidden layer); other activations after it.
    let fused = FusedActivation(named: activation)
    pass.recorder.produce(.mlpPost(l), rows: rows, width: dMLP, scratch: hidden,
                          make: { h in
                              up(x, h, rows: rows, activation: fused)
                              if fused == .none { Activation.named(activation, h, count: rows * dMLP) }
                          },
                          use: { h in down(h, out, rows: rows) })
}

/// The gated MLP of Gemma 3, Llama and OLMo-2: `down(act(gate·x) ⊙ up·x)` into `out`, with the
/// product recorded (and forced) at `blocks.L.mlp_post`. `gate` and `up` hold `rows × dMLP` floats.
func gatedMLP(_ x: UnsafePointer<Float>, gateUp: FusedLinear, down: LinearWeights,
              activation: (UnsafeMutablePointer<Float>, Int) -> Void, gate: UnsafeMutablePointer<Float>,
              up: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, layer l: Int, dMLP: Int,
              _ pass: inout ForwardPass) {
    let t = pass.rows
    gateUp(x, [gate, up], rows: t)
    activation(gate, t * dMLP)
    for i in 0..<(t * dMLP) { gate[i] *= up[i] }
    pass.visit([.mlpPost(l)], gate, width: dMLP)
    down(gate, out, rows: t)
}
