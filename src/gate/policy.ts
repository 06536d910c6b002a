import type { TrivyReport, VexSuppressed } from '../scan/trivy-report.js';
import { findingsOf, vexSuppressedOf } from '../scan/trivy-report.js';
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
  /** The VEX documents' names by the path Trivy was given (a private copy of each). */
  readonly vexNames?: ReadonlyMap<string, string>;
}

export type SeverityCounts = Record<Severity, number>;

/**
 * What the gate made of a finding: `blocking` fails the policy, `reported` is counted and shown,
 * `ignored` is listed as ignored (by the ignore file or by ignore-unfixed), `hidden` is left out
 * everywhere (its severity is not in `severity`, or its scanner is not in `scanners`).
 */
export type Verdict = 'blocking' | 'reported' | 'ignored' | 'hidden';

interface Decided<V extends Verdict, By extends string> {
  readonly finding: Finding;
  readonly verdict: V;
  /** The rule of the policy that gave the verdict. */
  readonly by: By;
  /** The verdict's reason as a sentence, as the summary shows it. */
  readonly reason: string;
}

/** One finding of the report with its verdict and the reason for it. */
export type DecidedFinding =
  | Decided<'blocking', 'secret' | 'fail-on'>
  | Decided<'reported', 'not-in-fail-on'>
  | (Decided<'ignored', 'ignore-file'> & {
      /** The entry of the ignore file that hides the finding. */
      readonly ignore: IgnoreRule;
      /** `YYYY-MM-DD` when that entry expires. */
      readonly until?: string;
    })
  | (Decided<'ignored', 'ignore-unfixed'> & { readonly until?: undefined })
  | Decided<'hidden', 'severity' | 'scanner'>;

export type BlockingFinding = Extract<DecidedFinding, { verdict: 'blocking' }>;
/** Blocking or reported: counted, and shown in SARIF and the summary. */
export type ReportedFinding = Extract<DecidedFinding, { verdict: 'blocking' | 'reported' }>;
export type IgnoredFinding = Extract<DecidedFinding, { verdict: 'ignored' }>;

export interface Decision {
  readonly pass: boolean;
  /** Every finding of the report, in report order, with its verdict; all below derive from it. */
  readonly findings: readonly DecidedFinding[];
  /** Vulnerabilities by severity, after ignores and the `severity` filter. */
  readonly counts: SeverityCounts;
  readonly secrets: number;
  readonly misconfigurations: number;
  readonly licenses: number;
  /** Every finding that is reported (counted), blocking or not, in report order. */
  readonly reported: readonly ReportedFinding[];
  readonly blocking: readonly BlockingFinding[];
  readonly ignored: readonly IgnoredFinding[];
  /**
   * Vulnerabilities a VEX statement marks not affected or fixed: Trivy left them out of the
   * report, so they are in no count, verdict or SARIF result; the summary lists them.
   */
  readonly vexSuppressed: readonly VexSuppressed[];
  readonly warnings: readonly string[];
}

/** Whether the finding is counted and shown: blocking or reported. */
export function isReported(decided: DecidedFinding): decided is ReportedFinding {
  return decided.verdict === 'blocking' || decided.verdict === 'reported';
}

/** Ignores that are about to expire get a warning this many days ahead. */
export const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

const SECRET_BLOCKS =
  'a secret is baked into the image; remove it (or list its rule ID in the ignore file if it is not one)';

/**
 * The gate: a pure function of the report and the policy. The ignore file is applied here rather
 * than by Trivy (`--ignorefile`): Trivy drops ignored findings from its report (or, with
 * `--show-suppressed`, lists them in an experimental field without the rule's expiry), while the
 * decision must show each ignored finding with its statement and expiry, warn about rules that
 * are about to expire, and treat an expired rule exactly like a missing one.
 */
export function decide(report: TrivyReport, policy: Policy, dockerfileReport?: TrivyReport): Decision {
  const rules = new IgnoreRules(policy.ignores, policy.now);
  const findings = [
    ...findingsOf(report),
    ...(dockerfileReport ? findingsOf(dockerfileReport, 'dockerfile') : []),
  ].map((finding) => verdictOf(finding, policy, rules));
  const reported = findings.filter(isReported);
  const blocking = reported.filter((decided): decided is BlockingFinding => decided.verdict === 'blocking');
  return {
    pass: blocking.length === 0,
    findings,
    ...tally(reported),
    reported,
    blocking,
    ignored: findings.filter((decided): decided is IgnoredFinding => decided.verdict === 'ignored'),
    vexSuppressed: vexSuppressedOf(report).map((suppressed) => ({
      ...suppressed,
      source: policy.vexNames?.get(suppressed.source) ?? suppressed.source,
    })),
    warnings: [...rules.expiredWarnings(findings), ...rules.expiringWarnings(policy.now)],
  };
}

