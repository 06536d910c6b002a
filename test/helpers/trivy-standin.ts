import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TRIVY_STANDIN = join(import.meta.dirname, '..', 'standins', 'trivy-standin.mjs');

const shellQuote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * A `trivy` for the action to run: the stand-in (not Trivy) behind a wrapper that sets the
 * stand-in's steering variables itself, because the action passes no TRIVY_* variable through.
 */
export function trivyStandinWith(env: Readonly<Record<string, string>>): string {
  const path = join(mkdtempSync(join(tmpdir(), 'bsp-trivy-bin-')), 'trivy');
  const exports = Object.entries(env).map(([name, value]) => `export ${name}=${shellQuote(value)}\n`);
  writeFileSync(
    path,
    `#!/bin/sh\n# The Trivy stand-in (not Trivy), steered by the variables below.\n${exports.join('')}exec ${shellQuote(process.execPath)} ${shellQuote(TRIVY_STANDIN)} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}
