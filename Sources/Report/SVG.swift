import Foundation

/// Minimal SVG figures for the report: every data mark carries `class="datum"`, so a test can
/// check that each figure shows data.
enum SVG {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    /// Sequential colour from pale yellow (0) to dark blue (1).
    static func color(_ t: Double) -> String {
        let stops: [(Double, Double, Double)] = [(255, 255, 204), (161, 218, 180), (65, 182, 196), (44, 127, 184), (37, 52, 148)]
        let x = max(0, min(1, t)) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), u = x - Double(i)
        let c = (0..<3).map { k -> Int in
            let a = [stops[i].0, stops[i].1, stops[i].2][k], b = [stops[i + 1].0, stops[i + 1].1, stops[i + 1].2][k]
            return Int(a + (b - a) * u)
        }
        return String(format: "#%02x%02x%02x", c[0], c[1], c[2])
    }

    /// Rows × columns of values in [lo, hi] as coloured cells with their values printed.
    static func heatmap(title: String, rows: [String], columns: [String], values: [[Double]], lo: Double, hi: Double,
                        xLabel: String, yLabel: String, format: String = "%.2f") -> String {
        let cell = 34.0, left = 110.0, top = 50.0
        let width = max(left + cell * Double(columns.count) + 20, Double(title.count) * 7 + 30)
        let height = top + cell * Double(rows.count) + 50
        var out = header(width, height, title)
        for (r, name) in rows.enumerated() {
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(top + cell * (Double(r) + 0.6)))\" text-anchor=\"end\">\(escape(name))</text>"
            for (c, v) in values[r].enumerated() where v.isFinite {
                let t = hi > lo ? (v - lo) / (hi - lo) : 0.5
                out += "<rect class=\"datum\" data-row=\"\(escape(name))\" data-column=\"\(escape(columns[c]))\" data-value=\"\(v)\" "
                    + "x=\"\(f(left + cell * Double(c)))\" y=\"\(f(top + cell * Double(r)))\" width=\"\(f(cell - 1))\" "
                    + "height=\"\(f(cell - 1))\" fill=\"\(color(t))\"><title>\(escape(name)), \(escape(columns[c])): \(String(format: "%.3f", v))</title></rect>"
                out += "<text x=\"\(f(left + cell * (Double(c) + 0.5)))\" y=\"\(f(top + cell * (Double(r) + 0.62)))\" "
                    + "text-anchor=\"middle\" font-size=\"9\" fill=\"\(t > 0.6 ? "white" : "black")\">\(String(format: format, v))</text>"
            }
        }
        for (c, name) in columns.enumerated() {
            out += "<text x=\"\(f(left + cell * (Double(c) + 0.5)))\" y=\"\(f(top + cell * Double(rows.count) + 14))\" text-anchor=\"middle\" font-size=\"10\">\(escape(name))</text>"
        }
        out += "<text x=\"\(f(left + cell * Double(columns.count) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        out += "<text x=\"12\" y=\"\(f(top - 12))\" font-size=\"11\">\(escape(yLabel))</text>"
        return out + "</svg>"
    }

    struct Series {
        let name: String
        let values: [Double]
        var low: [Double]? = nil
        var high: [Double]? = nil
        var dashed = false
    }

    /// Lines over categorical x positions, with optional min–max bands and dashed reference lines.
    /// - Parameter xPositions: where each x sits, in [0, 1] (a training-step axis); default evenly spaced.
    static func lines(title: String, x: [String], series: [Series], yLabel: String, xLabel: String,
                      yRange: (Double, Double)? = nil, xPositions: [Double]? = nil) -> String {
        // Wide enough that checkpoint names on the x axis do not overlap.
        let labelWidth = 7.0 * Double(x.map(\.count).max() ?? 4) + 8
        let width = max(560.0, Double(title.count) * 7 + 30, 205 + labelWidth * Double(x.count))
        let height = 310.0, left = 55.0, right = 150.0, top = 50.0, bottom = 45.0
        let all = series.flatMap { $0.values + ($0.low ?? []) + ($0.high ?? []) }.filter(\.isFinite)
        var (lo, hi) = yRange ?? ((all.min() ?? 0), (all.max() ?? 1))
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ i: Int) -> Double {
            if let xPositions { return left + plotW * xPositions[i] }
            return left + (x.count > 1 ? plotW * Double(i) / Double(x.count - 1) : plotW / 2)
        }
        func py(_ v: Double) -> Double { top + plotH * (1 - (v - lo) / (hi - lo)) }
        var out = header(width, height, title)
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\" stroke=\"#444\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\" stroke=\"#444\"/>"
        let decimals = max(2, Int(ceil(-log10(max(hi - lo, 1e-9) / 4))) + 1)
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            out += "<text x=\"\(f(left - 5))\" y=\"\(f(py(v) + 3))\" text-anchor=\"end\" font-size=\"10\">\(String(format: "%.\(decimals)f", v))</text>"
            out += "<line x1=\"\(f(left))\" y1=\"\(f(py(v)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(py(v)))\" stroke=\"#eee\"/>"
        }
        // Labels that would overlap the one before are left out (the points keep their titles).
        var lastLabel = -Double.infinity
        for (i, label) in x.enumerated() where px(i) - lastLabel >= 6.0 * Double(label.count) + 6 || i == 0 {
            out += "<text x=\"\(f(px(i)))\" y=\"\(f(top + plotH + 14))\" text-anchor=\"middle\" font-size=\"10\">\(escape(label))</text>"
            lastLabel = px(i)
        }
        for (n, s) in series.enumerated() {
            let colour = palette[n % palette.count]
            if let low = s.low, let high = s.high {
                let upper = high.indices.filter { high[$0].isFinite }.map { "\(f(px($0))),\(f(py(high[$0])))" }
                let lower = low.indices.reversed().filter { low[$0].isFinite }.map { "\(f(px($0))),\(f(py(low[$0])))" }
                if !upper.isEmpty { out += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(colour)\" opacity=\"0.15\"/>" }
            }
            let points = s.values.indices.filter { s.values[$0].isFinite }
            let path = points.map { "\(f(px($0))),\(f(py(s.values[$0])))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5,4\"" : "")/>"
            for i in points {
                out += "<circle class=\"datum\" data-series=\"\(escape(s.name))\" data-x=\"\(escape(x[i]))\" data-value=\"\(s.values[i])\" "
                    + "cx=\"\(f(px(i)))\" cy=\"\(f(py(s.values[i])))\" r=\"2.5\" fill=\"\(colour)\">"
                    + "<title>\(escape(s.name)), \(escape(x[i])): \(String(format: "%.3f", s.values[i]))</title></circle>"
            }
            out += "<text x=\"\(f(left + plotW + 10))\" y=\"\(f(top + 12 + 14 * Double(n)))\" font-size=\"11\" fill=\"\(colour)\">\(escape(s.name))</text>"
        }
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        out += "<text x=\"10\" y=\"\(f(top - 14))\" font-size=\"11\">\(escape(yLabel))</text>"
        return out + "</svg>"
    }

    /// One horizontal bar per row, split into coloured parts (fractions summing to 1).
    static func stackedBars(title: String, rows: [String], parts: [String], fractions: [[Double]]) -> String {
        let width = 620.0, barH = 22.0, left = 110.0, top = 40.0, plotW = 380.0
        let height = top + barH * Double(rows.count) + 30 + 14 * Double((parts.count + 3) / 4)
        var out = header(width, height, title)
        for (r, name) in rows.enumerated() {
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(top + barH * (Double(r) + 0.65)))\" text-anchor=\"end\">\(escape(name))</text>"
            var x = left
            for (p, v) in fractions[r].enumerated() where v > 0 {
                out += "<rect class=\"datum\" x=\"\(f(x))\" y=\"\(f(top + barH * Double(r)))\" width=\"\(f(plotW * v))\" height=\"\(f(barH - 3))\" "
                    + "fill=\"\(p == parts.count - 1 ? "#cccccc" : palette[p % palette.count])\"><title>\(escape(name)): \(escape(parts[p])) \(String(format: "%.0f%%", 100 * v))</title></rect>"
                x += plotW * v
            }
        }
        for (p, name) in parts.enumerated() {
            let lx = left + Double(p % 4) * 110, ly = top + barH * Double(rows.count) + 18 + 14 * Double(p / 4)
            out += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 9))\" width=\"10\" height=\"10\" fill=\"\(p == parts.count - 1 ? "#cccccc" : palette[p % palette.count])\"/>"
            out += "<text x=\"\(f(lx + 14))\" y=\"\(f(ly))\" font-size=\"11\">\(escape(name))</text>"
        }
        return out + "</svg>"
    }

    /// One task of a timeline: its lane (worker), start and length in seconds, and kind (colour).
    struct Span {
        let lane: String, task: String, kind: String
        let start: Double, seconds: Double
    }

    /// A per-lane timeline: each span a bar from its start, coloured by kind, its values in
    /// `data-` attributes (seconds since the first start).
    static func timeline(title: String, spans: [Span], kinds: [String]) -> String {
        let lanes = Array(Set(spans.map(\.lane))).sorted()
        let origin = spans.map(\.start).min() ?? 0
        let end = max(spans.map { $0.start + $0.seconds }.max() ?? 1, origin + 1e-3)
        let width = 900.0, left = 170.0, right = 20.0, top = 40.0, laneH = 24.0
        let plotW = width - left - right
        let height = top + laneH * Double(lanes.count) + 46
        func px(_ t: Double) -> Double { left + plotW * (t - origin) / (end - origin) }
        var out = header(width, height, title)
        for (i, lane) in lanes.enumerated() {
            let y = top + laneH * Double(i)
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y + laneH * 0.65))\" text-anchor=\"end\" font-size=\"11\">\(escape(lane))</text>"
            for s in spans where s.lane == lane {
                let colour = palette[(kinds.firstIndex(of: s.kind) ?? 0) % palette.count]
                out += "<rect class=\"datum\" data-task=\"\(escape(s.task))\" data-start=\"\(String(format: "%.3f", s.start - origin))\" "
                    + "data-seconds=\"\(String(format: "%.3f", s.seconds))\" x=\"\(f(px(s.start)))\" y=\"\(f(y + 2))\" "
                    + "width=\"\(String(format: "%.2f", max(0.5, plotW * s.seconds / (end - origin))))\" height=\"\(f(laneH - 5))\" fill=\"\(colour)\">"
                    + "<title>\(escape(s.task)): \(String(format: "%.2f", s.seconds)) s</title></rect>"
            }
        }
        let axisY = top + laneH * Double(lanes.count) + 14
        out += "<text x=\"\(f(left))\" y=\"\(f(axisY))\" font-size=\"11\">0 s</text>"
        out += "<text x=\"\(f(left + plotW))\" y=\"\(f(axisY))\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.1f", end - origin)) s</text>"
        for (k, kind) in kinds.enumerated() {
            let lx = left + Double(k) * 110, ly = axisY + 20
            out += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 9))\" width=\"10\" height=\"10\" fill=\"\(palette[k % palette.count])\"/>"
            out += "<text x=\"\(f(lx + 14))\" y=\"\(f(ly))\" font-size=\"11\">\(escape(kind))</text>"
        }
        return out + "</svg>"
    }

    static func header(_ w: Double, _ h: Double, _ title: String) -> String {
        "<svg class=\"figure\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(w))\" height=\"\(f(h))\" viewBox=\"0 0 \(f(w)) \(f(h))\" "
            + "font-family=\"sans-serif\" font-size=\"12\"><text x=\"10\" y=\"18\" font-weight=\"bold\">\(escape(title))</text>"
    }
}
