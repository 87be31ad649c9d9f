/**
 * The workshop kit: every exercise's check passes with the answer in the
 * finished notebook, fails with the stub (saying it is not written) and
 * with the exercise's plausible wrong answer, and leaves no tensors; the
 * student copies are generated deterministically, match the committed
 * `workshop/`, hold no answers and refuse to overwrite a student's work.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { PROJECT_ROOT } from '../../lib/show';
import { EXERCISES, Exercise } from '../../lib/exercises';
import { checkResult } from '../../lib/workshop';
import * as losses from '../../lib/losses';
import { Rng } from '../../lib/rng';
import {
  CHECK_TAG, EXERCISE_TAG, Notebook, WORKSHOP_PROFILE_LINE,
  generateWorkshop, notebookJson, sourceText, studentNotebook,
} from '../../lib/workshop-kit';
import { tempDirs } from './tmp';

const tmp = tempDirs('cyclegan-workshop-');
const NOTEBOOKS = path.join(PROJECT_ROOT, 'notebooks');
const readNb = (dir: string, name: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Notebook;

before(async () => {
  await initBackend('training', 'native', { quiet: true });
});

/** The answer cell of `exercise` in the finished notebook. */
function answerSource(exercise: Exercise): string {
  const nb = readNb(NOTEBOOKS, exercise.notebook);
  const cell = nb.cells.find((c) =>
    c.metadata.workshop?.exercise === exercise.id);
  assert.ok(cell, `${exercise.notebook} holds no ${exercise.id} cell`);
  return sourceText(cell);
}

/**
 * A function defined by notebook TypeScript: import lines dropped (their
 * names come from `scope`), transpiled, evaluated.
 */
function compile(source: string, name: string): unknown {
  const body = source.split('\n').filter((l) => !/^import\b/.test(l))
    .join('\n');
  const js = ts.transpileModule(body, { compilerOptions: {
    target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.None } })
    .outputText;
  const scope: Record<string, unknown> = { tf, Rng, ...losses };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function(...Object.keys(scope), `${js}\nreturn ${name};`)(
    ...Object.values(scope));
}

for (const exercise of EXERCISES) {
  test(`${exercise.id}: the notebook's answer passes, the stub and ` +
    `the wrong answer (${exercise.wrong.mistake}) fail`, () => {
    const before = tf.memory().numTensors;
    const answer = checkResult(exercise.id,
      compile(answerSource(exercise), exercise.id));
    assert.equal(answer.pass, true, answer.lines.join('\n'));
    assert.match(answer.lines[0], new RegExp(`^PASS  ${exercise.id} `));

    const stub = checkResult(exercise.id, compile(exercise.stub,
      exercise.id));
    assert.equal(stub.pass, false);
    assert.match(stub.lines[0], new RegExp(`^FAIL  ${exercise.id} .*not ` +
      `written yet \\(it still throws 'TODO: write ${exercise.id}'\\)`));

    const wrong = checkResult(exercise.id, compile(exercise.wrong.source,
      exercise.id));
    assert.equal(wrong.pass, false, `the wrong answer passed: ` +
      exercise.wrong.mistake);
    assert.match(wrong.lines[0], /^FAIL  /);
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
  });
}

test('a wrong answer gets a hint naming its mistake', () => {
  const cycle = EXERCISES.find((e) => e.id === 'myCycleLoss')!;
  const r = checkResult('myCycleLoss', compile(cycle.wrong.source,
    'myCycleLoss'));
  assert.match(r.lines[0],
    /myCycleLoss\(rec, real, 10\): value 0\.\d+, expected 1\.\d+/);
  assert.match(r.lines.join('\n'), /hint: λ left out\?/);
  const pad = EXERCISES.find((e) => e.id === 'myReflectPad')!;
  const p = checkResult('myReflectPad', compile(pad.wrong.source,
    'myReflectPad'));
  assert.match(p.lines.join('\n'), /hint: 'symmetric' mirroring/);
});

test('an answer that throws or returns nothing is told apart from a ' +
  'wrong value', () => {
  const typo = checkResult('myLsganLoss', () => {
    throw new TypeError('prediction.sub is not a function');
  });
  assert.equal(typo.pass, false);
  assert.match(typo.lines[0], /it threw an error: prediction\.sub is not/);
  const nothing = checkResult('myLsganLoss', () => undefined);
  assert.match(nothing.lines[0], /expected a tensor, got undefined/);
  const shape = checkResult('myReflectPad', (x: tf.Tensor4D) => x.clone());
  assert.match(shape.lines[0], /shape \[1, 3, 3, 1\], expected \[1, 5, 5, 1\]/);
  assert.match(checkResult('noSuch', () => 0).lines[0],
    /FAIL  noSuch: no such exercise/);
});

test('every exercise is in its notebook once, followed by its check', () => {
  for (const exercise of EXERCISES) {
    const nb = readNb(NOTEBOOKS, exercise.notebook);
    const at = nb.cells.flatMap((c, i) =>
      c.metadata.workshop?.exercise === exercise.id ? [i] : []);
    assert.equal(at.length, 1, exercise.id);
    assert.ok(nb.cells[at[0]].metadata.tags?.includes(EXERCISE_TAG));
    const next = nb.cells[at[0] + 1];
    assert.ok(next.metadata.tags?.includes(CHECK_TAG));
    assert.ok(next.metadata.tags?.includes('nbval-check-output'));
    assert.match(sourceText(next), new RegExp(
      `check\\('${exercise.id}', ${exercise.id}\\);`));
  }
});

