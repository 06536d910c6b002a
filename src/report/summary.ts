import type { Decision, IgnoredFinding } from '../gate/policy.js';
import type { VexSuppressed } from '../scan/trivy-report.js';
import type { Finding } from '../vocabulary.js';
import { SEVERITIES_MOST_SEVERE_FIRST as SHOWN } from '../vocabulary.js';
import type { LayerAttribution } from './layer-attribution.js';
import { sourceOf } from './layer-attribution.js';
import { replaceRunnerPaths, withoutRunnerPaths } from './runner-paths.js';

export const SUMMARY_LIST_LIMIT = 20;

/** One line for the log with the same numbers as the outputs and the summary. */
export function describeDecision(decision: Decision): string {
  const counts = SHOWN.map((severity) => `${severity} ${decision.counts[severity]}`).join(', ');
  const verdict = decision.pass
    ? 'policy passed'
    : `policy failed: ${decision.blocking.length} blocking finding${decision.blocking.length === 1 ? '' : 's'}`;
  return `vulnerabilities ${counts}; secrets ${decision.secrets}; misconfigurations ${decision.misconfigurations}; licenses ${decision.licenses}; ignored ${decision.ignored.length}; ${verdict}`;
}

export interface ScanOutputPaths {
  readonly report: string;
  readonly sarif: string;
  /** Empty or absent when no SBOM was written. */
  readonly sbom?: string;
}

/** The action's scan outputs, as strings for `core.setOutput`. */
export function scanOutputs(decision: Decision, paths: ScanOutputPaths): Record<string, string> {
  return {
    vulnerabilities: JSON.stringify(
      Object.fromEntries(SHOWN.map((severity) => [severity, decision.counts[severity]])),
    ),
    critical: String(decision.counts.CRITICAL),
    high: String(decision.counts.HIGH),
    medium: String(decision.counts.MEDIUM),
    low: String(decision.counts.LOW),
    secrets: String(decision.secrets),
    licenses: String(decision.licenses),
    policy: decision.pass ? 'pass' : 'fail',
    report: paths.report,
    sarif: paths.sarif,
    sbom: paths.sbom ?? '',
  };
}

export interface SummaryOptions {
  readonly decision: Decision;
  /** Repository of the image, e.g. `ghcr.io/octo/app`. */
  readonly image: string;
  readonly digest: string;
  /** Both absent for a pulled image: no Dockerfile line is known, findings name their layer. */
  readonly dockerfilePath?: string;
  readonly attribution?: LayerAttribution;
  readonly failOn: readonly string[];
  /** The platform these findings are of, when the image is one of several. */
  readonly platform?: string;
  /** References pushed after the gate (`name:tag`); absent before or without a push. */
  readonly pushed?: readonly string[];
  /** Notes from the SARIF rewrite or upload, e.g. what was dropped to fit GitHub's limits. */
  readonly notes?: readonly string[];
  /** The final stage's base image, as its labels name it. */
  readonly base?: { readonly name: string; readonly digest: string };
  /** Runner paths in the findings (the scanned tarball's) and what to show instead. */
  readonly runnerPaths?: ReadonlyMap<string, string>;
}

/** Markdown for the job summary: the verdict, the counts and the findings that decide. Pure. */
export function renderSummary(given: SummaryOptions): string {
  const runnerPaths = given.runnerPaths ?? new Map<string, string>();
  const decision = withoutRunnerPaths(given.decision, runnerPaths);
  const options = { ...given, decision };
  const notes = [...decision.warnings, ...(options.notes ?? [])].map((note) =>
    replaceRunnerPaths(note, runnerPaths),
  );
  const out = [
    ...verdictSection(options),
    ...blockingSection(options),
    ...ignoredSection(decision.ignored),
    ...vexSection(decision.vexSuppressed),
    ...(notes.length > 0 ? ['### Warnings', '', ...notes.map((note) => `- ${text(note)}`), ''] : []),
    ...(options.pushed && options.pushed.length > 0
      ? ['### Pushed', '', ...options.pushed.map((reference) => `- ${code(reference)}`), '']
      : []),
  ];
  return `${out.join('\n').trimEnd()}\n`;
}

function verdictSection({ decision, image, digest, failOn, base, platform }: SummaryOptions): string[] {
  const rules = `fail-on: ${failOn.length > 0 ? failOn.join(', ') : 'none'}; secrets always block`;
  const blocking = decision.blocking.length;
  const counts = [
    ...SHOWN.map((severity) => decision.counts[severity]),
    decision.secrets,
    decision.misconfigurations,
    decision.licenses,
    decision.ignored.length,
  ];
  return [
    `## Build, scan and push: ${code(image)}${platform ? ` for ${text(platform)}` : ''}`,
    '',
    decision.pass
      ? `**Policy: ✅ pass** (${rules})`
      : `**Policy: ❌ fail**: ${blocking} blocking finding${blocking === 1 ? '' : 's'} (${rules})`,
    '',
    '| Critical | High | Medium | Low | Unknown | Secrets | Misconfigurations | Licenses | Ignored |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${counts.join(' | ')} |`,
    '',
    `Image: ${code(image)}  `,
    `Digest: ${code(digest || 'unknown')}${base ? '  ' : ''}`,
    ...(base ? [`Base image: ${code(base.name)} ${code(base.digest)}`] : []),
    '',
  ];
}

