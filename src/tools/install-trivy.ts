import type { InstalledTool, ReleaseToolOptions, ReleaseToolSpec } from './install-release-tool.js';
import { installReleaseTool } from './install-release-tool.js';
import { refusedTrivyVersion } from './releases.js';

export const TRIVY_RELEASE: ReleaseToolSpec = {
  name: 'trivy',
  owner: 'aquasecurity',
  repo: 'trivy',
  asset: (version, arch) => `trivy_${version}_Linux-${arch === 'x64' ? '64bit' : 'ARM64'}.tar.gz`,
  checksumsAsset: (version) => `trivy_${version}_checksums.txt`,
};

/**
 * Installs Trivy. The versions compromised or deleted in the 2026 incident are refused here as
 * well as in the inputs, so no caller can reach their download by another path.
 */
export async function installTrivy(options: ReleaseToolOptions): Promise<InstalledTool> {
  const refusal = refusedTrivyVersion(options.version);
  if (refusal) throw new Error(refusal);
  return installReleaseTool(TRIVY_RELEASE, options);
}
