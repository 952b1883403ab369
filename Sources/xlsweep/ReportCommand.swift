import ArgumentParser
import Foundation
import Report
import Store

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Render a merged sweep.h5 as one self-contained HTML page with SVG figures.")

    @Argument(help: "A merged sweep file.") var sweep: String
    @Option(help: "Where to write the page (default: report.html beside the sweep file).") var out: String?

    func run() throws {
        let html = try Report.render(sweep: sweep)
        let path = out ?? URL(fileURLWithPath: sweep).deletingLastPathComponent().appendingPathComponent("report.html").path
        guard FileManager.default.createFile(atPath: path, contents: Data(html.utf8)) else { throw UserError("\(path): cannot write") }
        print("wrote \(path)")
    }
}

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema", abstract: "List sweep.h5's datasets: their named axes, units and long names (the contract scripts read).")

    @Flag(help: "One JSON object: dataset → {dimensions, units, long_name}.") var json = false

    func run() throws {
        if json {
            var out: [String: Any] = [:]
            for name in SweepSchema.names {
                let e = SweepSchema.entry(name)!
                out[name] = ["dimensions": e.dimensions, "units": e.units, "long_name": e.longName]
            }
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for name in SweepSchema.names {
                let e = SweepSchema.entry(name)!
                print("\(name) [\(e.dimensions.joined(separator: ", "))]  \(e.units)  \(e.longName)")
            }
        }
    }
}
