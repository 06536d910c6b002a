import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VexDocument } from '../gate/vex.js';
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
  /** The cache directory the databases were prepared in: the scan downloads nothing itself. */
  readonly cacheDir: string;
  readonly scanners: readonly Scanner[];
  readonly sbom: SbomFormat;
  readonly timeout?: string;
  /** VEX documents Trivy applies (`--vex`); read and checked before the build. */
  readonly vex?: readonly VexDocument[];
  /** The Dockerfile's text, scanned itself (`trivy config`) when `misconfig` is on. */
  readonly dockerfileText?: string;
}

/** What the gate decides on. */
export interface ScanResult {
  readonly report: TrivyReport;
  readonly reportPath: string;
  /** `trivy config`'s report on the Dockerfile, when `misconfig` is on. */
  readonly dockerfileReport?: TrivyReport;
  /** Each VEX document's name by the path Trivy was given (its copy). */
  readonly vexNames?: ReadonlyMap<string, string>;
}

/** What is derived from a ScanResult's report, once written (writeScanFiles). */
export interface ScanFiles {
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
 * Scans the tarball once and derives SARIF and the SBOM from that report with `trivy convert`,
 * and the vulnerability predicate from the same report (vulnerabilityPredicate): what is
 * attested is what the gate decided on. scanReport then writeScanFiles, one after the other.
 */
export async function scanImage(options: ScanOptions): Promise<ScanResult & ScanFiles> {
  const scan = await scanReport(options);
  return { ...scan, ...(await writeScanFiles(options, scan)) };
}

/**
 * The scan itself: Trivy's JSON report on the tarball (and on the Dockerfile with `misconfig`),
 * all the gate needs. Whatever an earlier run left in the folder, report or derived files, is
 * removed first.
 *
 * No `--severity`: the gate needs every finding to apply `severity`, `fail-on` and the counts
 * itself. No `--ignorefile`: the gate applies the ignore file so that it can list what was
 * ignored, why and until when (see decide()). `--exit-code 0` because the verdict is the gate's;
 * any non-zero exit is therefore a scanner failure, and so is a report that cannot be parsed.
 */
export async function scanReport(options: ScanOptions): Promise<ScanResult> {
  await mkdir(options.outputDir, { recursive: true });
  const reportPath = join(options.outputDir, 'trivy-report.json');
  const { sarifPath, sbomPath, vulnerabilityPredicatePath } = scanFilePaths(options);
  // A report left by an earlier run in the same folder (the local runner reuses ./out) must
  // never stand in for this scan's.
  await Promise.all(
    [reportPath, sarifPath, sbomPath, vulnerabilityPredicatePath].map(
      (path) => path && rm(path, { force: true }),
    ),
  );
  const vex = await vexCopies(options.outputDir, options.vex ?? []);
  await scanTrivy(options).mustRun(
    imageScanArgs(options, reportPath, vex.flags, sbomPath !== undefined),
    `Trivy scan of ${options.tarball}`,
    'The scan did not complete, so the image is treated as failing: nothing is pushed.',
  );
  const { report } = await readReport(reportPath);
  const dockerfileReport =
    options.scanners.includes('misconfig') && options.dockerfileText !== undefined
      ? await scanDockerfile(options, options.dockerfileText)
      : undefined;
  return {
    report,
    reportPath,
    ...(dockerfileReport ? { dockerfileReport } : {}),
    vexNames: vex.names,
  };
}

/** Where a scan's derived files go in its output folder. */
function scanFilePaths(options: Pick<ScanOptions, 'outputDir' | 'sbom'>): ScanFiles {
  const { outputDir, sbom } = options;
  return {
    sarifPath: join(outputDir, 'trivy-results.sarif'),
    ...(sbom === 'none' ? {} : { sbomPath: join(outputDir, SBOM_FILES[sbom]) }),
    vulnerabilityPredicatePath: join(outputDir, 'vulnerability-predicate.json'),
  };
}

/**
 * Writes what is derived from scanReport's report: SARIF (with the Dockerfile's results) and the
 * SBOM by `trivy convert`, the predicate in-process, all at once.
 */
export async function writeScanFiles(
  options: TrivyProcessOptions & Pick<ScanOptions, 'outputDir' | 'sbom'>,
  scan: ScanResult,
): Promise<ScanFiles> {
  const trivy = scanTrivy(options);
  const convert = (format: string, output: string, source: string) =>
    trivy.mustRun(
      ['convert', '--format', format, '--output', output, source],
      `trivy convert --format ${format} of ${source}`,
    );
  const { reportPath, dockerfileReport } = scan;
  const files = scanFilePaths(options);
  const sarifSource = dockerfileReport
    ? await writeCombinedReport(options.outputDir, scan.report, dockerfileReport)
    : reportPath;
  const predicate = vulnerabilityPredicate((await readReport(reportPath)).text, new Date());
  await Promise.all([
    convert('sarif', files.sarifPath, sarifSource),
    predicate === undefined
      ? convert('cosign-vuln', files.vulnerabilityPredicatePath, reportPath)
      : writeFile(files.vulnerabilityPredicatePath, predicate),
    ...(files.sbomPath ? [convert(options.sbom, files.sbomPath, reportPath)] : []),
  ]);
  return files;
}

/** Trivy with the scan stage's time limit on each of its processes. */
function scanTrivy(options: TrivyProcessOptions) {
  return trivyCommand(options.trivyPath, { ...(options.timeLimit && { timeLimit: options.timeLimit }) });
}

function imageScanArgs(
  options: ScanOptions,
  reportPath: string,
  vexFlags: readonly string[],
  listAllPackages: boolean,
): string[] {
  return [
    'image',
    '--input',
    options.tarball,
    '--format',
    'json',
    '--output',
    reportPath,
    '--scanners',
    options.scanners.join(','),
    ...imageConfigScannerFlags(options.scanners),
    ...vexFlags,
    ...(listAllPackages ? ['--list-all-pkgs'] : []),
    '--cache-dir',
    options.cacheDir,
    ...TRIVY_SKIP_UPDATE_FLAGS,
    '--exit-code',
    '0',
    '--timeout',
    options.timeout ?? '15m',
    ...TRIVY_QUIET_FLAGS,
  ];
}

async function readReport(reportPath: string): Promise<{ report: TrivyReport; text: string }> {
  let text: string;
  try {
    text = await readFile(reportPath, 'utf8');
  } catch (error) {
    throw new Error(`Trivy exited 0 but wrote no report at ${reportPath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { report: parseTrivyReport(text, reportPath), text };
}

/**
 * What `trivy convert --format cosign-vuln` writes for a report (pkg/report/predicate/vuln.go at
 * v0.74.0): the report itself as `scanner.result`, the Trivy version that wrote it (which the
 * report names, `Trivy.Version`) in `scanner.version` and its package URL, empty invocation and
 * DB fields, and one time for the scan's start and end; indented by two spaces. Built here, a
 * process fewer. Undefined when the report names no plain version (a Trivy older than the field):
 * then `trivy convert` writes it.
 */
export function vulnerabilityPredicate(reportText: string, now: Date): string | undefined {
  const report = JSON.parse(reportText) as { Trivy?: { Version?: unknown } };
  const version = report.Trivy?.Version;
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+$/.test(version)) return undefined;
  const time = now.toISOString();
  return JSON.stringify(
    {
      invocation: { parameters: null, uri: '', event_id: '', 'builder.id': '' },
      scanner: {
        uri: `pkg:github/aquasecurity/trivy@${version}`,
        version,
        db: { uri: '', version: '' },
        result: report,
      },
      metadata: { scanStartedOn: time, scanFinishedOn: time },
    },
    null,
    2,
  );
}

/**
 * Trivy scans the image's config (ENV, LABEL, history) only when asked
 * (docs/guide/target/container_image.md); it takes `misconfig` and `secret` there
 * (pkg/flag/image_flags.go). A secret in an ENV set from a build argument is as leaked as one in
 * a file.
 */
export function imageConfigScannerFlags(scanners: readonly Scanner[]): string[] {
  const inConfig = (['misconfig', 'secret'] as const).filter((scanner) => scanners.includes(scanner));
  return inConfig.length > 0 ? ['--image-config-scanners', inConfig.join(',')] : [];
}

/**
 * Trivy reads `--vex` files itself, so it gets copies of the documents the action read and
 * checked (never the workspace path, which could be swapped for a link). `--vex` is repeatable
 * (a string slice, pkg/flag/vulnerability_flags.go); `--show-suppressed` keeps what VEX took out
 * in the JSON (`ExperimentalModifiedFindings`, pkg/report/json.go), for the summary.
 */
async function vexCopies(
  outputDir: string,
  documents: readonly VexDocument[],
): Promise<{ flags: string[]; names: Map<string, string> }> {
  const names = new Map<string, string>();
  if (documents.length === 0) return { flags: [], names };
  const dir = join(outputDir, 'vex');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const flags: string[] = [];
  for (const [index, document] of documents.entries()) {
    const copy = join(dir, `${index + 1}.json`);
    await writeFile(copy, document.text);
    names.set(copy, document.name);
    flags.push('--vex', copy);
  }
  return { flags: [...flags, '--show-suppressed'], names };
}

/**
 * `trivy config` on a copy of the Dockerfile named `Dockerfile` (Trivy picks its Dockerfile
 * checks by file name), with the checks bundle prepared in the cache dir and no update: the scan
 * makes no request (pkg/commands/operation: with `--skip-check-update` and no bundle it falls
 * back to the checks built into Trivy). `trivy config` has no `--no-progress`, `--list-all-pkgs`
 * or `--show-suppressed` (pkg/commands/app.go NewConfigCommand).
 */
async function scanDockerfile(options: ScanOptions, dockerfileText: string): Promise<TrivyReport> {
  const dir = join(options.outputDir, 'dockerfile-scan');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const dockerfile = join(dir, 'Dockerfile');
  await writeFile(dockerfile, dockerfileText);
  const reportPath = join(options.outputDir, 'trivy-dockerfile-report.json');
  await rm(reportPath, { force: true });
  await scanTrivy(options).mustRun(
    [
      'config',
      '--format',
      'json',
      '--output',
      reportPath,
      '--cache-dir',
      options.cacheDir,
      '--skip-check-update',
      '--exit-code',
      '0',
      '--timeout',
      options.timeout ?? '15m',
      '--skip-version-check',
      '--disable-telemetry',
      dockerfile,
    ],
    'Trivy scan of the Dockerfile',
    'The scan did not complete, so the image is treated as failing: nothing is pushed.',
  );
  return (await readReport(reportPath)).report;
}

/** One report for `trivy convert`: the image's results, then the Dockerfile's. */
async function writeCombinedReport(
  outputDir: string,
  report: TrivyReport,
  dockerfileReport: TrivyReport,
): Promise<string> {
  const path = join(outputDir, 'trivy-report-with-dockerfile.json');
  const combined = { ...report, Results: [...(report.Results ?? []), ...(dockerfileReport.Results ?? [])] };
  await writeFile(path, JSON.stringify(combined));
  return path;
}
