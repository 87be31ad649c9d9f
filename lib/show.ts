/**
 * Helpers for the notebooks: show the real source of a lib/ declaration, so
 * that the prose explains the code that runs rather than a copy of it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The project root: build/lib/show.js sits two levels below it. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The source text of the top-level declaration `name` (function, class,
 * interface, type or const, exported or not) in `file`, a path relative
 * to the project root such as `lib/layers.ts`. Its JSDoc comment is kept.
 */
export function sourceOf(file: string, name: string): string {
  const full = path.join(PROJECT_ROOT, file);
  const lines = fs.readFileSync(full, 'utf8').split('\n');
  const decl = new RegExp(`^(export )?(default )?(abstract )?(async )?` +
    `(function\\*?|class|interface|type|const|let|enum) ${name}\\b`);
  const start = lines.findIndex((l) => decl.test(l));
  if (start < 0) throw new Error(`no top-level '${name}' in ${file}`);
  // Include the JSDoc block directly above the declaration.
  let first = start;
  if (lines[start - 1]?.trim().endsWith('*/')) {
    first = start - 1;
    while (first > 0 && !lines[first].trim().startsWith('/**')) first--;
  }
  // The declaration ends at the first line that closes it at column 0.
  let end = start;
  if (!/;\s*$/.test(lines[start])) {
    while (end < lines.length && !/^[}\]);]/.test(lines[end])) end++;
  }
  return lines.slice(first, end + 1).join('\n');
}

/** `sourceOf` as a Markdown code block titled with the file, for display. */
export function sourceMarkdown(file: string, name: string): string {
  return `*${file}*\n\n\`\`\`typescript\n${sourceOf(file, name)}\n\`\`\``;
}

/**
 * The source of method `method` of class `cls` in `file`, with its JSDoc,
 * for notebooks that explain one step of a class.
 */
export function methodSourceOf(file: string, cls: string, method: string):
    string {
  const lines = sourceOf(file, cls).split('\n');
  const head = new RegExp(`^  (public |private |protected )?(static )?` +
    `(async )?${method}\\(`);
  const start = lines.findIndex((l) => head.test(l));
  if (start < 0) throw new Error(`no method '${method}' in class ${cls} ` +
    `of ${file}`);
  let first = start;
  if (lines[start - 1]?.trim().endsWith('*/')) {
    first = start - 1;
    while (first > 0 && !lines[first].trim().startsWith('/**')) first--;
  }
  // Class members are indented two spaces; the body closes at `  }`.
  let end = start;
  while (end < lines.length && lines[end] !== '  }') end++;
  return lines.slice(first, end + 1).join('\n');
}

/** `methodSourceOf` as a Markdown code block, for display. */
export function methodMarkdown(file: string, cls: string, method: string):
    string {
  return `*${file}, class ${cls}*\n\n\`\`\`typescript\n` +
    `${methodSourceOf(file, cls, method)}\n\`\`\``;
}
