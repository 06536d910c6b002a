import * as cache from '@actions/cache';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { lastLines } from '../exec.js';
import { Registries } from '../registries.js';
import type { SbomFormat, Scanner } from '../vocabulary.js';
import { TRIVY_QUIET_FLAGS, trivyCommand } from '../tools/trivy-command.js';
import type { TrivyReport } from './trivy-report.js';
import { parseTrivyReport } from './trivy-report.js';
import { reporter } from '../reporter.js';
import type { VexDocument } from '../gate/vex.js';

interface TrivyProcessOptions {
  readonly trivyPath: string;
}

/** Stores the DB between runs; `@actions/cache` on a runner, a fake in tests. */
export interface DbCacheStore {
  /** false when no cache service is reachable (a local run). */
  available(): boolean;
  /** The key that was restored, or undefined on a miss. */
  restore(paths: string[], key: string, restoreKeys: string[]): Promise<string | undefined>;
  save(paths: string[], key: string): Promise<void>;
}

export const actionsCacheStore: DbCacheStore = {
  available: () => cache.isFeatureAvailable(),
  restore: (paths, key, restoreKeys) => cache.restoreCache(paths, key, restoreKeys),
  save: async (paths, key) => {
    await cache.saveCache(paths, key);
  },
};

export interface TrivyDbOptions extends TrivyProcessOptions {
  /** The action's own Trivy cache directory; the DB lives in `<cacheDir>/db`. */
  readonly cacheDir: string;
  /** Tried in order; the `trivy-db-repositories` input. */
  readonly repositories: readonly string[];
  /** A DB repository on an insecure registry gets `--insecure`; none is, unless given. */
  readonly registries?: Registries;
  readonly timeout?: string;
  /** Today's date picks the cache key, so a runner refreshes the DB at most once a day. */
  readonly now?: Date;
  readonly store?: DbCacheStore;
}

export interface TrivyDbResult {
  readonly source: 'cache' | 'download';
  /** The repository the DB came from when downloaded. */
  readonly repository?: string;
  readonly cacheKey: string;
}

let warnedNoCacheService = false;

/**
 * Makes the vulnerability DB ready for a scan with `--skip-db-update`. Meant to start while
 * kaniko builds. A cache hit for today's key needs no network; otherwise each repository is
 * tried in turn (Trivy itself only moves on after 429/5xx, not after a network error) and the
 * fresh DB is saved under today's key.
 */
export async function prepareTrivyDb(options: TrivyDbOptions): Promise<TrivyDbResult> {
  if (options.repositories.length === 0)
    throw new Error('no Trivy DB repository to download from: set `trivy-db-repositories`.');
  const store = options.store ?? actionsCacheStore;
  const dbDir = join(options.cacheDir, 'db');
  const prefix = `build-scan-push-trivy-db-v2-${platform()}-${arch()}-`;
  const cacheKey = `${prefix}${(options.now ?? new Date()).toISOString().slice(0, 10)}`;
  await mkdir(options.cacheDir, { recursive: true });

  const useCache = store.available();
  const restoredKey = useCache ? await restoreDb(store, dbDir, cacheKey, prefix) : warnNoCacheService();
  if (restoredKey === cacheKey && hasDb(dbDir)) {
    reporter().info(`Trivy DB restored from the cache (${cacheKey}).`);
    return { source: 'cache', cacheKey };
  }
  const repository = await downloadDb(options, dbDir);
  if (useCache && restoredKey !== cacheKey) await saveDb(store, dbDir, cacheKey);
  return { source: 'download', repository, cacheKey };
}

function warnNoCacheService(): undefined {
  if (warnedNoCacheService) return undefined;
  warnedNoCacheService = true;
  reporter().warning(
    'No cache service (ACTIONS_CACHE_URL / ACTIONS_RESULTS_URL unset, e.g. a local run): the Trivy DB is downloaded instead of restored.',
  );
  return undefined;
}

/** The key restored from the cache, or undefined on a miss or a failed restore. */
async function restoreDb(
  store: DbCacheStore,
  dbDir: string,
  cacheKey: string,
  prefix: string,
): Promise<string | undefined> {
  try {
    return await store.restore([dbDir], cacheKey, [prefix]);
  } catch (error) {
    reporter().warning(
      `Restoring the Trivy DB from the cache failed (${(error as Error).message}); downloading it.`,
    );
    return undefined;
  }
}

