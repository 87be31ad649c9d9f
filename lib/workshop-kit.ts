/**
 * Student copies of the notebooks, for `npm run workshop`: the finished
 * notebooks with their outputs cleared and, in every cell tagged
 * `exercise`, the answer replaced by the prompt and stub of
 * lib/exercises' {@link EXERCISES} (the cell's leading import lines stay,
 * so the stub's types resolve). The finished notebooks stay the one
 * source; generating twice gives the same bytes.
 *
 * This module reads and writes JSON only (no TensorFlow), so generating a
 * kit is instant.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXERCISES, Exercise } from './exercises';

/** The parts of an nbformat 4 notebook that the generator touches. */
export interface NotebookCell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  metadata: { tags?: string[]; workshop?: { exercise?: string };
    [k: string]: unknown };
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
  [k: string]: unknown;
}
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** The tag of an exercise cell and of the check cell after it. */
export const EXERCISE_TAG = 'exercise';
export const CHECK_TAG = 'exercise-check';

/** The profile the student copies default to (lib/profiles). */
export const WORKSHOP_PROFILE_LINE = "process.env.CYCLEGAN_PROFILE ??= " +
  "'workshop'; // workshop copies: the 2-core laptop profile";

export const sourceText = (cell: NotebookCell): string =>
  Array.isArray(cell.source) ? cell.source.join('') : cell.source;

/** Text as nbformat stores it: lines, each but the last ending in \n. */
export function toSource(text: string): string[] {
  return text.split(/(?<=\n)/);
}

const tags = (cell: NotebookCell): string[] => cell.metadata.tags ?? [];

/** The exercise a cell holds, or undefined; errors name the cell. */
export function exerciseOf(cell: NotebookCell, where: string):
  Exercise | undefined {
  if (!tags(cell).includes(EXERCISE_TAG)) return undefined;
  const id = cell.metadata.workshop?.exercise;
  const exercise = EXERCISES.find((e) => e.id === id);
  if (!exercise) {
    throw new Error(`${where}: a cell tagged '${EXERCISE_TAG}' must name ` +
      `its exercise in metadata.workshop.exercise (one of ` +
      `${EXERCISES.map((e) => e.id).join(', ')}); found ` +
      `${id === undefined ? 'none' : `'${id}'`}`);
  }
  return exercise;
}

/**
 * The student's version of an exercise cell: its leading import lines,
 * then the prompt as comments, then the stub.
 */
export function stubSource(answer: string, exercise: Exercise): string {
  const lines = answer.split('\n');
  let keep = 0;
  while (keep < lines.length && (/^import\b/.test(lines[keep]) ||
    (lines[keep].trim() === '' && keep > 0))) keep++;
  while (keep > 0 && lines[keep - 1].trim() === '') keep--;
  const imports = lines.slice(0, keep);
  const prompt = [`// Exercise: ${exercise.title}.`,
    ...exercise.prompt.map((l) => `// ${l}`),
    '// Replace the throw with your answer, then run the check below.'];
  return [...imports, ...(imports.length ? [''] : []), ...prompt,
    exercise.stub].join('\n');
}

/** The student copy of one finished notebook. */
export function studentNotebook(nb: Notebook, name: string): Notebook {
  let firstCode = true;
  const cells = nb.cells.map((cell, i): NotebookCell => {
    const where = `notebooks/${name}, cell ${i + 1}`;
    const out: NotebookCell = { ...cell, metadata: { ...cell.metadata } };
    if (cell.cell_type !== 'code') return out;
    out.outputs = [];
    out.execution_count = null;
    // Timings of the finished notebook's run belong to that run.
    delete out.metadata.execution;
    const exercise = exerciseOf(cell, where);
    let text = sourceText(cell);
    if (exercise) text = stubSource(text, exercise);
    if (firstCode) {
      text = `${WORKSHOP_PROFILE_LINE}\n${text}`;
      firstCode = false;
    }
    out.source = toSource(text);
    return out;
  });
  const banner: NotebookCell = {
    cell_type: 'markdown', id: 'workshop-banner', metadata: {},
    source: toSource(
      `> **Workshop copy** of \`notebooks/${name}\`, written by ` +
      '`npm run workshop`.\n' +
      '> Fill in the cells that start with `// Exercise:`; the check cell ' +
      'after each prints PASS, or FAIL with what differs. The rest runs ' +
      'as in the finished notebook, with the `workshop` profile unless ' +
      '`CYCLEGAN_PROFILE` says otherwise.'),
  };
  return { ...nb, cells: [banner, ...cells],
    metadata: { ...nb.metadata, workshop: { source: `notebooks/${name}` } } };
}

