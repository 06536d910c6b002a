/**
 * The words the scan, the gate and the reports share: severities and their order, scanners, SBOM
 * formats and what a finding is. The input parser reads its choices from here; nothing here reads
 * inputs, a report or a file.
 */

/** Trivy's severities, least severe first: the index is the rank. */
export const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Most severe first, as the summary, the log and the outputs list them. */
export const SEVERITIES_MOST_SEVERE_FIRST: readonly Severity[] = [...SEVERITIES].reverse();

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

/** A severity as Trivy writes it, in any case; one Trivy does not know becomes UNKNOWN. */
export function severityOf(value: string): Severity {
  const upper = value.toUpperCase();
  return isSeverity(upper) ? upper : 'UNKNOWN';
}

/** Larger is more severe: UNKNOWN 0 … CRITICAL 4. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export const SCANNERS = ['vuln', 'secret', 'misconfig', 'license'] as const;
export type Scanner = (typeof SCANNERS)[number];

export const SBOM_FORMATS = ['cyclonedx', 'spdx-json', 'none'] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

/** The kinds of finding the gate decides on. */
export type FindingKind = 'vulnerability' | 'secret' | 'misconfiguration' | 'license';

/** The scanner that reports each kind of finding. */
export const SCANNER_OF: Readonly<Record<FindingKind, Scanner>> = {
  vulnerability: 'vuln',
  secret: 'secret',
  misconfiguration: 'misconfig',
  license: 'license',
};

/**
 * Where in what was scanned a finding is: a file or package of the image's filesystem, the
 * image's config (ENV, LABEL, history; `--image-config-scanners`), or the Dockerfile itself
 * (`trivy config`).
 */
export type FindingOrigin = 'filesystem' | 'image-config' | 'dockerfile';

/** One finding of any kind, flattened from the report for the gate, SARIF and the summary. */
export interface Finding {
  readonly kind: FindingKind;
  /** CVE/GHSA ID, secret rule ID, misconfiguration ID or license name. */
  readonly id: string;
  readonly severity: Severity;
  /** Trivy's result target: the image (OS packages) or a file path inside the image. */
  readonly target: string;
  readonly title: string;
  readonly packageName?: string;
  readonly installedVersion?: string;
  readonly fixedVersion?: string;
  readonly status?: string;
  readonly purl?: string;
  /** File inside the image: the package's path, or the target file of a secret/misconfiguration. */
  readonly path?: string;
  readonly line?: number;
  /** Uncompressed layer digest (DiffID) that introduced the finding, when Trivy knows it. */
  readonly layerDiffId?: string;
  readonly layerDigest?: string;
  /** Absent means the image's filesystem. */
  readonly origin?: FindingOrigin;
  /** A secret's masked match as Trivy writes it, e.g. `  "TOKEN=****"` for the image config. */
  readonly match?: string;
}
