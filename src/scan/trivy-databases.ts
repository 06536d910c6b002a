import type * as ActionsCache from '@actions/cache';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import { join } from 'node:path';
import { recordForCleanup } from '../cleanup.js';
import type { RunResult } from '../exec.js';
import { lastLines } from '../exec.js';
import { registryOf } from '../reference.js';
import { Registries, basicToken } from '../registries.js';
import { reporter } from '../reporter.js';
import { TRIVY_QUIET_FLAGS, trivyCommand } from '../tools/trivy-command.js';
import type { Scanner } from '../vocabulary.js';
import { dockerfileSuggestsJava, imageHoldsJavaArchive } from './java-archives.js';
import type { TimeLimit } from '../timeout-settings.js';

/** Stores a database between runs; `@actions/cache` on a runner, a fake in tests. */
export interface DbCacheStore {
  /** false when no cache service is reachable (a local run). */
  available(): boolean | Promise<boolean>;
  /** The key that was restored, or undefined on a miss. */
  restore(paths: string[], key: string, restoreKeys: string[]): Promise<string | undefined>;
  save(paths: string[], key: string): Promise<void>;
}

/**
 * @actions/cache, loaded when a database is first prepared (during the build) rather than at the
 * action's start: with the Azure storage client it brings it is about 40% of the bundle, and
 * evaluating it delayed every run's start by ~50-80 ms.
 */
const actionsCache = (): Promise<typeof ActionsCache> => import('@actions/cache');

export const actionsCacheStore: DbCacheStore = {
  // isFeatureAvailable (v6.3.0) needs ACTIONS_RESULTS_URL (cache service v2) or ACTIONS_CACHE_URL
  // (v1): without either (a local run) the module is not even loaded.
  available: async () =>
    Boolean(process.env.ACTIONS_RESULTS_URL || process.env.ACTIONS_CACHE_URL) &&
    (await actionsCache()).isFeatureAvailable(),
  restore: async (paths, key, restoreKeys) => (await actionsCache()).restoreCache(paths, key, restoreKeys),
  save: async (paths, key) => {
    await (await actionsCache()).saveCache(paths, key);
  },
};

export type TrivyDatabase = 'vulnerability' | 'java' | 'checks';

/** The scan then reads only what was prepared: it makes no network request of its own. */
export const TRIVY_SKIP_UPDATE_FLAGS = [
  '--skip-db-update',
  '--skip-java-db-update',
  '--skip-check-update',
] as const;

/** Where Trivy v0.74.0 keeps each database in its cache dir and how it downloads one alone. */
interface DatabaseKind {
  readonly title: string;
  readonly input: string;
  /** Under the cache dir: pkg/db/db.go Dir, pkg/javadb/client.go dbDir, pkg/policy/policy.go policyDir. */
  readonly folder: string;
  /** What a complete copy holds (Trivy's metadata.json is written last). */
  readonly files: readonly string[];
  readonly cacheKeyName: string;
  /** The Trivy command that fills `folder` from one repository and scans nothing. */
  command(repository: string, cacheDir: string, insecure: boolean, timeout: string): string[];
}

const connectionFlags = (insecure: boolean, timeout: string) => [
  ...(insecure ? ['--insecure'] : []),
  '--timeout',
  timeout,
];

/** `trivy image --download-…-only`: the one DB it names from one repository, and no scan. */
const downloadOnly =
  (flag: string, repositoryFlag: string): DatabaseKind['command'] =>
  (repository, cacheDir, insecure, timeout) => [
    'image',
    flag,
    '--cache-dir',
    cacheDir,
    repositoryFlag,
    repository,
    ...connectionFlags(insecure, timeout),
    ...TRIVY_QUIET_FLAGS,
  ];

