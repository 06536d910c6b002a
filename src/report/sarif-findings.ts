import type { DecidedFinding } from '../gate/policy.js';
import { isReported } from '../gate/policy.js';
import type { Finding } from '../vocabulary.js';
import type { SarifResult } from './sarif.js';

/**
 * Which decided finding a result of `trivy convert --format sarif` is about: the one place where
 * SARIF results meet findings. Trivy writes each result's `ruleId` as the finding's ID and
 * describes where it is: a vulnerability's package and installed version in the message
 * (`Package: …`, `Installed Version: …`), a secret's start line in the region, a
 * misconfiguration by its ID alone. Those form the key; when several findings share it, the
 * location's URI (the package path, or the target, as Trivy writes it) picks among them.
 */
export type SarifFindingLookup = (result: SarifResult) => DecidedFinding | undefined;

export function sarifFindingLookup(findings: readonly DecidedFinding[]): SarifFindingLookup {
  const byKey = new Map<string, DecidedFinding[]>();
  for (const decided of findings) {
    const key = keyOfFinding(decided.finding);
    const same = byKey.get(key);
    if (same) same.push(decided);
    else byKey.set(key, [decided]);
  }
  return (result) => {
    const candidates = keysOfResult(result)
      .map((key) => byKey.get(key))
      .find((found) => found !== undefined);
    if (!candidates) return undefined;
    const uri = trimSlash(result.locations?.[0]?.physicalLocation?.artifactLocation?.uri ?? '');
    // A finding the policy counts wins over one it hides: the result then stays in the log.
    const reported = candidates.filter(isReported);
    const pool = reported.length > 0 ? reported : candidates;
    return pool.find(({ finding }) => uri !== '' && locatedAt(finding, uri)) ?? pool[0];
  };
}

function keyOfFinding(finding: Finding): string {
  if (finding.kind === 'vulnerability')
    return key('v', finding.id, finding.packageName ?? '', finding.installedVersion ?? '');
  if (finding.kind === 'secret') return key('s', finding.id, String(finding.line ?? 0));
  // Trivy's rule ID for a license is `<package>:<license>` (pkg/report/sarif.go).
  if (finding.kind === 'license') return key('l', `${finding.packageName ?? ''}:${finding.id}`);
  return key('m', finding.id);
}

/** The keys a result may have, most specific first: its text says which kind it is. */
function keysOfResult(result: SarifResult): string[] {
  const ruleId = result.ruleId ?? '';
  const text = result.message.text ?? '';
  const packageName = /^Package: (.*)$/m.exec(text)?.[1];
  if (packageName !== undefined)
    return [key('v', ruleId, packageName, /^Installed Version: (.*)$/m.exec(text)?.[1] ?? '')];
  if (/^License /m.test(text)) return [key('l', ruleId)];
  const line = result.locations?.[0]?.physicalLocation?.region?.startLine ?? 0;
  return [key('s', ruleId, String(line)), key('m', ruleId)];
}

function key(...parts: string[]): string {
  return parts.join('\0');
}

function locatedAt(finding: Finding, uri: string): boolean {
  return trimSlash(finding.path ?? '') === uri || trimSlash(finding.target) === uri;
}

function trimSlash(path: string): string {
  return path.replace(/^\/+/, '');
}
