// The whole action, run the way the Actions runner runs it: `node dist/main.js` with INPUT_* and
// GITHUB_* variables and the GITHUB_OUTPUT, GITHUB_STATE and GITHUB_STEP_SUMMARY files, then
// `node dist/post.js` with the saved state. Everything around the three tools is real: the
// release downloads come from a loopback mirror and are verified, kaniko's root is exported from
// a real registry, the build runs in the real sandbox, images are pushed to a real registry and
// SARIF goes to a loopback server that answers like GitHub. The tools are the stand-ins in
// test/standins/.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeCodeScanningApi } from '../helpers/github-api.js';
import { startCodeScanningApi } from '../helpers/github-api.js';
import type { FaultRule, FaultyProxy } from '../helpers/faulty-proxy.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import { CRANE_STANDIN, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';
import type { ReleaseServer } from '../helpers/release-server.js';
import { publishCrane, publishTrivy, startReleaseServer } from '../helpers/release-server.js';
import { makeTestRoot, mountsUnder } from '../helpers/rootfs.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '..', '..');
const TRIVY_STANDIN = join(REPO, 'test', 'standins', 'trivy-standin.mjs');
const TRIVY_VERSION = '0.76.0';
const CRANE_VERSION = '0.22.5';
const SHA = 'c0ffee0123456789abcdef0123456789abcdef01';
const PASSWORD = 'ghp_e2eRegistryPassword0123456789';
const TOKEN = 'ghs_e2eGithubToken0123456789abcdef';

let registry: RunningRegistry;
let proxy: FaultyProxy;
let releases: ReleaseServer;
let api: FakeCodeScanningApi;
let toolCache: string;
let kanikoImage: string;

/** A release archive's binary: a wrapper that runs a stand-in from this repository with node. */
const wrapper = (script: string): string =>
  `#!/bin/sh\n# Stand-in wrapper, not the real tool.\nexec "${process.execPath}" "${script}" "$@"\n`;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultyProxy(registry.host, { basicAuth: { username: 'octocat', password: PASSWORD } });
  releases = await startReleaseServer();
  publishTrivy(releases, TRIVY_VERSION, { trivy: wrapper(TRIVY_STANDIN) });
  publishCrane(releases, CRANE_VERSION, { crane: wrapper(CRANE_STANDIN) });
  api = await startCodeScanningApi();
  toolCache = mkdtempSync(join(tmpdir(), 'bsp-e2e-tools-'));

  // The kaniko "executor image": a busybox root with the stand-in executor, pushed to the registry.
  const root = makeTestRoot();
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
  kanikoImage = `${registry.host}/kaniko/executor:standin@${image.digest}`;
  rmSync(root, { recursive: true, force: true });
}, 120_000);

afterAll(async () => {
  await Promise.all([registry?.stop(), proxy?.stop(), releases?.stop(), api?.close()]);
  rmSync(toolCache, { recursive: true, force: true });
});

interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly outputs: Record<string, string>;
  readonly summary: string;
  readonly runnerTemp: string;
  readonly workspace: string;
  readonly postExitCode: number;
}