const DATABASES: Record<TrivyDatabase, DatabaseKind> = {
  vulnerability: {
    title: 'Trivy vulnerability DB',
    input: 'trivy-db-repositories',
    folder: 'db',
    files: ['trivy.db', 'metadata.json'],
    cacheKeyName: 'trivy-db-v2',
    command: downloadOnly('--download-db-only', '--db-repository'),
  },
  java: {
    title: 'Trivy Java DB',
    input: 'trivy-java-db-repositories',
    folder: 'java-db',
    files: ['trivy-java.db', 'metadata.json'],
    cacheKeyName: 'trivy-java-db-v1',
    command: downloadOnly('--download-java-db-only', '--java-db-repository'),
  },
  checks: {
    title: 'Trivy checks bundle',
    input: 'trivy-checks-repositories',
    folder: 'policy',
    files: ['content', 'metadata.json'],
    cacheKeyName: 'trivy-checks-v2',
    // Trivy has no download-only flag for the bundle: a config scan of its own empty working
    // directory fetches it (pkg/commands/operation InitBuiltinChecks) and finds nothing. `trivy
    // config` has no --no-progress; on a failed download it falls back to its embedded checks
    // and exits 0, so success is judged by the files alone.
    command: (repository, cacheDir, insecure, timeout) => [
      'config',
      '--cache-dir',
      cacheDir,
      '--checks-bundle-repository',
      repository,
      ...connectionFlags(insecure, timeout),
      '--skip-version-check',
      '--disable-telemetry',
      '.',
    ],
  },
};

export interface TrivyDbOptions {
  readonly trivyPath: string;
  /** The action's own Trivy cache directory; each database has its folder in it. */
  readonly cacheDir: string;
  /** Tried in order; the database's `…-repositories` input. */
  readonly repositories: readonly string[];
  /** A repository on an insecure registry gets `--insecure`; none is, unless given. */
  readonly registries?: Registries;
  /** A private DOCKER_CONFIG holding the credentials of the repositories' registries. */
  readonly dockerConfigDir?: string;
  /** The scan stage's limit on each Trivy process (see exec.run). */
  readonly timeLimit?: TimeLimit;
  readonly timeout?: string;
  /** Today's date picks the cache key, so a runner refreshes a database at most once a day. */
  readonly now?: Date;
  readonly store?: DbCacheStore;
}

export interface TrivyDbResult {
  readonly source: 'cache' | 'download';
  /** The repository the database came from when downloaded. */
  readonly repository?: string;
  readonly cacheKey: string;
}

let warnedNoCacheService = false;

/**
 * Makes one database ready for a scan with TRIVY_SKIP_UPDATE_FLAGS. A cache hit for today's key
 * needs no network; otherwise each repository is tried in turn (Trivy itself only moves on after
 * 429/5xx, not after a network error) and the fresh copy is saved under today's key.
 */
export async function prepareTrivyDatabase(
  database: TrivyDatabase,
  options: TrivyDbOptions,
): Promise<TrivyDbResult> {
  const kind = DATABASES[database];
  if (options.repositories.length === 0)
    throw new Error(`no ${kind.title} repository to download from: set \`${kind.input}\`.`);
  const store = options.store ?? actionsCacheStore;
  const folder = join(options.cacheDir, kind.folder);
  const prefix = `build-scan-push-${kind.cacheKeyName}-${platform()}-${arch()}-`;
  const cacheKey = `${prefix}${(options.now ?? new Date()).toISOString().slice(0, 10)}`;
  await mkdir(options.cacheDir, { recursive: true });

  const useCache = await store.available();
  const restoredKey = useCache ? await restore(kind, store, folder, cacheKey, prefix) : warnNoCacheService();
  if (restoredKey === cacheKey && isComplete(kind, folder)) {
    reporter().info(`${kind.title} restored from the cache (${cacheKey}).`);
    return { source: 'cache', cacheKey };
  }
  const repository = await download(kind, options, folder);
  if (useCache && restoredKey !== cacheKey) await save(kind, store, folder, cacheKey);
  return { source: 'download', repository, cacheKey };
}

function warnNoCacheService(): undefined {
  if (warnedNoCacheService) return undefined;
  warnedNoCacheService = true;
  reporter().warning(
    'No cache service (ACTIONS_CACHE_URL / ACTIONS_RESULTS_URL unset, e.g. a local run): the Trivy databases are downloaded instead of restored.',
  );
  return undefined;
}

