import type { Decision } from '../gate/policy.js';
import type { Finding } from '../vocabulary.js';
import { SEVERITIES_MOST_SEVERE_FIRST as SHOWN } from '../vocabulary.js';
import type { LayerAttribution } from './layer-attribution.js';
import { sourceOf } from './layer-attribution.js';

export const SUMMARY_LIST_LIMIT = 20;

/** One line for the log with the same numbers as the outputs and the summary. */
export function describeDecision(decision: Decision): string {
  const counts = SHOWN.map((severity) => `${severity} ${decision.counts[severity]}`).join(', ');
  const verdict = decision.pass
    ? 'policy passed'
    : `policy failed: ${decision.blocking.length} blocking finding${decision.blocking.length === 1 ? '' : 's'}`;
  return `vulnerabilities ${counts}; secrets ${decision.secrets}; misconfigurations ${decision.misconfigurations}; ignored ${decision.ignored.length}; ${verdict}`;
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
  readonly dockerfilePath: string;
  readonly attribution: LayerAttribution;
  readonly failOn: readonly string[];
  /** References pushed after the gate (`name:tag`); absent before or without a push. */
  readonly pushed?: readonly string[];
  /** Notes from the SARIF rewrite or upload, e.g. what was dropped to fit GitHub's limits. */
  readonly notes?: readonly string[];
}

/** Markdown for the job summary: the verdict, the counts and the findings that decide. Pure. */
export function renderSummary(options: SummaryOptions): string {
  const { decision } = options;
  const out: string[] = [];
  out.push(`## Build, scan and push: ${code(options.image)}`, '');
  const failOn = options.failOn.length > 0 ? options.failOn.join(', ') : 'none';
  out.push(
    decision.pass
      ? `**Policy: ✅ pass** (fail-on: ${failOn}; secrets always block)`
      : `**Policy: ❌ fail**: ${decision.blocking.length} blocking finding${decision.blocking.length === 1 ? '' : 's'} (fail-on: ${failOn}; secrets always block)`,
    '',
  );
  out.push(
    '| Critical | High | Medium | Low | Unknown | Secrets | Misconfigurations | Ignored |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${[...SHOWN.map((severity) => decision.counts[severity]), decision.secrets, decision.misconfigurations, decision.ignored.length].join(' | ')} |`,
    '',
  );
  out.push(`Image: ${code(options.image)}  `, `Digest: ${code(options.digest || 'unknown')}`, '');

  if (decision.blocking.length > 0) {
    out.push(
      '### Blocking findings',
      '',
      '| Severity | ID | Package or file | Installed | Fixed | Dockerfile line | Why it blocks |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const { finding, reason } of decision.blocking.slice(0, SUMMARY_LIST_LIMIT)) {
      const source = sourceOf(options.attribution, finding);
      out.push(
        row([
          text(finding.severity),
          text(finding.id),
          text(subject(finding)),
          text(finding.installedVersion ?? ''),
          text(finding.fixedVersion || (finding.kind === 'vulnerability' ? 'no fix' : '')),
          `${text(`${options.dockerfilePath}:${source.line}`)} ${code(truncate(source.instruction, 60))}` as Markup,
          text(reason),
        ]),
      );
    }
    out.push(...more(decision.blocking.length), '');
  }

  if (decision.ignored.length > 0) {
    out.push(
      '### Ignored findings',
      '',
      '| Severity | ID | Package or file | Why | Until |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const { finding, why, until } of decision.ignored.slice(0, SUMMARY_LIST_LIMIT))
      out.push(row([finding.severity, finding.id, subject(finding), why, until ?? ''].map(text)));
    out.push(...more(decision.ignored.length), '');
  }

  const notes = [...decision.warnings, ...(options.notes ?? [])];
  if (notes.length > 0) out.push('### Warnings', '', ...notes.map((note) => `- ${text(note)}`), '');

  if (options.pushed && options.pushed.length > 0)
    out.push('### Pushed', '', ...options.pushed.map((reference) => `- ${code(reference)}`), '');
  return `${out.join('\n').trimEnd()}\n`;
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
type Markup = string & { readonly inert: unique symbol };

function row(cells: readonly Markup[]): string {
  return `| ${cells.join(' | ')} |`;
}

/**
 * HTML's special characters as entities, and markdown's (links, emphasis, code spans, table
 * pipes) as numeric references, which markdown shows as the characters and never parses; line
 * breaks as <br>, so that no line of the text starts a block (a heading, a list, a table row).
 */
function text(value: string): Markup {
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
function code(value: string): Markup {
  return `<code>${text(value)}</code>` as Markup;
}

function truncate(value: string, length: number): string {
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}
