import * as core from '@actions/core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readGitHubContext } from './context.js';
import type { Config, InputName } from './inputs.js';
import { buildConfig } from './inputs.js';

/** Reads the action's inputs and context into a Config; nothing runs before this succeeds. */
export function loadConfig(options: MainOptions = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const github = readGitHubContext(env);
  const runnerTemp = github.runnerTemp || join(github.workspace, 'out');
  const config = buildConfig({
    read: (name: InputName) => core.getInput(name),
    github,
    outputDir: options.outputDir ?? join(runnerTemp, 'build-scan-push'),
    tempDir: join(runnerTemp, 'build-scan-push-private'),
    now: new Date(),
    commitTime: commitTime(env),
  });
  // The password may be a PAT rather than the masked job token; mask it before anything logs.
  if (config.registryPassword) core.setSecret(config.registryPassword);
  if (config.githubToken) core.setSecret(config.githubToken);
  return config;
}

/** SOURCE_DATE_EPOCH wins, as reproducible-builds.org specifies; then the pushed commit's time. */
function commitTime(env: NodeJS.ProcessEnv): Date | undefined {
  if (env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH))
    return new Date(Number(env.SOURCE_DATE_EPOCH) * 1000);
  const timestamp = readGitHubContext(env).payload.head_commit?.timestamp;
  return timestamp ? new Date(timestamp) : undefined;
}

/** The pipeline: install → build → scan → gate → report → publish → outputs. */
export async function runPipeline(config: Config): Promise<void> {
  mkdirSync(config.outputDir, { recursive: true });
  notBuiltYet('install');
}

function notBuiltYet(stage: string): never {
  throw new Error(`the ${stage} stage is not built yet: this version of the action only checks its inputs.`);
}

export interface MainOptions {
  /** Where results go; the runner's default is RUNNER_TEMP, the local runner's ./out. */
  readonly outputDir?: string;
}

export async function main(options: MainOptions = {}): Promise<void> {
  try {
    await runPipeline(loadConfig(options));
  } catch (error) {
    core.setFailed(error instanceof Error ? error.message : String(error));
  }
}