/** The key restored from the cache, or undefined on a miss or a failed restore. */
async function restore(
  kind: DatabaseKind,
  store: DbCacheStore,
  folder: string,
  cacheKey: string,
  prefix: string,
): Promise<string | undefined> {
  try {
    return await store.restore([folder], cacheKey, [prefix]);
  } catch (error) {
    reporter().warning(
      `Restoring the ${kind.title} from the cache failed (${(error as Error).message}); downloading it.`,
    );
    return undefined;
  }
}

/** Tries each repository in turn; the one the database came from. */
async function download(kind: DatabaseKind, options: TrivyDbOptions, folder: string): Promise<string> {
  const trivy = trivyCommand(options.trivyPath, {
    ...(options.dockerConfigDir !== undefined && { dockerConfigDir: options.dockerConfigDir }),
    ...(options.timeLimit !== undefined && { timeLimit: options.timeLimit }),
  });
  const registries = options.registries ?? new Registries();
  const failures: string[] = [];
  for (const repository of options.repositories) {
    const insecure = registries.isInsecureReference(repository);
    const result = await trivy.run(
      kind.command(repository, options.cacheDir, insecure, options.timeout ?? '10m'),
    );
    if (result.exitCode === 0 && isComplete(kind, folder)) {
      reporter().info(`${kind.title} downloaded from ${repository}.`);
      return repository;
    }
    failures.push(`  ${repository}: ${failureReason(result)}`);
    reporter().warning(
      `${kind.title} download from ${repository} failed; trying the next repository if any.`,
    );
  }
  throw new Error(
    `the ${kind.title} could not be downloaded from any repository:\n${failures.join('\n')}\n` +
      `Check the runner can reach one of them, or list a reachable mirror in \`${kind.input}\`.`,
  );
}

/** Trivy's last error line: a fallback to embedded checks logs one and still exits 0. */
function failureReason(result: RunResult): string {
  const output = `${result.stdout}\n${result.stderr}`.trim();
  const errors = output.split('\n').filter((line) => /\b(ERROR|FATAL)\b/.test(line));
  return errors.at(-1)?.trim() || lastLines(output, 1) || `exit code ${result.exitCode}`;
}

async function save(kind: DatabaseKind, store: DbCacheStore, folder: string, key: string): Promise<void> {
  try {
    await store.save([folder], key);
  } catch (error) {
    // Another job of this workflow may have saved today's copy first; the scan does not depend on it.
    reporter().warning(
      `Saving the ${kind.title} to the cache under ${key} failed: ${(error as Error).message}`,
    );
  }
}

function isComplete(kind: DatabaseKind, folder: string): boolean {
  return kind.files.every((file) => existsSync(join(folder, file)));
}

/**
 * Writes a private DOCKER_CONFIG (0700 folder, 0600 config.json, recorded for cleanup) with the
 * credential of each repository's registry that has one, and no other; undefined when none has.
 * Trivy reads it through go-containerregistry's default keychain, so no password is in argv.
 */
