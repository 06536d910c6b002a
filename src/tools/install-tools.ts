import type { Registries } from '../registries.js';
import type { TimeLimit } from '../timeout-settings.js';
import { installCrane } from './install-crane.js';
import type { DownloadPolicy } from './download.js';
import type { InstalledKaniko } from './install-kaniko.js';
import { installKaniko, ociPlatform } from './install-kaniko.js';
import type { InstalledTool } from './install-release-tool.js';
import type { PinnedRelease } from './releases.js';
import { CRANE_DEFAULT, TRIVY_DEFAULT, toolArch } from './releases.js';
import { installTrivy } from './install-trivy.js';
import { reporter } from '../reporter.js';

export interface InstallOptions {
  /** Plain x.y.z (the inputs normalise a leading v away). */
  readonly trivyVersion: string;
  readonly craneVersion: string;
  /**
   * kaniko executor image reference, by tag or (safest) by digest. Pulled without the action's
   * registry credentials (crane sees only the runner's `$HOME/.docker`): a private image is unsupported.
   */
  readonly kanikoImage: string;
  /** Replaces `https://github.com` in release URLs. */
  readonly toolMirror: string;
  /** Decides `--insecure` for the kaniko image's registry. */
  readonly registries: Registries;
  /** The runner's `process.arch`; only x64 and arm64 are supported. */
  readonly arch: NodeJS.Architecture;
  readonly download?: DownloadPolicy;
  /** The stage's limit on each tool process (see exec.run). */
  readonly timeLimit?: TimeLimit;
  /** The pinned default versions; tests replace them because real pinned archives cannot be served. */
  readonly pins?: { readonly trivy: PinnedRelease; readonly crane: PinnedRelease };
}

/** The tools a scan of an image needs; a rescan of a pushed image installs only these. */
export interface ScanTools {
  readonly trivy: InstalledTool;
  readonly crane: InstalledTool;
}

export interface InstalledTools extends ScanTools {
  readonly kaniko: InstalledKaniko;
}

/**
 * Installs Trivy, crane and the kaniko root filesystem concurrently; kaniko waits only for crane,
 * and not even for it when the pinned image is already cached. Logs one line per tool as it
 * finishes. When several installs fail, every distinct error is reported once.
 */
export async function installTools(options: InstallOptions): Promise<InstalledTools> {
  const arch = toolArch(options.arch);
  const trivy = installTrivyTool(options);
  const crane = installCraneTool(options);
  const kaniko = logged(
    () =>
      installKaniko({
        image: options.kanikoImage,
        arch,
        crane: async () => (await crane).path,
        registries: options.registries,
        ...(options.timeLimit && { timeLimit: options.timeLimit }),
      }),
    (root) => {
      const digests = [
        root.indexDigest && `index ${root.indexDigest}`,
        `${ociPlatform(arch)} ${root.platformDigest}`,
      ];
      return `kaniko ${root.image} (${digests.filter(Boolean).join(', ')}) from ${root.source}`;
    },
  );

  const settled = await Promise.allSettled([trivy, crane, kaniko]);
  const errors = [
    ...new Set(
      settled.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as Error] : [])),
    ),
  ];
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1)
    throw new AggregateError(
      errors,
      `installing the tools failed:\n${errors.map((error) => `  - ${error.message}`).join('\n')}`,
    );
  return { trivy: await trivy, crane: await crane, kaniko: await kaniko };
}

/** The pinned versions and the download settings every release install shares. */
function releaseInstall(options: InstallOptions) {
  return {
    pins: options.pins ?? { trivy: TRIVY_DEFAULT, crane: CRANE_DEFAULT },
    common: {
      arch: toolArch(options.arch),
      toolMirror: options.toolMirror,
      ...(options.download && { download: options.download }),
      ...(options.timeLimit && { timeLimit: options.timeLimit }),
    },
  };
}

/** Installs Trivy alone (a rescan installs it only once the image is known to exist). */
export function installTrivyTool(options: InstallOptions): Promise<InstalledTool> {
  const { pins, common } = releaseInstall(options);
  return logged(
    () => installTrivy({ ...common, version: options.trivyVersion, pinned: pins.trivy }),
    (tool) => `trivy ${tool.version} from ${tool.source}`,
  );
}

/** Installs crane alone: a rescan needs it first, and never kaniko. */
export function installCraneTool(options: InstallOptions): Promise<InstalledTool> {
  const { pins, common } = releaseInstall(options);
  return logged(
    () => installCrane({ ...common, version: options.craneVersion, pinned: pins.crane }),
    (tool) => `crane ${tool.version} from ${tool.source}`,
  );
}

/** Runs one install and logs its line as soon as it is done, so a later failure keeps it. */
async function logged<T>(task: () => Promise<T>, describe: (result: T) => string): Promise<T> {
  const started = performance.now();
  const result = await task();
  reporter().info(`${describe(result)} in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  return result;
}
