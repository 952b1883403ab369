import XCTest
@testable import Models

/// FLOPs per token come from the architecture's weight table: BLOOM's 12·d² per block, a gated
/// MLP's three matrices (Llama, OLMo-2, Gemma), the head tied or not.
final class FLOPCountTests: XCTestCase {
    func testBLOOMAndGatedArchitecturesCountTheirMatrices() throws {
        let bloom = try ModelConfig(json: ["model_type": "bloom", "vocab_size": 1000, "hidden_size": 64, "n_layer": 3, "n_head": 4],
                                    path: "<test>")
        let b = FLOPCount(bloom)
        XCTAssertEqual(b.bodyMACs, 12 * 64 * 64 * 3)
        XCTAssertEqual(b.headMACs, 1000 * 64, "tied head: the embeddings")
        XCTAssertEqual(b.sequence(tokens: 5), 2 * Double(12 * 64 * 64 * 3) * 5 + 2 * Double(64 * 3) * 5 * 6)
        XCTAssertEqual(b.decodeStep(position: 4), 2 * Double(12 * 64 * 64 * 3 + 64_000) + 4 * Double(64 * 3) * 5)
        XCTAssertEqual(b.generation(samples: 2, prompt: 1, newTokens: 3),
                       b.sequence(tokens: 1, headRows: 1) + 2 * (b.decodeStep(position: 1) + b.decodeStep(position: 2)),
                       "the prompt's forward once for both samples")
        XCTAssertEqual(b.generation(samples: 3, prompt: 4, newTokens: 1), b.sequence(tokens: 4, headRows: 1))
        XCTAssertEqual(b.generation(samples: 0, prompt: 4, newTokens: 5), 0)

        let llama = try ModelConfig(json: ["model_type": "llama", "vocab_size": 500, "hidden_size": 64, "num_hidden_layers": 2,
                                           "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 96,
                                           "tie_word_embeddings": false], path: "<test>")
        let l = FLOPCount(llama)
        let kv = 2 * (64 / 8)
        XCTAssertEqual(l.bodyMACs, 2 * (64 * (64 + 2 * kv) + 64 * 64 + 3 * 64 * 96), "q, k, v, o and gate, up, down")
        XCTAssertEqual(l.headMACs, 500 * 64, "untied head")
    }
}

/// The weight table is derived from each architecture's loading code (a recording loader): its
/// entries are what a model of that config reads, with their shapes and roles.
final class RecordedWeightTableTests: XCTestCase {
    func testTablesListWhatTheModelsRead() throws {
        for name in ["bloom-tiny", "xglm-tiny", "llama-tiny", "llama-tiny-gqa4", "gpt-neox-tiny", "gpt-neox-tiny-sequential", "olmo2-tiny"] {
            let loaded = try LoadedModel.load(Fixtures.path(name))
            let table = WeightTable.of(loaded.config)
            XCTAssertEqual(Set(table.entries.filter { !$0.optional }.map(\.name)).subtracting(loaded.model.canonicalNames.keys), [], name)
            XCTAssertEqual(table.entries.filter { $0.role == .embedding }.count, 1, name)
            // Every stored tensor of the checkpoint is in the table (nothing is read that the table does not list).
            let stored = Set(try table.resolve(in: loaded.weights).values)
            XCTAssertEqual(stored, Set(loaded.model.canonicalNames.values), name)
        }
    }
}
