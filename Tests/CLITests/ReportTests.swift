import Foundation
import XCTest

/// The report of a real sweep, rendered by headless Chromium: not blank, and every figure has data.
final class ReportTests: XCTestCase {
    func testReportRendersWithDataInEveryFigure() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir)])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("wrote \(dir)/out/report.html"), run.stdout)
        let custom = try CLI.run(["report", dir + "/out/sweep.h5", "--out", dir + "/page.html"])
        XCTAssertEqual(custom.status, 0, custom.stderr)
        let html = try String(contentsOfFile: dir + "/page.html", encoding: .utf8)
        XCTAssertFalse(html.contains("<script"), "self-contained, no scripts")
        let external = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        XCTAssertFalse(external.contains("http://") || external.contains("https://"), "no external resources")
        let figures = html.components(separatedBy: "<svg class=\"figure\"").dropFirst()
        XCTAssertEqual(figures.count, 19)
        for (i, f) in figures.enumerated() {
            let body = f.components(separatedBy: "</svg>")[0]
            XCTAssertTrue(body.contains("class=\"datum\""), "figure \(i) shows no data")
        }
        // The timeline's bars are the file's task_seconds, task by task.
        let timeline = try CLI.python(["-c", """
            import re, sys, h5py, html
            f = h5py.File(sys.argv[1])
            want = dict(zip(f["task"].asstr()[:], f["task_seconds"][:]))
            page = open(sys.argv[2], encoding="utf-8").read()
            bars = re.findall(r'data-task="([^"]+)" data-start="[0-9.]+" data-seconds="([0-9.]+)"', page)
            assert len(bars) == len(want) == 81, (len(bars), len(want))
            assert all(abs(float(s) - want[html.unescape(t)]) < 1e-3 for t, s in bars)
            print("ok")
            """, dir + "/out/sweep.h5", dir + "/page.html"])
        XCTAssertEqual(timeline.stdout, "ok\n", timeline.stderr)
        // The LAPE heatmaps show the file's counts, cell by cell.
        let lape = try CLI.python(["-c", """
            import re, sys, h5py, html
            f = h5py.File(sys.argv[1])
            per = f["language_specific_per_layer"][:]
            ck, langs = list(f["checkpoint"].asstr()[:]), list(f["language"].asstr()[:])
            page = open(sys.argv[2], encoding="utf-8").read()
            def cells(title):
                part = page.split(title, 1)[1].split("</svg>", 1)[0]
                return {(html.unescape(r), html.unescape(c)): float(v)
                        for r, c, v in re.findall(r'data-row="([^"]*)" data-column="([^"]*)" data-value="([^"]*)"', part)}
            by_layer = cells("Language-specific neurons (LAPE) per layer")
            by_language = cells("Language-specific neurons (LAPE) per language")
            assert len(by_layer) == per.shape[0] * per.shape[2] and len(by_language) == per.shape[0] * per.shape[1]
            for i, c in enumerate(ck):
                for b in range(per.shape[2]): assert by_layer[(c, str(b))] == per[i, :, b].sum()
                for j, l in enumerate(langs): assert by_language[(c, l)] == per[i, j, :].sum()
            print("ok")
            """, dir + "/out/sweep.h5", dir + "/page.html"])
        XCTAssertEqual(lape.stdout, "ok\n", lape.stderr)
        // Exclusive and shared units per layer: each point is the file's histogram, summed over its counts.
        let sharing = try CLI.python(["-c", """
            import re, sys, h5py, html
            f = h5py.File(sys.argv[1])
            h = f["language_count_histogram"][:]
            ck, L = list(f["checkpoint"].asstr()[:]), len(f["language"])
            page = open(sys.argv[2], encoding="utf-8").read()
            for title, counts in [("Exclusive units per layer", range(1, 2)), ("Shared units per layer", range((L + 1) // 2, L + 1))]:
                part = page.split(title, 1)[1].split("</svg>", 1)[0]
                points = re.findall(r'data-series="([^"]*)" data-x="([^"]*)" data-value="([^"]*)"', part)
                assert len(points) == h.shape[0] * h.shape[1], (title, len(points))
                for s, x, v in points:
                    c, b = ck.index(html.unescape(s)), int(x)
                    assert float(v) == sum(int(h[c, b, n]) for n in counts), (title, s, x, v)
            print("ok")
            """, dir + "/out/sweep.h5", dir + "/page.html"])
        XCTAssertEqual(sharing.stdout, "ok\n", sharing.stderr)
        // The intervention against its controls: each point is the mean over cells of generation_share.
        let controls = try CLI.python(["-c", """
            import re, sys, h5py, html, numpy as np
            f = h5py.File(sys.argv[1])
            share = f["generation_share"][:]
            ck, arms = list(f["checkpoint"].asstr()[:]), list(f["arm"].asstr()[:])
            page = open(sys.argv[2], encoding="utf-8").read()
            for title, m in [("Forced generations in the experts' own language: experts", 0), ("Forced generations in English: experts", 1)]:
                part = page.split(html.escape(title, quote=False), 1)[1].split("</svg>", 1)[0]
                points = re.findall(r'data-series="([^"]*)" data-x="([^"]*)" data-value="([^"]*)"', part)
                assert len(points) == len(ck) * len(arms), (title, len(points))
                for s, x, v in points:
                    a, c = arms.index(html.unescape(s)), ck.index(html.unescape(x))
                    want = np.nanmean(share[c, :, :, a, m])
                    assert abs(float(v) - want) < 1e-12, (title, s, x, v, want)
            print("ok")
            """, dir + "/out/sweep.h5", dir + "/page.html"])
        XCTAssertEqual(controls.stdout, "ok\n", controls.stderr)
        // Forced generation by source language: each point is that language's experts' share of
        // outputs in their own language, recomputed here from generation_language.
        let bySource = try CLI.python(["-c", """
            import re, sys, h5py, html, numpy as np
            f = h5py.File(sys.argv[1])
            gen = f["generation_language"][:]
            ck, langs = list(f["checkpoint"].asstr()[:]), list(f["language"].asstr()[:])
            page = open(sys.argv[2], encoding="utf-8").read()
            part = page.split("Forced generation in the experts' own language", 1)[1].split("</svg>", 1)[0]
            points = re.findall(r'data-series="([^"]*)" data-x="([^"]*)" data-value="([^"]*)"', part)
            assert len(points) == len(ck) * len(langs), len(points)
            for s, x, v in points:
                l, c = langs.index(html.unescape(s)), ck.index(html.unescape(x))
                out = gen[c, :, l, :]
                determined = out[out >= -1]
                assert abs(float(v) - (determined == l).mean()) < 1e-12, (s, x, v)
            print("ok")
            """, dir + "/out/sweep.h5", dir + "/page.html"])
        XCTAssertEqual(bySource.stdout, "ok\n", bySource.stderr)
        // The logit-lens heatmaps: each cell is the file's mass, averaged over the source languages other than English.
        let lens = try CLI.python(["-c", """
            import re, sys, h5py, html, numpy as np
            f = h5py.File(sys.argv[1])
            mass = f["logit_lens_mass"][:]
            ck, langs = list(f["checkpoint"].asstr()[:]), list(f["language"].asstr()[:])
            en = langs.index("en")
            sources = [j for j in range(len(langs)) if j != en]
            page = open(sys.argv[2], encoding="utf-8").read()
            for title, target in [("Logit lens: probability on English tokens", lambda j: en),
                                  ("Logit lens: probability on the source language", lambda j: j)]:
                part = page.split(html.escape(title, quote=False), 1)[1].split("</svg>", 1)[0]
                cells = re.findall(r'data-row="([^"]*)" data-column="([^"]*)" data-value="([^"]*)"', part)
                assert len(cells) == mass.shape[0] * mass.shape[2], (title, len(cells))
                for row, column, v in cells:
                    c, layer = ck.index(html.unescape(row)), int(column)
                    want = np.mean([mass[c, j, layer, target(j)] for j in sources])
                    assert abs(float(v) - want) < 1e-12, (title, row, column, v, want)
            print("ok")
            """, dir + "/out/sweep.h5", dir + "/page.html"])
        XCTAssertEqual(lens.stdout, "ok\n", lens.stderr)
        // A file whose dataset does not have the schema's axes is refused in one line naming file and dataset.
        let bad = dir + "/bad.h5"
        try FileManager.default.copyItem(atPath: dir + "/out/sweep.h5", toPath: bad)
        let reshape = try CLI.python(["-c", """
            import sys, h5py
            f = h5py.File(sys.argv[1], "r+")
            a = f["probe_accuracy"][:]
            del f["probe_accuracy"]
            f["probe_accuracy"] = a.reshape(a.shape[0], -1)
            """, bad])
        XCTAssertEqual(reshape.status, 0, reshape.stderr)
        let refused = try CLI.run(["report", bad, "--out", dir + "/bad.html"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.hasPrefix("xlsweep: error: \(bad): probe_accuracy: shape [3, ")
                      && refused.stderr.contains("the schema's axes are [\"checkpoint\", \"layer\", \"seed\"]"), refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        for needle in ["Provenance", "sha256:", "Example forced generations", "step1", "probe accuracy", "Time per task kind",
                       "Forced generation by source language", "Source × output language"] {
            XCTAssertTrue(html.localizedCaseInsensitiveContains(needle), needle)
        }
        let png = dir + "/page.png"
        let shot = try CLI.run(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,1100",
                                "--screenshot=\(png)", "file://\(dir)/page.html"], executable: "/usr/bin/chromium")
        XCTAssertTrue(FileManager.default.fileExists(atPath: png), "chromium wrote no screenshot: \(shot.stderr)")
        let check = try CLI.python(["-c", """
            import sys
            from PIL import Image
            im = Image.open(sys.argv[1]).convert("RGB")
            pixels = list(im.getdata())
            ink = sum(1 for p in pixels if sum(p) < 700) / len(pixels)
            colours = len(set(pixels))
            print("ok" if ink > 0.03 and colours > 50 else f"blank? ink {ink:.3f}, colours {colours}")
            """, png])
        XCTAssertEqual(check.stdout, "ok\n", check.stderr)
    }
}
