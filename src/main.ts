import * as core from '@actions/core';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBaseImage } from './build/base-image-registry.js';
import { withBaseLabels } from './build/base-image.js';
import type { BuiltImage } from './build/kaniko-build.js';
import { buildImage, describeBuild } from './build/kaniko-build.js';
import type { LayerCache } from './build/layer-cache.js';
import { finishBackgroundRemovals, recordForCleanup } from './cleanup.js';
import type { GitHubContext } from './context.js';
import { readGitHubContext } from './context.js';
import { gitOutput } from './exec.js';
import { finish, repositoryPath } from './finish.js';
import type { Decision } from './gate/policy.js';
import { decide } from './gate/policy.js';
import { IGNORE_FILE_MAX_BYTES, parseIgnoreFile } from './gate/ignore.js';
import type { VexDocument } from './gate/vex.js';
import { readVexDocuments } from './gate/vex.js';
import type { Config, InputValues } from './inputs.js';
import { buildConfig } from './inputs.js';
import type { PublishResult } from './publish/publish-image.js';
import { login } from './publish/publish-image.js';
import type { PlatformImage } from './publish/publish-platforms.js';
import { outcomeOf, publishPlatforms } from './publish/publish-platforms.js';
import { mergePushedDigests } from './publish/merge-digests.js';
import {
  buildsIndex,
  combinedSarifPath,
  platformFolder,
  platformLabel,
  sarifCategoryOf,
} from './platform-layout.js';
import { formatPlatform } from './platform.js';
import { loadUndici } from './proxied-fetch.js';
import {
  baseImageOptions,
  checkPlatforms,
  platformBuildArgs,
  prepareBuilds,
} from './build/platform-builds.js';
import { registryOf } from './reference.js';
import type { Reporter } from './reporter.js';
import { reporter } from './reporter.js';
import { announceBlockingFindings } from './report/blocking-annotations.js';
import { attributeLayers } from './report/layer-attribution.js';
import type { SarifLog } from './report/sarif.js';
import { logOfRuns, rewriteSarif } from './report/sarif.js';
import { runnerPathsOf } from './report/runner-paths.js';
import { describeDecision } from './report/summary.js';
import { checkedOutCommit, resolveUploadTarget, uploadSarif } from './report/upload.js';
import type { PlatformRun, PublishOutcome, RunRecord, StageName } from './run-record.js';
import type { ScanResult } from './scan/trivy-scan.js';
import { scannedImageMismatch } from './scan/trivy-report.js';
import { scanReport, writeScanFiles } from './scan/trivy-scan.js';
import { TrivyDatabases } from './scan/trivy-databases.js';
import type { Crane } from './tools/crane-command.js';
import { craneCommand } from './tools/crane-command.js';
import type { InstalledTools } from './tools/install-tools.js';
import { installTools } from './tools/install-tools.js';
import { enterStage } from './unexpected-failure.js';
import { readWorkspaceFile } from './workspace-file.js';
import { rescanPublished } from './rescan/rescan-pipeline.js';

