import type { BlockingFinding, Decision } from '../gate/policy.js';
import type { Annotation } from '../reporter.js';
import { infoUntrusted, reporter } from '../reporter.js';
import type { Finding } from '../vocabulary.js';
import { severityRank } from '../vocabulary.js';
import type { LayerAttribution } from './layer-attribution.js';
import { knownSourceOf } from './layer-attribution.js';

/** GitHub shows at most this many error annotations per step and drops the rest. */
export const ERROR_ANNOTATIONS_PER_STEP = 10;
/** Errors the step may still issue after the findings': its failure, and a failed SARIF upload. */
const ERRORS_AFTER_FINDINGS = 2;

export interface BlockingNotice {
  /** One log line per blocking finding, most severe first; report text, so relayed as untrusted. */
  readonly lines: readonly string[];
  /** Error annotations within GitHub's limit: one per finding, or all but the last few and a count. */
  readonly annotations: readonly { readonly message: string; readonly annotation: Annotation }[];
}

/**
 * What the log and the pull request say about the findings that block the push: each one named
 * with what it is, where it is in the image and which Dockerfile line made its layer; an
 * annotation on that line (a pull request shows it in the changed files, code scanning or not).
 * Pure.
 */
export function blockingNotice(
  decision: Decision,
  attribution: LayerAttribution,
  dockerfilePath: string,
): BlockingNotice {
  return platformsBlockingNotice([{ decision, attribution }], dockerfilePath);
}

/** One platform's decision, and the layers its findings are attributed to. */
export interface DecidedPlatform {
  readonly decision: Decision;
  readonly attribution: LayerAttribution;
  /** `os/arch[/variant]`, when the image is one of several: it starts each log line. */
  readonly platform?: string;
}

/**
 * The notice for several platforms: every platform's log lines, and one annotation for a finding
 * that blocks on several (the same text on the same line), within the one limit of the step.
 */
export function platformsBlockingNotice(
  platforms: readonly DecidedPlatform[],
  dockerfilePath: string,
): BlockingNotice {
  const described = platforms.flatMap(({ decision, attribution, platform }) =>
    [...decision.blocking]
      .sort((a, b) => severityRank(b.finding.severity) - severityRank(a.finding.severity))
      .map((blocking) => {
        const found = describe(blocking, attribution, dockerfilePath);
        return { ...found, line: platform ? `${platform}: ${found.line}` : found.line };
      }),
  );
  const lines = described.map(({ line }) => `Blocking: ${line}`);
  const once = new Map(
    described.map((found) => [
      [found.annotation.title, found.annotation.startLine, found.message].join('\n'),
      found,
    ]),
  );
  return { lines, annotations: limitedAnnotations([...once.values()]) };
}

/** GitHub's limit: all annotations, or all but the last few and one that counts the rest. */
function limitedAnnotations(
  described: readonly { readonly message: string; readonly annotation: Annotation }[],
): BlockingNotice['annotations'] {
  const room = ERROR_ANNOTATIONS_PER_STEP - ERRORS_AFTER_FINDINGS;
  const shown = described.length > room ? described.slice(0, room - 1) : described;
  const rest = described.length - shown.length;
  return [
    ...shown.map(({ message, annotation }) => ({ message, annotation })),
    ...(rest > 0
      ? [
          {
            message: `${rest} more blocking findings are not annotated here (GitHub shows ${ERROR_ANNOTATIONS_PER_STEP} error annotations per step): the step's log names every one, and the job summary lists them.`,
            annotation: { title: `${rest} more blocking findings` },
          },
        ]
      : []),
  ];
}

/** Logs each blocking finding and annotates it, through the reporter. */
export function announceBlockingFindings(
  platforms: readonly DecidedPlatform[],
  dockerfilePath: string,
): void {
  const notice = platformsBlockingNotice(platforms, dockerfilePath);
  if (notice.lines.length > 0) infoUntrusted(notice.lines.join('\n'));
  for (const { message, annotation } of notice.annotations) reporter().error(message, annotation);
}

function describe(
  { finding, reason }: BlockingFinding,
  attribution: LayerAttribution,
  dockerfilePath: string,
): { line: string; message: string; annotation: Annotation } {
  const source = knownSourceOf(attribution, finding);
  const where = source
    ? `layer of ${dockerfilePath}:${source.line} (${oneLine(source.instruction)}${source.fromBaseImage ? ', the base image' : ''})`
    : 'layer unknown';
  const what = `${finding.severity} ${oneLine(finding.id)}: ${whatAndWhere(finding)}`;
  const title = `${finding.severity} ${oneLine(finding.id)} blocks the push`;
  return {
    line: `${what}; ${where}`,
    message: `${whatAndWhere(finding)}: ${reason}.`,
    annotation: source ? { file: dockerfilePath, startLine: source.line, title } : { title },
  };
}

/** The package and its versions, or the file (and line) for a secret or misconfiguration. Never a secret's text. */
function whatAndWhere(finding: Finding): string {
  if (finding.kind === 'vulnerability') {
    const fixed = finding.fixedVersion ? oneLine(finding.fixedVersion) : 'no fix yet';
    const path = finding.path ? ` (${oneLine(finding.path)})` : '';
    return `${oneLine(finding.packageName ?? finding.target)} ${oneLine(finding.installedVersion ?? '')} → ${fixed}${path}`;
  }
  const file = oneLine(finding.path ?? finding.target);
  return `${finding.kind} in ${file}${finding.line ? `:${finding.line}` : ''}`;
}

/** Report text on one line, so that each finding is one line of the log. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
