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

const VERSION = /^v?(\d+)\.(\d+)\.(\d+)$/;

/** `v0.74.0` or `0.74.0` → `0.74.0`; undefined when it is not a plain x.y.z version. */
export function normalizeVersion(value: string): string | undefined {
  const match = VERSION.exec(value.trim());
  return match ? `${Number(match[1])}.${Number(match[2])}.${Number(match[3])}` : undefined;
}

/**
 * Why a Trivy version must not be installed, or undefined when it may be. During the 2026 supply
 * chain incident (GHSA-69fq-xp46-6x23, CVE-2026-33634) v0.69.4 shipped malicious binaries and
 * v0.69.5–v0.69.6 malicious images, and every GitHub release before v0.69.2 was deleted.
 */
export function refusedTrivyVersion(version: string): string | undefined {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  if (major === 0 && (minor < 69 || (minor === 69 && patch < 2))) {
    return `Trivy ${version} is refused: the GitHub releases before v0.69.2 were deleted on 2026-03-01 during the supply-chain incident (GHSA-69fq-xp46-6x23), so no trustworthy asset exists. Use ${TRIVY_DEFAULT.version} or newer.`;
  }
  if (major === 0 && minor === 69 && patch === 4) {
    return `Trivy ${version} is refused: v0.69.4 was a malicious release (binaries, packages and images published by the attacker on 2026-03-19; GHSA-69fq-xp46-6x23, CVE-2026-33634). Use ${TRIVY_DEFAULT.version} or newer.`;
  }
  if (major === 0 && minor === 69 && (patch === 5 || patch === 6)) {
    return `Trivy ${version} is refused: v0.69.5 and v0.69.6 were malicious images pushed to Docker Hub on 2026-03-22/23 (GHSA-69fq-xp46-6x23), never legitimate releases. Use ${TRIVY_DEFAULT.version} or newer.`;
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
