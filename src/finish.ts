import { relative, sep } from 'node:path';
import type { Config } from './inputs.js';
import type { OutputName, Reporter } from './reporter.js';
import { describeDecision, renderFailureSummary, renderSummary, scanOutputs } from './report/summary.js';
import { overallBaseUpdated } from './rescan/base-check.js';
import { renderRescanSummary } from './rescan/rescan-summary.js';
import type { PlatformRun, RunRecord } from './run-record.js';
import { runnerPathsOf } from './report/runner-paths.js';
import { runVerdict } from './run-record.js';
import type { InstalledTools, ScanTools } from './tools/install-tools.js';
import { VULNERABILITY_PREDICATE_TYPE } from './scan/trivy-scan.js';
import { combinedSarifPath, listsPlatforms } from './platform-layout.js';
import { renderIndexSummary } from './publish/index-summary.js';

/**
 * The outputs from the record: those of the stages reached (an output a stage did not reach is
 * not set), and `pushed` always. With several platforms, `digest` and `image` are the index's,
 * counts and `policy` the worst of any platform, and the files one path per line in platform order.
 */
export function runOutputs(record: RunRecord): Partial<Record<OutputName, string>> {
  const outputs: Partial<Record<OutputName, string>> = {};
  const images = record.platforms.flatMap((platform) => {
    const image = platform.build ?? platform.pulled;
    return image ? [{ platform: platform.platform, ...image }] : [];
  });
  const index = record.config ? listsPlatforms(record.config) : false;
  const decisive = decisivePlatform(record);
  const decisiveImage = decisive?.build ?? decisive?.pulled;
  if (index) outputs.digest = record.publish?.status === 'pushed' ? record.publish.result.digest : '';
  else if (decisiveImage) outputs.digest = decisiveImage.digest;
  if (images.length > 0) outputs.tarball = images.map((image) => image.tarball).join('\n');
  // Every platform whose manifest is known: `{ "linux/amd64": "sha256:…", … }`, and its files.
  const results = platformResults(record);
  if (results.length > 0) {
    outputs['platform-digests'] = JSON.stringify(
      Object.fromEntries(results.map(([platform, { digest }]) => [platform, digest])),
    );
    outputs['platform-results'] = JSON.stringify(Object.fromEntries(results));
  }
  Object.assign(outputs, decidedOutputs(record));
  outputs.pushed = record.publish?.status === 'pushed' ? 'true' : 'false';
  // After a push that stopped part-way, `tags` lists the references that do exist (and `pushed`
  // stays false), so whoever cleans up knows what to remove.
  if (record.publish?.status === 'pushed') {
    outputs.image = record.publish.result.image;
    outputs.tags = record.publish.result.references.join('\n');
  } else if (decisive?.decision || index) {
    outputs.image = '';
    outputs.tags = record.publish?.status === 'failed' ? record.publish.pushed.join('\n') : '';
  }
  if (record.config?.rescan.enabled)
    outputs['base-updated'] = overallBaseUpdated(
      record.platforms.flatMap(({ baseCheck }) => (baseCheck ? [baseCheck] : [])),
    );
  return outputs;
}

/**
 * Each platform's digest, files and verdict as JSON, keyed by platform: what a later step needs
 * to attest one platform's SBOM or scan to that platform's digest.
 */
function platformResults(record: RunRecord): (readonly [string, PlatformResult])[] {
  return record.platforms.flatMap(({ platform, build, pulled, merged, scan, files, decision }) => {
    const digest = (build ?? pulled ?? merged)?.digest;
    if (!digest) return [];
    const image = build ?? pulled;
    const result = {
      digest,
      ...(image ? { tarball: image.tarball } : {}),
      ...(decision ? { policy: decision.pass ? 'pass' : 'fail' } : {}),
      ...(scan ? { report: scan.reportPath } : {}),
      ...(files
        ? {
            sarif: files.sarifPath,
            sbom: files.sbomPath ?? '',
            'vulnerability-predicate': files.vulnerabilityPredicatePath,
          }
        : {}),
    };
    return [[platform, result] as const];
  });
}

/** One platform's entry of `platform-results`. */
interface PlatformResult {
  readonly digest: string;
  readonly [file: string]: string;
}

/** The scan outputs of every decided platform, combined: the worst count, every file. */
function decidedOutputs(record: RunRecord): Record<string, string> {
  const perPlatform = record.platforms.flatMap(({ decision, scan, files }) =>
    decision && scan && files
      ? [
          {
            ...scanOutputs(decision, {
              report: scan.reportPath,
              sarif: files.sarifPath,
              sbom: files.sbomPath ?? '',
            }),
            'vulnerability-predicate': files.vulnerabilityPredicatePath,
            'vulnerability-predicate-type': VULNERABILITY_PREDICATE_TYPE,
          },
        ]
      : [],
  );
  if (perPlatform.length <= 1) return perPlatform[0] ?? {};
  const combined = combineOutputs(perPlatform);
  // Several built platforms went to code scanning as one log: that file is the `sarif` output.
  if (record.config && !record.config.rescan.enabled) combined.sarif = combinedSarifPath(record.config);
  return combined;
}

