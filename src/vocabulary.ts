/** The words the stages share: severities in Trivy's order, scanners, SBOM formats. */
export const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const SCANNERS = ['vuln', 'secret', 'misconfig', 'license'] as const;
export type Scanner = (typeof SCANNERS)[number];
export const SBOM_FORMATS = ['cyclonedx', 'spdx-json', 'none'] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];
