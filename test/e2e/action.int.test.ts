// The whole action end to end, through test/helpers/action-harness.ts: dist/main.js and
// dist/post.js run as the runner runs them, with stand-ins for the three tools and everything
// around them real.
import { cpSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImageTarball } from '../../src/build/tarball.js';
import type { ActionHarness } from '../helpers/action-harness.js';
import { PASSWORD, SHA, TOKEN, startActionHarness } from '../helpers/action-harness.js';
import { mountsUnder } from '../helpers/rootfs.js';

let harness: ActionHarness;

beforeAll(async () => {
  harness = await startActionHarness();
}, 120_000);

afterAll(async () => {
  await harness?.stop();
});

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
    const result = await harness.runAction({ report: 'alpine-310.json' });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs).toMatchObject({ policy: 'pass', pushed: 'true', medium: '4', critical: '0' });
    const digest = result.outputs.digest!;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.outputs.image).toBe(`${harness.proxy.host}/octo-org/hello@${digest}`);
    expect(result.outputs.tags!.split('\n')).toEqual([
      `${harness.proxy.host}/octo-org/hello:main`,
      `${harness.proxy.host}/octo-org/hello:sha-c0ffee0`,
    ]);
    expect((await harness.registryTags('octo-org/hello')).sort()).toEqual(['main', 'sha-c0ffee0']);
    expect(await harness.registryDigest('octo-org/hello', 'main')).toBe(digest);
    expect(await harness.registryDigest('octo-org/hello', 'sha-c0ffee0')).toBe(digest);
    // The registry demanded credentials: crane logged in and sent them.
    expect(
      harness.proxy.requests.some((request) => request.method === 'PUT' && request.hasAuthorization),
    ).toBe(true);
    expect(result.summary).toContain('pass');
    expect(result.summary).toContain(digest);
    // The sandbox is removed in the background, but before main ends: nothing is left for post.
    expect(result.privateAfterMain.filter((name) => name.startsWith('sandbox-'))).toEqual([]);
    expect(result.postExitCode).toBe(0);
    // The vulnerability predicate for actions/attest: the very report the gate decided on.
    expect(result.outputs['vulnerability-predicate-type']).toBe(
      'https://cosign.sigstore.dev/attestation/vuln/v1',
    );
    const predicate = JSON.parse(readFileSync(result.outputs['vulnerability-predicate']!, 'utf8')) as {
      scanner: { version: string; result: { Trivy: { Version: string }; Metadata: { ImageID: string } } };
    };
    const report = JSON.parse(readFileSync(result.outputs.report!, 'utf8')) as unknown;
    expect(predicate.scanner.result).toEqual(report);
    expect(predicate.scanner.version).toBe(predicate.scanner.result.Trivy.Version);
    const pushed = await readImageTarball(result.outputs.tarball!);
    expect(pushed.digest).toBe(digest);
    expect(predicate.scanner.result.Metadata.ImageID).toBe(pushed.configDescriptor.digest);
  });

  it('on a runner with the Actions cache service, the bundled cache client asks it for the databases', async () => {
    // A cache service that has nothing (Twirp answers ok: false): every database is a miss, so it
    // is downloaded, and saving it is refused.
    const asked: string[] = [];
    const service = createServer((request, response) => {
      asked.push(request.url ?? '');
      request.resume();
      request.on('end', () =>
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":false}'),
      );
    });
    await new Promise<void>((done) => service.listen(0, '127.0.0.1', done));
    try {
      const result = await harness.runAction({
        report: 'alpine-310.json',
        inputs: { image: `${harness.proxy.host}/octo-org/cached` },
        env: {
          ACTIONS_RESULTS_URL: `http://127.0.0.1:${(service.address() as AddressInfo).port}/`,
          ACTIONS_CACHE_SERVICE_V2: 'true',
          ACTIONS_RUNTIME_TOKEN: 'cache-token',
        },
      });
      expect(result.exitCode, result.stdout).toBe(0);
      expect(result.stdout).not.toContain('No cache service');
      expect(asked.some((path) => path.endsWith('CacheService/GetCacheEntryDownloadURL'))).toBe(true);
      expect(result.stdout).toContain('Trivy vulnerability DB downloaded from');
    } finally {
      service.close();
    }
  });

  it('a blocking finding pushes nothing and leaves no tag, but still uploads SARIF', async () => {
    const uploadsBefore = harness.api.uploads.length;
    const result = await harness.runAction({
      report: 'debian-buster.json',
      inputs: { image: `${harness.proxy.host}/octo-org/blocked` },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/policy failed[\s\S]*Nothing was pushed/);
    expect(result.outputs).toMatchObject({ policy: 'fail', pushed: 'false', critical: '1' });
    expect(await harness.registryTags('octo-org/blocked')).toEqual([]);
    expect(
      harness.proxy.requests.filter((request) => request.method !== 'GET' && request.method !== 'HEAD'),
    ).toEqual([]);
    expect(harness.api.uploads.length).toBe(uploadsBefore + 1);
    const upload = harness.api.uploads.at(-1)!;
    expect(upload.body.commit_sha).toBe(SHA);
    expect(upload.authorization).toContain(TOKEN);
  });

  it('a blocking finding is named in the log and annotated on the Dockerfile line of its layer', async () => {
    // The stand-in reads the report from this path; its findings name the layer the build makes.
    const reportPath = join(mkdtempSync(join(tmpdir(), 'bsp-e2e-report-')), 'report.json');
    const fixture = readFileSync(resolve('test/fixtures/trivy/debian-buster.json'), 'utf8');
    writeFileSync(reportPath, readFileSync(resolve('test/fixtures/trivy/alpine-310.json')));
    const scenario = { report: reportPath, inputs: { image: `${harness.proxy.host}/octo-org/annotated` } };
    const first = await harness.runAction(scenario);
    const { config } = await readImageTarball(first.outputs.tarball!);
    const layer = config.rootfs!.diff_ids!.at(-1)!;
    writeFileSync(reportPath, fixture.replace(/"DiffID": "sha256:[0-9a-f]{64}"/g, `"DiffID": "${layer}"`));

    const result = await harness.runAction(scenario);
    const rebuilt = await readImageTarball(result.outputs.tarball!);
    expect(rebuilt.config.rootfs!.diff_ids!.at(-1), 'the same context builds the same layer').toBe(layer);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(
      /^Blocking: CRITICAL CVE-2019-18224: libidn2-0 2\.0\.5-1 → 2\.0\.5-1\+deb10u1; layer of Dockerfile:2 \(COPY \. \/\)$/m,
    );
    expect(result.stdout).toMatch(
      /^::error title=CRITICAL CVE-2019-18224 blocks the push,file=Dockerfile,line=2::libidn2-0 2\.0\.5-1 → 2\.0\.5-1\+deb10u1: CRITICAL is in fail-on\.$/m,
    );
    expect((await harness.registryTags('octo-org/annotated')).sort()).toEqual(['main', 'sha-c0ffee0']);
  });

  it('a push that fails still uploads its SARIF, which was sent alongside the push', async () => {
    const uploadsBefore = harness.api.uploads.length;
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/refused` },
      registryFaults: [
        { method: 'PUT', path: /\/manifests\//, times: Infinity, fault: { kind: 'status', status: 403 } },
      ],
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs).toMatchObject({ policy: 'pass', pushed: 'false' });
    expect(await harness.registryTags('octo-org/refused')).toEqual([]);
    expect(harness.api.uploads.length).toBe(uploadsBefore + 1);
    expect(harness.api.uploads.at(-1)!.body.commit_sha).toBe(SHA);
  });

  it('a secret blocks the push', async () => {
    const result = await harness.runAction({
      report: 'secrets.json',
      inputs: { image: `${harness.proxy.host}/octo-org/secret` },
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs).toMatchObject({ policy: 'fail', pushed: 'false', secrets: '2' });
    expect(await harness.registryTags('octo-org/secret')).toEqual([]);
  });

  it('a failing build stops the run: nothing scanned, nothing pushed, the Dockerfile line named', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/broken` },
      dockerfile: 'FROM scratch\nCOPY . /\nRUN exit 3\n',
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/Dockerfile:3/);
    expect(result.outputs).toMatchObject({ pushed: 'false' });
    expect(result.outputs.policy).toBeUndefined();
    expect(await harness.registryTags('octo-org/broken')).toEqual([]);
    expect(result.summary).toContain('Build, scan and push: failed');
  });

  it('a scanner report that cannot be read fails closed: nothing pushed', async () => {
    const result = await harness.runAction({
      report: 'garbage',
      inputs: { image: `${harness.proxy.host}/octo-org/unscanned` },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/not valid JSON/);
    expect(result.outputs).toMatchObject({ pushed: 'false' });
    expect(await harness.registryTags('octo-org/unscanned')).toEqual([]);
  });

  it('a pull request builds and scans, uploads SARIF for the PR ref, and pushes nothing', async () => {
    const uploadsBefore = harness.api.uploads.length;
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/pr` },
      event: { name: 'pull_request', ref: 'refs/pull/7/merge', payload: { pull_request: { number: 7 } } },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.outputs).toMatchObject({ policy: 'pass', pushed: 'false', image: '', tags: '' });
    expect(await harness.registryTags('octo-org/pr')).toEqual([]);
    expect(harness.api.uploads.length).toBe(uploadsBefore + 1);
    expect(harness.api.uploads.at(-1)!.body.ref).toBe('refs/pull/7/merge');
  });

  it('a v1.2.3 tag pushes 1.2.3, 1.2, 1 and latest on one digest', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/release` },
      event: { name: 'push', ref: 'refs/tags/v1.2.3' },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    const tags = await harness.registryTags('octo-org/release');
    expect(tags.sort()).toEqual(['1', '1.2', '1.2.3', 'latest', 'sha-c0ffee0']);
    const digests = await Promise.all(tags.map((tag) => harness.registryDigest('octo-org/release', tag)));
    expect(new Set(digests)).toEqual(new Set([result.outputs.digest]));
    // One upload, by digest; then one manifest PUT per tag (crane tag), no second upload of layers.
    expect(
      harness.proxy.requests.filter(
        (request) => request.method === 'POST' && request.path.includes('/blobs/uploads/'),
      ),
    ).toHaveLength(2); // the one layer and the config
    expect(
      harness.proxy.requests.filter(
        (request) => request.method === 'PUT' && request.path.includes('/manifests/'),
      ),
    ).toHaveLength(6);
  });

  it('a registry that answers 5xx is retried until the push succeeds', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/flaky` },
      registryFaults: [
        { method: 'PUT', path: /\/manifests\//, times: 2, fault: { kind: 'status', status: 503 } },
      ],
    });
    // The real crane retries a 5xx itself before the action's own retries; either way the push
    // must end in success with every tag.
    expect(result.exitCode, result.stdout).toBe(0);
    expect(harness.proxy.requests.filter((request) => request.faulted)).toHaveLength(2);
    expect((await harness.registryTags('octo-org/flaky')).sort()).toEqual(['main', 'sha-c0ffee0']);
  });

  it('a digest read back that differs from the scanned tarball fails the step', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/tampered` },
      registryFaults: [
        { method: 'HEAD', path: /\/manifests\//, times: 20, fault: { kind: 'tamper-manifest' } },
        { method: 'GET', path: /\/manifests\//, times: 20, fault: { kind: 'tamper-manifest' } },
      ],
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/digest/i);
    expect(result.stdout).toContain(result.outputs.digest ?? 'no digest output');
    expect(result.outputs.pushed).toBe('false');
    expect(result.summary).toContain('Build, scan and push: failed');
  });

  it('bad inputs fail the step before any download, process or registry request', async () => {
    const mirrorRequests = harness.releases.requests.length;
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { push: 'maybe', 'fail-on': 'SEVERE', 'tool-mirror': 'ftp://mirror' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/3 invalid inputs/);
    expect(result.stdout).toMatch(/`push` "maybe"/);
    expect(harness.releases.requests.length).toBe(mirrorRequests);
    expect(harness.proxy.requests).toEqual([]);
    expect(readdirSync(result.runnerTemp)).toEqual([]);
    expect(result.summary).toContain('3 invalid inputs');
  });

  it('after the post step no credential is left under RUNNER_TEMP or the workspace, and nothing is mounted', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: `${harness.proxy.host}/octo-org/clean` },
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

  it('npm run local runs the same pipeline without pushing and writes every result to ./out', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'bsp-local-'));
    cpSync(resolve('examples', 'hello'), workspace, { recursive: true });
    const stdout = await harness.runLocal(workspace);
    expect(stdout).toContain(`Results are in ${join(workspace, 'out')}.`);
    const out = readdirSync(join(workspace, 'out'));
    expect(out).toEqual(
      expect.arrayContaining([
        'trivy-report.json',
        'trivy-results.sarif',
        'sbom.cdx.json',
        'summary.md',
        'outputs.txt',
      ]),
    );
    const outputs = readFileSync(join(workspace, 'out', 'outputs.txt'), 'utf8');
    expect(outputs).toMatch(/^pushed<<.*\nfalse$/m);
    expect(outputs).toMatch(/^policy<<.*\npass$/m);
    expect(readFileSync(join(workspace, 'out', 'summary.md'), 'utf8')).toContain('localhost/bsp-local-');
    // The image tarball that was scanned is kept for the user.
    expect(statSync(outputs.match(/^tarball<<.*\n(.*)$/m)![1]!).size).toBeGreaterThan(0);
  });
});
