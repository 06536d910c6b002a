import type { ImageConfig, ImageIdentity } from '../build/tarball.js';
import type { Finding } from '../vocabulary.js';
import { severityOf } from '../vocabulary.js';

/**
 * The parts of Trivy's JSON report (SchemaVersion 2) that the action reads. Trivy writes more;
 * unknown fields are kept as they are. Field names are Trivy's own.
 */
export interface TrivyReport {
  readonly SchemaVersion: number;
  readonly ArtifactName?: string;
  readonly ArtifactType?: string;
  readonly Metadata?: TrivyMetadata;
  readonly Results?: readonly TrivyResult[] | null;
}

export interface TrivyMetadata {
  readonly ImageID?: string;
  readonly DiffIDs?: readonly string[];
  readonly RepoDigests?: readonly string[] | null;
  readonly ImageConfig?: ImageConfig;
  readonly Layers?: readonly TrivyLayer[];
}

export interface TrivyLayer {
  readonly Digest?: string;
  readonly DiffID?: string;
  readonly CreatedBy?: string;
}

export interface TrivyResult {
  readonly Target: string;
  readonly Class?: string;
  readonly Type?: string;
  readonly Packages?: readonly TrivyPackage[] | null;
  readonly Vulnerabilities?: readonly TrivyVulnerability[] | null;
  readonly Secrets?: readonly TrivySecret[] | null;
  readonly Misconfigurations?: readonly TrivyMisconfiguration[] | null;
}

export interface TrivyPackage {
  readonly ID?: string;
  readonly Name: string;
  readonly Version?: string;
  readonly Identifier?: { readonly PURL?: string };
  readonly Layer?: TrivyLayer;
}

export interface TrivyVulnerability {
  readonly VulnerabilityID: string;
  readonly PkgName: string;
  readonly PkgPath?: string;
  readonly PkgIdentifier?: { readonly PURL?: string };
  readonly InstalledVersion?: string;
  readonly FixedVersion?: string;
  /** affected, fixed, will_not_fix, fix_deferred, end_of_life, under_investigation, … */
  readonly Status?: string;
  readonly Severity: string;
  readonly Title?: string;
  readonly PrimaryURL?: string;
  readonly Layer?: TrivyLayer;
}

export interface TrivySecret {
  readonly RuleID: string;
  readonly Category?: string;
  readonly Severity: string;
  readonly Title?: string;
  readonly StartLine?: number;
  readonly EndLine?: number;
  readonly Match?: string;
  readonly Layer?: TrivyLayer;
}

export interface TrivyMisconfiguration {
  readonly ID: string;
  readonly AVDID?: string;
  readonly Title?: string;
  readonly Severity: string;
  readonly Status?: string;
  readonly Message?: string;
  readonly PrimaryURL?: string;
  readonly Layer?: TrivyLayer;
}

/** A report that is not Trivy's JSON is a scanner failure, never "no findings". */
export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportError';
  }
}

/**
 * Parses Trivy's JSON report and checks the shape the gate relies on. Anything unexpected throws,
 * naming the file: a report the action cannot read must never look clean.
 */
export function parseTrivyReport(text: string, source: string): TrivyReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ReportError(
      `the Trivy report ${source} is not valid JSON (${(error as Error).message}); the scan cannot be trusted, so nothing is pushed.`,
    );
  }
  const fail = (what: string): never => {
    throw new ReportError(
      `the Trivy report ${source} ${what}; the scan cannot be trusted, so nothing is pushed.`,
    );
  };
  if (!isRecord(value)) return fail('is not a JSON object');
  if (value.SchemaVersion !== 2) return fail(`has SchemaVersion ${String(value.SchemaVersion)}, expected 2`);
  const results = value.Results;
  if (results !== undefined && results !== null && !Array.isArray(results))
    return fail('has Results that is not a list');
  for (const [index, result] of ((results as unknown[] | null | undefined) ?? []).entries()) {
    if (!isRecord(result) || typeof result.Target !== 'string')
      return fail(`has Results[${index}] without a Target`);
    for (const [field, idField] of [
      ['Vulnerabilities', 'VulnerabilityID'],
      ['Secrets', 'RuleID'],
      ['Misconfigurations', 'ID'],
    ] as const) {
      const list = result[field];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) return fail(`has Results[${index}].${field} that is not a list`);
      for (const [itemIndex, item] of list.entries()) {
        if (!isRecord(item) || typeof item[idField] !== 'string' || typeof item.Severity !== 'string')
          return fail(`has Results[${index}].${field}[${itemIndex}] without ${idField} or Severity`);
      }
    }
  }
  return value as unknown as TrivyReport;
}

