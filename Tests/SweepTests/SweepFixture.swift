import Foundation
import TestSupport
import XCTest
@testable import SweepRunner
@testable import SweepCore

/// A small sweep over the tiny fixture models: 3 same-shape checkpoints × 4 languages × 2 concepts,
/// with a synthetic data set written to a scratch directory.
enum SweepFixture {
    static let fixtures = TestSupport.fixtures
    /// Writes a config over the committed synthetic data set (Tests/Fixtures/sweep-data); returns its path.
    static func make(in dir: String, samples: Int = 3, extra: String = "") throws -> String {
        try TestSupport.tinySweep(in: dir, samples: samples, extra: extra)
    }
}
