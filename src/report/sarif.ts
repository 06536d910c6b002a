import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Decision } from '../gate/policy.js';
import { isReported } from '../gate/policy.js';
import type { Finding, Severity } from '../vocabulary.js';
import { isSeverity, severityRank } from '../vocabulary.js';
import type { LayerAttribution } from './layer-attribution.js';
import { sourceOf } from './layer-attribution.js';
import { sarifFindingLookup } from './sarif-findings.js';
import { IMAGE_CONFIG_TARGET } from '../scan/trivy-report.js';
import { withoutRunnerPaths } from './runner-paths.js';

/** The parts of SARIF 2.1.0 that are read or rewritten; everything else passes through. */
export interface SarifLog {
  readonly version: string;
  readonly $schema?: string;
  readonly runs: SarifRun[];
}

/**
 * Several logs as one, each run kept as it is (one per code scanning category): one upload for
 * several platforms, since each upload of a category replaces that category's last one.
 */
export function logOfRuns(logs: readonly SarifLog[]): SarifLog {
  const [first] = logs;
  if (!first) throw new Error('logOfRuns needs at least one log');
  return { ...first, runs: logs.flatMap((log) => log.runs) };
}

export interface SarifRun {
  tool: { driver: { name: string; rules?: SarifRule[]; [key: string]: unknown } };
  results?: SarifResult[];
  automationDetails?: { id: string };
  [key: string]: unknown;
}

