import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TimeLimit } from '../timeout-settings.js';
import type { SbomFormat, Scanner } from '../vocabulary.js';
import { TRIVY_QUIET_FLAGS, trivyCommand } from '../tools/trivy-command.js';
import type { TrivyReport } from './trivy-report.js';
import { parseTrivyReport } from './trivy-report.js';
import { TRIVY_SKIP_UPDATE_FLAGS } from './trivy-databases.js';

interface TrivyProcessOptions {
  readonly trivyPath: string;
  /** The stage's limit on each Trivy process (see exec.run). */
  readonly timeLimit?: TimeLimit;
}

export interface ScanOptions extends TrivyProcessOptions {
  /** The docker-archive tarball kaniko wrote: the exact bytes that would be pushed. */
  readonly tarball: string;
  /** Where the report, SARIF and SBOM are written. */
  readonly outputDir: string;
  /** The cache directory `prepareTrivyDatabase` filled: the scan downloads nothing itself. */
  readonly cacheDir: string;
  readonly scanners: readonly Scanner[];
  readonly sbom: SbomFormat;
  readonly timeout?: string;
}

export interface ScanResult {
  readonly report: TrivyReport;
  readonly reportPath: string;
  readonly sarifPath: string;
  readonly sbomPath?: string;
  /** The same report as a cosign vulnerability predicate, for `actions/attest` to sign. */
  readonly vulnerabilityPredicatePath: string;
}

/** The predicate type of Trivy's `cosign-vuln` format, as attestations name it. */
export const VULNERABILITY_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/vuln/v1';

const SBOM_FILES: Record<Exclude<SbomFormat, 'none'>, string> = {
  cyclonedx: 'sbom.cdx.json',
  'spdx-json': 'sbom.spdx.json',
};

/**
 * Scans the tarball once and derives SARIF, the SBOM and the vulnerability predicate from that
 * report with `trivy convert`: what is attested is what the gate decided on.
 *
 * No `--severity`: the gate needs every finding to apply `severity`, `fail-on` and the counts
 * itself. No `--ignorefile`: the gate applies the ignore file so that it can list what was
 * ignored, why and until when (see decide()). `--exit-code 0` because the verdict is the gate's;
 * any non-zero exit is therefore a scanner failure, and so is a report that cannot be parsed.
 */
export async function scanImage(options: ScanOptions): Promise<ScanResult> {
  await mkdir(options.outputDir, { recursive: true });
  const reportPath = join(options.outputDir, 'trivy-report.json');
  const sarifPath = join(options.outputDir, 'trivy-results.sarif');
  const sbomPath = options.sbom === 'none' ? undefined : join(options.outputDir, SBOM_FILES[options.sbom]);
  const vulnerabilityPredicatePath = join(options.outputDir, 'vulnerability-predicate.json');
  // A report left by an earlier run in the same folder (the local runner reuses ./out) must
  // never stand in for this scan's.
  await Promise.all(
    [reportPath, sarifPath, sbomPath, vulnerabilityPredicatePath].map(
      (path) => path && rm(path, { force: true }),
    ),
  );
  const trivy = trivyCommand(options.trivyPath, {
    ...(options.timeLimit && { timeLimit: options.timeLimit }),
  });
  await trivy.mustRun(
    [
      'image',
      '--input',
      options.tarball,
      '--format',
      'json',
      '--output',
      reportPath,
      '--scanners',
      options.scanners.join(','),
      ...(sbomPath ? ['--list-all-pkgs'] : []),
      '--cache-dir',
      options.cacheDir,
      ...TRIVY_SKIP_UPDATE_FLAGS,
      '--exit-code',
      '0',
      '--timeout',
      options.timeout ?? '15m',
      ...TRIVY_QUIET_FLAGS,
    ],
    `Trivy scan of ${options.tarball}`,
    'The scan did not complete, so the image is treated as failing: nothing is pushed.',
  );
  let text: string;
  try {
    text = await readFile(reportPath, 'utf8');
  } catch (error) {
    throw new Error(`Trivy exited 0 but wrote no report at ${reportPath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const report = parseTrivyReport(text, reportPath);

  const convert = (format: string, output: string) =>
    trivy.mustRun(
      ['convert', '--format', format, '--output', output, reportPath],
      `trivy convert --format ${format} of ${reportPath}`,
    );
  await Promise.all([
    convert('sarif', sarifPath),
    convert('cosign-vuln', vulnerabilityPredicatePath),
    ...(sbomPath ? [convert(options.sbom, sbomPath)] : []),
  ]);
  return { report, reportPath, sarifPath, vulnerabilityPredicatePath, ...(sbomPath ? { sbomPath } : {}) };
}
