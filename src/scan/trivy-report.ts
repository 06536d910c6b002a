import type { ImageConfig, ImageIdentity } from '../build/tarball.js';
import type { Finding, FindingOrigin } from '../vocabulary.js';
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
  readonly Licenses?: readonly TrivyLicense[] | null;
  /** Findings VEX (or an ignore file) took out; written only with `--show-suppressed`. */
  readonly ExperimentalModifiedFindings?: readonly TrivyModifiedFinding[] | null;
}

/** Trivy's DetectedLicense (pkg/types/license.go): one package's or file's license. */
export interface TrivyLicense {
  readonly Severity: string;
  /** forbidden, restricted, reciprocal, notice, permissive, unencumbered, unknown */
  readonly Category?: string;
  /** Empty for a license found in a loose file. */
  readonly PkgName?: string;
  /** Empty for a package's license. */
  readonly FilePath?: string;
  readonly Name: string;
  readonly Link?: string;
}

/** Trivy's ModifiedFinding (pkg/types/finding.go) as its JSON writer writes it. */
export interface TrivyModifiedFinding {
  /** vulnerability, misconfiguration, secret, license */
  readonly Type: string;
  /** not_affected, fixed (VEX), ignored (an ignore file), … */
  readonly Status: string;
  /** The VEX statement's justification. */
  readonly Statement?: string;
  /** The VEX document's path as it was passed to Trivy. */
  readonly Source?: string;
  readonly Finding: TrivyVulnerability;
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
  /** Where in the scanned file the check failed; no line for a check on the whole file. */
  readonly CauseMetadata?: { readonly StartLine?: number; readonly EndLine?: number };
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
      ['Licenses', 'Name'],
    ] as const) {
      const list = result[field];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) return fail(`has Results[${index}].${field} that is not a list`);
      for (const [itemIndex, item] of list.entries()) {
        if (!isRecord(item) || typeof item[idField] !== 'string' || typeof item.Severity !== 'string')
          return fail(`has Results[${index}].${field}[${itemIndex}] without ${idField} or Severity`);
      }
    }
    const modified = modifiedFindingsProblem(result.ExperimentalModifiedFindings);
    if (modified) return fail(`has Results[${index}].ExperimentalModifiedFindings${modified}`);
  }
  return value as unknown as TrivyReport;
}

/**
 * Every finding in report order; severities Trivy does not know become UNKNOWN. `origin` says what
 * the report scanned: the image (the default), or the Dockerfile (`trivy config`).
 */
export function findingsOf(report: TrivyReport, origin: 'image' | 'dockerfile' = 'image'): Finding[] {
  return (report.Results ?? []).flatMap((result) => [
    ...(result.Vulnerabilities ?? []).map((vulnerability) => vulnerabilityFinding(result, vulnerability)),
    ...(result.Secrets ?? []).map((secret) => secretFinding(report, result, secret)),
    ...(result.Misconfigurations ?? [])
      // Trivy lists passed checks too when asked to; only failures are findings.
      .filter(
        (misconfiguration) => misconfiguration.Status === undefined || misconfiguration.Status === 'FAIL',
      )
      .map((misconfiguration) =>
        misconfigurationFinding(
          report,
          result,
          misconfiguration,
          origin === 'dockerfile' ? 'dockerfile' : undefined,
        ),
      ),
    ...(result.Licenses ?? []).map((license) => licenseFinding(result, license)),
  ]);
}

function vulnerabilityFinding(result: TrivyResult, vulnerability: TrivyVulnerability): Finding {
  return {
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
  };
}

/** What the summary and SARIF call the image's config, which is not a file in the image. */
export const IMAGE_CONFIG_TARGET = 'image config';

/**
 * Trivy reports what `--image-config-scanners` finds in the image's config under the scanned
 * artifact's own name (pkg/scan/local/service.go, mergeSecrets/mergeMisconfigurations: "the
 * container image config is not a real file"), which for `--input` is the tarball's path.
 */
function isImageConfig(report: TrivyReport, result: TrivyResult): boolean {
  return report.ArtifactName !== undefined && result.Target === report.ArtifactName;
}

