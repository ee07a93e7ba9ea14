"""The calibration commands, through the real ``plansim`` entry point (click's CliRunner)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from calibration.synthetic import synthetic_records
from sim.models.records import write_jsonl


@pytest.fixture(scope="module")
def main():
    from sim.cli import main as plansim

    return plansim


@pytest.fixture(scope="module")
def models_file(tmp_path_factory, main) -> str:
    d = tmp_path_factory.mktemp("cal")
    write_jsonl(synthetic_records(60, seed=3), d / "m.jsonl")
    out = d / "models.json"
    res = CliRunner().invoke(
        main, ["calibrate", str(d / "m.jsonl"), "-o", str(out), "--report", str(d / "r.html")]
    )
    assert res.exit_code == 0, res.output
    assert "fit report" in res.output and "exec[resize]" in res.output
    html = (d / "r.html").read_text()
    assert "data:image/png;base64," in html and "exec[resize]" in html
    return str(out)


def error_lines(res) -> list[str]:
    return [
        line for line in res.output.splitlines() if line.startswith("error:")
    ]  # click 8.2: output has stderr


def test_models_show(main, models_file) -> None:
    res = CliRunner().invoke(main, ["models", "show", models_file])
    assert res.exit_code == 0, res.output
    assert "resize" in res.output and "transfer:" in res.output and "start-up:" in res.output


def test_models_predict_text_and_json(main, models_file) -> None:
    def predict(*extra: str):
        args = ["models", "predict", models_file, "--function", "resize"]
        res = CliRunner().invoke(main, [*args, "--input-bytes", "1000000", "--memory", "2048", *extra])
        assert res.exit_code == 0, res.output
        return res.output

    text = predict("--sla", "p95")
    for key in ("exec_ms", "output_bytes", "transfer_ms", "startup_ms"):
        assert key in text
    j50 = json.loads(predict("--sla", "p50", "--json"))
    j95 = json.loads(predict("--sla", "p95", "--json"))
    assert j95["exec_ms"] >= j50["exec_ms"] and j95["transfer_ms"] >= j50["transfer_ms"]
    assert j95["startup_ms"]["cold"] >= j50["startup_ms"]["cold"]
    assert j50["output_bytes"] > 0
    assert "upload_ms" in text and j95["upload_ms"] >= j50["upload_ms"] > 0


def test_models_predict_times_the_upload_with_its_own_bandwidth(main, models_file, tmp_path) -> None:
    # (the models file stores TransferModel.upload_bw_factor; uploads ran 2-18x the downloads' bandwidth)
    def predict(factor: float) -> dict:
        data = json.loads(open(models_file).read())
        data["transfer"]["upload_bw_factor"] = factor
        path = tmp_path / f"models-{factor}.json"
        path.write_text(json.dumps(data))
        args = ["models", "predict", str(path), "--function", "resize", "--input-bytes", "1000000"]
        res = CliRunner().invoke(main, [*args, "--memory", "2048", "--json"])
        assert res.exit_code == 0, res.output
        return json.loads(res.output)

    same, faster = predict(1.0), predict(4.0)
    assert same["upload_ms"] == same["transfer_ms"] == faster["transfer_ms"]
    assert faster["upload_ms"] < same["upload_ms"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--function", "nope", "--input-bytes", "10", "--memory", "1024"], "unknown function 'nope'"),
        (["--function", "resize", "--input-bytes", "10", "--memory", "1024", "--sla", "p200"], "SLA must be"),
    ],
)
def test_models_predict_errors(main, models_file, args, message) -> None:
    res = CliRunner().invoke(main, ["models", "predict", models_file, *args])
    assert res.exit_code == 1
    lines = error_lines(res)
    assert len(lines) == 1 and message in lines[0], res.output


def test_models_show_bad_file(main, tmp_path) -> None:
    (tmp_path / "x.json").write_text("{}")
    res = CliRunner().invoke(main, ["models", "show", str(tmp_path / "x.json")])
    assert res.exit_code == 1 and len(error_lines(res)) == 1
    res = CliRunner().invoke(main, ["models", "show", str(tmp_path / "missing.json")])
    assert res.exit_code == 1 and "does not exist" in error_lines(res)[0]


def test_calibrate_nothing_usable_is_one_error(main, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "gpu"}\n{"kind": "task", "exec_ms": NaN}\nnot json\n')
    res = CliRunner().invoke(main, ["calibrate", str(bad), "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 1
    lines = error_lines(res)
    assert len(lines) == 1 and "no usable records" in lines[0] and "3 skipped" in lines[0]
    assert "Traceback" not in res.output
    assert not (tmp_path / "m.json").exists()
    res = CliRunner().invoke(
        main, ["calibrate", str(tmp_path / "nothing.jsonl"), "-o", str(tmp_path / "m.json")]
    )
    assert res.exit_code == 1 and "does not exist" in error_lines(res)[0]


def test_calibrate_records_without_samples_is_an_error(main, tmp_path) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(
        '{"kind": "run", "run_id": "r", "workflow_type": "w", "planner": "p", "sla": "p50", "makespan_ms": 5}\n'
        '{"kind": "worker", "run_id": "r", "worker_id": "w", "memory_mb": 1024, "state": "cold", "startup_ms": 0}\n'
    )
    res = CliRunner().invoke(main, ["calibrate", str(path), "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 1
    lines = error_lines(res)
    assert len(lines) == 1 and "nothing usable to fit" in lines[0] and "startup_ms is 0: 1" in lines[0]


def test_calibrate_partly_bad_reports_skipped(main, tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    write_jsonl(synthetic_records(20, seed=2), path)
    with open(path, "a") as fh:
        fh.write(
            '{"kind": "task", "run_id": "x"}\n{"kind": "worker", "run_id": "r", "worker_id": "w", '
            '"memory_mb": 1024, "state": "cold", "startup_ms": -1}\n'
        )
    res = CliRunner().invoke(main, ["calibrate", str(path), "-o", str(tmp_path / "out.json")])
    assert res.exit_code == 0, res.output
    assert "skipped 2 record(s)" in res.output
    assert f"{path}:101" in res.output and f"{path}:102" in res.output
    meta = json.loads((tmp_path / "out.json").read_text())["meta"]
    assert meta["skipped_records"] == 2


def test_calibrate_fits_the_real_records_of_a_file_that_also_holds_the_plans(main, tmp_path) -> None:
    """validate --metrics-out writes each run's planned (simulated) records beside the real ones, and
    calibrate fitted both: on the tour's gemm:n=1000 file, exec[multiply_chunks] got n=96 (48 predicted,
    48 real), pulled toward the models that made the predictions. The simulated ones are now left out
    when real ones are there, and the output says how many."""
    from dataclasses import replace

    real = synthetic_records(40, seed=5)
    tagged = [replace(r, extra={**r.extra, "source": "real"}) for r in real]
    # the "plan": the same tasks predicted 10x slower
    planned = [
        replace(r, exec_ms=r.exec_ms * 10, extra={**r.extra, "source": "sim"}) if hasattr(r, "exec_ms") else r
        for r in (replace(r, extra={**r.extra, "source": "sim"}) for r in real)
    ]
    write_jsonl(tagged + planned, tmp_path / "both.jsonl")
    write_jsonl(tagged, tmp_path / "real.jsonl")
    out = {}
    for name in ("both", "real"):
        args = ["calibrate", str(tmp_path / f"{name}.jsonl"), "-o", str(tmp_path / f"{name}.json")]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        out[name] = res.output
    assert f"left out the {len(planned)} simulated" in out["both"], out["both"]
    assert "left out" not in out["real"]
    both = json.loads((tmp_path / "both.json").read_text())
    alone = json.loads((tmp_path / "real.json").read_text())
    assert both["exec"] == alone["exec"]
    assert both["meta"]["records"] == alone["meta"]["records"] == len(tagged)


def test_calibrate_fits_simulated_records_when_no_real_ones_are_there(main, tmp_path) -> None:
    """A what-if's --metrics-out holds simulated records only: fitting them is what was asked, so none
    is left out (only simulated records beside real ones are)."""
    from dataclasses import replace

    planned = [replace(r, extra={**r.extra, "source": "sim"}) for r in synthetic_records(40, seed=5)]
    write_jsonl(planned, tmp_path / "sim.jsonl")
    res = CliRunner().invoke(main, ["calibrate", str(tmp_path / "sim.jsonl"), "-o", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    assert "left out" not in res.output, res.output
    fitted = json.loads((tmp_path / "m.json").read_text())
    assert fitted["meta"]["records"] == len(planned) and fitted["exec"]


def test_calibrate_leaves_out_simulated_records_per_input(main, tmp_path) -> None:
    """`calibrate whatif.jsonl real.jsonl` fitted the real file alone: the what-if's simulated records
    were left out because real ones were in another input, though the user named the what-if file to fit
    it. Simulated records are left out only from an input that holds real ones too (validate's
    --metrics-out: each run's plan beside it), the line names that input, and --keep-simulated keeps them."""
    from dataclasses import replace

    real = [replace(r, extra={**r.extra, "source": "real"}) for r in synthetic_records(40, seed=5)]
    sim = [replace(r, extra={**r.extra, "source": "sim"}) for r in synthetic_records(30, seed=6)]
    write_jsonl(sim, tmp_path / "whatif.jsonl")
    write_jsonl(real, tmp_path / "real.jsonl")
    write_jsonl(real + sim, tmp_path / "validate.jsonl")

    def fit(*names: str, keep: bool = False) -> tuple[str, dict]:
        out = tmp_path / "m.json"
        args = ["calibrate", *(str(tmp_path / n) for n in names), "-o", str(out)]
        res = CliRunner().invoke(main, args + (["--keep-simulated"] if keep else []))
        assert res.exit_code == 0, res.output
        return res.output, json.loads(out.read_text())["meta"]

    output, meta = fit("whatif.jsonl", "real.jsonl")
    assert meta["records"] == len(real) + len(sim) and "left out" not in output, output
    output, meta = fit("validate.jsonl", "whatif.jsonl")
    assert meta["records"] == len(real) + len(sim), meta  # validate's plan out, the what-if's in
    assert (
        f"left out the {len(sim)} simulated (planned) records of {tmp_path / 'validate.jsonl'}" in output
    ), output
    assert "--keep-simulated" in output
    assert meta["left_out_simulated"] == {str(tmp_path / "validate.jsonl"): len(sim)}
    output, meta = fit("validate.jsonl", keep=True)
    assert meta["records"] == len(real) + len(sim) and "left out" not in output, output


def test_replay_one_development_trace(main, hello_trace, tmp_path) -> None:
    out = tmp_path / "m.json"
    res = CliRunner().invoke(main, ["calibrate", str(hello_trace), "-o", str(out), "--quick"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["replay", str(hello_trace), "--models", str(out)])
    assert res.exit_code == 0, res.output
    assert "predicted makespan" in res.output and "recorded makespan  661.0 s" in res.output
    res = CliRunner().invoke(main, ["replay", str(hello_trace), "--models", str(out), "--json"])
    data = json.loads(res.output)
    assert data["parameters"] == "pegasus/helloworld"
    assert abs(data["error"]) < 0.05  # fitted on this very trace
    assert data["recorded_makespan_s"] == 661.0
    # without models: runtimes only, far below the recorded makespan
    data = json.loads(CliRunner().invoke(main, ["replay", str(hello_trace), "--json"]).output)
    assert data["parameters"] == "none" and data["error"] < -0.2


def test_replay_with_a_models_file_without_replay_parameters(main, models_file, hello_trace) -> None:
    """A models file fitted on metric records (or with --no-replay) holds no replay parameters: replay
    --models with it printed 'parameters: none' and the recorded runtimes' -99.7% on a seismology trace,
    as if the file had been used. One error line now says so."""
    res = CliRunner().invoke(main, ["replay", str(hello_trace), "--models", models_file])
    assert res.exit_code == 1, res.output
    (line,) = error_lines(res)
    assert "no trace-replay parameters" in line and "models.json" in line, line


def test_replay_bad_trace(main, tmp_path) -> None:
    (tmp_path / "t.json").write_text("[1, 2]")
    res = CliRunner().invoke(main, ["replay", str(tmp_path / "t.json")])
    assert res.exit_code == 1 and "a WfFormat document is a JSON object" in error_lines(res)[0]


def test_bad_trace_fields_are_one_error_line(main, tmp_path, hello_trace) -> None:
    """A real trace with a NaN runtime or a negative file size: calibrate and replay both print one
    error line naming the file and the field, exit 1, no traceback."""
    import lzma
    import math

    with lzma.open(hello_trace, "rt") as fh:
        doc = json.load(fh)
    nan = json.loads(json.dumps(doc))
    nan["workflow"]["execution"]["tasks"][0]["runtimeInSeconds"] = math.nan
    neg = json.loads(json.dumps(doc))
    neg["workflow"]["specification"]["files"][0]["sizeInBytes"] = -3
    for name, bad, field in (("nan.json", nan, "runtimeInSeconds"), ("neg.json", neg, "sizeInBytes")):
        path = tmp_path / name
        path.write_text(json.dumps(bad))
        for args in (["calibrate", str(path), "-o", str(tmp_path / "m.json")], ["replay", str(path)]):
            res = CliRunner().invoke(main, args)
            lines = error_lines(res)
            assert res.exit_code == 1 and len(lines) == 1, res.output
            assert name in lines[0] and field in lines[0] and "Traceback" not in res.output


def test_models_show_json_leaves_out_every_residual_sample(main, tmp_path) -> None:
    from calibration.fit import fit_models
    from tests.calibration.test_transfer_bands import _records

    models, _ = fit_models(_records()[0])
    assert models.transfer.size_bands  # residuals per band of transfer size, 400 samples each
    path = tmp_path / "models.json"
    models.save(path)
    res = CliRunner().invoke(main, ["models", "show", "--json", str(path)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [sorted(k) for k in data["transfer"]["size_bands"]] == [["hi_bytes", "lo_bytes", "offset"]] * 2
    assert '"values"' not in res.output


def test_models_predict_says_what_a_default_labelled_model_fitted(main, tmp_path) -> None:
    # Before: "exec_ms ... (default)" for a model fitted on 60 samples whose memory exponent alone took
    # its default (every sample at one memory size), as if nothing had been fitted.
    from dataclasses import replace

    from sim.models.records import TaskRecord

    recs = [
        replace(r, memory_mb=1024) if isinstance(r, TaskRecord) else r for r in synthetic_records(60, seed=3)
    ]
    write_jsonl(recs, tmp_path / "one-size.jsonl")
    out = tmp_path / "models.json"
    assert (
        CliRunner().invoke(main, ["calibrate", str(tmp_path / "one-size.jsonl"), "-o", str(out)]).exit_code
        == 0
    )
    res = CliRunner().invoke(
        main,
        [
            "models",
            "predict",
            str(out),
            "--function",
            "resize",
            "--input-bytes",
            "1000000",
            "--memory",
            "1024",
        ],
    )
    assert res.exit_code == 0, res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("exec_ms")]
    assert "(default, " in line and " samples: " in line and "c = 0.3 default" in line, line


def test_models_show_prints_every_table_the_dashboard_shows(main, tmp_path) -> None:
    """`models show` and the dashboard's calibration page print the same tables (calibration.report.
    models_tables): execution, output size, transfer, start-up and, since they were only in the CLI,
    the trace replay parameters, now on the page too."""
    from calibration.fit import fit_models
    from calibration.replay import ReplayParams
    from calibration.report import models_tables
    from calibration.synthetic import synthetic_records

    models, _ = fit_models(synthetic_records(40, seed=7))
    models.replay["pegasus/montage"] = ReplayParams(dispatch_s=1.5, overhead_s=3.0, fixed_s=60.0)
    first = min(models.exec)
    models.exec[first].gil_hold = 0.3721
    path = tmp_path / "m.json"
    models.save(path)
    tables = models_tables(models)
    (replay,) = tables[next(t for t in tables if t.startswith("trace replay"))]
    assert replay["application"] == "pegasus/montage" and replay["overhead_s"] == 3.0
    execution = tables[next(t for t in tables if t.startswith("execution"))]
    assert [r["gil_hold"] for r in execution if r["function"] == first] == [0.3721]
    res = CliRunner().invoke(main, ["models", "show", str(path)], terminal_width=250)
    assert res.exit_code == 0, res.output
    words = " ".join(res.output.split())  # a title wider than its table wraps
    for title, rows in tables.items():
        assert " ".join(title.split()) in words  # the unit in brackets too (rich read "[ms]" as markup)
        assert all(row.get("function", "") in res.output for row in rows)
    assert "pegasus/montage" in res.output and "60.0" in res.output and "0.3721" in res.output