export interface SarifRule {
  id: string;
  properties?: { 'security-severity'?: string; tags?: string[]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface SarifResult {
  ruleId?: string;
  ruleIndex?: number;
  level?: string;
  message: { text?: string };
  locations?: SarifLocation[];
  partialFingerprints?: Record<string, string>;
  [key: string]: unknown;
}

export interface SarifLocation {
  physicalLocation?: {
    artifactLocation?: { uri?: string; uriBaseId?: string };
    region?: { startLine?: number; startColumn?: number; endLine?: number; endColumn?: number };
  };
  message?: { text?: string };
}

/**
 * GitHub's documented upload limits. The third, 1,000 locations per result, holds by
 * construction: every rewritten result has exactly one location.
 */
export const SARIF_LIMITS = {
  gzippedBytes: 10 * 1024 * 1024,
  resultsPerRun: 25_000,
} as const;

export interface RewriteOptions {
  /** Code-scanning category; two images in one workflow need two categories. */
  readonly category: string;
  /**
   * The Dockerfile's path relative to the repository root, with forward slashes, and which of its
   * lines made each layer. Both absent for a pulled image: its results stay located in the image.
   */
  readonly dockerfilePath?: string;
  readonly attribution?: LayerAttribution;
  /** Every finding with its verdict: which results stay, and their severity and layer. */
  readonly decision: Decision;
  /** Overrides for tests; GitHub's limits by default. */
  readonly limits?: Partial<typeof SARIF_LIMITS>;
  /**
   * Runner paths Trivy wrote into the log (the scanned tarball's, for `--input`: OS package
   * results' URI and messages, the image config's findings) and what to show instead (the image
   * reference); replaced wherever they appear.
   */
  readonly runnerPaths?: ReadonlyMap<string, string>;
}

export interface RewriteResult {
  readonly sarif: SarifLog;
  readonly results: number;
  /** Findings the policy hides (ignored, unfixed with ignore-unfixed, outside `severity`). */
  readonly hiddenByPolicy: number;
  /** Sentences saying what was cut to fit GitHub's limits; empty when nothing was. */
  readonly dropped: readonly string[];
}

/**
 * Rewrites the SARIF that `trivy convert` wrote so code scanning can show it: the category goes
 * into `automationDetails.id`; each result points at the Dockerfile line whose instruction made
 * the layer that brought the finding in (the path inside the image stays in the message); results
 * the policy hides are left out, so code scanning shows what the gate counted; GitHub's limits
 * are enforced by keeping the most severe results. Pure: no I/O.
 */
export function rewriteSarif(input: SarifLog, options: RewriteOptions): RewriteResult {
  if (options.attribution && !options.dockerfilePath)
    throw new Error('rewriteSarif needs the Dockerfile path: a location URI is never empty.');
  const limits = { ...SARIF_LIMITS, ...options.limits };
  const findingOf = sarifFindingLookup(options.decision.findings);
  const dropped: string[] = [];
  let hiddenByPolicy = 0;
  const keptByRun = input.runs.map((run) => {
    const rules = run.tool.driver.rules ?? [];
    const kept: Ranked[] = [];
    for (const result of run.results ?? []) {
      const decided = findingOf(result);
      if (decided && !isReported(decided)) {
        hiddenByPolicy += 1;
        continue;
      }
      const finding = decided?.finding;
      const severity = finding?.severity ?? severityOfResult(result, rules);
      kept.push({ result: relocate(result, finding, options), severity });
    }
    // Most severe first, report order within a severity: what survives a cut is what matters.
    kept.sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
    if (kept.length > limits.resultsPerRun) {
      dropped.push(describeCut(kept.slice(limits.resultsPerRun), `${limits.resultsPerRun} results per run`));
      kept.length = limits.resultsPerRun;
    }
    return kept;
  });
  const build = (): SarifLog => ({
    ...input,
    runs: input.runs.map((run, runIndex) => {
      const rewritten: SarifRun = {
        ...run,
        automationDetails: { id: automationId(options.category) },
        results: keptByRun[runIndex]!.map(({ result }) => ({ ...result })),
      };
      pruneRules(rewritten);
      return rewritten;
    }),
  });
  const runnerPaths = options.runnerPaths ?? new Map<string, string>();
  const sarif = fitSize(
    () => withoutRunnerPaths(build(), runnerPaths),
    keptByRun,
    limits.gzippedBytes,
    dropped,
  );
  return {
    sarif,
    results: sarif.runs.reduce((sum, run) => sum + (run.results?.length ?? 0), 0),
    hiddenByPolicy,
    dropped,
  };
}

interface Ranked {
  readonly result: SarifResult;
  readonly severity: Severity;
}

/**
 * Code scanning reads the category as everything up to the last `/` of the automation ID and the
 * rest as a run ID. Without a trailing `/`, `…:ghcr.io/o/app` and `…:ghcr.io/o/api` would both
 * land in category `…:ghcr.io/o/` and replace each other's alerts.
 */
function automationId(category: string): string {
  return category.endsWith('/') ? category : `${category}/`;
}

/** What the result's fingerprint is made of; it must stay the same from run to run and release to release. */
function fingerprintSource(finding: Finding): string {
  return [
    finding.kind,
    finding.id,
    finding.target,
    finding.packageName,
    finding.installedVersion,
    finding.path,
    finding.line,
  ].join('\0');
}

/** Where a result points and what its message adds: the Dockerfile line, or the image itself. */
interface Placement {
  readonly location: SarifLocation;
  readonly messageTail: string;
}

/**
 * Replaces the result's locations with one: the Dockerfile line that made its layer (or wrote
 * the image config's value), for the Dockerfile's own findings the line Trivy names, or, with no
 * Dockerfile known (a pulled image), the path in the image and the layer's DiffID.
 */
function relocate(result: SarifResult, finding: Finding | undefined, options: RewriteOptions): SarifResult {
  const original = result.locations?.[0];
  const imagePath =
    finding?.origin === 'image-config'
      ? IMAGE_CONFIG_TARGET
      : (original?.physicalLocation?.artifactLocation?.uri ?? finding?.path ?? finding?.target ?? '');
  const what = original?.message?.text ?? (imagePath || (result.ruleId ?? ''));
  const { location, messageTail } = options.attribution
    ? onDockerfileLine(options.dockerfilePath!, options.attribution, finding, what, imagePath)
    : inTheImage(imagePath || (result.ruleId ?? 'image'), finding, what);
  const identity = finding ? fingerprintSource(finding) : `${result.ruleId ?? ''}\0${what}`;
  return {
    ...result,
    message: { ...result.message, text: `${result.message.text ?? ''}${messageTail}` },
    locations: [location],
    // Several packages share a CVE and a line; a fingerprint per finding keeps them apart as alerts.
    partialFingerprints: {
      ...result.partialFingerprints,
      'buildScanPushFinding/v1': createHash('sha256').update(identity).digest('hex').slice(0, 32),
    },
  };
}

function onDockerfileLine(
  dockerfilePath: string,
  attribution: LayerAttribution,
  finding: Finding | undefined,
  what: string,
  imagePath: string,
): Placement {
  const source = finding ? sourceOf(attribution, finding) : attribution.fallback;
  const origin = source.fromBaseImage
    ? `came with the base image (Dockerfile line ${source.line}: ${source.instruction})`
    : `introduced by Dockerfile line ${source.line}: ${source.instruction}`;
  const [locationText, messageTail] =
    finding?.origin === 'dockerfile'
      ? [`Dockerfile line ${source.line}: ${source.instruction}`, '']
      : [`In the image: ${what}; ${origin}`, `\nIn the image: ${imagePath}\nLayer ${origin}`];
  return {
    messageTail,
    location: {
      physicalLocation: {
        artifactLocation: { uri: dockerfilePath },
        region: { startLine: source.line, startColumn: 1 },
      },
      message: { text: locationText },
    },
  };
}

/** No Dockerfile line is known: the result stays at its path in the image, with its layer named. */
function inTheImage(imagePath: string, finding: Finding | undefined, what: string): Placement {
  const layer = finding?.layerDiffId || finding?.layerDigest;
  const origin = `${layer || 'unknown'} (a pulled image: no Dockerfile line is known)`;
  return {
    messageTail: `\nIn the image: ${imagePath}\nLayer ${origin}`,
    location: {
      physicalLocation: { artifactLocation: { uri: imagePath }, region: { startLine: 1, startColumn: 1 } },
      message: { text: `In the image: ${what}; layer ${origin}` },
    },
  };
}

/** Severity from Trivy's rule (`security-severity`, tags), else from the SARIF level. */
function severityOfResult(result: SarifResult, rules: readonly SarifRule[]): Severity {
  const rule =
    result.ruleIndex !== undefined ? rules[result.ruleIndex] : rules.find((r) => r.id === result.ruleId);
  const tagged = rule?.properties?.tags?.find((tag) => isSeverity(tag) && tag !== 'UNKNOWN');
  if (tagged) return tagged as Severity;
  const score = Number(rule?.properties?.['security-severity']);
  if (score >= 9) return 'CRITICAL';
  if (score >= 7) return 'HIGH';
  if (score >= 4) return 'MEDIUM';
  if (score > 0) return 'LOW';
  return result.level === 'error' ? 'HIGH' : result.level === 'warning' ? 'MEDIUM' : 'LOW';
}

/**
 * Drops the least severe results (each run's list is sorted most severe first) until the gzipped
 * log fits. The uncompressed size bounds the compressed one, so most logs are never compressed.
 */
function fitSize(
  build: () => SarifLog,
  keptByRun: Ranked[][],
  maxGzipped: number,
  dropped: string[],
): SarifLog {
  for (;;) {
    const sarif = build();
    const text = JSON.stringify(sarif);
    if (Buffer.byteLength(text) <= maxGzipped) return sarif;
    // The fastest level compresses worst: if even it fits, the upload's default level fits too.
    if (gzipSync(text, { level: 1 }).length <= maxGzipped) return sarif;
    const size = gzipSync(text).length;
    if (size <= maxGzipped) return sarif;
    if (keptByRun.every((kept) => kept.length === 0))
      throw new Error(
        `the SARIF log is ${size} bytes gzipped without any result; GitHub accepts ${maxGzipped}.`,
      );
    // Cut in proportion to the excess (at least 10% a round) so a few rounds suffice.
    const keepFraction = Math.min(0.9, (maxGzipped / size) * 0.95);
    for (const kept of keptByRun) {
      const keep = Math.floor(kept.length * keepFraction);
      if (keep < kept.length)
        dropped.push(describeCut(kept.slice(keep), `${maxGzipped} bytes gzipped per upload`));
      kept.length = keep;
    }
  }
}

function describeCut(cut: readonly Ranked[], limit: string): string {
  const bySeverity = new Map<Severity, number>();
  for (const { severity } of cut) bySeverity.set(severity, (bySeverity.get(severity) ?? 0) + 1);
  const parts = [...bySeverity].map(([severity, count]) => `${count} ${severity}`).join(', ');
  return `dropped ${cut.length} result${cut.length === 1 ? '' : 's'} (${parts}) to stay within GitHub's limit of ${limit}; the JSON report lists every finding.`;
}

/** Keeps only the rules some result still uses and renumbers `ruleIndex`. */
function pruneRules(run: SarifRun): void {
  const rules = run.tool.driver.rules;
  if (!rules) return;
  const used = new Map<number, number>();
  const kept: SarifRule[] = [];
  for (const result of run.results ?? []) {
    const oldIndex = result.ruleIndex ?? rules.findIndex((rule) => rule.id === result.ruleId);
    if (oldIndex < 0 || rules[oldIndex] === undefined) continue;
    if (!used.has(oldIndex)) {
      used.set(oldIndex, kept.length);
      kept.push(rules[oldIndex]!);
    }
    if (result.ruleIndex !== undefined) result.ruleIndex = used.get(oldIndex)!;
  }
  run.tool = { ...run.tool, driver: { ...run.tool.driver, rules: kept } };
}
