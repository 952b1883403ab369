import Foundation
import XCTest

/// A sweep.h5 copied away from its output directory never reads fill values as if they were data:
/// by default its activations are in the file, so h5py and xarray read the fragments' values from
/// the copy alone (named dimensions, CF long names and units on every variable); one merged with
/// virtual activations is checked by `xlsweep verify`, which names every missing or changed fragment.
final class StandaloneFileTests: XCTestCase {
    func testACopiedSweepFileReadsTheSameAloneAndVerifyNamesWhatAVirtualOneLacks() throws {
        let dir = try CLI.scratch(self)
        let run = try CLI.run(["run", try sweepConfig(dir, samples: 2)])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertFalse(run.stderr.contains("no entry in SweepSchema"), run.stderr)
        let out = dir + "/out"
        // Every dataset's dimension scales are the ones `xlsweep schema` (SweepSchema, the table Merge and Report use) names.
        let schema = try CLI.run(["schema", "--json"])
        XCTAssertEqual(schema.status, 0, schema.stderr)
        try schema.stdout.write(toFile: dir + "/schema.json", atomically: true, encoding: .utf8)
        let axes = try CLI.python(["-c", """
            import sys, json, h5py
            schema, f = json.load(open(sys.argv[1])), h5py.File(sys.argv[2])
            seen = []
            def check(name, o):
                if not isinstance(o, h5py.Dataset): return
                seen.append(name)
                dims = [d[0].name.lstrip("/") if len(d) else None for d in o.dims]
                if dims == [None]: dims = [name]   # an axis: its own scale
                assert name in schema, name
                assert dims == schema[name]["dimensions"], (name, dims, schema[name]["dimensions"])
                assert o.attrs["units"] == schema[name]["units"], name
            f.visititems(check)
            print(len(seen))
            """, dir + "/schema.json", out + "/sweep.h5"])
        XCTAssertEqual(axes.status, 0, axes.stderr)
        XCTAssertGreaterThan(Int(axes.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 80, axes.stdout)
        XCTAssertEqual(try CLI.run(["verify", out]).stdout.contains("stands alone"), true)
        try FileManager.default.createDirectory(atPath: dir + "/laptop", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: out + "/sweep.h5", toPath: dir + "/laptop/sweep.h5")
        let alone = try CLI.python(["-c", """
            import sys, warnings, h5py, numpy as np, xarray as xr
            warnings.simplefilter("ignore")
            copy, out = sys.argv[1], sys.argv[2]
            f = h5py.File(copy)
            # The copy reads the fragments' own values (h5py), not fill values.
            for c, ck in enumerate(["step1", "step2", "step3"]):
                for l, lang in enumerate(["en", "es", "fr", "de"]):
                    x = h5py.File(f"{out}/fragments/extract+{ck}+{lang}.h5")
                    n = x["probe/hidden.2"].shape[0]
                    assert n > 0 and np.array_equal(f["probe_hidden"][c, l, 2, :n], x["probe/hidden.2"][:]), (ck, lang)
                    assert np.array_equal(f["probe_token_id"][c, l, :n], x["probe/token_id"][:])
                    rows = x["sentence_index"][:]
                    w = x["pooled/blocks.1.mlp_post"].shape[1]
                    assert np.array_equal(f["pooled_mlp"][c, l][rows, w:2 * w], x["pooled/blocks.1.mlp_post"][:])
                    assert not f["probe_hidden"].is_virtual and not f["pooled_mlp"].is_virtual
            # xarray: named dimensions only, CF long_name and units on every variable, Conventions on the root.
            ds = xr.open_dataset(copy, engine="h5netcdf")
            phony = [d for d in ds.dims if str(d).startswith("phony_dim")]
            assert not phony, phony
            names = list(ds.variables)
            assert "probe_hidden" in names and "pooled_mlp" in names and len(names) == len(f.keys()), (len(names), len(f.keys()))
            bare = [v for v in names if "long_name" not in ds[v].attrs or ("units" not in ds[v].attrs and ds[v].encoding.get("units") is None)]
            assert not bare, bare
            assert ds.attrs["Conventions"].startswith("CF-"), ds.attrs
            assert str(ds.task_started.dtype).startswith("datetime64"), ds.task_started.dtype
            assert ds.probe_hidden.dims == ("checkpoint", "language", "layer", "probe_token", "hidden"), ds.probe_hidden.dims
            got = ds.probe_hidden.sel(checkpoint="step2", language="fr", layer=2).values
            x = h5py.File(f"{out}/fragments/extract+step2+fr.h5")["probe/hidden.2"][:]
            assert np.array_equal(got[:len(x)], x)
            for k, v in f.items():
                assert "long_name" in v.attrs and "units" in v.attrs, k
            print("ok", len(names))
            """, dir + "/laptop/sweep.h5", out])
        XCTAssertTrue(alone.stdout.contains("ok "), alone.stdout + alone.stderr)

        // Virtual activations: verify passes beside the fragments, and names what a copy lacks or what changed.
        XCTAssertEqual(try CLI.run(["merge", out, "--virtual-activations"]).status, 0)
        let intact = try CLI.run(["verify", out + "/sweep.h5"])
        XCTAssertEqual(intact.status, 0, intact.stderr)
        XCTAssertTrue(intact.stdout.contains("all 12 fragments"), intact.stdout)
        try FileManager.default.copyItem(atPath: out + "/sweep.h5", toPath: dir + "/laptop/virtual.h5")
        let copied = try CLI.run(["verify", dir + "/laptop/virtual.h5"])
        XCTAssertEqual(copied.status, 1)
        XCTAssertTrue(copied.stdout.contains("missing: fragments/extract+step1+en.h5"), copied.stdout)
        XCTAssertTrue(copied.stderr.contains("12 of 12 fragments") && copied.stderr.contains("--embed-activations"), copied.stderr)
        XCTAssertEqual(copied.stderr.split(separator: "\n").count, 1, copied.stderr)
        // A fragment changed after the merge (one byte flipped), and one deleted.
        let victim = out + "/fragments/extract+step3+de.h5"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: victim))
        try FileManager.default.removeItem(atPath: out + "/fragments/extract+step2+es.h5")
        let broken = try CLI.run(["verify", out])
        XCTAssertEqual(broken.status, 1)
        XCTAssertTrue(broken.stdout.contains("changed: fragments/extract+step3+de.h5"), broken.stdout)
        XCTAssertTrue(broken.stdout.contains("missing: fragments/extract+step2+es.h5"), broken.stdout)
        XCTAssertTrue(broken.stderr.contains("2 of 12 fragments"), broken.stderr)
    }
}
