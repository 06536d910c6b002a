// Runs the whole action the way the Actions runner runs it: `node dist/main.js` with INPUT_* and
// GITHUB_* variables and the GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files, then
// `node dist/post.js` with the saved state. Everything around the three tools is real: release
// downloads come from a loopback mirror and are verified, kaniko's root is exported from a real
// registry, the build runs in the real sandbox, images go to a real registry (behind a proxy
// that demands credentials and can inject faults) and SARIF to a loopback server that answers
// like GitHub. The tools are the stand-ins in test/standins/. Used by test/e2e and the bench.
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { FakeCodeScanningApi } from './github-api.js';
import { startCodeScanningApi } from './github-api.js';
import type { FaultRule, FaultyProxy } from './faulty-proxy.js';
import { startFaultyProxy } from './faulty-proxy.js';
import { CRANE_STANDIN, writeImageTarball } from './image-tarball.js';
import type { RunningRegistry } from './registry.js';
import { startRegistry } from './registry.js';
import type { ReleaseServer } from './release-server.js';
import { publishCrane, publishTrivy, startReleaseServer } from './release-server.js';
import { makeTestRoot } from './rootfs.js';
import { TRIVY_STANDIN } from './trivy-standin.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..', '..');
const TRIVY_VERSION = '0.76.0';
const CRANE_VERSION = '0.22.5';
export const SHA = 'c0ffee0123456789abcdef0123456789abcdef01';
export const PASSWORD = 'ghp_e2eRegistryPassword0123456789';
export const TOKEN = 'ghs_e2eGithubToken0123456789abcdef';
const CONTEXT_TIME = new Date('2026-01-01T00:00:00Z');
/** Where the executor stand-in's wrapper notes its run time, inside the build's output folder. */
export const EXECUTOR_TIME_FILE = 'standin-executor-centiseconds';

export interface ActionRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly outputs: Record<string, string>;
  readonly summary: string;
  readonly runnerTemp: string;
  readonly workspace: string;
  readonly postExitCode: number;
  /** Wall time of main plus post, in milliseconds. */
  readonly wallMs: number;
  /** What the action's private folder under RUNNER_TEMP held when main had exited, before post. */
  readonly privateAfterMain: readonly string[];
}

export interface Scenario {
  /** Fixture the stand-in scanner "finds" in this image. */
  readonly report: string;
  readonly inputs?: Record<string, string>;
  readonly event?: { name: string; ref: string; payload?: Record<string, unknown> };
  readonly registryFaults?: readonly FaultRule[];
  /** The Dockerfile; `FROM scratch` + `COPY . /` by default. */
  readonly dockerfile?: string;
  /** A folder whose files are copied into the workspace (the build context) besides the defaults. */
  readonly contextFiles?: string;
  /**
   * Benches: the workspace is written to disk (sync) before the clock starts, as a checkout an
   * earlier step made would be, so that no run pays for writing back what was set up for it.
   */
  readonly settled?: boolean;
  /** Runner variables besides the harness's own (e.g. ACTIONS_RESULTS_URL for a cache service). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ActionHarness {
  readonly registry: RunningRegistry;
  readonly proxy: FaultyProxy;
  readonly releases: ReleaseServer;
  readonly api: FakeCodeScanningApi;
  readonly toolCache: string;
  /** Inputs that point the action at the loopback mirror, registry and stand-in executor image. */
  readonly toolInputs: Readonly<Record<string, string>>;
  runAction(scenario: Scenario): Promise<ActionRun>;
  /** `npm run local` (dist/local.js) in `workspace` with the tool inputs and `flags`; its stdout. */
  runLocal(workspace: string, flags?: readonly string[]): Promise<string>;
  /** Tags of a repository in the real registry (asked directly, not through the proxy). */
  registryTags(repository: string): Promise<string[]>;
  registryDigest(repository: string, tag: string): Promise<string>;
  stop(): Promise<void>;
}

export interface WrapperOptions {
  /** Appends the stand-in's run time in nanoseconds here (the bench subtracts tool time). */
  readonly timeLog?: string;
  /** Seconds `trivy image --download-db-only` sleeps first: a modelled DB download. */
  readonly dbFetchSeconds?: number;
  /**
   * `trivy convert` waits until this file exists before it runs, and fails as a convert that
   * cannot write its output would when the file says `fail`: a slow or failing report.
   */
  readonly convertWaitsFor?: string;
}

