import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrivyReport } from '../../src/scan/trivy-report.js';
import { parseTrivyReport } from '../../src/scan/trivy-report.js';

export const TRIVY_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'trivy');

/** A real Trivy report from test/fixtures/trivy, parsed the way the action parses it. */
export function trivyFixture(name: string): TrivyReport {
  const path = join(TRIVY_FIXTURES, name);
  return parseTrivyReport(readFileSync(path, 'utf8'), path);
}
