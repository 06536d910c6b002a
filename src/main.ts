import * as core from '@actions/core';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { BuildResult } from './build/kaniko.js';
import { buildImage } from './build/kaniko.js';
import type { LayerCache } from './build/layer-cache.js';
import { exportLayerCache, startLayerCache } from './build/layer-cache.js';
import { recordForCleanup } from './cleanup.js';
import { readGitHubContext } from './context.js';
import { registryOf } from './reference.js';
import { gitOutput } from './exec.js';
import type { Decision } from './gate/policy.js';
import { decide } from './gate/policy.js';
import { IGNORE_FILE_MAX_BYTES, parseIgnoreFile } from './gate/ignore.js';
import type { Config, InputName } from './inputs.js';
import { buildConfig } from './inputs.js';
import type { PublishResult } from './publish/crane.js';
import { PublishError, loginRegistry, publishImage } from './publish/crane.js';
import type { LayerAttribution } from './report/dockerfile.js';
import { attributeLayers } from './report/dockerfile.js';
import type { SarifLog } from './report/sarif.js';
import { rewriteSarif } from './report/sarif.js';
import { describeDecision, renderSummary, scanOutputs } from './report/summary.js';
import { checkedOutCommit, resolveUploadTarget, uploadSarif } from './report/upload.js';
import type { ScanResult } from './scan/trivy.js';
import { scannedImageMismatch } from './scan/report.js';
import { prepareTrivyDb, scanImage } from './scan/trivy.js';
import { craneRunner } from './tools/crane.js';
import type { InstalledTools } from './tools/install.js';
import { installTools } from './tools/install.js';
import { enterStage, summarizeFailure } from './unexpected-failure.js';
import { readWorkspaceFile } from './workspace-file.js';

export interface MainOptions {
  /** Where results go; the runner's default is RUNNER_TEMP, the local runner's ./out. */
  readonly outputDir?: string;
}

