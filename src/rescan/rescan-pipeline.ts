import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../inputs.js';
import {
  Recorder,
  dockerConfigDir,
  startTrivyDatabases,
  gate,
  prepareFolders,
  trivyCacheDir,
  registryCrane,
  upload,
} from '../main.js';
import { registryOf } from '../reference.js';
import { infoUntrusted, reporter } from '../reporter.js';
import type { SarifLog } from '../report/sarif.js';
import { logOfRuns, rewriteSarif } from '../report/sarif.js';
import type { PlatformRun, RunRecord } from '../run-record.js';
import { scannedImageMismatch } from '../scan/trivy-report.js';
import { scanImage } from '../scan/trivy-scan.js';
import type { Crane } from '../tools/crane-command.js';
import { craneCommand } from '../tools/crane-command.js';
import type { InstallOptions, ScanTools } from '../tools/install-tools.js';
import { installCraneTool, installTrivyTool } from '../tools/install-tools.js';
import type { CurrentDigest } from './base-check.js';
import { checkBase, describeBase } from './base-check.js';
import type { PlatformManifest } from './pull-image.js';
import { pullPlatform, resolveTargets } from './pull-image.js';
import { mergeSarif } from './sarif-merge.js';
import { sarifCategoryOf } from '../platform-layout.js';
import type { TrivyDatabases } from '../scan/trivy-databases.js';

/**
 * The rescan of what is published: crane, then the check that every reference exists (before
 * Trivy is downloaded), then Trivy with today's DB; each platform image is pulled by digest,
 * scanned, gated and its base image checked; the SARIF goes to code scanning under the build's
 * category. Nothing is built and nothing is pushed.
 */
export async function rescanPublished(config: Config): Promise<RunRecord> {
  const run = new Recorder(config);
  const platforms: PlatformRun[] = [];
  let tools: ScanTools | undefined;
  run.enter('install');
  try {
    await prepareFolders(config);
    const crane = await installCraneTool(installOptions(config));
    const registry = await registryCrane(
      config,
      crane.path,
      `Check that ${config.publish.image} was pushed under the tag or digest rescanned (\`rescan-ref\`, else \`tags\` or the tags computed for this event) and that the registry credential may read it.`,
    );
    run.enter('pull');
    const targets = await resolveTargets(registry, config.publish.image, config.rescan.references);
    run.enter('install');
    tools = { crane, trivy: await installTrivyTool(installOptions(config)) };
    const rescan = { run, registry, tools, databases: await startTrivyDatabases(config, tools) };
    const manifests = targets.flatMap((target) => target.manifests);
    for (const manifest of manifests)
      platforms.push(
        await rescanPlatform(rescan, manifest, outputFolder(config, manifest, manifests.length)),
      );
    run.enter('report');
    await reportRescan(run, platforms);
  } catch (error) {
    run.failure = { stage: run.stage, error: error instanceof Error ? error : new Error(String(error)) };
  }
  return { ...run.record(), platforms, ...(tools ? { tools } : {}) };
}

function installOptions(config: Config): InstallOptions {
  return { ...config.tools, registries: config.registries, arch: process.arch };
}

/** One platform's results: the output folder itself, or a folder per image when there are several. */
function outputFolder(config: Config, manifest: PlatformManifest, count: number): string {
  return count === 1 ? config.run.outputDir : join(config.run.outputDir, manifest.digest.slice(7, 19));
}

interface Rescan {
  readonly run: Recorder;
  readonly registry: Crane;
  readonly tools: ScanTools;
  readonly databases: TrivyDatabases;
}

async function rescanPlatform(
  rescan: Rescan,
  manifest: PlatformManifest,
  folder: string,
): Promise<PlatformRun> {
  const { run, tools } = rescan;
  const { config } = run;
  run.enter('pull');
  await mkdir(folder, { recursive: true });
  const pulled = await pullPlatform(rescan.registry, config.publish.image, manifest, folder);
  run.enter('scan');
  await rescan.databases.readyFor(pulled.tarball);
  const scan = await scanImage({
    ...config.scan,
    trivyPath: tools.trivy.path,
    tarball: pulled.tarball,
    outputDir: folder,
    cacheDir: trivyCacheDir(config),
    timeLimit: config.timeouts.scan,
  });
  const mismatch = scannedImageMismatch(scan.report, pulled.identity);
  if (mismatch) throw new Error(`${mismatch}: the report is not about ${pulled.reference}.`);
  run.enter('gate');
  const decision = await gate(config, scan);
  const baseCheck = await checkBase(pulled.config, pulled.platform, currentDigest(config, tools.crane.path));
  infoUntrusted(`${pulled.platform}: ${describeBase(baseCheck)}`);
  return { platform: pulled.platform, pulled, scan, files: scan, decision, baseCheck };
}

/** What a base image reference resolves to now, asked with the private credentials, if any. */
function currentDigest(config: Config, path: string): CurrentDigest {
  const loggedIn = config.registries.credentialFor(config.publish.registry) !== undefined;
  return (reference, platform) =>
    craneCommand({
      path,
      registry: registryOf(reference),
      registries: config.registries,
      ...(loggedIn ? { dockerConfigDir: dockerConfigDir(config) } : {}),
    }).digest(reference, platform);
}

/**
 * Each platform's SARIF, located in the image (no Dockerfile line is known for a pulled image),
 * goes under the category the build used (the platform's own for a platform of an index), so
 * code scanning closes what was fixed and opens what is new: one run per category in one upload,
 * the platforms of one category (several references) merged into it.
 */
async function reportRescan(run: Recorder, platforms: readonly PlatformRun[]): Promise<void> {
  const { config } = run;
  const byCategory = new Map<string, SarifLog[]>();
  for (const { files, decision, pulled, platform } of platforms) {
    if (!files || !decision || !pulled) continue;
    const category = sarifCategoryOf(config, platform, pulled.fromIndex);
    const trivySarif = JSON.parse(await readFile(files.sarifPath, 'utf8')) as SarifLog;
    const rewritten = rewriteSarif(trivySarif, { category, decision });
    for (const note of rewritten.dropped) reporter().warning(note);
    run.notes.push(...rewritten.dropped);
    await writeFile(files.sarifPath, JSON.stringify(rewritten.sarif));
    byCategory.set(category, [...(byCategory.get(category) ?? []), rewritten.sarif]);
  }
  const logs = [...byCategory.values()].map((group) => mergeSarif(group));
  if (config.report.uploadSarif && logs.length > 0) await upload(run, logOfRuns(logs));
}
