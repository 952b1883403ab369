import ArgumentParser
import Foundation
import Kernels
import SweepRunner

@main
struct XLSweep: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "xlsweep",
        abstract: "Interpretability sweeps over the training checkpoints of multilingual language models.",
        version: version,
        subcommands: [Inspect.self, Tokenize.self, Extract.self, Generate.self, Run.self, PlanCommand.self, CoordinatorCommand.self,
                      WorkerCommand.self, MergeCommand.self, VerifyCommand.self, StatusCommand.self, ReportCommand.self, SchemaCommand.self, Keys.self, Bench.self])

    /// Checks the CPU (the Swift kernels of this build use AVX2 + FMA) and `XLSWEEP_CPU` before any
    /// command runs.
    static func main() {
        Heap.configure()   // before any thread allocates (see Heap)
        #if XLSWEEP_NEEDS_AVX2
        if KernelPath.detected < .avx2 {
            FileHandle.standardError.write(Data(("xlsweep: error: this build needs a CPU with AVX2 and FMA (x86-64 from 2013 on); "
                + "rebuild with XLSWEEP_TARGET_CPU=generic swift build -c release\n").utf8))
            Foundation.exit(1)
        }
        #endif
        do {
            _ = try KernelPath.requested()   // a bad XLSWEEP_CPU stops every command, workers included
        } catch {
            FileHandle.standardError.write(Data("xlsweep: error: \(error)\n".utf8))
            Foundation.exit(1)
        }
        OneLineLogHandler.bootstrap()
        // argument-parser's own path: its parse and validate() errors print with the usage; an error
        // thrown from a command's run() is one line, `xlsweep: error: …`, and exit status 1.
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let e where e is ExitCode || e is CleanExit || e is ValidationError
                            || String(reflecting: type(of: e)).hasPrefix("ArgumentParser.") {
            // argument-parser's own (help asked for: its help command throws it from run()).
            exit(withError: e)
        } catch {
            FileHandle.standardError.write(Data("xlsweep: error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }
}
