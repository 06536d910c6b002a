// Runs every benchmark in bench/ (TypeScript, bundled by esbuild into a temporary folder) one
// after another, each in its own Node process so one's memory does not colour another's figures.
// `npm run bench -- install` runs only the benchmarks whose file name contains "install".
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const filters = process.argv.slice(2);
const benches = readdirSync('bench')
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
// Inside the repository, so the bundles (which leave packages external) resolve node_modules.
mkdirSync('node_modules/.cache', { recursive: true });
const outdir = mkdtempSync(join('node_modules/.cache', 'bsp-bench-'));
let failed = false;
try {
  await build({
    entryPoints: benches.map((file) => join('bench', file)),
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    packages: 'external',
    logLevel: 'warning',
  });
  for (const file of benches) {
    console.log(`\n## ${file}`);
    const result = spawnSync(process.execPath, ['--expose-gc', join(outdir, file.replace(/\.ts$/, '.mjs'))], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_ROOT: process.cwd() },
    });
    if (result.status !== 0) failed = true;
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