test('student copies: outputs cleared, answers replaced by prompt and ' +
  'stub, imports kept, profile line first', () => {
  for (const name of ['02-models.ipynb', '04-training.ipynb']) {
    const finished = readNb(NOTEBOOKS, name);
    const copy = studentNotebook(finished, name);
    assert.equal(copy.cells.length, finished.cells.length + 1);
    assert.match(sourceText(copy.cells[0]), /Workshop copy/);
    const code = copy.cells.filter((c) => c.cell_type === 'code');
    assert.ok(sourceText(code[0]).startsWith(WORKSHOP_PROFILE_LINE));
    for (const c of code) {
      assert.deepEqual(c.outputs, []);
      assert.equal(c.execution_count, null);
      assert.equal(c.metadata.execution, undefined, 'run timings left in');
    }
    finished.cells.forEach((cell, i) => {
      const id = cell.metadata.workshop?.exercise;
      const student = sourceText(copy.cells[i + 1]);
      if (!id) {
        if (i > 1) assert.equal(student, sourceText(cell));
        return;
      }
      const ex = EXERCISES.find((e) => e.id === id)!;
      assert.ok(student.includes(ex.stub), `${id}: stub missing`);
      assert.ok(student.includes(`// ${ex.prompt[0]}`));
      // The answer's body is gone; its imports stay.
      const answer = sourceText(cell);
      const body = answer.split('\n').filter((l) => l.trim() !== '' &&
        !/^import\b/.test(l) && !/^function|^  [a-z]+: |^  number \{/
          .test(l) && !ex.stub.includes(l));
      for (const line of body) {
        assert.ok(!student.includes(line), `${id}: '${line}' left in`);
      }
      for (const line of answer.split('\n').filter((l) => /^import/.test(l))) {
        assert.ok(student.includes(line), `${id}: import '${line}' dropped`);
      }
    });
  }
});

test('generation is deterministic, the committed workshop/ is current, ' +
  "and a student's changes are not overwritten", () => {
  const a = tmp();
  const b = tmp();
  const first = generateWorkshop({ from: NOTEBOOKS, to: a });
  generateWorkshop({ from: NOTEBOOKS, to: b });
  assert.equal(first.written.length, fs.readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith('.ipynb')).length);
  for (const f of fs.readdirSync(a)) {
    assert.equal(fs.readFileSync(path.join(a, f), 'utf8'),
      fs.readFileSync(path.join(b, f), 'utf8'), f);
    const committed = path.join(PROJECT_ROOT, 'workshop', f);
    assert.equal(fs.readFileSync(committed, 'utf8'),
      fs.readFileSync(path.join(a, f), 'utf8'),
      `workshop/${f} is stale: run npm run workshop -- --force`);
  }
  const again = generateWorkshop({ from: NOTEBOOKS, to: a });
  assert.equal(again.written.length, 0);
  // A student's edit: refused without --force, kept intact.
  const edited = path.join(a, '03-losses.ipynb');
  const nb = readNb(a, '03-losses.ipynb');
  nb.cells[1].source = ['my notes'];
  fs.writeFileSync(edited, notebookJson(nb));
  assert.throws(() => generateWorkshop({ from: NOTEBOOKS, to: a }),
    /03-losses\.ipynb differ from the generated copies .* --force/);
  assert.match(fs.readFileSync(edited, 'utf8'), /my notes/);
  const forced = generateWorkshop({ from: NOTEBOOKS, to: a, force: true });
  assert.deepEqual(forced.written, [edited]);
});

test('a malformed exercise cell is refused with the cell named', () => {
  const from = tmp();
  const nb = readNb(NOTEBOOKS, '03-losses.ipynb');
  const i = nb.cells.findIndex((c) =>
    c.metadata.workshop?.exercise === 'myCycleLoss');
  nb.cells[i].metadata.workshop = { exercise: 'myCycleLos' };
  fs.writeFileSync(path.join(from, '03-losses.ipynb'), notebookJson(nb));
  assert.throws(() => generateWorkshop({ from, to: tmp() }),
    new RegExp(`03-losses\\.ipynb, cell ${i + 1}: .* found 'myCycleLos'`));
  nb.cells[i].metadata.workshop = { exercise: 'myCycleLoss' };
  nb.cells.splice(i + 1, 1);
  fs.writeFileSync(path.join(from, '03-losses.ipynb'), notebookJson(nb));
  assert.throws(() => generateWorkshop({ from, to: tmp() }),
    /myCycleLoss must be followed by a cell tagged 'exercise-check'/);
});

test("the facilitator's guide covers every exercise and has its timings",
  () => {
    const guide = fs.readFileSync(path.join(PROJECT_ROOT, 'workshop',
      'GUIDE.md'), 'utf8');
    for (const e of EXERCISES) {
      assert.ok(guide.includes(`\`${e.id}\``), `GUIDE.md misses ${e.id}`);
    }
    assert.ok(!guide.includes('TIMING_TABLE'), 'GUIDE.md timings not filled');
  });