/** A release archive's binary: a wrapper that runs a stand-in from this repository with node. */
export function standinWrapper(tool: string, script: string, options: WrapperOptions = {}): string {
  const command = `"${process.execPath}" "${script}" "$@"`;
  const lines = ['#!/bin/sh', `# Stand-in wrapper, not the real ${tool}.`];
  if (options.dbFetchSeconds)
    lines.push(`case " $* " in *" --download-db-only "*) sleep ${options.dbFetchSeconds} ;; esac`);
  if (options.convertWaitsFor)
    lines.push(
      'if [ "$1" = convert ]; then',
      `  while [ ! -e "${options.convertWaitsFor}" ]; do sleep 0.05; done`,
      `  if grep -q fail "${options.convertWaitsFor}"; then`,
      `    echo 'FATAL	Fatal error	err="write: no space left on device"' >&2`,
      '    exit 1',
      '  fi',
      'fi',
    );
  if (!options.timeLog) return [...lines, `exec ${command}`, ''].join('\n');
  return [
    ...lines,
    'start=$(date +%s%N)',
    `${command}`,
    'code=$?',
    `echo "${tool} $(( $(date +%s%N) - start ))" >> "${options.timeLog}"`,
    'exit $code',
    '',
  ].join('\n');
}

/** The executor stand-in behind a wrapper that notes its run time (centiseconds, /proc/uptime) in /output. */
function timeExecutor(root: string): void {
  renameSync(join(root, 'kaniko', 'executor'), join(root, 'kaniko', 'executor-standin'));
  writeFileSync(
    join(root, 'kaniko', 'executor'),
    [
      '#!/bin/sh',
      '# Wrapper around the executor stand-in (not kaniko) that notes how long it ran.',
      'start=$(cut -d" " -f1 /proc/uptime | tr -d .)',
      '/kaniko/executor-standin "$@"',
      'code=$?',
      `[ -d /output ] && echo $(( $(cut -d" " -f1 /proc/uptime | tr -d .) - start )) > /output/${EXECUTOR_TIME_FILE}`,
      'exit $code',
      '',
    ].join('\n'),
  );
  chmodSync(join(root, 'kaniko', 'executor'), 0o755);
}

/** The folders of one run: the workspace, RUNNER_TEMP and the runner's command files. */
export interface RunFolders {
  readonly top: string;
  readonly workspace: string;
  readonly runnerTemp: string;
  readonly files: string;
}

/**
 * The environment the runner gives the action's steps: its variables, the event, the command
 * files and `INPUT_*` for the inputs (credentials for the proxy's registry and the API first).
 */
