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

/**
 * The outputs from the record: those of the stages reached (an output a stage did not reach is
 * not set), and `pushed` always.
 */
export function runOutputs(record: RunRecord): Partial<Record<OutputName, string>> {
  const outputs: Partial<Record<OutputName, string>> = {};
  const platform = decisivePlatform(record);
  const image = platform?.build ?? platform?.pulled;
  if (image) {
    outputs.digest = image.digest;
    outputs.tarball = image.tarball;
  }
  if (platform?.decision && platform.scan) {
    Object.assign(
      outputs,
      scanOutputs(platform.decision, {
        report: platform.scan.reportPath,
        sarif: platform.scan.sarifPath,
        sbom: platform.scan.sbomPath ?? '',
      }),
    );
    outputs['vulnerability-predicate'] = platform.scan.vulnerabilityPredicatePath;
    outputs['vulnerability-predicate-type'] = VULNERABILITY_PREDICATE_TYPE;
  }
  outputs.pushed = record.publish?.status === 'pushed' ? 'true' : 'false';
  // After a push that stopped part-way, `tags` lists the references that do exist (and `pushed`
  // stays false), so whoever cleans up knows what to remove.
  if (record.publish?.status === 'pushed') {
    outputs.image = record.publish.result.image;
    outputs.tags = record.publish.result.references.join('\n');
  } else if (platform?.decision) {
    outputs.image = '';
    outputs.tags = record.publish?.status === 'failed' ? record.publish.pushed.join('\n') : '';
  }
  if (record.config?.rescan.enabled)
    outputs['base-updated'] = overallBaseUpdated(
      record.platforms.flatMap(({ baseCheck }) => (baseCheck ? [baseCheck] : [])),
    );
  return outputs;
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
    ...(record.publish?.status === 'pushed' ? { pushed: record.publish.result.references } : {}),
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
