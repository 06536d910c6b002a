import type { Decision } from '../gate/policy.js';
import type { Finding } from '../scan/report.js';
import type { LayerAttribution } from './dockerfile.js';
import { sourceOf } from './dockerfile.js';

/** Severities as the summary, the log and the outputs show them, most severe first. */
const SHOWN = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
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
  out.push(`## Build, scan and push: \`${options.image}\``, '');
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
  out.push(`Image: \`${options.image}\`  `, `Digest: \`${options.digest || 'unknown'}\``, '');

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
          finding.severity,
          finding.id,
          subject(finding),
          finding.installedVersion ?? '',
          finding.fixedVersion || (finding.kind === 'vulnerability' ? 'no fix' : ''),
          `${options.dockerfilePath}:${source.line} \`${truncate(source.instruction.replace(/`/g, "'"), 60)}\``,
          reason,
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
      out.push(row([finding.severity, finding.id, subject(finding), why, until ?? '']));
    out.push(...more(decision.ignored.length), '');
  }

  const notes = [...decision.warnings, ...(options.notes ?? [])];
  if (notes.length > 0) out.push('### Warnings', '', ...notes.map((note) => `- ${escapeText(note)}`), '');

  if (options.pushed && options.pushed.length > 0)
    out.push('### Pushed', '', ...options.pushed.map((reference) => `- \`${reference}\``), '');
  return `${out.join('\n').trimEnd()}\n`;
}

function subject(finding: Finding): string {
  return finding.packageName ?? finding.path ?? finding.target;
}

function more(total: number): string[] {
  return total > SUMMARY_LIST_LIMIT
    ? ['', `…and ${total - SUMMARY_LIST_LIMIT} more (the JSON report lists every finding).`]
    : [];
}

function row(cells: readonly string[]): string {
  return `| ${cells.map((cell) => escapeText(cell).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')).join(' | ')} |`;
}

/** Findings come from the scanned image: keep their text from opening HTML or raw markup. */
function escapeText(text: string): string {
  return text.replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