/** Counts: the highest of any platform; `policy`: fail if any failed; anything else: each value once. */
export function combineOutputs(outputs: readonly Record<string, string>[]): Record<string, string> {
  const combined: Record<string, string> = {};
  for (const name of Object.keys(outputs[0] ?? {})) {
    const values = outputs.map((output) => output[name] ?? '');
    if (name === 'policy') combined[name] = values.includes('fail') ? 'fail' : 'pass';
    else if (name === 'vulnerabilities') combined[name] = JSON.stringify(highestCounts(values));
    else if (values.every((value) => /^\d+$/.test(value)))
      combined[name] = String(Math.max(...values.map(Number)));
    else combined[name] = [...new Set(values)].join('\n');
  }
  return combined;
}

function highestCounts(values: readonly string[]): Record<string, number> {
  const highest: Record<string, number> = {};
  for (const value of values)
    for (const [severity, count] of Object.entries(JSON.parse(value) as Record<string, number>))
      highest[severity] = Math.max(highest[severity] ?? 0, count);
  return highest;
}

/** The platform whose results the outputs give: the first the policy refused, else the first. */
function decisivePlatform(record: RunRecord): PlatformRun | undefined {
  return record.platforms.find((platform) => platform.decision?.pass === false) ?? record.platforms[0];
}

/**
 * The one place a run becomes what the workflow sees: its outputs, the job summary (the findings
 * when the scan was decided, else why the run stopped) and the step's status.
 */
export async function finish(record: RunRecord, reporter: Reporter): Promise<void> {
  for (const [name, value] of Object.entries(runOutputs(record)))
    reporter.setOutput(name as OutputName, value);
  const verdict = runVerdict(record, describeDecision);
  // A failed policy is explained by the findings; any other failure is said once, above them.
  const failure =
    verdict && verdict.kind !== 'policy' ? renderFailureSummary(stoppedMessage(record, verdict.message)) : '';
  const summary = failure + (findingsSummary(record) ?? '');
  if (summary) await reporter.writeSummary(summary);
  if (verdict) reporter.setFailed(verdict.message);
}

function stoppedMessage(record: RunRecord, message: string): string {
  return record.failure ? `The ${record.failure.stage} stage failed: ${message}` : message;
}

/** The findings summary, a section per platform whose scan was decided; the notes in the first. */
function findingsSummary(record: RunRecord): string | undefined {
  const { config, tools } = record;
  if (!config) return undefined;
  const notes = [...record.notes, ...(tools ? [toolsNote(tools)] : [])];
  const sections = record.platforms
    .filter((platform) => platform.decision)
    .map((platform, index) => platformSummary(record, config, platform, index === 0 ? notes : []))
    .filter(Boolean);
  if (listsPlatforms(config)) {
    const indexed = record.platforms.flatMap((platform) => {
      const digest = (platform.build ?? platform.merged)?.digest;
      return digest ? [{ platform: platform.platform, digest }] : [];
    });
    if (indexed.length > 0) sections.push(renderIndexSummary(config.publish.image, indexed, record.publish));
  }
  return sections.length > 0 ? sections.join('\n') : undefined;
}

function platformSummary(
  record: RunRecord,
  config: Config,
  platform: PlatformRun,
  notes: readonly string[],
): string {
  if (platform.pulled) return renderRescanSummary(config, platform, notes);
  if (!platform.build || !platform.decision || !platform.attribution) return '';
  return renderSummary({
    decision: platform.decision,
    image: config.publish.image,
    digest: platform.build.digest,
    dockerfilePath: repositoryPath(config, config.build.dockerfile),
    attribution: platform.attribution,
    failOn: config.policy.failOn,
    runnerPaths: runnerPathsOf(config.publish.image, platform.build.tarball, platform.scan?.vexNames),
    notes,
    ...(platform.base ? { base: platform.base } : {}),
    ...(listsPlatforms(config) ? { platform: platform.platform } : {}),
    ...(record.publish?.status === 'pushed' && !listsPlatforms(config)
      ? { pushed: record.publish.result.references }
      : {}),
  });
}

function toolsNote(tools: InstalledTools | ScanTools): string {
  const { trivy, crane } = tools;
  if (!('kaniko' in tools))
    return `Pulled with crane ${crane.version} and scanned with Trivy ${trivy.version}; nothing was built or pushed.`;
  const { kaniko } = tools;
  const platform = `${kaniko.platformDigest}${kaniko.indexDigest ? ` (index ${kaniko.indexDigest})` : ''}`;
  return `Built with kaniko ${kaniko.image} → ${platform}, scanned with Trivy ${trivy.version}, pushed with crane ${crane.version}.`;
}

/** A path relative to the repository root with forward slashes, as code scanning wants it. */
export function repositoryPath(config: Config, path: string): string {
  return relative(config.run.workspace, path).split(sep).join('/');
}
