import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { StageInputs } from '../input-parser.js';
import type { Severity } from '../vocabulary.js';
import { SEVERITIES } from '../vocabulary.js';

export const POLICY_INPUTS = {
  'fail-on': 'CRITICAL,HIGH',
  severity: SEVERITIES.join(','),
  'ignore-unfixed': 'false',
  'ignore-file': '',
  vex: '',
} as const;
type PolicyInput = keyof typeof POLICY_INPUTS;

/** What blocks the push, what is reported, and what is ignored. */
export interface PolicySettings {
  /** Severities that block; empty for `none` (secrets still block). */
  readonly failOn: readonly Severity[];
  /** Severities reported in SARIF, the summary and the counts. */
  readonly severity: readonly Severity[];
  readonly ignoreUnfixed: boolean;
  /** Absolute path of the ignore file, or '' for none. */
  readonly ignoreFile: string;
  /** Absolute paths of the VEX documents (checked to be workspace files; read before the build). */
  readonly vexFiles: readonly string[];
}

export function parsePolicySettings(inputs: StageInputs<PolicyInput>, workspace: string): PolicySettings {
  const problemsBefore = inputs.problemCount;
  const severity = severities(inputs, 'severity');
  const failOn = inputs.value('fail-on').toLowerCase() === 'none' ? [] : severities(inputs, 'fail-on');
  const unreported = failOn.filter((level) => !severity.includes(level));
  // An unknown severity is already reported; comparing the two lists would only repeat it.
  if (unreported.length > 0 && inputs.problemCount === problemsBefore)
    inputs.problem(
      'fail-on',
      inputs.value('fail-on'),
      `includes ${unreported.join(',')}, which \`severity\` does not report: add it to \`severity\``,
    );
  return {
    failOn,
    severity,
    ignoreUnfixed: inputs.bool('ignore-unfixed'),
    ignoreFile: ignoreFile(inputs, workspace),
    vexFiles: inputs
      .list('vex')
      .map((path) => inputs.workspaceFile('vex', path, path, 'cannot be read'))
      .filter((path) => path !== ''),
  };
}

function severities(inputs: StageInputs<PolicyInput>, name: 'severity' | 'fail-on'): Severity[] {
  return inputs.someOf(name, SEVERITIES, 'severity', (value) => value.toUpperCase());
}

/** The ignore file given, or the default one at the workspace root when there is one. */
function ignoreFile(inputs: StageInputs<PolicyInput>, workspace: string): string {
  const given = inputs.given('ignore-file');
  if (given) return inputs.workspaceFile('ignore-file', given, given, 'cannot be read');
  // lstat, not exists: a dangling link must be refused like any other link, not skipped.
  const found = ['.trivyignore.yaml', '.trivyignore']
    .map((name) => join(workspace, name))
    .find((path) => lstatSync(path, { throwIfNoEntry: false }) !== undefined);
  return found
    ? inputs.workspaceFile('ignore-file', '', found, 'is empty and the default ignore file cannot be read')
    : '';
}
