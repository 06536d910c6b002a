import * as cache from '@actions/cache';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { lastLines } from '../exec.js';
import { Registries } from '../registries.js';
import type { TimeLimit } from '../timeout-settings.js';
import type { SbomFormat, Scanner } from '../vocabulary.js';
import { TRIVY_QUIET_FLAGS, trivyCommand } from '../tools/trivy-command.js';
import type { TrivyReport } from './trivy-report.js';
import { parseTrivyReport } from './trivy-report.js';
import { reporter } from '../reporter.js';

interface TrivyProcessOptions {
  readonly trivyPath: string;
  /** The stage's limit on each Trivy process (see exec.run). */
  readonly timeLimit?: TimeLimit;
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
  const trivy = trivyCommand(options.trivyPath, options.timeLimit);
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
}

export interface ScanResult {
  readonly report: TrivyReport;
  readonly reportPath: string;
  readonly sarifPath: string;
  readonly sbomPath?: string;
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
  const trivy = trivyCommand(options.trivyPath, options.timeLimit);
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
      '--skip-db-update',
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
  await Promise.all([convert('sarif', sarifPath), ...(sbomPath ? [convert(options.sbom, sbomPath)] : [])]);
  return { report, reportPath, sarifPath, ...(sbomPath ? { sbomPath } : {}) };
}
