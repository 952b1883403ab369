import ArgumentParser

@main
struct XLSweep: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "xlsweep",
        abstract: "Interpretability sweeps over the training checkpoints of multilingual language models.",
        version: version,
        subcommands: [Inspect.self, Tokenize.self, Extract.self, Generate.self, Run.self, PlanCommand.self, CoordinatorCommand.self,
                      WorkerCommand.self, MergeCommand.self, StatusCommand.self, ReportCommand.self, Keys.self, Bench.self])
}
