import type { Config } from '../inputs.js';
import { code, renderSummary, text } from '../report/summary.js';
import type { PlatformRun } from '../run-record.js';
import { describeBase } from './base-check.js';

/**
 * A rescanned platform's part of the job summary: the findings, as for a build but located in
 * layers (no Dockerfile line is known), then what was pulled and whether its base image moved.
 */
export function renderRescanSummary(config: Config, platform: PlatformRun, notes: readonly string[]): string {
  const { pulled, decision, baseCheck: base } = platform;
  if (!pulled || !decision) return '';
  const findings = renderSummary({
    decision,
    image: config.publish.image,
    digest: pulled.digest,
    failOn: config.policy.failOn,
    notes,
  });
  return [
    findings,
    '### Rescan',
    '',
    `Pulled ${code(pulled.reference)} (${text(platform.platform)}) and scanned it with today's vulnerability DB; nothing was built or pushed.`,
    '',
    `Base image: ${base ? text(describeBase(base)) : 'not checked'}`,
    '',
  ].join('\n');
}
