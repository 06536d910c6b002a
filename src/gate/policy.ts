import type { TrivyReport } from '../scan/trivy-report.js';
import { findingsOf } from '../scan/trivy-report.js';
import type { Finding, Scanner, Severity } from '../vocabulary.js';
import { SCANNER_OF } from '../vocabulary.js';
import type { IgnoreRule } from './ignore.js';
import { expiryTime, isExpired, ruleMatches } from './ignore.js';

export interface Policy {
  /** Severities that block; secrets block whatever this says. */
  readonly failOn: readonly Severity[];
  /** Severities reported and counted; findings of other severities are left out everywhere. */
  readonly severity: readonly Severity[];
  readonly ignoreUnfixed: boolean;
  readonly scanners: readonly Scanner[];
  readonly ignores: readonly IgnoreRule[];
  readonly now: Date;
}

export type SeverityCounts = Record<Severity, number>;

export interface BlockingFinding {
  readonly finding: Finding;
  readonly reason: string;
}

export interface IgnoredFinding {
  readonly finding: Finding;
  readonly why: string;
  /** `YYYY-MM-DD` when the ignore that hides it expires. */
  readonly until?: string;
}

export interface Decision {
  readonly pass: boolean;
  /** Vulnerabilities by severity, after ignores and the `severity` filter. */
  readonly counts: SeverityCounts;
  readonly secrets: number;
  readonly misconfigurations: number;
  /** Every finding that is reported (counted), blocking or not, in report order. */
  readonly reported: readonly Finding[];
  readonly blocking: readonly BlockingFinding[];
  readonly ignored: readonly IgnoredFinding[];
  readonly warnings: readonly string[];
}

/** Ignores that are about to expire get a warning this many days ahead. */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

/**
 * The gate: a pure function of the report and the policy. The ignore file is applied here rather
 * than by Trivy (`--ignorefile`): Trivy drops ignored findings from its report (or, with
 * `--show-suppressed`, lists them in an experimental field without the rule's expiry), while the
 * decision must show each ignored finding with its statement and expiry, warn about rules that
 * are about to expire, and treat an expired rule exactly like a missing one.
 */
export function decide(report: TrivyReport, policy: Policy): Decision {
  const counts: SeverityCounts = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };
  let secrets = 0;
  let misconfigurations = 0;
  const reported: Finding[] = [];
  const blocking: BlockingFinding[] = [];
  const ignored: IgnoredFinding[] = [];
  const active = policy.ignores.filter((rule) => !isExpired(rule, policy.now));
  const activeById = groupById(active);
  const expiredById = groupById(policy.ignores.filter((rule) => isExpired(rule, policy.now)));
  const expiredThatWouldHide = new Set<IgnoreRule>();
  const failOn = new Set(policy.failOn);
  const reportedSeverities = new Set(policy.severity);

  for (const finding of findingsOf(report)) {
    if (!policy.scanners.includes(SCANNER_OF[finding.kind])) continue;
    const rule = activeById.get(finding.id)?.find((candidate) => ruleMatches(candidate, finding));
    if (rule) {
      ignored.push({
        finding,
        why: rule.statement ? `${rule.statement} (${rule.source})` : `listed in ${rule.source}`,
        ...(rule.expiresAt ? { until: rule.expiresAt } : {}),
      });
      continue;
    }
    for (const old of expiredById.get(finding.id) ?? [])
      if (ruleMatches(old, finding)) expiredThatWouldHide.add(old);
    if (finding.kind === 'vulnerability' && policy.ignoreUnfixed && !hasFix(finding)) {
      ignored.push({
        finding,
        why: `no fixed version yet (status ${finding.status || 'unknown'}; ignore-unfixed)`,
      });
      continue;
    }
    // Secrets are leaks, not a severity judgement: every one is reported and blocks.
    if (finding.kind !== 'secret' && !reportedSeverities.has(finding.severity)) continue;
    reported.push(finding);
    if (finding.kind === 'vulnerability') counts[finding.severity] += 1;
    else if (finding.kind === 'secret') secrets += 1;
    else misconfigurations += 1;
    if (finding.kind === 'secret')
      blocking.push({
        finding,
        reason:
          'a secret is baked into the image; remove it (or list its rule ID in the ignore file if it is not one)',
      });
    else if (failOn.has(finding.severity))
      blocking.push({ finding, reason: `${finding.severity} is in fail-on` });
  }

  const warnings: string[] = [];
  for (const rule of expiredThatWouldHide)
    warnings.push(
      `ignore of ${rule.id} (${rule.source}) expired on ${rule.expiresAt}; it no longer hides anything: fix the finding or renew the date.`,
    );
  for (const rule of active) {
    const expiry = expiryTime(rule);
    if (expiry === undefined) continue;
    const daysLeft = Math.ceil((expiry - policy.now.getTime()) / DAY_MS);
    if (daysLeft <= EXPIRY_WARNING_DAYS)
      warnings.push(
        `ignore of ${rule.id} (${rule.source}) expires on ${rule.expiresAt}, in ${daysLeft} day${daysLeft === 1 ? '' : 's'}.`,
      );
  }

  return {
    pass: blocking.length === 0,
    counts,
    secrets,
    misconfigurations,
    reported,
    blocking,
    ignored,
    warnings,
  };
}

function groupById(rules: readonly IgnoreRule[]): Map<string, IgnoreRule[]> {
  const byId = new Map<string, IgnoreRule[]>();
  for (const rule of rules) byId.set(rule.id, [...(byId.get(rule.id) ?? []), rule]);
  return byId;
}

/**
 * Trivy's own `--ignore-unfixed` keeps only status `fixed`; reports from before Trivy wrote a
 * status fall back to whether a fixed version is named.
 */
function hasFix(finding: Finding): boolean {
  return finding.status ? finding.status === 'fixed' : Boolean(finding.fixedVersion);
}
