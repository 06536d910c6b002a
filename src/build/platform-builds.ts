import { readFileSync } from 'node:fs';
import type { Config } from '../inputs.js';
import type { Platform } from '../platform.js';
import { formatPlatform, runnerPlatform } from '../platform.js';
import type { PlatformRun } from '../run-record.js';
import type { InstalledTools } from '../tools/install-tools.js';
import type { BaseImageFacts, BaseImageRegistryOptions } from './base-image-registry.js';
import { pinStagesElsewhere, resolveBaseImage } from './base-image-registry.js';
import { checkEmulation } from './emulation.js';
import { finalStageProblems, withPlatformArgs } from './stage-platforms.js';

/** How crane reads base images: anonymously, as kaniko pulls them. */
export function baseImageOptions(config: Config, tools: InstalledTools): BaseImageRegistryOptions {
  return {
    cranePath: tools.crane.path,
    registries: config.registries,
    tempDir: config.run.tempDir,
    buildPlatform: formatPlatform(runnerPlatform()),
  };
}

/**
 * Every platform's base image and pinned stages, resolved before anything is built: a base that
 * lacks one of the platforms fails here, naming both, before any platform is built or pushed.
 * Returns the rewritten Dockerfile of each platform that needs one.
 */
export async function prepareBuilds(
  config: Config,
  tools: InstalledTools,
  platforms: readonly (Pick<PlatformRun, 'platform'> & { base?: BaseImageFacts })[],
): Promise<Map<string, string>> {
  const { build } = config;
  const options = baseImageOptions(config, tools);
  const dockerfiles = new Map<string, string>();
  await Promise.all(
    platforms.map(async (platform, index) => {
      const base = await resolveBaseImage(build, { ...options, platform: platform.platform });
      if (base) platform.base = base;
      const wanted = build.platforms[index]!;
      const request = { buildArgs: platformBuildArgs(config, wanted), platform: wanted };
      const pinned = await pinStagesElsewhere(build, request, options);
      if (pinned !== undefined) dockerfiles.set(platform.platform, pinned);
    }),
  );
  return dockerfiles;
}

/** The build args kaniko gets for a platform: BuildKit's automatic platform ones, then the user's. */
export function platformBuildArgs(config: Config, platform: Platform): string[] {
  return withPlatformArgs(config.build.buildArgs, platform, runnerPlatform());
}

/**
 * Before any download: every platform's image holds its own platform's files, and this machine
 * can run the foreign platforms' RUN lines.
 */
export async function checkPlatforms(config: Config): Promise<void> {
  const options = {
    dockerfileText: readFileSync(config.build.dockerfile, 'utf8'),
    target: config.build.target,
    buildArgs: config.build.buildArgs,
    platforms: config.build.platforms,
    runner: runnerPlatform(),
  };
  const problems = finalStageProblems(options.dockerfileText, options);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  await checkEmulation(options);
}