function secretFinding(report: TrivyReport, result: TrivyResult, secret: TrivySecret): Finding {
  const inConfig = isImageConfig(report, result);
  const target = inConfig ? IMAGE_CONFIG_TARGET : result.Target;
  return {
    kind: 'secret',
    id: secret.RuleID,
    severity: severityOf(secret.Severity),
    target,
    title: secret.Title ?? secret.RuleID,
    path: target,
    line: secret.StartLine ?? 0,
    layerDiffId: secret.Layer?.DiffID ?? '',
    layerDigest: secret.Layer?.Digest ?? '',
    ...(inConfig ? { origin: 'image-config' as const, match: secret.Match ?? '' } : {}),
  };
}

function misconfigurationFinding(
  report: TrivyReport,
  result: TrivyResult,
  misconfiguration: TrivyMisconfiguration,
  dockerfile: 'dockerfile' | undefined,
): Finding {
  const origin: FindingOrigin | undefined =
    dockerfile ?? (isImageConfig(report, result) ? 'image-config' : undefined);
  const target = origin === 'image-config' ? IMAGE_CONFIG_TARGET : result.Target;
  return {
    kind: 'misconfiguration',
    id: misconfiguration.ID,
    severity: severityOf(misconfiguration.Severity),
    target,
    title: misconfiguration.Title ?? misconfiguration.Message ?? misconfiguration.ID,
    path: target,
    line: misconfiguration.CauseMetadata?.StartLine ?? 0,
    layerDiffId: misconfiguration.Layer?.DiffID ?? '',
    layerDigest: misconfiguration.Layer?.Digest ?? '',
    ...(origin ? { origin } : {}),
  };
}

/** A license is found by its name (as ignore files name it), in a package or a loose file. */
function licenseFinding(result: TrivyResult, license: TrivyLicense): Finding {
  return {
    kind: 'license',
    id: license.Name,
    severity: severityOf(license.Severity),
    target: result.Target,
    title: `${license.Name}${license.Category ? ` (${license.Category})` : ''}`,
    ...(license.PkgName ? { packageName: license.PkgName } : {}),
    path: license.FilePath || result.Target,
  };
}

/** A vulnerability a VEX statement took out of the report, with the statement's reason. */
export interface VexSuppressed {
  readonly finding: Finding;
  /** not_affected or fixed */
  readonly status: string;
  /** The statement's justification; may be empty. */
  readonly statement: string;
  /** The VEX document, as Trivy names it (the path it was given). */
  readonly source: string;
}

/** VEX statuses that take a finding out (pkg/vex: "not affected or fixed ... is filtered out"). */
const VEX_SUPPRESSING = new Set(['not_affected', 'fixed']);

/** The findings VEX suppressed, from `ExperimentalModifiedFindings` (`--show-suppressed`). */
export function vexSuppressedOf(report: TrivyReport): VexSuppressed[] {
  return (report.Results ?? []).flatMap((result) =>
    (result.ExperimentalModifiedFindings ?? [])
      .filter((modified) => modified.Type === 'vulnerability' && VEX_SUPPRESSING.has(modified.Status))
      .map((modified) => ({
        finding: vulnerabilityFinding(result, modified.Finding),
        status: modified.Status,
        statement: modified.Statement ?? '',
        source: modified.Source ?? '',
      })),
  );
}

/** What is wrong with a result's suppressed findings, or undefined when nothing is. */
function modifiedFindingsProblem(list: unknown): string | undefined {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) return ' that is not a list';
  for (const [index, item] of list.entries()) {
    if (!isRecord(item) || typeof item.Type !== 'string' || typeof item.Status !== 'string')
      return `[${index}] without Type or Status`;
    const finding = item.Finding;
    if (
      item.Type === 'vulnerability' &&
      (!isRecord(finding) ||
        typeof finding.VulnerabilityID !== 'string' ||
        typeof finding.Severity !== 'string')
    )
      return `[${index}].Finding without VulnerabilityID or Severity`;
  }
  return undefined;
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
