"""The notebook harness (nbval + nbval_tslab.py) fails what it must.

Each notebook in canaries/ is run by pytest + nbval with our plugin in its
own process, as ``npm test`` runs the walkthrough notebooks. The good one
must pass; each broken one must exit non-zero and name the right cell and
the right reason in its "failing notebook cells" lines. The processes run a
few at a time (a tslab kernel takes about 2 s to start).
"""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest

HERE = Path(__file__).resolve().parent
CANARIES = HERE / 'canaries'
ROOT = HERE.parents[1]
WORKERS = 3


class Canary(NamedTuple):
    exit_code: int
    failing: dict         # code cell -> start of its failure line
    tally: dict           # pytest's final counts
    args: tuple = ()      # extra pytest arguments
    contains: tuple = ()  # text the report must contain


EXPECTED = {
    'good': Canary(0, {}, {'passed': 8, 'skipped': 1}),
    'throws': Canary(
        1, {1: 'threw Error: canary: thrown on purpose'},
        {'failed': 1, 'passed': 1, 'skipped': 1},
        contains=('not run: code cell 1 failed',)),
    'type-error': Canary(
        1, {0: "TypeScript error at line 1:7: Type 'string' is not "
               "assignable to type 'number'."}, {'failed': 1}),
    'failed-import': Canary(
        1, {0: "import failed at line 1:27: Cannot find module "
               "'../../../build/lib/no-such-module'"}, {'failed': 1}),
    'failed-require': Canary(
        1, {0: "import failed at run time: Error: Cannot find module "
               "'./no-such-file.js'"}, {'failed': 1}),
    'rejected-await': Canary(
        1, {0: 'top-level await rejected: Error: canary: rejected'},
        {'failed': 1}),
    'aborted': Canary(
        1, {1: 'aborted by tslab without running'},
        {'failed': 1, 'passed': 1, 'skipped': 1},
        contains=('code cell 0 failed, as tagged',)),
    'stderr': Canary(
        1, {0: 'wrote to stderr: canary: a warning on stderr',
            2: 'wrote to stderr: UnhandledPromiseRejection: Error: canary: '
               'nobody awaits me'}, {'failed': 2, 'passed': 1}),
    'output-differs': Canary(
        1, {0: 'output differs from the stored output',
            1: 'output differs from the stored output',
            2: 'tagged nbval-check-output but the notebook stores no output '
               'for it'}, {'failed': 3},
        contains=("mismatch 'stdout'", "'5\\n' == '4\\n'",
                  "mismatch 'image/png'")),
    'kernel-dies': Canary(
        1, {0: 'kernel died (exit code 3)'}, {'failed': 1, 'skipped': 1}),
    'timeout': Canary(
        1, {0: 'timed out after 2 s (--nbval-cell-timeout); interrupted'},
        {'failed': 1, 'skipped': 1}, args=('--nbval-cell-timeout=2',)),
    # A collection error: pytest exits 2 before running any cell.
    'unknown-tag': Canary(
        2, {}, {'error': 1},
        contains=("code cell 0 has unknown tag 'nbval-check-outputs'",)),
}


def run_canary(name, extra):
    env = dict(os.environ, CYCLEGAN_PROFILE='smoke', COLUMNS='120',
               PYTHONPATH=os.pathsep.join(
                   [str(HERE)] + [p for p in [os.environ.get('PYTHONPATH')]
                                  if p]))
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
           '--noconftest', '-p', 'nbval_tslab', '--nbval-lax',
           '--nbval-cell-timeout=60', '-rfEs', *extra, f'{name}.ipynb']
    return subprocess.run(cmd, cwd=CANARIES, env=env, capture_output=True,
                          text=True, timeout=240)


@pytest.fixture(scope='module')
def results():
    """Starts every canary at once (WORKERS at a time); each test waits for
    its own."""
    if not (ROOT / 'build' / 'lib' / 'profiles.js').exists():
        pytest.fail('build/lib/profiles.js is missing (the good canary '
                    'imports it): run `npx tsc -p .` first (npm test does)')
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures = {name: pool.submit(run_canary, name, spec.args)
               for name, spec in EXPECTED.items()}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def counts(stdout):
    """pytest's final tally, e.g. {'failed': 1, 'passed': 2}."""
    last = stdout.strip().splitlines()[-1]
    return {word.rstrip('s') if word == 'errors' else word: int(n)
            for n, word in re.findall(r'(\d+) (failed|passed|skipped|'
                                      r'errors?|xfailed)', last)}


def failure_lines(name, stdout):
    """{code cell: reason} from the plugin's 'failing notebook cells'."""
    found = {}
    for line in stdout.splitlines():
        m = re.match(rf'{re.escape(name)}\.ipynb cell (\d+): (.*)$', line)
        if m:
            found[int(m.group(1))] = m.group(2)
    return found


def test_every_canary_has_expectations():
    assert sorted(p.stem for p in CANARIES.glob('*.ipynb')) == \
        sorted(EXPECTED)


@pytest.mark.parametrize('name', list(EXPECTED))
def test_canary(results, name):
    expected = EXPECTED[name]
    r = results[name].result()
    report = f'--- stdout of the {name} canary ---\n{r.stdout}\n' \
             f'--- stderr ---\n{r.stderr}'
    assert r.returncode == expected.exit_code, report
    assert counts(r.stdout) == expected.tally, report
    found = failure_lines(name, r.stdout)
    assert sorted(found) == sorted(expected.failing), report
    for cell, reason in expected.failing.items():
        assert found[cell].startswith(reason), report
        # pytest's own summary line names the same cell.
        assert f'FAILED {name}.ipynb::Cell {cell} - ' in r.stdout, report
    for text in expected.contains:
        assert text in r.stdout, report
    if expected.exit_code == 0:
        assert 'failing notebook cells' not in r.stdout, report
