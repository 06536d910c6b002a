import { join } from 'node:path';
import type { Config } from './inputs.js';
import { parsePlatform, platformSlug } from './platform.js';

/**
 * Whether the run's result is an image index rather than one image: several platforms, or one
 * platform pushed by digest for a later `merge-digests`. It decides the per-platform names below,
 * so that a matrix job and a one-runner build name their platforms alike.
 */
export function buildsIndex(config: Config): boolean {
  return config.build.platforms.length > 1 || config.publish.pushByDigest;
}

/** Whether the result is an index of several platforms (built here, or merged from a matrix). */
export function listsPlatforms(config: Config): boolean {
  return config.build.platforms.length > 1 || config.publish.mergeDigests.length > 0;
}

/** A platform's `os-arch[-variant]`, e.g. `linux-arm-v7`, from its `os/arch[/variant]`. */
function slugOf(platform: string): string {
  const parsed = parsePlatform(platform);
  return 'problem' in parsed ? platform.replaceAll('/', '-') : platformSlug(parsed);
}

/**
 * The code scanning category of a platform's results: the `sarif-category` itself for a single
 * image, `<category>/<os>-<arch>[-<variant>]` for a platform of an index, so that each platform's
 * alerts are opened and closed on their own.
 */
export function sarifCategoryOf(config: Config, platform: string, index = buildsIndex(config)): string {
  return index ? `${config.report.sarifCategory}/${slugOf(platform)}` : config.report.sarifCategory;
}

/** Where a platform's reports go: the output folder itself for one platform, a subfolder for several. */
export function platformFolder(config: Config, platform: string): string {
  return config.build.platforms.length > 1
    ? join(config.run.outputDir, slugOf(platform))
    : config.run.outputDir;
}

/** What a log line about one platform starts with; nothing when there is only one. */
export function platformLabel(config: Config, platform: string): string {
  return config.build.platforms.length > 1 ? `${platform}: ` : '';
}

/** The SARIF of every platform in one log (the one uploaded), when there are several. */
export function combinedSarifPath(config: Config): string {
  return join(config.run.outputDir, 'all-platforms.sarif');
}
