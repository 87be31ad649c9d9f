"""The workshop kit end to end: each student notebook of workshop/, run top
to bottom in a tslab kernel (smoke profile, as npm test sets), passes every
check with the finished notebooks' answers filled in, and with the stubs
left in fails exactly the check cells, each saying the exercise is not
written yet, while every other cell still runs.

The copies run from a folder beside workshop/ (`.kit-test-<variant>/`), so
that their `../build/lib` imports resolve as in workshop/.
"""
import functools
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "workshop"
FINISHED = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in KIT.glob("[0-9][0-9]-*.ipynb"))


def exercise_id(cell):
    return cell.get("metadata", {}).get("workshop", {}).get("exercise")


@functools.cache
def answers():
    """Exercise id -> the finished notebook's answer cell source."""
    out = {}
    for path in FINISHED.glob("*.ipynb"):
        for cell in json.loads(path.read_text())["cells"]:
            if exercise_id(cell):
                out[exercise_id(cell)] = "".join(cell["source"])
    return out


def text_of(cell, name):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == name)


def run_copy(name, variant):
    """Runs workshop/<name>: stubs as generated for `stubs`, else with the
    finished notebooks' answers filled in."""
    folder = ROOT / f".kit-test-{variant}"
    folder.mkdir(exist_ok=True)
    nb = nbformat.read(KIT / name, as_version=4)
    if variant != "stubs":
        filled = answers()
        for cell in nb.cells:
            if exercise_id(cell):
                cell.source = filled[exercise_id(cell)]
    path = folder / name
    nbformat.write(nb, path)
    client = NotebookClient(nb, kernel_name="tslab", timeout=900,
                            record_timing=True,
                            allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, path)
    return nb


def report(nb):
    """(errors, checks): cells that raised or wrote to stderr, and each check
    cell's exercise with its first output line."""
    errors, checks = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        raised = [o for o in cell.outputs if o.output_type == "error"]
        stderr = text_of(cell, "stderr")
        if raised or stderr:
            what = (raised[0].get("evalue", "") if raised else stderr)[:300]
            errors.append(f"cell {i}: {what}")
        if "exercise-check" in tags:
            first = (text_of(cell, "stdout").strip().splitlines() or [""])[0]
            checks.append((cell.source, first))
    return errors, checks


@pytest.fixture(scope="module", autouse=True)
def clean_folders():
    yield
    for variant in ("solutions", "stubs"):
        shutil.rmtree(ROOT / f".kit-test-{variant}", ignore_errors=True)


def test_kit_is_complete():
    assert NOTEBOOKS, "workshop/ holds no notebooks: run npm run workshop"
    assert (KIT / "GUIDE.md").exists(), "workshop/GUIDE.md is missing"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solutions_pass_every_check(name):
    errors, checks = report(run_copy(name, "solutions"))
    assert errors == [], f"{name}: cells failed: {errors}"
    for source, first in checks:
        assert first.startswith("PASS  "), f"{name}: {source} printed {first!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stubs_fail_exactly_the_checks(name):
    nb = run_copy(name, "stubs")
    errors, checks = report(nb)
    assert errors == [], f"{name}: cells other than checks failed: {errors}"
    exercises = [exercise_id(c) for c in nb.cells if exercise_id(c)]
    assert len(checks) == len(exercises)
    for (source, first), ex in zip(checks, exercises):
        assert first.startswith(f"FAIL  {ex} ") and "not written yet" in first, \
            f"{name}: {source} printed {first!r}"
