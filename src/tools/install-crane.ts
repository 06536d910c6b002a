import type { InstalledTool, ReleaseToolOptions, ReleaseToolSpec } from './install-release-tool.js';
import { installReleaseTool } from './install-release-tool.js';

/** One archive holds crane, gcrane and krane; only crane is extracted. */
export const CRANE_RELEASE: ReleaseToolSpec = {
  name: 'crane',
  owner: 'google',
  repo: 'go-containerregistry',
  asset: (_version, arch) => `go-containerregistry_Linux_${arch === 'x64' ? 'x86_64' : 'arm64'}.tar.gz`,
  checksumsAsset: () => 'checksums.txt',
};

export function installCrane(options: ReleaseToolOptions): Promise<InstalledTool> {
  return installReleaseTool(CRANE_RELEASE, options);
}
