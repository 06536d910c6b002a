// Runs every benchmark in bench/ one after another, each in its own Node process (TypeScript
// loaded by tsx, shell scripts as text, so helpers resolve their files as in the tests), so one benchmark's memory does
// not colour another's figures. `npm run bench -- install` runs only the files whose name
// contains "install".
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const SHELL_TEXT = join(import.meta.dirname, '..', 'test', 'helpers', 'shell-text.mjs');
const filters = process.argv.slice(2);
const benches = readdirSync('bench')
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
let failed = false;
for (const file of benches) {
  console.log(`\n## ${file}`);
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', SHELL_TEXT, '--expose-gc', join('bench', file)],
    {
      stdio: 'inherit',
    },
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
