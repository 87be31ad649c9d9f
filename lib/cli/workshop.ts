/**
 * `npm run workshop [-- --out <dir>] [--force]`: writes the student copies
 * of the notebooks (lib/workshop-kit) to `workshop/`, beside the
 * facilitator's guide `workshop/GUIDE.md`.
 */
import * as path from 'node:path';
import { Command } from 'commander';
import { PROJECT_ROOT } from '../show';
import { generateWorkshop } from '../workshop-kit';
import { EXERCISES } from '../exercises';

function main(argv: string[]): void {
  const program = new Command()
    .name('npm run workshop --')
    .description('Write the student copies of the notebooks: outputs ' +
      'cleared, exercise cells replaced by a prompt and a stub.')
    .option('--from <dir>', 'finished notebooks',
      path.join(PROJECT_ROOT, 'notebooks'))
    .option('--out <dir>', 'folder for the copies',
      path.join(PROJECT_ROOT, 'workshop'))
    .option('--force', 'overwrite copies that hold changes')
    .parse(argv);
  const o = program.opts<{ from: string; out: string; force?: boolean }>();
  const report = generateWorkshop({ from: o.from, to: o.out,
    force: o.force });
  const rel = (f: string) => path.relative(process.cwd(), f) || f;
  for (const f of report.written) console.log(`[workshop] wrote ${rel(f)}`);
  for (const f of report.unchanged) {
    console.log(`[workshop] ${rel(f)} is up to date`);
  }
  console.log(`[workshop] ${EXERCISES.length} exercises in ` +
    `${report.written.length + report.unchanged.length} notebooks; the ` +
    `facilitator's guide: ${rel(path.join(o.out, 'GUIDE.md'))}`);
}

try {
  main(process.argv);
} catch (e) {
  console.error(`workshop: ${(e as Error).message}`);
  process.exit(1);
}
