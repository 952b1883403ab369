import Foundation
import XCTest
@testable import Probing

/// LAPE's selection on probabilities whose answer is known by hand.
final class LanguageSpecificNeuronsTests: XCTestCase {
    func testSelectsLowEntropyUnitsAboveTheBar() {
        // 3 languages × 100 units: unit 7 fires in language 0 only, unit 42 in languages 1 and 2,
        // unit 3 everywhere (high entropy), unit 9 never; the rest barely.
        var p = [[Double]](repeating: [Double](repeating: 0.01, count: 100), count: 3)
        p[0][7] = 0.9
        p[1][42] = 0.8; p[2][42] = 0.7
        for l in 0..<3 { p[l][3] = 0.95 }
        for l in 0..<3 { p[l][9] = 0 }
        let s = LanguageSpecificNeurons.select(probabilities: p, options: .init(topRate: 0.02, filterRate: 0.95, activationBarRatio: 0.95))
        // round(100 · 0.02) = 2 units by entropy; unit 9 (never active) and the barely active ones are
        // dismissed (no language above the filter); unit 7 (≈ 0.12) and 42 (≈ 0.73) are chosen, not 3 (ln 3).
        XCTAssertEqual(s.selected, [7, 42])
        XCTAssertEqual(s.entropy[9], .infinity)
        XCTAssertLessThan(s.entropy[7], s.entropy[42])
        XCTAssertLessThan(s.entropy[42], s.entropy[3])
        XCTAssertEqual(s.entropy[3], log(3), accuracy: 1e-12)
        XCTAssertTrue(s.specific[0][7] && !s.specific[1][7] && !s.specific[2][7])
        XCTAssertTrue(!s.specific[0][42] && s.specific[1][42] && s.specific[2][42])
        XCTAssertEqual(s.specific.map { $0.filter { $0 }.count }, [1, 1, 1])
        // The quantiles are torch.kthvalue(round(300 · 0.95) = 285) of all 300 probabilities.
        XCTAssertEqual(s.filterValue, p.flatMap { $0 }.sorted()[284])
        // With a lower top rate only the lowest entropy is kept; ties go to the lower unit.
        XCTAssertEqual(LanguageSpecificNeurons.select(probabilities: p, options: .init(topRate: 0.01)).selected, [7])
    }

    func testHalvesRoundToEvenAsPythonDoes() {
        XCTAssertEqual(LanguageSpecificNeurons.quantile(sorted: [1, 2, 3, 4, 5, 6], 0.25), 2)   // round(1.5) = 2
        XCTAssertEqual(LanguageSpecificNeurons.quantile(sorted: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.25), 2)   // round(2.5) = 2
        XCTAssertEqual(LanguageSpecificNeurons.quantile(sorted: [1, 2, 3], 0), 1)   // k kept ≥ 1
    }
}
