import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathsRecordedThisRun, removePaths } from './cleanup.js';
import type { GitHubContext } from './context.js';
import { readGitHubContext } from './context.js';
import { gitOutput } from './exec.js';
import type { InputName } from './inputs.js';
import { INPUT_DEFAULTS } from './inputs.js';
import { main } from './main.js';
import { useReporter } from './reporter.js';
import { terminalReporter } from './terminal-reporter.js';

const USAGE = `Usage: npm run local -- [--<input> <value>]...

Runs the action's pipeline on this Linux machine, the way the runner would, and writes the
tarball, report, SARIF, SBOM, summary and outputs to ./out (or --out <dir>).
Every action input is a flag of the same name, e.g.
  npm run local -- --context examples/hello --fail-on CRITICAL --tool-mirror http://mirror.internal
  npm run local -- --context examples/hello --platforms linux/amd64,linux/arm64
Defaults are the action's, except: push false, upload-sarif false unless --github-token is
given, image localhost/<folder name> outside a GitHub workflow, and tag local outside a git
checkout. RUNNER_DEBUG=1 shows debug lines.`;

export interface LocalFlags {
  readonly inputs: Partial<Record<InputName, string>>;
  readonly out?: string;
}

/** `--name value` and `--name=value` pairs; every name must be an action input (or --out). */
export function parseFlags(argv: readonly string[]): LocalFlags {
  const inputs: Partial<Record<InputName, string>> = {};
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}\n\n${USAGE}`);
    const equals = arg.indexOf('=');
    const name = equals === -1 ? arg.slice(2) : arg.slice(2, equals);
    const value = equals === -1 ? argv[++i] : arg.slice(equals + 1);
    if (value === undefined) throw new Error(`--${name} needs a value\n\n${USAGE}`);
    if (name === 'out') out = value;
    else if (name in INPUT_DEFAULTS) inputs[name as InputName] = value;
    else throw new Error(`--${name} is not an input of the action\n\n${USAGE}`);
  }
  return out === undefined ? { inputs } : { inputs, out };
}

/** The inputs of a local run: the flags over the local defaults. */
export function localInputs(
  flags: LocalFlags,
  github: Pick<GitHubContext, 'sha' | 'repository'>,
  cwd: string,
): Partial<Record<InputName, string>> {
  return {
    push: 'false',
    // Outside a git checkout there is no commit to tag the image by.
    ...(github.sha ? {} : { tags: 'local' }),
    'upload-sarif': flags.inputs['github-token'] ? 'true' : 'false',
    ...(github.repository
      ? {}
      : {
          image: `localhost/${basename(cwd)
            .toLowerCase()
            .replace(/[^a-z0-9._-]/g, '-')}`,
        }),
    ...flags.inputs,
  };
}

/** The workflow context a runner would give, filled in from this machine and git. */
export function localContext(env: NodeJS.ProcessEnv, cwd: string, runnerTemp: string): GitHubContext {
  return readGitHubContext({
    ...env,
    GITHUB_WORKSPACE: env.GITHUB_WORKSPACE ?? cwd,
    GITHUB_SHA: env.GITHUB_SHA ?? gitOutput(['rev-parse', 'HEAD'], cwd),
    GITHUB_REF: env.GITHUB_REF ?? gitOutput(['symbolic-ref', '--quiet', 'HEAD'], cwd),
    GITHUB_EVENT_NAME: env.GITHUB_EVENT_NAME ?? 'workflow_dispatch',
    RUNNER_TEMP: runnerTemp,
  });
}

/** The local runner: the inputs from flags, the pipeline, then the post step's cleanup. */
export async function runLocal(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const flags = parseFlags(argv);
  const outputDir = resolve(flags.out ?? 'out');
  mkdirSync(outputDir, { recursive: true });
  for (const file of ['outputs.txt', 'summary.md']) writeFileSync(join(outputDir, file), '');
  const runnerTemp = process.env.RUNNER_TEMP ?? mkdtempSync(join(tmpdir(), 'build-scan-push-'));
  // @actions/tool-cache reads where it caches from these two; nothing else goes through the environment.
  process.env.RUNNER_TEMP = runnerTemp;
  process.env.RUNNER_TOOL_CACHE ??= join(homedir(), '.cache', 'build-scan-push', 'tools');
  const github = localContext(process.env, process.cwd(), runnerTemp);
  const inputs = localInputs(flags, github, process.cwd());
  useReporter(terminalReporter({ outputDir, debug: process.env.RUNNER_DEBUG === '1' }));
  try {
    await main({ read: (name) => inputs[name] ?? '', github, outputDir });
  } finally {
    await removePaths(pathsRecordedThisRun());
  }
  const verdict = process.exitCode ? 'The run failed; what it produced is' : 'Results are';
  console.log(`\n${verdict} in ${outputDir}.`);
}
