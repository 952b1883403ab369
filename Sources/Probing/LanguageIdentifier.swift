import Foundation

/// Language identification of text by character n-grams (orders 1–4), a multinomial naive Bayes
/// over n-gram counts with add-one smoothing per order (Cavnar & Trenkle 1994; Dunning 1994).
/// Text is lower-cased, runs of whitespace become one space, and the text is padded with spaces.
/// Answers "undetermined" (nil) for text with too few letters or when the posterior of the best
/// language is below `threshold`.
public struct LanguageIdentifier: Sendable {
    public static let orders = 1...4

    public let languages: [String]
    /// Per language and order: n-gram → log probability; and the log probability of an unseen one.
    let logProbabilities: [[[String: Double]]]
    let unseen: [[Double]]
    public var threshold: Double
    public var minimumLetters: Int

    /// - Parameter training: language code → sentences of that language.
    public init(training: [String: [String]], threshold: Double = 0.9, minimumLetters: Int = 10) throws {
        guard training.count >= 2 else { throw ProbingError.oneClass("language identifier") }
        languages = training.keys.sorted()
        var logs: [[[String: Double]]] = [], unseen: [[Double]] = []
        for language in languages {
            let texts = training[language]!
            guard !texts.isEmpty else { throw ProbingError.empty("language identifier: no text for '\(language)'") }
            var counts = [[String: Int]](repeating: [:], count: Self.orders.count)
            for text in texts {
                for (o, grams) in Self.ngrams(text).enumerated() { for g in grams { counts[o][g, default: 0] += 1 } }
            }
            var orderLogs: [[String: Double]] = [], orderUnseen: [Double] = []
            for table in counts {
                let total = Double(table.values.reduce(0, +))
                let denominator = log(total + Double(table.count) + 1)
                orderLogs.append(table.mapValues { log(Double($0) + 1) - denominator })
                orderUnseen.append(-denominator)
            }
            logs.append(orderLogs)
            unseen.append(orderUnseen)
        }
        logProbabilities = logs
        self.unseen = unseen
        self.threshold = threshold
        self.minimumLetters = minimumLetters
    }

    static func normalise(_ text: String) -> [Character] {
        var out: [Character] = [" "]
        for c in text.lowercased() {
            if c.isWhitespace {
                if out.last != " " { out.append(" ") }
            } else {
                out.append(c)
            }
        }
        if out.last != " " { out.append(" ") }
        return out
    }

    /// The n-grams of each order.
    static func ngrams(_ text: String) -> [[String]] {
        let chars = normalise(text)
        return orders.map { n in
            chars.count < n ? [] : (0...(chars.count - n)).map { String(chars[$0..<($0 + n)]) }
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
        let grams = Self.ngrams(text)
        var scores = [Double](repeating: 0, count: languages.count)
        for l in languages.indices {
            for (o, list) in grams.enumerated() {
                let table = logProbabilities[l][o]
                for g in list { scores[l] += table[g] ?? unseen[l][o] }
            }
        }
        let bestIndex = scores.indices.max { scores[$0] < scores[$1] }!
        let m = scores[bestIndex]
        let posterior = 1 / scores.map { exp($0 - m) }.reduce(0, +)
        let letters = text.filter { $0.isLetter }.count
        let determined = letters >= minimumLetters && posterior >= threshold
        return Identification(language: determined ? languages[bestIndex] : nil, confidence: posterior,
                              best: languages[bestIndex])
    }
}

/// Whether a text mentions a concept: one of the concept's surface forms in the text's language,
/// matched case-insensitively (forms are stems, e.g. "terremot" for terremoto/terremotos).
public struct ConceptLexicon: Sendable {
    /// language → surface forms.
    public let forms: [String: [String]]

    public init(forms: [String: [String]]) { self.forms = forms.mapValues { $0.map { $0.lowercased() } } }

    public func isPresent(in text: String, language: String) -> Bool {
        let lowered = text.lowercased()
        return (forms[language] ?? []).contains { !$0.isEmpty && lowered.contains($0) }
    }
}
