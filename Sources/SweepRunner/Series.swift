import Checkpoints
import Foundation
import SweepCore

/// A checkpoint series as `model:` names it — one repo with a branch per checkpoint (Pythia,
/// OLMo, BLOOM, Viking, Amber) or one repo per checkpoint (TinyLlama) — and which of its
/// checkpoints to take: listed revisions, training steps, every cached ref, or each repo's main.
struct Series {
    enum Selection: Equatable {
        case revisions([String])
        case steps([Int])
        case all
        case main
    }

    let repos: [String]
    let selection: Selection

    /// One candidate: a cached ref of a repo, with the training time its name (or, for `main` in a
    /// series of several repos, its repo's name) states.
    struct Candidate {
        let repo: String
        let revision: String
        let time: TrainingTime
    }

    /// The series' checkpoints, given each repo's cached refs (nil: not cached). Errors list what
    /// the cache has.
    func checkpoints(refs: [String: [String]?]) throws -> [SweepConfig.Checkpoint] {
        var candidates: [Candidate] = []
        for repo in repos {
            guard let cached = refs[repo] ?? nil else {
                if case .revisions = selection, repos.count == 1 { continue }   // located later, with its own error
                throw SeriesError("repo \(repo) is not in the local Hugging Face cache")
            }
            for ref in cached {
                var time = TrainingTime(name: ref)
                // One repo per checkpoint (TinyLlama): main's place in training is in the repo's name.
                if !time.isKnown && ref == "main" && repos.count > 1 { time = TrainingTime(name: String(repo.split(separator: "/").last ?? "")) }
                candidates.append(Candidate(repo: repo, revision: ref, time: time))
            }
        }
        func list(_ cs: [Candidate]) -> String {
            cs.isEmpty ? "none" : cs.map { repos.count > 1 ? "\($0.repo)@\($0.revision)" : $0.revision }.joined(separator: ", ")
        }
        let chosen: [Candidate]
        switch selection {
        case .revisions(let revisions):
            guard repos.count == 1 else { throw SeriesError("revisions: name one repo, or use steps: or revisions: all with several repos") }
            return revisions.map { checkpoint(Candidate(repo: repos[0], revision: $0, time: TrainingTime(name: $0))) }
        case .main:
            chosen = repos.map { repo in
                candidates.first { $0.repo == repo && $0.revision == "main" }
                    ?? Candidate(repo: repo, revision: "main", time: TrainingTime(name: String(repo.split(separator: "/").last ?? "")))
            }
        case .all:
            chosen = candidates.filter(\.time.isKnown).sorted { $0.time < $1.time }
            guard !chosen.isEmpty else { throw SeriesError("no cached ref names a training step or token count (cache has: \(list(candidates)))") }
        case .steps(let steps):
            chosen = try steps.map { step -> Candidate in
                let matches = candidates.filter { $0.time.step == step }
                // main may restate the final step of a branch; a branch that names it wins.
                let named = matches.count > 1 ? matches.filter { $0.revision != "main" } : matches
                guard named.count == 1 else {
                    let known = candidates.filter(\.time.isKnown)
                    throw SeriesError(named.isEmpty
                        ? "no cached ref is at step \(step) (cache has: \(list(known)))"
                        : "step \(step) is ambiguous: \(list(named)) (list the revisions instead)")
                }
                return named[0]
            }
        }
        return chosen.map(checkpoint)
    }

    /// Named by the revision in a one-repo series, by the repo (and revision, unless main) otherwise.
    func checkpoint(_ c: Candidate) -> SweepConfig.Checkpoint {
        let repoName = String(c.repo.split(separator: "/").last ?? "")
        let name = repos.count == 1 ? c.revision : (c.revision == "main" ? repoName : "\(repoName)-\(c.revision)")
        return SweepConfig.Checkpoint(name: name, path: nil, repo: c.repo, revision: c.revision)
    }
}

struct SeriesError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
