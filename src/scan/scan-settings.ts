import type { StageInputs } from '../input-parser.js';
import { referenceProblem } from '../input-parser.js';
import type { SbomFormat, Scanner } from '../vocabulary.js';
import { SBOM_FORMATS, SCANNERS } from '../vocabulary.js';

export const DEFAULT_TRIVY_DB_REPOSITORIES = [
  'mirror.gcr.io/aquasec/trivy-db:2',
  'ghcr.io/aquasecurity/trivy-db:2',
  'public.ecr.aws/aquasecurity/trivy-db:2',
] as const;

export const SCAN_INPUTS = {
  scanners: 'vuln,secret',
  sbom: 'cyclonedx',
  'trivy-db-repositories': DEFAULT_TRIVY_DB_REPOSITORIES.join('\n'),
} as const;
type ScanInput = keyof typeof SCAN_INPUTS;

/** What Trivy looks for, what it writes besides its report, and where its DB comes from. */
export interface ScanSettings {
  readonly scanners: readonly Scanner[];
  readonly sbom: SbomFormat;
  /** DB repositories, tried in order. */
  readonly trivyDbRepositories: readonly string[];
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
  const trivyDbRepositories = inputs.list('trivy-db-repositories', { commas: true });
  for (const repository of trivyDbRepositories) {
    const issue = referenceProblem(repository);
    if (issue) inputs.problem('trivy-db-repositories', repository, issue);
  }
  return { scanners, sbom, trivyDbRepositories };
}