/** Every finding in report order; severities Trivy does not know become UNKNOWN. */
export function findingsOf(report: TrivyReport): Finding[] {
  const findings: Finding[] = [];
  for (const result of report.Results ?? []) {
    for (const vulnerability of result.Vulnerabilities ?? []) {
      findings.push({
        kind: 'vulnerability',
        id: vulnerability.VulnerabilityID,
        severity: severityOf(vulnerability.Severity),
        target: result.Target,
        title: vulnerability.Title ?? '',
        packageName: vulnerability.PkgName,
        installedVersion: vulnerability.InstalledVersion ?? '',
        fixedVersion: vulnerability.FixedVersion ?? '',
        status: vulnerability.Status ?? '',
        purl: vulnerability.PkgIdentifier?.PURL ?? '',
        path: vulnerability.PkgPath ?? '',
        layerDiffId: vulnerability.Layer?.DiffID ?? '',
        layerDigest: vulnerability.Layer?.Digest ?? '',
      });
    }
    for (const secret of result.Secrets ?? []) {
      findings.push({
        kind: 'secret',
        id: secret.RuleID,
        severity: severityOf(secret.Severity),
        target: result.Target,
        title: secret.Title ?? secret.RuleID,
        path: result.Target,
        line: secret.StartLine ?? 0,
        layerDiffId: secret.Layer?.DiffID ?? '',
        layerDigest: secret.Layer?.Digest ?? '',
      });
    }
    for (const misconfiguration of result.Misconfigurations ?? []) {
      // Trivy lists passed checks too when asked to; only failures are findings.
      if (misconfiguration.Status !== undefined && misconfiguration.Status !== 'FAIL') continue;
      findings.push({
        kind: 'misconfiguration',
        id: misconfiguration.ID,
        severity: severityOf(misconfiguration.Severity),
        target: result.Target,
        title: misconfiguration.Title ?? misconfiguration.Message ?? misconfiguration.ID,
        path: result.Target,
        layerDiffId: misconfiguration.Layer?.DiffID ?? '',
        layerDigest: misconfiguration.Layer?.Digest ?? '',
      });
    }
  }
  return findings;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why the report does not describe the image the build wrote, or undefined when it does. Trivy
 * names the scanned image by its config digest (`Metadata.ImageID`) and layers (`DiffIDs`); a
 * report about anything else must never decide whether this image is pushed.
 */
export function scannedImageMismatch(report: TrivyReport, expected: ImageIdentity): string | undefined {
  const scanned = report.Metadata;
  if (!scanned?.ImageID)
    return 'the Trivy report does not name the image it scanned (no Metadata.ImageID), so it cannot be matched to the build';
  if (scanned.ImageID !== expected.configDigest)
    return `Trivy scanned image ${scanned.ImageID}, but the build wrote ${expected.configDigest}`;
  const diffIds = scanned.DiffIDs ?? [];
  if (diffIds.length !== expected.diffIds.length || diffIds.some((id, i) => id !== expected.diffIds[i]))
    return `Trivy scanned layers ${diffIds.join(', ') || '(none)'}, but the build wrote ${expected.diffIds.join(', ')}`;
  return undefined;
}