/** Where the inputs and the context come from, and where results go. */
export interface RunSources {
  readonly read: InputValues;
  readonly github: GitHubContext;
  /** Where results go; the runner's default is RUNNER_TEMP, the local runner's ./out. */
  readonly outputDir?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Reads the inputs and context into a Config; nothing runs before this succeeds. */
export function loadConfig(sources: RunSources): Config {
  const { github } = sources;
  const env = sources.env ?? process.env;
  // Never the workspace: the private folder holds registry credentials while the step runs.
  const runnerTemp = github.runnerTemp || tmpdir();
  const config = buildConfig({
    read: sources.read,
    github,
    outputDir: sources.outputDir ?? join(runnerTemp, 'build-scan-push'),
    tempDir: join(runnerTemp, 'build-scan-push-private'),
    now: new Date(),
    commitTime: () => commitTime(env, github.payload.head_commit?.timestamp, github.workspace),
  });
  // The registry password was masked as it was read (Registries); the token is masked here,
  // before anything can log it.
  if (config.report.githubToken) reporter().setSecret(config.report.githubToken);
  return config;
}

/**
 * SOURCE_DATE_EPOCH wins, as reproducible-builds.org specifies; then the pushed commit's time
 * from the event; then the checked-out commit's (pull requests, workflow_dispatch, local runs).
 */
function commitTime(
  env: NodeJS.ProcessEnv,
  headCommitTime: string | undefined,
  workspace: string,
): Date | undefined {
  if (env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH))
    return new Date(Number(env.SOURCE_DATE_EPOCH) * 1000);
  if (headCommitTime) return new Date(headCommitTime);
  // Outside a git checkout a reproducible build dates its image at the epoch, as kaniko does.
  const seconds = gitOutput(['log', '-1', '--format=%ct'], workspace);
  return /^\d+$/.test(seconds) ? new Date(Number(seconds) * 1000) : undefined;
}

/** The run as it goes: each stage fills in its part; a stage that throws is recorded, not lost. */
export class Recorder {
  stage: StageName = 'install';

  /** Moves on to a stage; an unexpected failure from here on names it. */
  enter(stage: StageName): void {
    this.stage = stage;
    enterStage(`the ${stage} stage`);
  }

  tools?: InstalledTools;
  readonly platforms: PlatformDraft[];
  publish?: PublishOutcome;
  uploadError?: string;
  readonly notes: string[] = [];
  failure?: { stage: StageName; error: Error };

  constructor(readonly config: Config) {
    this.platforms = config.build.platforms.map((platform) => ({ platform: formatPlatform(platform) }));
  }

  /** Records what stopped the run, in the stage it stopped (a platform's own, when it says). */
  fail(error: unknown): void {
    const stopped = error instanceof StageFailure ? error : undefined;
    const cause = stopped ? stopped.cause : error;
    this.failure = {
      stage: stopped?.stage ?? this.stage,
      error: cause instanceof Error ? cause : new Error(String(cause)),
    };
  }

  record(): RunRecord {
    return {
      config: this.config,
      platforms: this.platforms,
      notes: this.notes,
      ...(this.tools ? { tools: this.tools } : {}),
      ...(this.publish ? { publish: this.publish } : {}),
      ...(this.uploadError ? { uploadError: this.uploadError } : {}),
      ...(this.failure ? { failure: this.failure } : {}),
    };
  }
}

type PlatformDraft = { -readonly [K in keyof PlatformRun]: PlatformRun[K] };

