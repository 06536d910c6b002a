import type { SarifLog, SarifResult, SarifRule, SarifRun } from '../report/sarif.js';

const FINGERPRINT = 'buildScanPushFinding/v1';

/**
 * Several platforms' rewritten logs as one log with one run: code scanning no longer combines
 * runs of one category, and each upload of a category replaces the last. A finding on several
 * platforms (same fingerprint) is one result; rules are merged by id and `ruleIndex` renumbered.
 */
export function mergeSarif(logs: readonly SarifLog[]): SarifLog {
  const [first, ...others] = logs;
  if (!first) throw new Error('mergeSarif needs at least one log');
  const runs = logs.flatMap((log) => log.runs);
  const base = first.runs[0];
  if (others.length === 0 || !base) return first;
  const rules: SarifRule[] = [];
  const results: SarifResult[] = [];
  const seen = new Set<string>();
  for (const run of runs)
    for (const result of run.results ?? []) {
      const fingerprint = result.partialFingerprints?.[FINGERPRINT];
      if (fingerprint !== undefined && seen.has(fingerprint)) continue;
      if (fingerprint !== undefined) seen.add(fingerprint);
      results.push(withRuleFrom(run, result, rules));
    }
  const merged: SarifRun = {
    ...base,
    tool: { ...base.tool, driver: { ...base.tool.driver, rules } },
    results,
  };
  return { ...first, runs: [merged] };
}

/** The result with its rule added to `rules` (once per id) and `ruleIndex` pointing at it there. */
function withRuleFrom(run: SarifRun, result: SarifResult, rules: SarifRule[]): SarifResult {
  const own = run.tool.driver.rules ?? [];
  const rule =
    result.ruleIndex !== undefined ? own[result.ruleIndex] : own.find((r) => r.id === result.ruleId);
  if (!rule) return result;
  let index = rules.findIndex((known) => known.id === rule.id);
  if (index < 0) index = rules.push(rule) - 1;
  return result.ruleIndex === undefined ? result : { ...result, ruleIndex: index };
}