/** Reads the action's inputs and context into a Config; nothing runs before this succeeds. */
export function loadConfig(options: MainOptions = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const github = readGitHubContext(env);
  // Never the workspace: the private folder holds registry credentials while the step runs.
  const runnerTemp = github.runnerTemp || tmpdir();
  const config = buildConfig({
    read: (name: InputName) => core.getInput(name),
    github,
    outputDir: options.outputDir ?? join(runnerTemp, 'build-scan-push'),
    tempDir: join(runnerTemp, 'build-scan-push-private'),
    now: new Date(),
    commitTime: () => commitTime(env, github.payload.head_commit?.timestamp, github.workspace),
  });
  // Mask every form of the secrets before anything can log them: the password may be a PAT
  // rather than the job token, and its basic-auth form lands in credential files.
  const { registryUsername: username, registryPassword: password, githubToken } = config;
  for (const secret of [password, githubToken]) if (secret) core.setSecret(secret);
  if (password) core.setSecret(Buffer.from(`${username}:${password}`).toString('base64'));
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

/** The pipeline: install → build (DB fetched meanwhile) → scan → gate → report → publish → outputs. */
export async function runPipeline(config: Config): Promise<void> {
  core.setOutput('pushed', 'false');
  await prepareFolders(config);
  enterStage('installing the tools');
  const tools = await install(config);
  enterStage('building the image (the Trivy DB downloads meanwhile)');
  const trivyDb = fetchTrivyDb(config, tools);
  const layerCache = config.cache ? await openLayerCache(config) : undefined;
  try {
    const build = await buildStage(config, tools, layerCache);
    await trivyDb;
    enterStage('scanning the image');
    const scan = await scanStage(config, tools, build);
    enterStage('applying the policy');
    const decision = await gate(config, scan);
    enterStage('reporting (SARIF rewrite and upload)');
    const reported = await report(config, build, scan, decision);
    enterStage('pushing the image');
    const published = await settle(decision.pass && config.push ? publish(config, tools, build) : undefined);
    enterStage('writing the layer cache and the summary');
    if (layerCache) await writeLayerCache(config, tools, layerCache, build, decision, published);
    // The summary is written whatever the push did: counts, verdict and what reached the registry.
    await writeResults(config, tools, build, decision, reported, published);
    failIfAnyStageFailed(decision, reported, published);
  } finally {
    await layerCache?.close();
  }
}

type Settled<T> = PromiseSettledResult<T | undefined>;

/** Waits for work that may not have started, keeping its failure for after the summary. */
async function settle<T>(work: Promise<T> | undefined): Promise<Settled<T>> {
  const [outcome] = await Promise.allSettled([work]);
  return outcome;
}

/** A failed push first, then a failed upload (the image may be out), then the policy. */
function failIfAnyStageFailed(
  decision: Decision,
  reported: ReportResult,
  published: Settled<PublishResult>,
): void {
  if (published.status === 'rejected') throw published.reason;
  if (reported.uploadError) {
    const pushed = published.value ? ` The image was pushed: ${published.value.image}.` : '';
    throw new Error(`${reported.uploadError}${pushed}`);
  }
  if (!decision.pass) throw new PolicyFailure(`${describeDecision(decision)}. Nothing was pushed.`);
}

/** The policy said no: the summary already explains why, so only the step's status changes. */
class PolicyFailure extends Error {}

async function prepareFolders(config: Config): Promise<void> {
  await mkdir(config.outputDir, { recursive: true });
  recordForCleanup(config.tempDir);
  await mkdir(config.tempDir, { recursive: true, mode: 0o700 });
}

function install(config: Config): Promise<InstalledTools> {
  return installTools({
    trivyVersion: config.trivyVersion,
    craneVersion: config.craneVersion,
    kanikoImage: config.kanikoImage,
    toolMirror: config.toolMirror,
    insecureRegistries: config.insecureRegistries,
    arch: process.arch,
  });
}

function trivyCacheDir(config: Config): string {
  return join(config.tempDir, 'trivy-cache');
}

/** Starts the DB download while kaniko builds; the scan awaits it, a build failure ignores it. */
function fetchTrivyDb(config: Config, tools: InstalledTools): Promise<unknown> {
  const ready = prepareTrivyDb({
    trivyPath: tools.trivy.path,
    cacheDir: trivyCacheDir(config),
    repositories: config.trivyDbRepositories,
    insecureRegistries: config.insecureRegistries,
  });
  ready.catch(() => undefined);
  return ready;
}

/** kaniko's layer cache: a loopback registry in this process, not `cache-repo` itself. */
function openLayerCache(config: Config): Promise<LayerCache> {
  return startLayerCache({
    storeDir: join(config.tempDir, 'layer-cache'),
    cacheRepo: config.cacheRepo,
    imageRegistry: config.registry,
    ...(config.registryPassword
      ? { credential: { username: config.registryUsername, password: config.registryPassword } }
      : {}),
    insecureRegistries: config.insecureRegistries,
  });
}

/**
 * After the image push, the scanned cache entries go to `cache-repo`; on a failed policy, a pull
 * request or `push: false` nothing does: what the build wrote was not shown to be harmless.
 */
async function writeLayerCache(
  config: Config,
  tools: InstalledTools,
  layerCache: LayerCache,
  build: BuildResult,
  decision: Decision,
  published: Settled<PublishResult>,
): Promise<void> {
  if (published.status !== 'fulfilled' || !published.value) {
    const why = !decision.pass
      ? 'the policy failed'
      : !config.push
        ? 'pushing is off (a pull request, or `push: false`)'
        : 'the image push failed';
    core.info(`The layer cache was read only: nothing is written to ${config.cacheRepo}, as ${why}.`);
    return;
  }
  const crane = craneRunner({
    path: tools.crane.path,
    insecure: config.insecureRegistries.includes(registryOf(config.cacheRepo)),
    ...(config.registryPassword ? { dockerConfigDir: dockerConfigDir(config) } : {}),
  });
  await exportLayerCache({ cache: layerCache, crane, scannedDiffIds: build.identity.diffIds });
}

async function buildStage(
  config: Config,
  tools: InstalledTools,
  layerCache: LayerCache | undefined,
): Promise<BuildResult> {
  const building = buildImage({
    rootfs: tools.kaniko.rootfs,
    context: config.context,
    dockerfile: config.dockerfile,
    outputDir: config.outputDir,
    tempDir: config.tempDir,
    image: config.image,
    firstTag: config.tags[0]!,
    buildArgs: config.buildArgs,
    labels: config.labels,
    target: config.target,
    reproducible: config.reproducible,
    insecureRegistries: config.insecureRegistries,
    extraArgs: config.kanikoArgs,
    network: config.buildNetwork,
    loopbackPorts: config.buildLoopbackPorts,
    ...(layerCache ? { layerCache: { port: layerCache.port, repository: layerCache.repository } } : {}),
  });
  // Whatever the build did, it writes nothing more to the cache; the entries stay for the export.
  const build = await building.finally(() => layerCache?.closeWrites());
  core.setOutput('digest', build.digest);
  core.setOutput('tarball', build.tarball);
  return build;
}

async function scanStage(config: Config, tools: InstalledTools, build: BuildResult): Promise<ScanResult> {
  const scan = await scanImage({
    trivyPath: tools.trivy.path,
    tarball: build.tarball,
    outputDir: config.outputDir,
    cacheDir: trivyCacheDir(config),
    scanners: config.scanners,
    sbom: config.sbom,
  });
  const mismatch = scannedImageMismatch(scan.report, build.identity);
  if (mismatch) throw new Error(`${mismatch}: the report is not about this build, so nothing is pushed.`);
  return scan;
}

async function gate(config: Config, scan: ScanResult): Promise<Decision> {
  const ignores = config.ignoreFile
    ? parseIgnoreFile(
        await readWorkspaceFile(config.workspace, config.ignoreFile, IGNORE_FILE_MAX_BYTES),
        repositoryPath(config, config.ignoreFile),
      )
    : [];
  const decision = decide(scan.report, {
    failOn: config.failOn,
    severity: config.severity,
    ignoreUnfixed: config.ignoreUnfixed,
    scanners: config.scanners,
    ignores,
    now: new Date(),
  });
  for (const warning of decision.warnings) core.warning(warning);
  core.info(describeDecision(decision));
  const paths = { report: scan.reportPath, sarif: scan.sarifPath, sbom: scan.sbomPath ?? '' };
  for (const [name, value] of Object.entries(scanOutputs(decision, paths))) core.setOutput(name, value);
  return decision;
}

interface ReportResult {
  readonly attribution: LayerAttribution;
  /** What the summary must say about the SARIF: results dropped to fit limits, upload warnings. */
  readonly notes: readonly string[];
  /**
   * An upload that failed for a reason other than a permission or setting. The step fails for
   * it, but only after the push: code scanning being down must not block an image that passed.
   */
  readonly uploadError?: string;
}

/** Rewrites the SARIF for code scanning and uploads it, whether the policy passed or not. */
async function report(
  config: Config,
  build: BuildResult,
  scan: ScanResult,
  decision: Decision,
): Promise<ReportResult> {
  const attribution = attributeLayers({
    dockerfileText: await readFile(config.dockerfile, 'utf8'),
    target: config.target,
    imageConfig: build.imageConfig,
    report: scan.report,
  });
  const rewritten = rewriteSarif(JSON.parse(await readFile(scan.sarifPath, 'utf8')) as SarifLog, {
    category: config.sarifCategory,
    dockerfilePath: repositoryPath(config, config.dockerfile),
    attribution,
    report: scan.report,
    decision,
  });
  const notes = [...rewritten.dropped];
  for (const note of rewritten.dropped) core.warning(note);
  await writeFile(scan.sarifPath, JSON.stringify(rewritten.sarif));
  if (!config.uploadSarif) return { attribution, notes };

  const { github } = config;
  const target = resolveUploadTarget({
    ref: github.ref,
    sha: github.sha,
    checkedOutSha: await checkedOutCommit(config.workspace),
  });
  const head = github.payload.pull_request?.head?.repo?.full_name;
  const uploading = uploadSarif({
    sarif: rewritten.sarif,
    token: config.githubToken,
    apiUrl: github.apiUrl,
    owner: github.owner,
    repo: github.repoName,
    ref: target.ref,
    commitSha: target.commitSha,
    checkoutPath: config.workspace,
    startedAt: new Date(),
    fromFork: head !== undefined && head !== github.repository,
  });
  const [uploaded] = await Promise.allSettled([uploading]);
  if (uploaded.status === 'rejected') {
    const uploadError = `SARIF upload failed: ${(uploaded.reason as Error).message}`;
    core.error(uploadError);
    return { attribution, notes: [...notes, uploadError], uploadError };
  }
  if (uploaded.value.status === 'complete')
    core.info(`SARIF uploaded to code scanning (${uploaded.value.id}).`);
  else {
    core.warning(uploaded.value.warning);
    notes.push(uploaded.value.warning);
  }
  return { attribution, notes };
}

async function publish(config: Config, tools: InstalledTools, build: BuildResult): Promise<PublishResult> {
  const login = config.registryPassword
    ? await loginRegistry({
        crane: tools.crane.path,
        registry: config.registry,
        username: config.registryUsername,
        password: config.registryPassword,
        dockerConfigDir: dockerConfigDir(config),
      })
    : undefined;
  const published = await publishImage({
    crane: tools.crane.path,
    tarball: build.tarball,
    image: config.image,
    tags: config.tags,
    expectedDigest: build.digest,
    insecure: config.insecureRegistries.includes(config.registry),
    ...(login ? { dockerConfigDir: login.dockerConfigDir } : {}),
  });
  core.setOutput('pushed', 'true');
  return published;
}

/** The private DOCKER_CONFIG loginRegistry writes; it keys the credential by the image's host. */
function dockerConfigDir(config: Config): string {
  return join(config.tempDir, 'docker-config');
}

async function writeResults(
  config: Config,
  tools: InstalledTools,
  build: BuildResult,
  decision: Decision,
  reported: ReportResult,
  outcome: Settled<PublishResult>,
): Promise<void> {
  const published = outcome.status === 'fulfilled' ? outcome.value : undefined;
  // After a push that stopped part-way, `tags` lists the references that do exist (and `pushed`
  // stays false), so whoever cleans up knows what to remove.
  const failure = outcome.status === 'rejected' ? (outcome.reason as Error) : undefined;
  const partial = failure instanceof PublishError ? failure.pushed : [];
  core.setOutput('image', published?.image ?? '');
  core.setOutput('tags', (published?.references ?? partial).join('\n'));
  await core.summary
    .addRaw(
      renderSummary({
        decision,
        image: config.image,
        digest: build.digest,
        dockerfilePath: repositoryPath(config, config.dockerfile),
        attribution: reported.attribution,
        failOn: config.failOn,
        notes: [...reported.notes, ...(failure ? [`Push failed: ${failure.message}`] : []), toolsNote(tools)],
        ...(published ? { pushed: published.references } : {}),
      }),
    )
    .write();
}

function toolsNote({ trivy, crane, kaniko }: InstalledTools): string {
  const platform = `${kaniko.platformDigest}${kaniko.indexDigest ? ` (index ${kaniko.indexDigest})` : ''}`;
  return `Built with kaniko ${kaniko.image} → ${platform}, scanned with Trivy ${trivy.version}, pushed with crane ${crane.version}.`;
}

/** A path relative to the repository root with forward slashes, as code scanning wants it. */
function repositoryPath(config: Config, path: string): string {
  return relative(config.workspace, path).split(sep).join('/');
}

export async function main(options: MainOptions = {}): Promise<void> {
  enterStage('reading the inputs');
  try {
    await runPipeline(loadConfig(options));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    core.setFailed(message);
    if (!(error instanceof PolicyFailure)) await summarizeFailure(message);
  }
}
