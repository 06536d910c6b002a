/**
 * Pinned tool versions and their SHA-256 digests. Every value here was copied from public
 * material listed in the project's PINS.md (never computed locally): a wrong pin would fail
 * every real runner, so change them only together with their source.
 */

export type Arch = 'x64' | 'arm64';

export interface PinnedRelease {
  readonly version: string;
  readonly sha256: Readonly<Record<Arch, string>>;
}

/** Trivy 0.74.0 (2026-08-14): cert-manager/makefile-modules and cashapp/hermit-packages agree. */
export const TRIVY_DEFAULT: PinnedRelease = {
  version: '0.74.0',
  sha256: {
    x64: '2ae6fe3ee734b7fdf11335663e18c75ea12dccc76062f09f164a3b0f8be4371a',
    arm64: 'b94ce1976bbf3c15b514b605ee88be7c6d94a29be2302847ff01cb794d47aad5',
  },
};

/** crane v0.21.9 (2026-08-05): cashapp/hermit-packages `crane.hcl` and about ten other files. */
export const CRANE_DEFAULT: PinnedRelease = {
  version: '0.21.9',
  sha256: {
    x64: '5c16d8ddb971cb1d5e6ed8b1e743da8224414eeba2c2762d8f1a61b2f095699e',
    arm64: '1f4c647b7bb260ab5435661df5b526cf59950ebf95201790db7183ac189cbcbd',
  },
};

/**
 * The maintained kaniko fork's executor image, pinned by its multi-platform index digest
 * (upstream GoogleContainerTools/kaniko is archived and never published binaries).
 */
export const KANIKO_IMAGE_DEFAULT =
  'ghcr.io/osscontainertools/kaniko:v1.28.2@sha256:4ea0e7301e3f6806de15150e4982c73018351e28c1dca6947bd3b4afb5ae3c60';

/**
 * x.y.z with an optional semver pre-release (`-rc.1`, `-beta.2`: dot-separated letters, digits and
 * hyphens, numbers without leading zeros). Build metadata (`+…`) is not accepted: the runner's tool
 * cache drops it from the version it files a tool under, so `0.75.0+a` and `0.75.0` would share
 * one cached binary.
 */
const IDENTIFIER = '(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)';
const VERSION = new RegExp(`^v?(\\d+)\\.(\\d+)\\.(\\d+)(?:-(${IDENTIFIER}(?:\\.${IDENTIFIER})*))?$`);

interface Version {
  readonly core: readonly [number, number, number];
  readonly preRelease?: string;
}

function parseVersion(value: string): Version | undefined {
  const match = VERSION.exec(value.trim());
  if (!match) return undefined;
  const core = [Number(match[1]), Number(match[2]), Number(match[3])] as const;
  return match[4] === undefined ? { core } : { core, preRelease: match[4] };
}

/** `v0.74.0` → `0.74.0`, `v0.75.0-rc.1` → `0.75.0-rc.1`; undefined when it is not such a version. */
export function normalizeVersion(value: string): string | undefined {
  const version = parseVersion(value);
  if (!version) return undefined;
  return version.core.join('.') + (version.preRelease === undefined ? '' : `-${version.preRelease}`);
}

/** Orders x.y.z cores only: a pre-release's place is decided by the callers. */
function compareCore(a: Version['core'], b: Version['core']): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * Why a Trivy version must not be installed, or undefined when it may be. During the 2026 supply
 * chain incident (GHSA-69fq-xp46-6x23, CVE-2026-33634) v0.69.4 shipped malicious binaries and
 * v0.69.5–v0.69.6 malicious images, and every GitHub release before v0.69.2 was deleted.
 * Pre-releases: one that precedes v0.69.2 by semver precedence (0.69.2-rc.1 included) is refused
 * with the deleted releases; one of 0.69.4–0.69.6 is refused with its version, since it would
 * come from the release pipeline the attacker controlled and precedence alone would let
 * 0.69.4-rc.1 through.
 */
export function refusedTrivyVersion(version: string): string | undefined {
  const parsed = parseVersion(version);
  if (!parsed) return `Trivy ${version} is refused: it is not a version (x.y.z or x.y.z-pre.release).`;
  const { core, preRelease } = parsed;
  const use = `Use ${TRIVY_DEFAULT.version} or newer.`;
  const sinceFirstSafe = compareCore(core, [0, 69, 2]);
  if (sinceFirstSafe < 0 || (sinceFirstSafe === 0 && preRelease !== undefined)) {
    return `Trivy ${version} is refused: the GitHub releases before v0.69.2 were deleted on 2026-03-01 during the supply-chain incident (GHSA-69fq-xp46-6x23), so no trustworthy asset exists. ${use}`;
  }
  const ofRelease =
    preRelease === undefined
      ? ''
      : ` ${version} is a pre-release of v${core.join('.')}, which the same compromised release pipeline would have published.`;
  if (compareCore(core, [0, 69, 4]) === 0) {
    return `Trivy ${version} is refused: v0.69.4 was a malicious release (binaries, packages and images published by the attacker on 2026-03-19; GHSA-69fq-xp46-6x23, CVE-2026-33634).${ofRelease} ${use}`;
  }
  if (compareCore(core, [0, 69, 5]) >= 0 && compareCore(core, [0, 69, 6]) <= 0) {
    return `Trivy ${version} is refused: v0.69.5 and v0.69.6 were malicious images pushed to Docker Hub on 2026-03-22/23 (GHSA-69fq-xp46-6x23), never legitimate releases.${ofRelease} ${use}`;
  }
  return undefined;
}

/** The runner's architecture as the tools name it, or an error that says what is supported. */
export function toolArch(arch: string): Arch {
  if (arch === 'x64' || arch === 'arm64') return arch;
  throw new Error(
    `unsupported runner architecture "${arch}": build-scan-push installs Trivy, crane and kaniko for Linux x64 and arm64 only. Run the job on an x64 or arm64 Linux runner.`,
  );
}