function blockingSection({ decision, attribution, dockerfilePath }: SummaryOptions): string[] {
  if (decision.blocking.length === 0) return [];
  const origin = (finding: Finding): Markup => {
    if (!attribution) return code(truncate(finding.layerDiffId || finding.layerDigest || 'unknown', 24));
    const source = sourceOf(attribution, finding);
    return `${text(`${dockerfilePath ?? ''}:${source.line}`)} ${code(truncate(source.instruction, 60))}` as Markup;
  };
  const rows = decision.blocking.slice(0, SUMMARY_LIST_LIMIT).map(({ finding, reason }) => {
    return row([
      text(finding.severity),
      text(finding.id),
      text(subject(finding)),
      text(finding.installedVersion ?? ''),
      text(finding.fixedVersion || (finding.kind === 'vulnerability' ? 'no fix' : '')),
      origin(finding),
      text(reason),
    ]);
  });
  return [
    '### Blocking findings',
    '',
    `| Severity | ID | Package or file | Installed | Fixed | ${attribution ? 'Dockerfile line' : 'Layer'} | Why it blocks |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    ...more(decision.blocking.length),
    '',
  ];
}

function ignoredSection(ignored: readonly IgnoredFinding[]): string[] {
  if (ignored.length === 0) return [];
  const rows = ignored
    .slice(0, SUMMARY_LIST_LIMIT)
    .map(({ finding, reason, until }) =>
      row([finding.severity, finding.id, subject(finding), reason, until ?? ''].map(text)),
    );
  return [
    '### Ignored findings',
    '',
    '| Severity | ID | Package or file | Why | Until |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    ...more(ignored.length),
    '',
  ];
}

function vexSection(suppressed: readonly VexSuppressed[]): string[] {
  if (suppressed.length === 0) return [];
  const rows = suppressed
    .slice(0, SUMMARY_LIST_LIMIT)
    .map(({ finding, status, statement, source }) =>
      row(
        [
          finding.severity,
          finding.id,
          subject(finding),
          status,
          statement || 'no justification given',
          source,
        ].map(text),
      ),
    );
  return [
    '### Not affected, by VEX',
    '',
    'Left out of the counts, the gate and code scanning.',
    '',
    '| Severity | ID | Package | Status | Justification | VEX document |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    ...more(suppressed.length),
    '',
  ];
}

/**
 * The summary of a run that stopped before its verdict: why, where the message may end with a
 * tool's last lines, and that nothing was pushed. @actions/core's addCodeBlock does not escape.
 */
export function renderFailureSummary(message: string): string {
  return [
    '## Build, scan and push: failed',
    '',
    `<pre><code>${escapeHtml(message)}</code></pre>`,
    '',
    'No tag was set unless the message above lists pushed references.',
    '',
  ].join('\n');
}

function subject(finding: Finding): string {
  return finding.packageName ?? finding.path ?? finding.target;
}

function more(total: number): string[] {
  return total > SUMMARY_LIST_LIMIT
    ? ['', `…and ${total - SUMMARY_LIST_LIMIT} more (the JSON report lists every finding).`]
    : [];
}

/**
 * The summary is markdown with HTML, rendered by GitHub; findings, notes and Dockerfile lines come
 * from the build and the scanned image, i.e. from whoever wrote the Dockerfile. `Markup` is text
 * made inert by `text` or `code`, so that nothing else reaches a table row.
 */
export type Markup = string & { readonly inert: unique symbol };

function row(cells: readonly Markup[]): string {
  return `| ${cells.join(' | ')} |`;
}

/**
 * HTML's special characters as entities, and markdown's (links, emphasis, code spans, table
 * pipes) as numeric references, which markdown shows as the characters and never parses; line
 * breaks as <br>, so that no line of the text starts a block (a heading, a list, a table row).
 */
export function text(value: string): Markup {
  return escapeHtml(value)
    .replace(/[\\`*_[\]~|]/g, (character) => `&#${character.charCodeAt(0)};`)
    .replace(/\r\n|\r|\n/g, '<br>') as Markup;
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => ENTITIES[character]!);
}

/** Monospace text: a code span could be ended by a backtick in the text, an HTML element cannot. */
export function code(value: string): Markup {
  return `<code>${text(value)}</code>` as Markup;
}

function truncate(value: string, length: number): string {
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}
