import Foundation

/// Language identification of text by character n-grams (orders 1–4), a multinomial naive Bayes
/// over n-gram counts with add-one smoothing per order (Cavnar & Trenkle 1994; Dunning 1994).
/// Text is lower-cased, runs of whitespace become one space, and the text is padded with spaces;
/// n-grams are over unicode scalars.
/// Answers "undetermined" (nil) for text with too few letters or when the posterior of the best
/// language is below `threshold`.
public struct LanguageIdentifier: Sendable {
    public static let orders = 1...4

    public let languages: [String]
    /// n-gram key → row of `logProbabilities` (one log probability per language).
    let rows: [UInt64: Int]
    let logProbabilities: [Double]
    /// Per order and language: the log probability of an n-gram never seen in that language.
    let unseen: [[Double]]
    public var threshold: Double
    public var minimumLetters: Int

    /// - Parameter training: language code → sentences of that language.
    public init(training: [String: [String]], threshold: Double = 0.9, minimumLetters: Int = 10) throws {
        guard training.count >= 2 else { throw ProbingError.oneClass("language identifier") }
        languages = training.keys.sorted()
        let l = languages.count
        var counts: [UInt64: [Int32]] = [:]
        var totals = [[Double]](repeating: [Double](repeating: 0, count: l), count: Self.orders.count)
        var distinct = [[Double]](repeating: [Double](repeating: 0, count: l), count: Self.orders.count)
        for (li, language) in languages.enumerated() {
            let texts = training[language]!
            guard !texts.isEmpty else { throw ProbingError.empty("language identifier: no text for '\(language)'") }
            for text in texts {
                Self.forEachNgram(text) { order, key in
                    var row = counts[key] ?? [Int32](repeating: 0, count: l)
                    if row[li] == 0 { distinct[order - 1][li] += 1 }
                    row[li] += 1
                    counts[key] = row
                    totals[order - 1][li] += 1
                }
            }
        }
        // Add-one smoothing per order: log((c + 1) / (N + V + 1)), V = distinct n-grams seen.
        let denominators = zip(totals, distinct).map { t, v in zip(t, v).map { log($0 + $1 + 1) } }
        var rows: [UInt64: Int] = [:]
        var table: [Double] = []
        table.reserveCapacity(counts.count * l)
        for (key, row) in counts {
            rows[key] = rows.count
            let order = Int(key >> 61)
            for li in 0..<l { table.append(log(Double(row[li]) + 1) - denominators[order - 1][li]) }
        }
        self.rows = rows
        logProbabilities = table
        unseen = denominators.map { $0.map { -$0 } }
        self.threshold = threshold
        self.minimumLetters = minimumLetters
    }

    /// Calls `body(order, key)` for every n-gram of orders 1…4 of the normalised text (unicode
    /// scalars, lower-cased, whitespace runs as one space, padded with spaces). The key holds the
    /// order in its top 3 bits and an FNV-1a hash of the scalars below.
    static func forEachNgram(_ text: String, _ body: (Int, UInt64) -> Void) {
        var scalars: [UInt32] = [32]
        for s in text.lowercased().unicodeScalars {
            if s.properties.isWhitespace {
                if scalars.last != 32 { scalars.append(32) }
            } else {
                scalars.append(s.value)
            }
        }
        if scalars.last != 32 { scalars.append(32) }
        for i in scalars.indices {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for n in orders where i + n <= scalars.count {
                h = (h ^ UInt64(scalars[i + n - 1])) &* 0x0000_0100_0000_01B3
                body(n, UInt64(n) << 61 | (h >> 3))
            }
        }
    }

    public struct Identification: Sendable, Equatable {
        /// nil: undetermined.
        public let language: String?
        /// Posterior probability of the best language under a uniform prior.
        public let confidence: Double
        public let best: String
    }

    public func identify(_ text: String) -> Identification {
        let l = languages.count
        var scores = [Double](repeating: 0, count: l)
        Self.forEachNgram(text) { order, key in
            if let row = rows[key] {
                for li in 0..<l { scores[li] += logProbabilities[row * l + li] }
            } else {
                for li in 0..<l { scores[li] += unseen[order - 1][li] }
            }
        }
        let bestIndex = scores.indices.max { scores[$0] < scores[$1] }!
        let m = scores[bestIndex]
        let posterior = 1 / scores.map { exp($0 - m) }.reduce(0, +)
        let letters = text.unicodeScalars.filter { $0.properties.isAlphabetic }.count
        let determined = letters >= minimumLetters && posterior >= threshold
        return Identification(language: determined ? languages[bestIndex] : nil, confidence: posterior,
                              best: languages[bestIndex])
    }
}

/// Whether a text mentions a concept: one of the concept's surface forms in the text's language,
/// case-insensitively. Forms are word beginnings (stems, e.g. "terremot" for terremoto/terremotos)
/// matched where no letter precedes them; in scripts written without spaces (zh, ja) anywhere.
/// The same rule as tools/lexicon.py, which selects the data set's positive sentences.
public struct ConceptLexicon: Sendable {
    public static let unspaced: Set<String> = ["zh", "ja"]

    /// language → surface forms.
    public let forms: [String: [String]]

    public init(forms: [String: [String]]) { self.forms = forms.mapValues { $0.map { $0.lowercased() } } }

    public func isPresent(in text: String, language: String) -> Bool {
        let lowered = Array((" " + text.lowercased() + " ").unicodeScalars)
        for form in forms[language] ?? [] where !form.isEmpty {
            let f = Array(form.unicodeScalars)
            guard f.count <= lowered.count else { continue }
            for i in 1...(lowered.count - f.count) where Array(lowered[i..<(i + f.count)]) == f {
                if Self.unspaced.contains(language) || !lowered[i - 1].properties.isAlphabetic { return true }
            }
        }
        return false
    }
}