/** `name<<DELIMITER\nvalue\nDELIMITER` records, as @actions/core writes GITHUB_OUTPUT and GITHUB_STATE. */
function readCommandFile(path: string): Record<string, string> {
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

interface Scenario {
  /** Fixture the stand-in scanner "finds" in this image. */
  readonly report: string;
  readonly inputs?: Record<string, string>;
  readonly event?: { name: string; ref: string; payload?: Record<string, unknown> };
  readonly registryFaults?: readonly FaultRule[];
}

async function runAction(scenario: Scenario): Promise<Run> {
  const top = mkdtempSync(join(tmpdir(), 'bsp-e2e-'));
  const workspace = join(top, 'workspace');
  const runnerTemp = join(top, 'runner-temp');
  const files = join(top, 'runner-files');
  for (const dir of [workspace, runnerTemp, files]) mkdirSync(dir);
  writeFileSync(join(workspace, 'Dockerfile'), 'FROM scratch\nCOPY . /\n');
  writeFileSync(join(workspace, 'hello.txt'), 'hello\n');
  writeFileSync(join(workspace, 'trivy-standin-report'), `${scenario.report}\n`);
  const event = scenario.event ?? { name: 'push', ref: 'refs/heads/main' };
  writeFileSync(join(files, 'event.json'), JSON.stringify(event.payload ?? {}));
  for (const name of ['output', 'state', 'summary']) writeFileSync(join(files, name), '');
  proxy.reset();
  if (scenario.registryFaults) proxy.addRules(...scenario.registryFaults);

  const inputs: Record<string, string> = {
    image: `${proxy.host}/octo-org/hello`,
    'insecure-registries': `${proxy.host}\n${registry.host}`,
    'registry-username': 'octocat',
    'registry-password': PASSWORD,
    'github-token': TOKEN,
    'tool-mirror': releases.url,
    'trivy-version': TRIVY_VERSION,
    'crane-version': CRANE_VERSION,
    'kaniko-image': kanikoImage,
    ...scenario.inputs,
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
    GITHUB_API_URL: api.url,
    GITHUB_RUN_ID: '1',
    GITHUB_OUTPUT: join(files, 'output'),
    GITHUB_STATE: join(files, 'state'),
    GITHUB_STEP_SUMMARY: join(files, 'summary'),
    RUNNER_TEMP: runnerTemp,
    RUNNER_TOOL_CACHE: toolCache,
    RUNNER_ARCH: 'X64',
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;

  const main = await run(process.execPath, [join(REPO, 'dist', 'main.js')], { env, cwd: workspace }).then(
    (result) => ({ exitCode: 0, stdout: result.stdout }),
    (error: { code: number; stdout: string }) => ({ exitCode: error.code, stdout: error.stdout }),
  );
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
  };
}

/** Tags of a repository in the real registry (asked directly, not through the proxy). */
async function registryTags(repository: string): Promise<string[]> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/tags/list`);
  if (response.status === 404) return [];
  return ((await response.json()) as { tags: string[] | null }).tags ?? [];
}

async function registryDigest(repository: string, tag: string): Promise<string> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  return response.headers.get('docker-content-digest') ?? '';
}

/** Every regular file below `root` whose bytes contain `needle`. */
function filesContaining(root: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (!stat) continue;
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile() && readFileSync(path).includes(needle)) found.push(path);
    }
  };
  walk(root);
  return found;
}

describe('the action end to end', () => {
  it('a clean image is built, scanned, pushed under every tag and verified by digest', async () => {
    const result = await runAction({ report: 'alpine-310.json' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs).toMatchObject({ policy: 'pass', pushed: 'true', medium: '4', critical: '0' });
    const digest = result.outputs.digest!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.outputs.image).toBe(`${proxy.host}/octo-org/hello@${digest}`);
    expect(result.outputs.tags!.split('\n')).toEqual([
      `${proxy.host}/octo-org/hello:main`,
      `${proxy.host}/octo-org/hello:sha-c0ffee0`,
    ]);
    expect((await registryTags('octo-org/hello')).sort()).toEqual(['main', 'sha-c0ffee0']);
    expect(await registryDigest('octo-org/hello', 'main')).toBe(digest);
    expect(await registryDigest('octo-org/hello', 'sha-c0ffee0')).toBe(digest);
    // The registry demanded credentials: crane logged in and sent them.
    expect(proxy.requests.some((request) => request.method === 'PUT' && request.hasAuthorization)).toBe(true);
    expect(result.summary).toContain('pass');
    expect(result.summary).toContain(digest);
    expect(result.postExitCode).toBe(0);
  });

  it('a blocking finding pushes nothing and leaves no tag, but still uploads SARIF', async () => {
    const uploadsBefore = api.uploads.length;
    const result = await runAction({
      report: 'debian-buster.json',
      inputs: { image: `${proxy.host}/octo-org/blocked` },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/policy failed[\s\S]*Nothing was pushed/);
    expect(result.outputs).toMatchObject({ policy: 'fail', pushed: 'false', critical: '1' });
    expect(await registryTags('octo-org/blocked')).toEqual([]);
    expect(proxy.requests.filter((request) => request.method !== 'GET' && request.method !== 'HEAD')).toEqual(
      [],
    );
    expect(api.uploads.length).toBe(uploadsBefore + 1);
    const upload = api.uploads.at(-1)!;
    expect(upload.body.commit_sha).toBe(SHA);
    expect(upload.authorization).toContain(TOKEN);
  });

  it('a secret blocks the push', async () => {
    const result = await runAction({
      report: 'secrets.json',
      inputs: { image: `${proxy.host}/octo-org/secret` },
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs).toMatchObject({ policy: 'fail', pushed: 'false', secrets: '2' });
    expect(await registryTags('octo-org/secret')).toEqual([]);
  });

  it('a pull request builds and scans, uploads SARIF for the PR ref, and pushes nothing', async () => {
    const uploadsBefore = api.uploads.length;
    const result = await runAction({
      report: 'alpine-310.json',
      inputs: { image: `${proxy.host}/octo-org/pr` },
      event: { name: 'pull_request', ref: 'refs/pull/7/merge', payload: { pull_request: { number: 7 } } },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs).toMatchObject({ policy: 'pass', pushed: 'false', image: '', tags: '' });
    expect(await registryTags('octo-org/pr')).toEqual([]);
    expect(api.uploads.length).toBe(uploadsBefore + 1);
    expect(api.uploads.at(-1)!.body.ref).toBe('refs/pull/7/merge');
  });

  it('a v1.2.3 tag pushes 1.2.3, 1.2, 1 and latest on one digest', async () => {
    const result = await runAction({
      report: 'alpine-310.json',
      inputs: { image: `${proxy.host}/octo-org/release` },
      event: { name: 'push', ref: 'refs/tags/v1.2.3' },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    const tags = await registryTags('octo-org/release');
    expect(tags.sort()).toEqual(['1', '1.2', '1.2.3', 'latest', 'sha-c0ffee0']);
    const digests = await Promise.all(tags.map((tag) => registryDigest('octo-org/release', tag)));
    expect(new Set(digests)).toEqual(new Set([result.outputs.digest]));
    // One upload: the other tags point at it without a second upload of the layers.
    expect(
      proxy.requests.filter(
        (request) => request.method === 'POST' && request.path.includes('/blobs/uploads/'),
      ),
    ).not.toHaveLength(0);
    expect(
      proxy.requests.filter((request) => request.method === 'PUT' && request.path.includes('/manifests/')),
    ).toHaveLength(5);
  });

  it('a registry that answers 5xx is retried until the push succeeds', async () => {
    const result = await runAction({
      report: 'alpine-310.json',
      inputs: { image: `${proxy.host}/octo-org/flaky` },
      registryFaults: [
        { method: 'PUT', path: /\/manifests\//, times: 2, fault: { kind: 'status', status: 503 } },
      ],
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/retry|again/i);
    expect(proxy.requests.filter((request) => request.faulted)).toHaveLength(2);
    expect((await registryTags('octo-org/flaky')).sort()).toEqual(['main', 'sha-c0ffee0']);
  });

  it('a digest read back that differs from the scanned tarball fails the step', async () => {
    const result = await runAction({
      report: 'alpine-310.json',
      inputs: { image: `${proxy.host}/octo-org/tampered` },
      registryFaults: [
        { method: 'HEAD', path: /\/manifests\//, times: 20, fault: { kind: 'tamper-manifest' } },
        { method: 'GET', path: /\/manifests\//, times: 20, fault: { kind: 'tamper-manifest' } },
      ],
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/digest/i);
    expect(result.stdout).toContain(result.outputs.digest ?? 'no digest output');
    expect(result.outputs.pushed).toBe('false');
  });

  it('after the post step no credential is left under RUNNER_TEMP or the workspace, and nothing is mounted', async () => {
    const result = await runAction({
      report: 'alpine-310.json',
      inputs: { image: `${proxy.host}/octo-org/clean` },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.postExitCode).toBe(0);
    const base64 = Buffer.from(`octocat:${PASSWORD}`).toString('base64');
    for (const secret of [PASSWORD, TOKEN, base64]) {
      expect(filesContaining(result.runnerTemp, secret)).toEqual([]);
      expect(filesContaining(result.workspace, secret)).toEqual([]);
    }
    expect(readdirSync(result.runnerTemp)).toEqual(['build-scan-push']);
    expect(mountsUnder(result.runnerTemp)).toEqual([]);
    // The only place the password may appear is the runner's mask command, which the runner
    // consumes and never shows.
    const shown = result.stdout.split('\n').filter((line) => !line.startsWith('::add-mask::'));
    expect(shown.filter((line) => line.includes(PASSWORD) || line.includes(TOKEN))).toEqual([]);
  });
});
