import type { StageInputs } from '../input-parser.js';
import { referenceProblem } from '../input-parser.js';
import type { SbomFormat, Scanner } from '../vocabulary.js';
import { SBOM_FORMATS, SCANNERS } from '../vocabulary.js';

export const DEFAULT_TRIVY_DB_REPOSITORIES = [
  'mirror.gcr.io/aquasec/trivy-db:2',
  'ghcr.io/aquasecurity/trivy-db:2',
  'public.ecr.aws/aquasecurity/trivy-db:2',
] as const;

/** Trivy v0.74.0's own default, pkg/javadb/client.go (DefaultGCRRepository, DefaultGHCRRepository). */
export const DEFAULT_TRIVY_JAVA_DB_REPOSITORIES = [
  'mirror.gcr.io/aquasec/trivy-java-db:1',
  'ghcr.io/aquasecurity/trivy-java-db:1',
] as const;

/** Trivy v0.74.0's own default, pkg/policy/policy.go (BundleRepository:BundleVersion). */
export const DEFAULT_TRIVY_CHECKS_REPOSITORIES = ['mirror.gcr.io/aquasec/trivy-checks:2'] as const;

export const SCAN_INPUTS = {
  scanners: 'vuln,secret',
  sbom: 'cyclonedx',
  'trivy-db-repositories': DEFAULT_TRIVY_DB_REPOSITORIES.join('\n'),
  'trivy-java-db-repositories': DEFAULT_TRIVY_JAVA_DB_REPOSITORIES.join('\n'),
  'trivy-checks-repositories': DEFAULT_TRIVY_CHECKS_REPOSITORIES.join('\n'),
} as const;
type ScanInput = keyof typeof SCAN_INPUTS;

/** What Trivy looks for, what it writes besides its report, and where its databases come from. */
export interface ScanSettings {
  readonly scanners: readonly Scanner[];
  readonly sbom: SbomFormat;
  /** Vulnerability DB repositories, tried in order. */
  readonly trivyDbRepositories: readonly string[];
  /** Java index DB repositories, tried in order; used only for an image holding Java archives. */
  readonly trivyJavaDbRepositories: readonly string[];
  /** Misconfiguration checks bundle repositories, tried in order; used only with `misconfig`. */
  readonly trivyChecksRepositories: readonly string[];
}

export function parseScanSettings(inputs: StageInputs<ScanInput>): ScanSettings {
  const given = inputs.list('scanners', { commas: true }).map((value) => value.toLowerCase());
  if (given.length === 0 || given.some((value) => !(SCANNERS as readonly string[]).includes(value)))
    inputs.problem(
      'scanners',
      inputs.value('scanners'),
      `has an unknown scanner: use ${SCANNERS.join(', ')}`,
    );
  const scanners = SCANNERS.filter((scanner) => given.includes(scanner));
  const sbom = inputs.oneOf('sbom', SBOM_FORMATS);
  return {
    scanners,
    sbom,
    trivyDbRepositories: repositories(inputs, 'trivy-db-repositories'),
    trivyJavaDbRepositories: repositories(inputs, 'trivy-java-db-repositories'),
    trivyChecksRepositories: repositories(inputs, 'trivy-checks-repositories'),
  };
}

/** A list of image references; each one that is not a reference is its own problem. */
function repositories(inputs: StageInputs<ScanInput>, name: ScanInput): string[] {
  const list = inputs.list(name, { commas: true });
  for (const repository of list) {
    const issue = referenceProblem(repository);
    if (issue) inputs.problem(name, repository, issue);
  }
  return list;
}