/** A notebook as `jupyter nbconvert` writes it (indent 1, final newline). */
export function notebookJson(nb: Notebook): string {
  return `${JSON.stringify(nb, null, 1)}\n`;
}

export interface GenerateOptions {
  /** Folder of the finished notebooks. */
  from: string;
  /** Folder to write the copies to (created). */
  to: string;
  /** Overwrite copies that differ from what would be written. */
  force?: boolean;
}

/** Files written, and those left because they held changes. */
export interface GenerateReport {
  written: string[];
  unchanged: string[];
}

/**
 * Writes the student copy of every notebook in `from` to `to`. A copy
 * already there that differs from the generated one (a student's work,
 * say) is refused, naming the files, unless `force`.
 */
export function generateWorkshop(o: GenerateOptions): GenerateReport {
  if (!fs.existsSync(o.from)) {
    throw new Error(`${o.from}: no such folder of notebooks`);
  }
  const names = fs.readdirSync(o.from).filter((f) => f.endsWith('.ipynb'))
    .sort();
  if (names.length === 0) throw new Error(`${o.from}: no .ipynb files`);
  const seen = new Set<string>();
  const outputs = names.map((name) => {
    const file = path.join(o.from, name);
    let nb: Notebook;
    try {
      nb = JSON.parse(fs.readFileSync(file, 'utf8')) as Notebook;
    } catch (e) {
      throw new Error(`${file}: not a notebook (${(e as Error).message})`);
    }
    nb.cells.forEach((cell, i) => {
      const ex = exerciseOf(cell, `${file}, cell ${i + 1}`);
      if (!ex) return;
      if (seen.has(ex.id)) throw new Error(`${file}: exercise ${ex.id} twice`);
      seen.add(ex.id);
      const next = nb.cells[i + 1];
      if (!next || !tags(next).includes(CHECK_TAG) ||
        !sourceText(next).includes(`check('${ex.id}'`)) {
        throw new Error(`${file}, cell ${i + 1}: exercise ${ex.id} must be ` +
          `followed by a cell tagged '${CHECK_TAG}' calling ` +
          `check('${ex.id}', ...)`);
      }
    });
    return { name, text: notebookJson(studentNotebook(nb, name)) };
  });
  const missing = EXERCISES.filter((e) => !seen.has(e.id));
  if (missing.length > 0) {
    throw new Error(`no cell holds exercise(s) ${missing.map((e) => e.id)
      .join(', ')} in ${o.from}`);
  }
  fs.mkdirSync(o.to, { recursive: true });
  const targets = outputs.map(({ name, text }) => {
    const file = path.join(o.to, name);
    const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    return { file, text, old };
  });
  const changed = targets.filter(({ text, old }) => old !== null &&
    old !== text).map(({ file }) => file);
  if (changed.length > 0 && !o.force) {
    throw new Error(`${changed.join(', ')} differ from the generated ` +
      'copies (a student\'s work, or an older kit): move them away, or ' +
      'pass --force to overwrite');
  }
  const report: GenerateReport = { written: [], unchanged: [] };
  for (const { file, text, old } of targets) {
    if (old === text) {
      report.unchanged.push(file);
      continue;
    }
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
    report.written.push(file);
  }
  return report;
}