export function runnerEnvironment(options: {
  readonly folders: RunFolders;
  readonly event: { readonly name: string; readonly ref: string };
  readonly apiUrl: string;
  readonly toolCache: string;
  readonly inputs: Readonly<Record<string, string>>;
}): Record<string, string> {
  const { top, workspace, runnerTemp, files } = options.folders;
  const { event, apiUrl, toolCache } = options;
  const inputs: Record<string, string> = {
    'registry-username': 'octocat',
    'registry-password': PASSWORD,
    'github-token': TOKEN,
    ...options.inputs,
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: top,
    // Anything that would leave the machine fails: only loopback bypasses this proxy.
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: workspace,
    GITHUB_REPOSITORY: 'Octo-Org/Hello',
    GITHUB_REPOSITORY_OWNER: 'Octo-Org',
    GITHUB_SHA: SHA,
    GITHUB_REF: event.ref,
    GITHUB_EVENT_NAME: event.name,
    GITHUB_EVENT_PATH: join(files, 'event.json'),
    GITHUB_ACTOR: 'octocat',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_API_URL: apiUrl,
    GITHUB_RUN_ID: '1',
    GITHUB_OUTPUT: join(files, 'output'),
    GITHUB_STATE: join(files, 'state'),
    GITHUB_STEP_SUMMARY: join(files, 'summary'),
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: toolCache,
    RUNNER_ARCH: 'X64',
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  return env;
}

export async function startActionHarness(options: WrapperOptions = {}): Promise<ActionHarness> {
  const registry = await startRegistry();
  const proxy = await startFaultyProxy(registry.host, {
    basicAuth: { username: 'octocat', password: PASSWORD },
  });
  const releases = await startReleaseServer();
  publishTrivy(releases, TRIVY_VERSION, { trivy: standinWrapper('trivy', TRIVY_STANDIN, options) });
  publishCrane(releases, CRANE_VERSION, { crane: standinWrapper('crane', CRANE_STANDIN, options) });
  const api = await startCodeScanningApi();
  const toolCache = mkdtempSync(join(tmpdir(), 'bsp-e2e-tools-'));

  // The kaniko "executor image": a busybox root with the stand-in executor, pushed to the registry.
  const root = makeTestRoot();
  if (options.timeLog) timeExecutor(root);
  const layer = execFileSync('tar', ['-C', root, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
  const tarball = join(toolCache, 'kaniko.tar');
  const image = await writeImageTarball(tarball, { layers: [layer] });
  await run(process.execPath, [
    CRANE_STANDIN,
    'push',
    '--insecure',
    tarball,
    `${registry.host}/kaniko/executor:standin`,
  ]);
  const kanikoImage = `${registry.host}/kaniko/executor:standin@${image.digest}`;
  rmSync(root, { recursive: true, force: true });
  rmSync(tarball);
  const toolInputs = {
    'insecure-registries': `${proxy.host}\n${registry.host}`,
    'tool-mirror': releases.url,
    'trivy-version': TRIVY_VERSION,
    'crane-version': CRANE_VERSION,
    'kaniko-image': kanikoImage,
  };

  const runAction = async (scenario: Scenario): Promise<ActionRun> => {
    const top = mkdtempSync(join(tmpdir(), 'bsp-e2e-'));
    const workspace = join(top, 'workspace');
    const runnerTemp = join(top, 'runner-temp');
    const files = join(top, 'runner-files');
    for (const dir of [workspace, runnerTemp, files]) mkdirSync(dir);
    writeFileSync(join(workspace, 'Dockerfile'), scenario.dockerfile ?? 'FROM scratch\nCOPY . /\n');
    writeFileSync(join(workspace, 'hello.txt'), 'hello\n');
    writeFileSync(join(workspace, 'trivy-standin-report'), `${scenario.report}\n`);
    // One time for the context's files, so that the same scenario builds the same layer twice.
    for (const path of ['Dockerfile', 'hello.txt', 'trivy-standin-report', '.'])
      utimesSync(join(workspace, path), CONTEXT_TIME, CONTEXT_TIME);
    if (scenario.contextFiles) cpSync(scenario.contextFiles, workspace, { recursive: true });
    const event = scenario.event ?? { name: 'push', ref: 'refs/heads/main' };
    writeFileSync(join(files, 'event.json'), JSON.stringify(event.payload ?? {}));
    for (const name of ['output', 'state', 'summary']) writeFileSync(join(files, name), '');
    proxy.reset();
    if (scenario.registryFaults) proxy.addRules(...scenario.registryFaults);

    const env = runnerEnvironment({
      folders: { top, workspace, runnerTemp, files },
      event,
      apiUrl: api.url,
      toolCache,
      inputs: { image: `${proxy.host}/octo-org/hello`, ...toolInputs, ...scenario.inputs },
    });
    Object.assign(env, scenario.env);

    if (scenario.settled) execFileSync('sync');
    const started = process.hrtime.bigint();
    const main = await run(process.execPath, [join(REPO, 'dist', 'main.js')], { env, cwd: workspace }).then(
      (result) => ({ exitCode: 0, stdout: result.stdout }),
      (error: { code: number; stdout: string }) => ({ exitCode: error.code, stdout: error.stdout }),
    );
    const privateDir = join(runnerTemp, 'build-scan-push-private');
    const privateAfterMain = existsSync(privateDir) ? readdirSync(privateDir) : [];
    const state = readCommandFile(join(files, 'state'));
    const postEnv = { ...env };
    for (const [name, value] of Object.entries(state)) postEnv[`STATE_${name}`] = value;
    const post = await run(process.execPath, [join(REPO, 'dist', 'post.js')], {
      env: postEnv,
      cwd: workspace,
    }).then(
      () => 0,
      (error: { code: number }) => error.code,
    );
    return {
      exitCode: main.exitCode,
      stdout: main.stdout,
      outputs: readCommandFile(join(files, 'output')),
      summary: readFileSync(join(files, 'summary'), 'utf8'),
      runnerTemp,
      workspace,
      postExitCode: post,
      wallMs: Number(process.hrtime.bigint() - started) / 1e6,
      privateAfterMain,
    };
  };

  const runLocal = async (workspace: string, flags: readonly string[] = []): Promise<string> => {
    const toolFlags = Object.entries(toolInputs).flatMap(([name, value]) => [`--${name}`, value]);
    const { stdout } = await run(process.execPath, [join(REPO, 'dist', 'local.js'), ...toolFlags, ...flags], {
      cwd: workspace,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: workspace,
        RUNNER_TOOL_CACHE: toolCache,
        HTTP_PROXY: 'http://127.0.0.1:9',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '127.0.0.1,localhost',
      },
    });
    return stdout;
  };

  return {
    registry,
    proxy,
    releases,
    api,
    toolCache,
    toolInputs,
    runAction,
    runLocal,
    async registryTags(repository) {
      const response = await fetch(`http://${registry.host}/v2/${repository}/tags/list`);
      if (response.status === 404) return [];
      return ((await response.json()) as { tags: string[] | null }).tags ?? [];
    },
    async registryDigest(repository, tag) {
      const response = await fetch(`http://${registry.host}/v2/${repository}/manifests/${tag}`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      return response.headers.get('docker-content-digest') ?? '';
    },
    async stop() {
      await Promise.all([registry.stop(), proxy.stop(), releases.stop(), api.close()]);
      rmSync(toolCache, { recursive: true, force: true });
    },
  };
}

/** `name<<DELIMITER\nvalue\nDELIMITER` records, as @actions/core writes GITHUB_OUTPUT and GITHUB_STATE. */
export function readCommandFile(path: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const header = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!header) continue;
    const end = lines.indexOf(header[2]!, i + 1);
    values[header[1]!] = lines.slice(i + 1, end).join('\n');
    i = end;
  }
  return values;
}