export async function writeDatabaseDockerConfig(
  dir: string,
  repositories: readonly string[],
  registries: Registries,
): Promise<string | undefined> {
  const auths: Record<string, { auth: string }> = {};
  for (const host of new Set(repositories.map(registryOf))) {
    const credential = registries.credentialFor(host);
    if (credential) auths[host] = { auth: basicToken(credential) };
  }
  if (Object.keys(auths).length === 0) return undefined;
  recordForCleanup(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
  reporter().info(
    `Trivy logs in to ${Object.keys(auths).join(', ')} for its databases (private DOCKER_CONFIG).`,
  );
  return dir;
}

export interface TrivyDatabasesOptions extends Omit<TrivyDbOptions, 'repositories' | 'dockerConfigDir'> {
  readonly registries: Registries;
  readonly scanners: readonly Scanner[];
  readonly repositories: Readonly<Record<TrivyDatabase, readonly string[]>>;
  /** Where the private DOCKER_CONFIG goes when a repository's registry has a credential. */
  readonly dockerConfigDir: string;
  /** The Dockerfile: a FROM of a Java image starts the Java DB while kaniko builds. */
  readonly dockerfile: string;
}

const NO_JAVA = 'The image holds no .jar/.war/.ear/.par: no Java DB is needed.';

type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** A promise that never rejects, so that an outcome can wait unobserved. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function unsettle<T>(settled: Settled<T>): T {
  if (settled.ok) return settled.value;
  throw settled.error;
}

/**
 * Every database the scan will need, each prepared once: the vulnerability DB (`vuln`) and the
 * checks bundle (`misconfig`) from the start, the Java DB from the start when the Dockerfile
 * builds FROM a Java image, else only once the built layers show a Java archive.
 */
export class TrivyDatabases {
  readonly #options: TrivyDatabasesOptions;
  readonly #started = new Map<TrivyDatabase, Promise<TrivyDbResult>>();
  #dockerConfig: Promise<string | undefined> | undefined;

  private constructor(options: TrivyDatabasesOptions) {
    this.#options = options;
  }

  /** Starts what is known before the build; failures wait for `readyFor` (a failed build ignores them). */
  static async start(options: TrivyDatabasesOptions): Promise<TrivyDatabases> {
    const databases = new TrivyDatabases(options);
    const vuln = options.scanners.includes('vuln');
    if (vuln) databases.#prepare('vulnerability');
    if (options.scanners.includes('misconfig')) databases.#prepare('checks');
    if (vuln && dockerfileSuggestsJava(await readFile(options.dockerfile, 'utf8'))) {
      reporter().info('The Dockerfile builds FROM a Java image: the Java DB is prepared during the build.');
      databases.#prepare('java');
    }
    return databases;
  }

  /** Resolves when everything a scan of this tarball needs is in the cache dir. */
  async readyFor(tarball: string): Promise<void> {
    if (this.#javaUndecided()) {
      if (await imageHoldsJavaArchive(tarball)) this.#prepare('java');
      else reporter().info(NO_JAVA);
    }
    await Promise.all(this.#started.values());
  }

  /**
   * Runs `scan` (a scan of `tarball` that reads prepared databases only) as readyFor and then
   * `scan` would, but sooner: when whether the image needs the Java DB is still open, `scan`
   * starts as soon as the databases started before the build are ready, while the layers are
   * checked for Java archives. Should they hold one, that first run's outcome is discarded
   * whatever it was (it had no Java DB; Trivy refuses such a scan), the Java DB is prepared, and
   * `scan` runs again once the first run has ended. What is returned therefore always comes from a run that had every database
   * the image needs; the runs never overlap.
   */
  async scanWhenReady<T>(tarball: string, scan: () => Promise<T>): Promise<T> {
    if (!this.#javaUndecided()) {
      await this.readyFor(tarball);
      return scan();
    }
    let holdsJava: boolean | undefined;
    const checking = imageHoldsJavaArchive(tarball).then((found) => (holdsJava = found));
    checking.catch(() => undefined);
    await Promise.all(this.#started.values());
    const first = holdsJava === true ? undefined : settle(scan());
    const found = await checking.catch(async (error: unknown) => {
      await first;
      throw error;
    });
    if (!found) {
      reporter().info(NO_JAVA);
      return unsettle(await first!);
    }
    reporter().info(
      'The image holds a .jar/.war/.ear/.par: the Java DB is prepared and the scan runs again with it.',
    );
    this.#prepare('java');
    await first;
    await Promise.all(this.#started.values());
    return scan();
  }

  /** The scan needs the vulnerability DB and nothing has yet decided on the Java DB. */
  #javaUndecided(): boolean {
    return this.#options.scanners.includes('vuln') && !this.#started.has('java');
  }

  #prepare(database: TrivyDatabase): void {
    const { repositories, dockerConfigDir, registries } = this.#options;
    this.#dockerConfig ??= writeDatabaseDockerConfig(
      dockerConfigDir,
      Object.values(repositories).flat(),
      registries,
    );
    const dockerConfig = this.#dockerConfig;
    const ready = dockerConfig.then((dir) =>
      prepareTrivyDatabase(database, {
        ...this.#options,
        repositories: repositories[database],
        ...(dir ? { dockerConfigDir: dir } : {}),
      }),
    );
    ready.catch(() => undefined);
    this.#started.set(database, ready);
  }
}
