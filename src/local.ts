import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { INPUT_DEFAULTS } from './inputs.js';
import type { InputName } from './inputs.js';
import { gitOutput } from './exec.js';
import { main } from './main.js';
import { pathsRecordedThisRun, removePaths } from './cleanup.js';

const USAGE = `Usage: npm run local -- [--<input> <value>]...

Runs the action's pipeline on this Linux machine, the way the runner would, and writes the
tarball, report, SARIF, SBOM, summary and outputs to ./out (or --out <dir>).
Every action input is a flag of the same name, e.g.
  npm run local -- --context examples/hello --fail-on CRITICAL --tool-mirror http://mirror.internal
Defaults are the action's, except: push false, upload-sarif false unless --github-token is
given, image localhost/<folder name> outside a GitHub workflow, and tag local outside a git
checkout. RUNNER_DEBUG=1 shows debug lines.`;

/** `--name value` and `--name=value` pairs; every name must be an action input (or --out). */
export function parseFlags(argv: readonly string[]): {
  inputs: Partial<Record<InputName, string>>;
  out?: string;
} {
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

/** The environment the runner would give the action, filled in from this machine and git. */
export function localEnvironment(
  flags: ReturnType<typeof parseFlags>,
  env: NodeJS.ProcessEnv,
  cwd: string,
  out: string,
): Record<string, string> {
  const sha = env.GITHUB_SHA ?? gitOutput(['rev-parse', 'HEAD'], cwd);
  const inputs: Partial<Record<InputName, string>> = {
    push: 'false',
    // Outside a git checkout there is no commit to tag the image by.
    ...(sha ? {} : { tags: 'local' }),
    'upload-sarif': flags.inputs['github-token'] ? 'true' : 'false',
    ...(env.GITHUB_REPOSITORY
      ? {}
      : {
          image: `localhost/${basename(cwd)
            .toLowerCase()
            .replace(/[^a-z0-9._-]/g, '-')}`,
        }),
    ...flags.inputs,
  };
  const branch = gitOutput(['symbolic-ref', '--quiet', 'HEAD'], cwd);
  const result: Record<string, string> = {
    GITHUB_WORKSPACE: env.GITHUB_WORKSPACE ?? cwd,
    GITHUB_SHA: sha,
    GITHUB_REF: env.GITHUB_REF ?? branch,
    GITHUB_EVENT_NAME: env.GITHUB_EVENT_NAME ?? 'workflow_dispatch',
    RUNNER_TEMP: env.RUNNER_TEMP ?? mkdtempSync(join(tmpdir(), 'build-scan-push-')),
    RUNNER_TOOL_CACHE: env.RUNNER_TOOL_CACHE ?? join(homedir(), '.cache', 'build-scan-push', 'tools'),
    GITHUB_OUTPUT: join(out, 'outputs.txt'),
    GITHUB_STEP_SUMMARY: join(out, 'summary.md'),
    GITHUB_STATE: join(out, '.state'),
  };
  for (const [name, value] of Object.entries(inputs)) result[`INPUT_${name.toUpperCase()}`] = value;
  return result;
}

/**
 * A workflow command line as a person at a terminal should see it: the runner hides debug
 * lines and masks, shows errors and warnings, and folds groups; a terminal gets the same.
 * Returns undefined for a line that must not be shown.
 */
export function renderWorkflowCommand(line: string, debug = false): string | undefined {
  const command = /^::([a-z-]+)(?: [^:]*)?::(.*)$/s.exec(line);
  if (!command) return line;
  const [, name, encoded = ''] = command;
  const message = encoded.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
  switch (name) {
    case 'debug':
      return debug ? `debug: ${message}` : undefined;
    case 'add-mask':
    case 'endgroup':
      return undefined;
    case 'error':
      return `Error: ${message}`;
    case 'warning':
      return `Warning: ${message}`;
    case 'notice':
      return `Notice: ${message}`;
    case 'group':
      return `▶ ${message}`;
    default:
      return line;
  }
}

/**
 * What a terminal shows of one write to stdout. A fenced batch of tool output (log-fence.ts
 * writes each in one call) is plain text: its lines as they are, without the markers. A workflow
 * command from @actions/core (one whole line per write) is rendered; anything else is as it is.
 */
export function renderStdoutWrite(text: string, debug = false): string {
  const fenced = /^::stop-commands::([0-9a-f]+)\n([\s\S]*)::\1::\n$/.exec(text);
  if (fenced) return fenced[2]!;
  if (!text.startsWith('::')) return text;
  const shown = text
    .split(/\r?\n/)
    .filter((line) => line !== '')
    .map((line) => renderWorkflowCommand(line, debug))
    .filter((line): line is string => line !== undefined);
  return shown.length > 0 ? `${shown.join('\n')}\n` : '';
}

function renderCommandsOnStdout(debug: boolean): void {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const shown = renderStdoutWrite(text, debug);
    if (shown === text) return write(chunk, ...rest);
    return shown ? write(shown, ...rest) : true;
  }) as typeof process.stdout.write;
}

/** The local runner: the runner's environment from flags, the pipeline, then the post step's cleanup. */
export async function runLocal(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const flags = parseFlags(argv);
  const outputDir = resolve(flags.out ?? 'out');
  const environment = localEnvironment(flags, process.env, process.cwd(), outputDir);
  mkdirSync(outputDir, { recursive: true });
  for (const file of ['GITHUB_OUTPUT', 'GITHUB_STEP_SUMMARY', 'GITHUB_STATE'] as const)
    writeFileSync(environment[file]!, '');
  Object.assign(process.env, environment);
  renderCommandsOnStdout(process.env.RUNNER_DEBUG === '1');
  try {
    await main({ outputDir });
  } finally {
    await removePaths(pathsRecordedThisRun());
  }
  const verdict = process.exitCode ? 'The run failed; what it produced is' : 'Results are';
  console.log(`\n${verdict} in ${outputDir}.`);
}
