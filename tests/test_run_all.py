"""bench/run_all.py: the targets table is read from each benchmark's output (no benchmark runs)."""

from __future__ import annotations

from pathlib import Path

from bench import run_all
from bench.run_all import Bench, Result

# The rows of bench_index.py's table that run_all reads (from its run of 2026-11-30).
INDEX_OUT = """\
| measure | random | realistic | target |
|---|---|---|---|
| insert+query CPU p50 / p99 / max | 0.207 / 0.644 / 89.4 ms | 0.215 / 1.631 / 83.5 ms | p99 < 1 ms |
| operations over 50 ms (wall / CPU) | 12 / 1 | 4 / 0 | 0 |
| index memory per item (arrays), merges done | 177 B (15.7 anchors/item) | 182 B (16.3 anchors/item) | < 200 B |
| cold start: load from SQLite and build | 5.7 s | 5.6 s | < 10 s |
"""


def test_index_rows_read_each_workload_and_judge_the_target() -> None:
    rows = {
        target: (measured, met)
        for target, measured, met in run_all.index_rows(Result(INDEX_OUT, None, 1.0, True, True))
    }
    p99 = rows["index insert+query p99 < 1 ms (CPU; random / realistic)"]
    assert p99 == ("0.644 / 1.631 ms", "**missed**")  # the realistic workload is over
    assert rows["index: no operation > 50 ms (CPU / wall, both workloads)"] == (
        "1 / 16 operations",
        "**missed**",
    )
    assert rows["index memory < 200 B per item (merges done)"] == ("177 / 182 B", "**met**")
    assert rows["index cold start from SQLite < 10 s"][1] == "**met**"


def test_dedup_quality_is_compared_with_the_recorded_table() -> None:
    recorded = [
        line
        for line in run_all.DEDUP_DOCS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| feedwatch (containment")
    ][0]
    same = run_all.dedup_rows(Result(recorded, None, 1.0, True, True))
    assert same[0][2] == "**met**"
    cells = recorded.split("|")
    cells[5] = " 0.900 "  # must-merge recall dropped
    worse = run_all.dedup_rows(Result("|".join(cells), None, 1.0, True, True))
    assert worse[0][2] == "**missed**" and "must-merge recall 0.900" in worse[0][1]


def test_a_missing_benchmark_is_a_row_that_says_it_did_not_run(tmp_path: Path) -> None:
    bench = Bench("8. State size", "no_such_bench.py", [], [], ("a", "b"), run_all.state_size_rows)
    result = run_all.run_one(bench, quick=True)
    assert not result.ran and "not there yet" in result.why_not
    block = run_all.render([(bench, result)], quick=True, total_s=60.0)
    assert "| target | measured | met? | measured at |" in block
    assert "| 8. State size | not run: bench/no_such_bench.py is not there yet | not run |" in block
    assert f"SQLite {__import__('sqlite3').sqlite_version}" in block and "cores" in block


def test_scale_rows_compare_the_largest_state_with_the_smallest() -> None:
    def size(n: int, cpu: float, rss: float, state_mb: float) -> dict[str, object]:
        crawl = {"cpu_s": cpu, "rss_mb": rss}
        return {
            "stories": n,
            "state_mb": state_mb,
            "not_modified": [crawl, {"cpu_s": cpu + 0.5, "rss_mb": rss - 1}],
            "new": {"cpu_s": cpu + 0.1, "rss_mb": rss + 2},
        }

    data = {"sizes": [size(0, 1.2, 130.0, 0.1), size(10**6, 1.4, 140.0, 1400.0)]}
    rows = run_all.scale_rows(Result("", data, 1.0, True, True))
    assert rows[0][1].startswith("+0.20 s, +10 MB / +0.20 s, +10 MB") and rows[0][2] == "**met**"
    assert rows[1][1] == "1,468 B" and rows[1][2] == "**met**"
    data["sizes"][1]["not_modified"][0]["cpu_s"] = 3.0  # type: ignore[index]
    data["sizes"][1]["not_modified"][1]["cpu_s"] = 3.0  # type: ignore[index]
    assert run_all.scale_rows(Result("", data, 1.0, True, True))[0][2] == "**missed**"


def test_the_fingerprint_ratio_is_read_from_either_table_layout() -> None:
    old = "| feedwatch normalize_text + fingerprint | 4,194 | 19.9x |"
    new = "| feedwatch normalize_text + fingerprint | 1,310 | 763 | 4.3x |"
    assert run_all.fingerprint_rows(Result(old, None, 1.0, True, True))[0][1:] == (
        "19.9x",
        "given up (issue 12: fast paths removed)",
    )
    assert run_all.fingerprint_rows(Result(new, None, 1.0, True, True))[0][1] == "4.3x"
