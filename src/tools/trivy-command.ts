import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../exec.js';
import { assertSuccess, childEnv, run } from '../exec.js';
import type { TimeLimit } from '../timeout-settings.js';

/** Flags every Trivy command that could reach the network takes: no update check, no telemetry. */
export const TRIVY_QUIET_FLAGS = ['--skip-version-check', '--disable-telemetry', '--no-progress'] as const;

/** Trivy as the action runs it; output streams to the log fenced. */
export interface Trivy {
  /** `trivy <args>`; the result whatever the exit code. */
  run(args: readonly string[]): Promise<RunResult>;
  /** `trivy <args>`; a non-zero exit throws a ToolError naming `what`, with `hint`. */
  mustRun(args: readonly string[], what: string, hint?: string): Promise<RunResult>;
}

/**
 * Runs Trivy in a fresh empty directory (so no `trivy.yaml` or `.trivyignore` of the repository
 * applies) with HOME pointing there too (no user config) and a minimal environment. A
 * `dockerConfigDir` becomes DOCKER_CONFIG: go-containerregistry's default keychain, which Trivy
 * v0.74.0 uses for its DB downloads (pkg/remote/remote.go authOptions), reads credentials there.
 */
export interface TrivyCommandOptions {
  /** A private DOCKER_CONFIG holding the DB mirrors' credentials, each for its own host. */
  readonly dockerConfigDir?: string;
  /** The stage's limit on each Trivy process (see exec.run). */
  readonly timeLimit?: TimeLimit;
}

export function trivyCommand(path: string, options: TrivyCommandOptions = {}): Trivy {
  const { dockerConfigDir, timeLimit } = options;
  const extra: Record<string, string> =
    dockerConfigDir === undefined ? {} : { DOCKER_CONFIG: dockerConfigDir };
  const runTrivy = async (args: readonly string[]): Promise<RunResult> => {
    const directory = await mkdtemp(join(tmpdir(), 'bsp-trivy-'));
    try {
      // childEnv keeps GITHUB_TOKEN (Trivy would send it to ghcr.io), INPUT_*, ACTIONS_* and
      // TRIVY_* (each sets a flag, so a workflow variable could quietly change the policy) out.
      return await run(path, args, {
        cwd: directory,
        env: childEnv({ HOME: directory, ...extra }),
        ...(timeLimit !== undefined && { timeLimit }),
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  };
  return {
    run: runTrivy,
    mustRun: async (args, what, hint) =>
      assertSuccess(await runTrivy(args), what, hint, { tool: 'trivy', argv: args }),
  };
}
