// Rescans of what is published, end to end through test/helpers/action-harness.ts: an image is
// pushed (by the action, or crafted and pushed with the crane stand-in), then the action runs
// again with `rescan: true` and pulls, scans, gates and reports it without building or pushing.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionHarness } from '../helpers/action-harness.js';
import { SHA, startActionHarness } from '../helpers/action-harness.js';
import type { ImageTarballOptions } from '../helpers/image-tarball.js';
import { CRANE_STANDIN, writeImageTarball } from '../helpers/image-tarball.js';

const run = promisify(execFile);
let harness: ActionHarness;
let scratch: string;

beforeAll(async () => {
  harness = await startActionHarness();
  scratch = mkdtempSync(join(tmpdir(), 'bsp-rescan-'));
}, 120_000);

afterAll(async () => {
  await harness?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Pushes a crafted image straight to the registry (not through the proxy); its digest. */
async function pushImage(reference: string, options: ImageTarballOptions): Promise<string> {
  const tarball = join(scratch, `${reference.replace(/\W/g, '-')}.tar`);
  const image = await writeImageTarball(tarball, options);
  await run(process.execPath, [
    CRANE_STANDIN,
    'push',
    '--insecure',
    tarball,
    `${harness.registry.host}/${reference}`,
  ]);
  return image.digest;
}

const writes = () =>
  harness.proxy.requests.filter((request) => request.method !== 'GET' && request.method !== 'HEAD');

/** The SARIF category of an upload, as code scanning reads it from `automationDetails.id`. */
function categoryOf(upload: { sarif: unknown }): string {
  return (upload.sarif as { runs: { automationDetails: { id: string } }[] }).runs[0]!.automationDetails.id;
}

describe('rescan', () => {
  it("a pushed image that today's DB finds a CRITICAL in fails the step and uploads SARIF under the build's category, pushing nothing", async () => {
    const image = `${harness.proxy.host}/octo-org/rescanned`;
    const built = await harness.runAction({ report: 'alpine-310.json', inputs: { image } });
    expect(built.exitCode, built.stdout).toBe(0);
    const buildCategory = categoryOf(harness.api.uploads.at(-1)!);
    const uploads = harness.api.uploads.length;

    const rescan = await harness.runAction({
      report: 'alpine-310.json',
      inputs: {
        image,
        rescan: 'true',
        'rescan-ref': 'main',
        // The stand-in's DB from a repository tagged with a fixture knows that fixture's findings.
        // A repository off the loopback is simulated by the stand-in (a loopback one is really pulled).
        'trivy-db-repositories': 'mirror.example/standin/trivy-db:debian-buster.json',
      },
    });
    expect(rescan.exitCode, rescan.stdout).toBe(1);
    expect(rescan.outputs).toMatchObject({
      policy: 'fail',
      critical: '1',
      pushed: 'false',
      'base-updated': 'unknown',
    });
    expect(rescan.outputs.digest).toBe(built.outputs.digest);
    expect(writes()).toEqual([]);
    expect((await harness.registryTags('octo-org/rescanned')).sort()).toEqual(['main', 'sha-c0ffee0']);
    expect(harness.api.uploads.length).toBe(uploads + 1);
    const upload = harness.api.uploads.at(-1)!;
    expect(categoryOf(upload)).toBe(buildCategory);
    expect(upload.body.commit_sha).toBe(SHA);
    // Located in the image: no Dockerfile line is known for a pulled image.
    const sarif = upload.sarif as {
      runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[];
    };
    expect(
      sarif.runs[0]!.results.map((result) => result.locations[0]!.physicalLocation.artifactLocation.uri),
    ).not.toContain('Dockerfile');
    // Nothing is built: kaniko is neither installed nor run.
    expect(rescan.stdout).not.toMatch(/^kaniko /m);
    expect(rescan.summary).toContain('Rescan');
    expect(rescan.summary).toContain(`${image}@${built.outputs.digest}`);
  });

  it('base-updated is false while the base tag stays, and true once it moves', async () => {
    const baseLayer = { 'etc/base-release': 'base 3.0\n' };
    const builtOn = await pushImage('octo-org/base:3', { layers: [baseLayer] });
    await pushImage('octo-org/on-base:1.0', {
      layers: [baseLayer, { app: 'app\n', 'trivy-standin-report': 'alpine-310.json\n' }],
      config: {
        labels: {
          'org.opencontainers.image.base.name': `${harness.proxy.host}/octo-org/base:3`,
          'org.opencontainers.image.base.digest': builtOn,
        },
      },
    });
    const rescan = () =>
      harness.runAction({
        report: 'alpine-310.json',
        inputs: { image: `${harness.proxy.host}/octo-org/on-base`, rescan: 'true', 'rescan-ref': '1.0' },
      });

    const unchanged = await rescan();
    expect(unchanged.exitCode, unchanged.stdout).toBe(0);
    expect(unchanged.outputs).toMatchObject({ 'base-updated': 'false', policy: 'pass', pushed: 'false' });

    const moved = await pushImage('octo-org/base:3', { layers: [{ 'etc/base-release': 'base 3.1\n' }] });
    const updated = await rescan();
    expect(updated.exitCode, updated.stdout).toBe(0);
    expect(updated.outputs['base-updated']).toBe('true');
    expect(updated.summary).toContain(moved);
    expect(writes()).toEqual([]);
  });

  it('bad rescan inputs fail the step before any download, process or registry request', async () => {
    const mirrorRequests = harness.releases.requests.length;
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: {
        rescan: 'true',
        'rescan-ref': 'ghcr.io/octo-org/hello:latest',
        tags: 'latest',
        'build-args': 'A=1',
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/3 invalid inputs/);
    expect(result.stdout).toContain('`rescan-ref` "ghcr.io/octo-org/hello:latest" is neither a tag nor');
    expect(result.stdout).toContain('`build-args` is given, but a rescan builds nothing');
    expect(result.stdout).toContain('`tags` is given, but `rescan-ref` names what is rescanned');
    expect(harness.releases.requests.length).toBe(mirrorRequests);
    expect(harness.proxy.requests).toEqual([]);
  });

  it('a reference that does not exist fails before Trivy is installed', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: {
        image: `${harness.proxy.host}/octo-org/never-pushed`,
        rescan: 'true',
        'rescan-ref': 'latest',
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain(`crane digest ${harness.proxy.host}/octo-org/never-pushed:latest failed`);
    expect(result.stdout).toMatch(/Check that .*never-pushed was pushed under the tag or digest rescanned/);
    expect(result.stdout).not.toMatch(/^trivy \S+ from/m);
    expect(result.outputs).toMatchObject({ pushed: 'false', 'base-updated': 'unknown' });
  });
});