/** The verdict on one finding, by the first rule of the policy that applies to it. */
function verdictOf(finding: Finding, policy: Policy, rules: IgnoreRules): DecidedFinding {
  const scanner = SCANNER_OF[finding.kind];
  if (!policy.scanners.includes(scanner))
    return { finding, verdict: 'hidden', by: 'scanner', reason: `the ${scanner} scanner is not in scanners` };
  const ignore = rules.activeFor(finding);
  if (ignore)
    return {
      finding,
      verdict: 'ignored',
      by: 'ignore-file',
      ignore,
      reason: ignore.statement ? `${ignore.statement} (${ignore.source})` : `listed in ${ignore.source}`,
      ...(ignore.expiresAt ? { until: ignore.expiresAt } : {}),
    };
  if (finding.kind === 'vulnerability' && policy.ignoreUnfixed && !hasFix(finding))
    return {
      finding,
      verdict: 'ignored',
      by: 'ignore-unfixed',
      reason: `no fixed version yet (status ${finding.status || 'unknown'}; ignore-unfixed)`,
    };
  // Secrets are leaks, not a severity judgement: every one is reported and blocks.
  if (finding.kind === 'secret') return { finding, verdict: 'blocking', by: 'secret', reason: SECRET_BLOCKS };
  if (!policy.severity.includes(finding.severity))
    return { finding, verdict: 'hidden', by: 'severity', reason: `${finding.severity} is not in severity` };
  if (policy.failOn.includes(finding.severity))
    return { finding, verdict: 'blocking', by: 'fail-on', reason: `${finding.severity} is in fail-on` };
  return {
    finding,
    verdict: 'reported',
    by: 'not-in-fail-on',
    reason: `${finding.severity} is not in fail-on`,
  };
}

function tally(
  reported: readonly ReportedFinding[],
): Pick<Decision, 'counts' | 'secrets' | 'misconfigurations' | 'licenses'> {
  const counts: SeverityCounts = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };
  const byKind = { vulnerability: 0, secret: 0, misconfiguration: 0, license: 0 };
  for (const { finding } of reported) {
    if (finding.kind === 'vulnerability') counts[finding.severity] += 1;
    byKind[finding.kind] += 1;
  }
  return {
    counts,
    secrets: byKind.secret,
    misconfigurations: byKind.misconfiguration,
    licenses: byKind.license,
  };
}

/** The ignore file's entries split by whether they still apply at the policy's time. */
class IgnoreRules {
  private readonly active: readonly IgnoreRule[];
  private readonly activeById: Map<string, IgnoreRule[]>;
  private readonly expiredById: Map<string, IgnoreRule[]>;

  constructor(rules: readonly IgnoreRule[], now: Date) {
    this.active = rules.filter((rule) => !isExpired(rule, now));
    this.activeById = groupById(this.active);
    this.expiredById = groupById(rules.filter((rule) => isExpired(rule, now)));
  }

  activeFor(finding: Finding): IgnoreRule | undefined {
    return this.activeById.get(finding.id)?.find((rule) => ruleMatches(rule, finding));
  }

  /** Expired entries that would still hide a finding the gate looked at, in report order. */
  expiredWarnings(findings: readonly DecidedFinding[]): string[] {
    const wouldHide = new Set<IgnoreRule>();
    for (const { finding, by } of findings) {
      if (by === 'scanner' || by === 'ignore-file') continue;
      for (const old of this.expiredById.get(finding.id) ?? [])
        if (ruleMatches(old, finding)) wouldHide.add(old);
    }
    return [...wouldHide].map(
      (rule) =>
        `ignore of ${rule.id} (${rule.source}) expired on ${rule.expiresAt}; it no longer hides anything: fix the finding or renew the date.`,
    );
  }

  /** Entries that expire within EXPIRY_WARNING_DAYS. */
  expiringWarnings(now: Date): string[] {
    const warnings: string[] = [];
    for (const rule of this.active) {
      const expiry = expiryTime(rule);
      if (expiry === undefined) continue;
      const daysLeft = Math.ceil((expiry - now.getTime()) / DAY_MS);
      if (daysLeft <= EXPIRY_WARNING_DAYS)
        warnings.push(
          `ignore of ${rule.id} (${rule.source}) expires on ${rule.expiresAt}, in ${daysLeft} day${daysLeft === 1 ? '' : 's'}.`,
        );
    }
    return warnings;
  }
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
