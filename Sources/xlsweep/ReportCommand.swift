import ArgumentParser
import Foundation
import Report

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Render a merged sweep.h5 as one self-contained HTML page with SVG figures.")

    @Argument(help: "A merged sweep file.") var sweep: String
    @Option(help: "Where to write the page (default: report.html beside the sweep file).") var out: String?

    func run() throws {
        try reportingErrors {
            let html = try Report.render(sweep: sweep)
            let path = out ?? URL(fileURLWithPath: sweep).deletingLastPathComponent().appendingPathComponent("report.html").path
            guard FileManager.default.createFile(atPath: path, contents: Data(html.utf8)) else { throw UserError("\(path): cannot write") }
            print("wrote \(path)")
        }
    }
}