/** A failure in a stage that ran beside another (a platform's scan while the next one builds). */
class StageFailure extends Error {
  constructor(
    readonly stage: StageName,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/**
 * The pipeline: install → for each platform, build, then scan → gate → report while the next one
 * builds (DBs prepared meanwhile) → SARIF upload and publish together → cache; with `rescan`, the
 * rescan of what is published instead (src/rescan/rescan-pipeline.ts); with `merge-digests`, the
 * index of what matrix jobs pushed (src/publish/merge-digests.ts).
 */
export async function runPipeline(config: Config): Promise<RunRecord> {
  if (config.rescan.enabled) return rescanPublished(config);
  if (config.publish.mergeDigests.length > 0) return mergePushedDigests(config);
  const run = new Recorder(config);
  run.enter('inputs');
  let layerCache: LayerCache | undefined;
  try {
    const vex = await readVex(config);
    await checkPlatforms(config);
    run.enter('install');
    await prepareFolders(config);
    run.tools = await install(config);
    const trivyDatabases = await startTrivyDatabases(config, run.tools);
    layerCache = config.build.cache ? await openLayerCache(config) : undefined;
    run.enter('build');
    const dockerfiles = await prepareBuilds(config, run.tools, run.platforms);
    const needs = { tools: run.tools, layerCache, trivyDatabases, vex, dockerfiles };
    const reporting = await buildAndGateEach(run, needs);
    run.enter('publish');
    await reportWhilePublishing(run, run.tools, reporting);
    run.enter('cache');
    if (layerCache) await writeLayerCache(run, layerCache);
  } catch (error) {
    run.fail(error);
  } finally {
    await layerCache?.close();
    // Nothing of the sandbox outlives the step; what could not be removed the post step retries.
    for (const failure of await finishBackgroundRemovals()) {
      reporter().warning(`${failure}\nThe post step tries again.`);
      run.notes.push(failure);
    }
  }
  return run.record();
}

/** What a platform's build needs besides its settings. */
interface BuildAndCheck {
  readonly tools: InstalledTools;
  readonly layerCache: LayerCache | undefined;
  readonly trivyDatabases: TrivyDatabases;
  readonly vex: readonly VexDocument[];
  /** The Dockerfile kaniko reads for a platform, when its stages had to be pinned (prepareBuilds). */
  readonly dockerfiles: ReadonlyMap<string, string>;
}

/**
 * Every platform is built in turn; each one's scan and gate run while the next one builds (one
 * after another, in the order given), then its report (SARIF, SBOM, predicate) while the next is
 * scanned. After a failure nothing more is built. Returns once every platform is gated, as the
 * push needs nothing more, with the reports still being written: `reported` settles to the SARIF
 * to upload, one run per platform, once the blocking findings are announced.
 */
async function buildAndGateEach(
  run: Recorder,
  needs: BuildAndCheck,
): Promise<{ readonly reported: Promise<SarifLog> }> {
  const { config } = run;
  const logs: SarifLog[] = [];
  let gating: Promise<unknown> = Promise.resolve();
  let reporting: Promise<unknown> = Promise.resolve();
  let stopped = false;
  let buildFailure: { error: unknown } | undefined;
  let reportFailure: { error: unknown } | undefined;
  try {
    for (const platform of run.platforms) {
      if (stopped) break;
      run.enter('build');
      const built = await buildStage(config, needs, platform);
      if (platform.base)
        await checkBaseImage(platform.base, built.identity, baseImageOptions(config, needs.tools));
      const gated = scanWhileHashing(run, needs, platform, built, gating);
      const reported = Promise.all([gated, reporting]).then(async ([scan]) =>
        logs.push(await reportPlatform(run, needs, platform, scan)),
      );
      [gating, reporting] = [gated, reported];
      gated.catch(() => (stopped = true));
      reported.catch((error: unknown) => {
        stopped = true;
        reportFailure ??= { error };
      });
    }
  } catch (error) {
    buildFailure = { error };
  }
  const [gated] = await Promise.allSettled([gating]);
  // A report that failed while a later platform was built or scanned stops the run before any push.
  const failure = buildFailure ?? (gated.status === 'rejected' ? { error: gated.reason } : reportFailure);
  if (failure) {
    // A report under way finishes before the run goes on: no Trivy outlives its stage.
    await Promise.allSettled([reporting]);
    throw failure.error;
  }
  const reported = reporting.then(() => {
    // Said once for all platforms: a finding that blocks several is one annotation, within one limit.
    announceBlockingFindings(
      run.platforms.map(({ decision, attribution, platform }) => ({
        decision: decision!,
        attribution: attribution!,
        ...(config.build.platforms.length > 1 ? { platform } : {}),
      })),
      repositoryPath(config, config.build.dockerfile),
    );
    return sarifOfPlatforms(config, logs);
  });
  // Awaited by reportWhilePublishing; observed here so that an early failure is not unhandled.
  reported.catch(() => undefined);
  return { reported };
}

/**
 * One platform's scan and gate (once `previous` platform's are done) while its layers are hashed,
 * as the digest is first needed by the push; settles when both have. A failure carries its stage.
 */
async function scanWhileHashing(
  run: Recorder,
  needs: BuildAndCheck,
  platform: PlatformDraft,
  built: BuiltImage,
  previous: Promise<unknown>,
): Promise<ScanResult> {
  const [scanned, hashed] = await Promise.allSettled([
    previous.then(() => scanAndGate(run, needs, platform, built)),
    describeBuild(built).then((build) => (platform.build = build)),
  ]);
  if (hashed.status === 'rejected') throw new StageFailure('build', hashed.reason);
  if (scanned.status === 'rejected') throw scanned.reason;
  return scanned.value;
}

/** One platform's scan → gate; a failure carries its stage, as another build may be under way. */
async function scanAndGate(
  run: Recorder,
  needs: BuildAndCheck,
  platform: PlatformDraft,
  build: BuiltImage,
): Promise<ScanResult> {
  const { config } = run;
  let stage: StageName = 'scan';
  try {
    // The scan starts while the layers are checked for Java archives (scanWhenReady).
    const scan = await needs.trivyDatabases.scanWhenReady(build.tarball, () =>
      scanStage(config, needs.tools, build, needs.vex, platformFolder(config, platform.platform)),
    );
    platform.scan = scan;
    stage = 'gate';
    platform.decision = await gate(config, scan, platformLabel(config, platform.platform));
    return scan;
  } catch (error) {
    throw new StageFailure(stage, error);
  }
}

/** The VEX documents, read and checked before anything is downloaded or built. */
function readVex(config: Config): Promise<VexDocument[]> {
  return readVexDocuments(
    config.run.workspace,
    config.policy.vexFiles.map((path) => ({ path, name: repositoryPath(config, path) })),
  );
}

/**
 * The push starts as soon as every platform is gated and passed (and pushing is on); the reports
 * are written meanwhile, then the SARIF is uploaded. No tag is set before the reports are
 * written. Both the push and the reports are awaited, and both outcomes recorded.
 */
async function reportWhilePublishing(
  run: Recorder,
  tools: InstalledTools,
  reporting: { readonly reported: Promise<SarifLog> },
): Promise<void> {
  const { config } = run;
  const { reported } = reporting;
  const pushing = run.platforms.every((platform) => platform.decision?.pass) && config.publish.push;
  const publishing = pushing ? publish(config, tools, builtImages(run), reported) : undefined;
  const uploading = reported.then((sarif) => (config.report.uploadSarif ? upload(run, sarif) : undefined));
  const [uploaded, published] = await Promise.allSettled([uploading, publishing]);
  if (published.status === 'fulfilled' && published.value) run.publish = published.value;
  if (uploaded.status === 'rejected' && run.publish?.status === 'failed') {
    // The report failed while the image was being pushed: the failure says what exists.
    const stopped =
      uploaded.reason instanceof StageFailure ? uploaded.reason : new StageFailure('report', uploaded.reason);
    throw new StageFailure(stopped.stage, new Error(`${stopped.message}\n${run.publish.error.message}`));
  }
  for (const outcome of [uploaded, published]) if (outcome.status === 'rejected') throw outcome.reason;
}

export async function prepareFolders(config: Config): Promise<void> {
  await mkdir(config.run.outputDir, { recursive: true });
  recordForCleanup(config.run.tempDir);
  await mkdir(config.run.tempDir, { recursive: true, mode: 0o700 });
}

function install(config: Config): Promise<InstalledTools> {
  return installTools({
    ...config.tools,
    registries: config.registries,
    arch: process.arch,
    timeLimit: config.timeouts.install,
  });
}

export function trivyCacheDir(config: Config): string {
  return join(config.run.tempDir, 'trivy-cache');
}

/** Starts the databases' preparation while kaniko builds; the scan awaits them, a build failure ignores them. */
export function startTrivyDatabases(
  config: Config,
  tools: Pick<InstalledTools, 'trivy'>,
): Promise<TrivyDatabases> {
  const { scan } = config;
  return TrivyDatabases.start({
    trivyPath: tools.trivy.path,
    cacheDir: trivyCacheDir(config),
    scanners: scan.scanners,
    repositories: {
      vulnerability: scan.trivyDbRepositories,
      java: scan.trivyJavaDbRepositories,
      checks: scan.trivyChecksRepositories,
    },
    registries: config.registries,
    dockerConfigDir: join(config.run.tempDir, 'trivy-docker-config'),
    dockerfile: config.build.dockerfile,
    timeLimit: config.timeouts.scan,
  });
}

/** Loaded when a layer cache is used: it makes requests with undici, which is slow to load. */
const layerCacheModule = () => import('./build/layer-cache.js');

/** kaniko's layer cache: a loopback registry in this process, not `cache-repo` itself. */
async function openLayerCache(config: Config): Promise<LayerCache> {
  const { startLayerCache } = await layerCacheModule();
  return startLayerCache({
    storeDir: join(config.run.tempDir, 'layer-cache'),
    cacheRepo: config.build.cacheRepo,
    registries: config.registries,
  });
}

/**
 * After the image push, the scanned cache entries go to `cache-repo`; on a failed policy, a pull
 * request or `push: false` nothing does: what the build wrote was not shown to be harmless.
 */
async function writeLayerCache(run: Recorder, layerCache: LayerCache): Promise<void> {
  const { config } = run;
  if (run.publish?.status !== 'pushed') {
    const why = run.platforms.some((platform) => !platform.decision?.pass)
      ? 'the policy failed'
      : !config.publish.push
        ? 'pushing is off (a pull request, or `push: false`)'
        : 'the image push failed';
    reporter().info(
      `The layer cache was read only: nothing is written to ${config.build.cacheRepo}, as ${why}.`,
    );
    return;
  }
  const cacheRegistry = registryOf(config.build.cacheRepo);
  const crane = craneCommand({
    path: run.tools!.crane.path,
    registry: cacheRegistry,
    registries: config.registries,
    ...(config.registries.credentialFor(config.publish.registry)
      ? { dockerConfigDir: dockerConfigDir(config) }
      : {}),
    timeLimit: config.timeouts.push,
  });
  // Every platform's layers were scanned: an entry of any of them may go.
  const scannedDiffIds = run.platforms.flatMap((platform) => platform.build?.identity.diffIds ?? []);
  const { exportLayerCache } = await layerCacheModule();
  await exportLayerCache({ cache: layerCache, crane, scannedDiffIds });
}

async function buildStage(
  config: Config,
  needs: BuildAndCheck,
  platform: PlatformDraft,
): Promise<BuiltImage> {
  const { tools, layerCache } = needs;
  const wanted = config.build.platforms.find((known) => formatPlatform(known) === platform.platform)!;
  const pinned = needs.dockerfiles.get(platform.platform);
  const request = {
    ...config.build,
    platform: wanted,
    buildArgs: platformBuildArgs(config, wanted),
    ...(pinned !== undefined ? { dockerfileText: pinned } : {}),
    ...(platform.base ? { labels: withBaseLabels(config.build.labels, platform.base) } : {}),
  };
  const building = buildImage(request, {
    rootfs: tools.kaniko.rootfs,
    outputDir: config.run.outputDir,
    tempDir: config.run.tempDir,
    image: config.publish.image,
    firstTag: config.publish.tags[0]!,
    registries: config.registries,
    timeLimit: config.timeouts.build,
    ...(layerCache ? { layerCache: { port: layerCache.port, repository: layerCache.repository } } : {}),
    onStarted: () => loadLaterStages(config),
  });
  // Whatever the build did, it writes nothing more to the cache; the entries stay for the export.
  return building.finally(() => layerCache?.closeWrites());
}

/**
 * Loads the code the upload and the push will run (Octokit, undici) while kaniko builds: a core
 * is idle then, and none is once the scan, the reports and the push run side by side on a
 * 2-core runner. A module loads once; whoever needs it later finds it loaded, or its failure.
 */
function loadLaterStages(config: Config): void {
  const loads = [
    ...(config.report.uploadSarif && config.report.githubToken ? [import('@octokit/rest')] : []),
    ...(config.publish.push ? [loadUndici()] : []),
  ];
  for (const load of loads) load.catch(() => undefined);
}

async function scanStage(
  config: Config,
  tools: InstalledTools,
  build: BuiltImage,
  vex: readonly VexDocument[],
  outputDir: string,
): Promise<ScanResult> {
  await mkdir(outputDir, { recursive: true });
  const scan = await scanReport({
    ...config.scan,
    trivyPath: tools.trivy.path,
    tarball: build.tarball,
    outputDir,
    cacheDir: trivyCacheDir(config),
    timeLimit: config.timeouts.scan,
    vex,
    dockerfileText: await readFile(config.build.dockerfile, 'utf8'),
  });
  const mismatch = scannedImageMismatch(scan.report, build.identity);
  if (mismatch) throw new Error(`${mismatch}: the report is not about this build, so nothing is pushed.`);
  return scan;
}

/** The policy's decision on one scan; `label` names the platform in the log when there are several. */
export async function gate(config: Config, scan: ScanResult, label = ''): Promise<Decision> {
  const { policy, run } = config;
  const ignores = policy.ignoreFile
    ? parseIgnoreFile(
        await readWorkspaceFile(run.workspace, policy.ignoreFile, IGNORE_FILE_MAX_BYTES),
        repositoryPath(config, policy.ignoreFile),
      )
    : [];
  const decision = decide(
    scan.report,
    {
      ...policy,
      scanners: config.scan.scanners,
      ignores,
      now: new Date(),
      vexNames: scan.vexNames ?? new Map(),
    },
    scan.dockerfileReport,
  );
  for (const warning of decision.warnings) reporter().warning(warning);
  reporter().info(`${label}${describeDecision(decision)}`);
  return decision;
}

/**
 * One platform's report: SARIF, SBOM and predicate written from its scan, then the SARIF
 * rewritten for code scanning (uploaded whether the policy passed or not) and returned.
 */
async function reportPlatform(
  run: Recorder,
  needs: BuildAndCheck,
  platform: PlatformDraft,
  scan: ScanResult,
): Promise<SarifLog> {
  const { config } = run;
  const { build, decision } = platform as Required<PlatformDraft>;
  try {
    const files = await writeScanFiles(
      {
        trivyPath: needs.tools.trivy.path,
        timeLimit: config.timeouts.scan,
        outputDir: platformFolder(config, platform.platform),
        sbom: config.scan.sbom,
      },
      scan,
    );
    platform.files = files;
    const attribution = attributeLayers({
      dockerfileText: await readFile(config.build.dockerfile, 'utf8'),
      target: config.build.target,
      imageConfig: build.imageConfig,
      report: scan.report,
    });
    platform.attribution = attribution;
    const rewritten = rewriteSarif(JSON.parse(await readFile(files.sarifPath, 'utf8')) as SarifLog, {
      category: sarifCategoryOf(config, platform.platform),
      dockerfilePath: repositoryPath(config, config.build.dockerfile),
      attribution,
      decision,
      runnerPaths: runnerPathsOf(config.publish.image, build.tarball, scan.vexNames),
    });
    for (const note of rewritten.dropped) reporter().warning(note);
    run.notes.push(...rewritten.dropped);
    await writeFile(files.sarifPath, JSON.stringify(rewritten.sarif));
    return rewritten.sarif;
  } catch (error) {
    throw new StageFailure('report', error);
  }
}

export async function upload(run: Recorder, sarif: SarifLog): Promise<void> {
  const { github, workspace } = run.config.run;
  const target = resolveUploadTarget({
    ref: github.ref,
    sha: github.sha,
    checkedOutSha: await checkedOutCommit(workspace),
  });
  const head = github.payload.pull_request?.head?.repo?.full_name;
  const [uploaded] = await Promise.allSettled([
    uploadSarif({
      sarif,
      token: run.config.report.githubToken,
      apiUrl: github.apiUrl,
      owner: github.owner,
      repo: github.repoName,
      ref: target.ref,
      commitSha: target.commitSha,
      checkoutPath: workspace,
      startedAt: new Date(),
      fromFork: head !== undefined && head !== github.repository,
    }),
  ]);
  if (uploaded.status === 'rejected') {
    run.uploadError = `SARIF upload failed: ${(uploaded.reason as Error).message}`;
    reporter().error(run.uploadError);
  } else if (uploaded.value.status === 'complete')
    reporter().info(`SARIF uploaded to code scanning (${uploaded.value.id}).`);
  else {
    reporter().warning(uploaded.value.warning);
    run.notes.push(uploaded.value.warning);
  }
}

/** Pushes `images`; no tag is set before `tagAfter` resolves, none at all if it rejects. */
async function publish(
  config: Config,
  tools: InstalledTools,
  images: readonly PlatformImage[],
  tagAfter: Promise<unknown>,
): Promise<PublishOutcome> {
  const pushing = async (): Promise<PublishResult> => {
    const loggedIn = await login({
      crane: tools.crane.path,
      registry: config.publish.registry,
      registries: config.registries,
      dockerConfigDir: dockerConfigDir(config),
      timeLimit: config.timeouts.push,
    });
    return publishPlatforms({
      crane: tools.crane.path,
      image: config.publish.image,
      tags: config.publish.pushByDigest ? [] : config.publish.tags,
      images,
      asIndex: buildsIndex(config) && !config.publish.pushByDigest,
      tagAfter,
      registries: config.registries,
      timeLimit: config.timeouts.push,
      ...(loggedIn ? { dockerConfigDir: loggedIn.dockerConfigDir } : {}),
    });
  };
  return outcomeOf(pushing());
}

/** Every platform's scanned image, in the order of `platforms`, as the push takes them. */
function builtImages(run: Recorder): PlatformImage[] {
  return run.platforms.map(({ platform, build }) => ({
    platform,
    tarball: build!.tarball,
    digest: build!.digest,
    manifestSize: build!.manifestSize,
    config: build!.imageConfig,
  }));
}

/**
 * What goes to code scanning: the one platform's log, or every platform's run (each under its own
 * category) in one log, one upload, written next to the platforms' folders for the `sarif` output.
 */
async function sarifOfPlatforms(config: Config, logs: readonly SarifLog[]): Promise<SarifLog> {
  if (logs.length === 1) return logs[0]!;
  const combined = logOfRuns(logs);
  await writeFile(combinedSarifPath(config), JSON.stringify(combined));
  return combined;
}

/** The private DOCKER_CONFIG loginRegistry writes; it keys the credential by the image's host. */
export function dockerConfigDir(config: Config): string {
  return join(config.run.tempDir, 'docker-config');
}

/** crane for `image`'s registry, logged in with its credential (as the push does) when there is one. */
export async function registryCrane(config: Config, cranePath: string, failureHint: string): Promise<Crane> {
  const { registry } = config.publish;
  const loggedIn = await login({
    crane: cranePath,
    registry,
    registries: config.registries,
    dockerConfigDir: dockerConfigDir(config),
    timeLimit: config.timeouts.push,
  });
  return craneCommand({
    path: cranePath,
    registry,
    registries: config.registries,
    timeLimit: config.timeouts.push,
    ...(loggedIn ? { dockerConfigDir: loggedIn.dockerConfigDir } : {}),
    failureHint,
  });
}

/** The action on a runner: inputs from the workflow, the pipeline, then `finish`. */
export async function main(sources: Partial<RunSources> = {}, speaker: Reporter = reporter()): Promise<void> {
  const github = sources.github ?? readGitHubContext(process.env);
  let record: RunRecord;
  enterStage('reading the inputs');
  try {
    const config = loadConfig({ read: (name) => core.getInput(name), github, ...sources });
    record = await runPipeline(config);
  } catch (error) {
    record = { platforms: [], notes: [], failure: { stage: 'inputs', error: error as Error } };
  }
  await finish(record, speaker);
}