/** Tries each repository in turn; the one the DB came from. */
async function downloadDb(options: TrivyDbOptions, dbDir: string): Promise<string> {
  const trivy = trivyCommand(options.trivyPath);
  const registries = options.registries ?? new Registries();
  const failures: string[] = [];
  for (const repository of options.repositories) {
    const result = await trivy.run([
      'image',
      '--download-db-only',
      '--cache-dir',
      options.cacheDir,
      '--db-repository',
      repository,
      ...(registries.isInsecureReference(repository) ? ['--insecure'] : []),
      '--timeout',
      options.timeout ?? '10m',
      ...TRIVY_QUIET_FLAGS,
    ]);
    if (result.exitCode === 0 && hasDb(dbDir)) {
      reporter().info(`Trivy DB downloaded from ${repository}.`);
      return repository;
    }
    const reason =
      lastLines(result.stderr.trim() || result.stdout.trim(), 1) || `exit code ${result.exitCode}`;
    failures.push(`  ${repository}: ${reason}`);
    reporter().warning(`Trivy DB download from ${repository} failed; trying the next repository if any.`);
  }
  throw new Error(
    `the Trivy vulnerability DB could not be downloaded from any repository:\n${failures.join('\n')}\n` +
      'Check the runner can reach one of them, or list a reachable mirror in `trivy-db-repositories`.',
  );
}

async function saveDb(store: DbCacheStore, dbDir: string, key: string): Promise<void> {
  try {
    await store.save([dbDir], key);
  } catch (error) {
    // Another job of this workflow may have saved today's DB first; the scan does not depend on it.
    reporter().warning(`Saving the Trivy DB to the cache under ${key} failed: ${(error as Error).message}`);
  }
}

function hasDb(dbDir: string): boolean {
  return existsSync(join(dbDir, 'trivy.db')) && existsSync(join(dbDir, 'metadata.json'));
}

export interface ScanOptions extends TrivyProcessOptions {
  /** The docker-archive tarball kaniko wrote: the exact bytes that would be pushed. */
  readonly tarball: string;
  /** Where the report, SARIF and SBOM are written. */
  readonly outputDir: string;
  /** The cache directory `prepareTrivyDb` filled. */
  readonly cacheDir: string;
  readonly scanners: readonly Scanner[];
  readonly sbom: SbomFormat;
  readonly timeout?: string;
  /** VEX documents Trivy applies (`--vex`); read and checked before the build. */
  readonly vex?: readonly VexDocument[];
  /** The Dockerfile's text, scanned itself (`trivy config`) when `misconfig` is on. */
  readonly dockerfileText?: string;
}

export interface ScanResult {
  readonly report: TrivyReport;
  readonly reportPath: string;
  readonly sarifPath: string;
  readonly sbomPath?: string;
  /** `trivy config`'s report on the Dockerfile, when `misconfig` is on. */
  readonly dockerfileReport?: TrivyReport;
  /** Each VEX document's name by the path Trivy was given (its copy). */
  readonly vexNames?: ReadonlyMap<string, string>;
}

const SBOM_FILES: Record<Exclude<SbomFormat, 'none'>, string> = {
  cyclonedx: 'sbom.cdx.json',
  'spdx-json': 'sbom.spdx.json',
};

/**
 * Scans the tarball once and derives SARIF and the SBOM from that report with `trivy convert`.
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
  // A report left by an earlier run in the same folder (the local runner reuses ./out) must
  // never stand in for this scan's.
  await Promise.all([reportPath, sarifPath, sbomPath].map((path) => path && rm(path, { force: true })));
  const trivy = trivyCommand(options.trivyPath);
  const vex = await vexCopies(options.outputDir, options.vex ?? []);
  await trivy.mustRun(
    imageScanArgs(options, reportPath, vex.flags, sbomPath !== undefined),
    `Trivy scan of ${options.tarball}`,
    'The scan did not complete, so the image is treated as failing: nothing is pushed.',
  );
  const report = await readReport(reportPath);
  const dockerfileReport =
    options.scanners.includes('misconfig') && options.dockerfileText !== undefined
      ? await scanDockerfile(options, options.dockerfileText)
      : undefined;

  const convert = (format: string, output: string, source: string) =>
    trivy.mustRun(
      ['convert', '--format', format, '--output', output, source],
      `trivy convert --format ${format} of ${source}`,
    );
  const sarifSource = dockerfileReport
    ? await writeCombinedReport(options.outputDir, report, dockerfileReport)
    : reportPath;
  await Promise.all([
    convert('sarif', sarifPath, sarifSource),
    ...(sbomPath ? [convert(options.sbom, sbomPath, reportPath)] : []),
  ]);
  return {
    report,
    reportPath,
    sarifPath,
    ...(sbomPath ? { sbomPath } : {}),
    ...(dockerfileReport ? { dockerfileReport } : {}),
    vexNames: vex.names,
  };
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
    '--skip-db-update',
    '--exit-code',
    '0',
    '--timeout',
    options.timeout ?? '15m',
    ...TRIVY_QUIET_FLAGS,
  ];
}

async function readReport(reportPath: string): Promise<TrivyReport> {
  let text: string;
  try {
    text = await readFile(reportPath, 'utf8');
  } catch (error) {
    throw new Error(`Trivy exited 0 but wrote no report at ${reportPath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseTrivyReport(text, reportPath);
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
  await trivyCommand(options.trivyPath).mustRun(
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
  return readReport(reportPath);
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
