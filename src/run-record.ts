import type { BaseImageFacts } from './build/base-image-registry.js';
import type { BuildResult } from './build/kaniko-build.js';
import type { Decision } from './gate/policy.js';
import type { Config } from './inputs.js';
import type { PublishResult } from './publish/publish-image.js';
import type { LayerAttribution } from './report/layer-attribution.js';
import type { BaseCheck } from './rescan/base-check.js';
import type { PulledImage } from './rescan/pull-image.js';
import type { MergedManifest } from './publish/merge-digests.js';
import type { ScanFiles, ScanResult } from './scan/trivy-scan.js';
import type { InstalledTools, ScanTools } from './tools/install-tools.js';

/** The stages in the order they run; the record says which one a failure stopped. */
export type StageName =
  'inputs' | 'install' | 'pull' | 'build' | 'scan' | 'gate' | 'report' | 'publish' | 'cache';

/** What one platform's build went through; fields fill in as its stages finish. */
export interface PlatformRun {
  /** `os/arch[/variant]`, the runner's own until several platforms are built. */
  readonly platform: string;
  readonly build?: BuildResult;
  /** The final stage's base image, when it has one, checked against the build's layers. */
  readonly base?: BaseImageFacts;
  readonly scan?: ScanResult;
  readonly decision?: Decision;
  /** SARIF, SBOM and predicate, once written from the scan's report. */
  readonly files?: ScanFiles;
  readonly attribution?: LayerAttribution;
  /** A rescan's image, pulled from the registry instead of built. */
  readonly pulled?: PulledImage;
  /** A rescan's answer to whether the base image moved since this platform was built. */
  readonly baseCheck?: BaseCheck;
  /** A merge's platform: a manifest a matrix job pushed by digest, read back and checked. */
  readonly merged?: MergedManifest;
}

/** What the push did: the references that exist, or why it stopped (with those that exist). */
export type PublishOutcome =
  | { readonly status: 'pushed'; readonly result: PublishResult }
  | { readonly status: 'failed'; readonly error: Error; readonly pushed: readonly string[] };

/**
 * A run, as `finish` turns it into outputs, a summary and a status: one entry per platform, the
 * push, notes for the summary, and the failure that stopped a stage, if one did.
 */
export interface RunRecord {
  readonly config?: Config;
  /** A rescan installs no kaniko. */
  readonly tools?: InstalledTools | ScanTools;
  readonly platforms: readonly PlatformRun[];
  readonly publish?: PublishOutcome;
  /**
   * An upload that failed for a reason other than a permission or setting: the step fails for
   * it, but only after the push, as code scanning being down must not block an image that passed.
   */
  readonly uploadError?: string;
  /** What the summary must say besides the findings: dropped SARIF results, upload warnings, the cache. */
  readonly notes: readonly string[];
  readonly failure?: { readonly stage: StageName; readonly error: Error };
}

/** Why the step fails, by one precedence rule, or undefined when it succeeds. */
export type RunVerdict =
  | { readonly kind: 'stage'; readonly message: string }
  | { readonly kind: 'publish'; readonly message: string }
  | { readonly kind: 'upload'; readonly message: string }
  | { readonly kind: 'policy'; readonly message: string };

/**
 * A stage that stopped comes first (nothing after it ran), then a failed push, then a failed
 * upload (the image may be out, and the message says so), then a failed policy.
 */
export function runVerdict(
  record: RunRecord,
  describe: (decision: Decision) => string,
): RunVerdict | undefined {
  if (record.failure) return { kind: 'stage', message: record.failure.error.message };
  if (record.publish?.status === 'failed') return { kind: 'publish', message: record.publish.error.message };
  if (record.uploadError) {
    const pushed =
      record.publish?.status === 'pushed' ? ` The image was pushed: ${record.publish.result.image}.` : '';
    return { kind: 'upload', message: `${record.uploadError}${pushed}` };
  }
  const refused = record.platforms.find((platform) => platform.decision && !platform.decision.pass);
  if (refused?.decision)
    return { kind: 'policy', message: `${describe(refused.decision)}. Nothing was pushed.` };
  return undefined;
}
