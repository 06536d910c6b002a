// Multi-platform images end to end (dist/main.js through test/helpers/action-harness.ts): one
// runner building several platforms, and the matrix path (push-by-digest jobs, then a merge).
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionHarness, ActionRun } from '../helpers/action-harness.js';
import { SHA, startActionHarness } from '../helpers/action-harness.js';
import type { BusyboxPlatformIndex } from '../helpers/busybox-platform-index.js';
import { pushBusyboxPlatformIndex } from '../helpers/busybox-platform-index.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let harness: ActionHarness;
/** A real base image index: Debian's busybox-static for linux/amd64 and linux/arm64. */
let base: BusyboxPlatformIndex;

beforeAll(async () => {
  harness = await startActionHarness();
  base = await pushBusyboxPlatformIndex({ registry: harness.registry.host, repository: 'base/busybox' });
}, 120_000);

/** Inputs that let the build reach the loopback registry holding the base image. */
function reachingBase(): Record<string, string> {
  return { 'build-loopback-ports': harness.registry.host.split(':')[1]! };
}

afterAll(async () => {
  await harness?.stop();
});

interface IndexManifest {
  readonly mediaType: string;
  readonly manifests: readonly { digest: string; platform: { os: string; architecture: string } }[];
}

/** A manifest as the registry serves it (asked directly, not through the proxy), or its status. */
async function manifest(repository: string, reference: string): Promise<{ status: number; body?: unknown }> {
  const response = await fetch(`http://${harness.registry.host}/v2/${repository}/manifests/${reference}`, {
    headers: {
      accept: [OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json'].join(', '),
    },
  });
  return response.ok ? { status: response.status, body: await response.json() } : { status: response.status };
}

/** A context folder holding what the Trivy stand-in finds in an image of one architecture. */
function findingsFor(architecture: string, fixture: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'bsp-e2e-findings-'));
  writeFileSync(join(folder, `trivy-standin-report-${architecture}`), `${fixture}\n`);
  return folder;
}

function imageIn(repository: string): string {
  return `${harness.proxy.host}/${repository}`;
}

function platformDigests(run: ActionRun): Record<string, string> {
  return JSON.parse(run.outputs['platform-digests'] ?? '{}') as Record<string, string>;
}

describe('several platforms on one runner', () => {
  it('builds, scans and gates each, pushes both manifests and one index by digest, then tags the index', async () => {
    const uploadsBefore = harness.api.uploads.length;
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: imageIn('octo-org/multi'), platforms: 'linux/amd64,linux/arm64' },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    const digests = platformDigests(result);
    expect(Object.keys(digests)).toEqual(['linux/amd64', 'linux/arm64']);
    const index = result.outputs.digest!;
    expect(index).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Object.values(digests)).not.toContain(index);
    expect(result.outputs).toMatchObject({
      pushed: 'true',
      policy: 'pass',
      image: `${imageIn('octo-org/multi')}@${index}`,
    });
    const served = await manifest('octo-org/multi', 'main');
    expect(served.status).toBe(200);
    const body = served.body as IndexManifest;
    expect(body.mediaType).toBe(OCI_INDEX);
    expect(
      body.manifests.map(({ digest, platform }) => [`${platform.os}/${platform.architecture}`, digest]),
    ).toEqual(Object.entries(digests));
    expect((await harness.registryTags('octo-org/multi')).sort()).toEqual(['main', 'sha-c0ffee0']);
    // Each platform's image is the tarball that was scanned for it.
    for (const [platform, digest] of Object.entries(digests)) {
      const pushed = await manifest('octo-org/multi', digest);
      expect(pushed.status, platform).toBe(200);
    }
    // One SARIF upload, one run per platform under its own category.
    expect(harness.api.uploads.length).toBe(uploadsBefore + 1);
    const sarif = harness.api.uploads.at(-1)!.sarif as { runs: { automationDetails: { id: string } }[] };
    const category = `build-scan-push:${imageIn('octo-org/multi')}`;
    expect(sarif.runs.map((run) => run.automationDetails.id)).toEqual([
      `${category}/linux-amd64/`,
      `${category}/linux-arm64/`,
    ]);
    expect(result.summary).toContain('for linux/arm64');
    expect(result.summary).toContain('## Image index');
  });

  it('a rescan of that index uploads each platform’s results under the category its build used', async () => {
    const categories = (upload: { sarif: unknown }) =>
      (upload.sarif as { runs: { automationDetails: { id: string } }[] }).runs.map(
        (run) => run.automationDetails.id,
      );
    const built = categories(harness.api.uploads.at(-1)!);
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: imageIn('octo-org/multi'), rescan: 'true', 'rescan-ref': 'main' },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(categories(harness.api.uploads.at(-1)!)).toEqual(built);
  });

  it('runs each platform’s own binaries: RUN uname -m is x86_64 for amd64 and aarch64 (QEMU) for arm64', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      dockerfile: `FROM ${base.reference}\nRUN echo "final stage on $(uname -m)"\nCOPY . /\n`,
      inputs: { image: imageIn('octo-org/busybox'), platforms: 'linux/amd64,linux/arm64', ...reachingBase() },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/^final stage on x86_64$/m);
    expect(result.stdout).toMatch(/^final stage on aarch64$/m);
    const results = JSON.parse(result.outputs['platform-results']!) as Record<string, { tarball: string }>;
    const labels = Object.keys(results);
    expect(labels).toEqual(['linux/amd64', 'linux/arm64']);
    // Each platform's image starts with that platform's base layers, and is labelled with it.
    expect(result.stdout).toContain(
      `Base image: ${base.reference} (linux/arm64) is ${base.images.arm64.digest}.`,
    );
  });

  it('a FROM --platform=$BUILDPLATFORM stage runs natively for every platform (pinned for kaniko)', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      dockerfile:
        `FROM --platform=$BUILDPLATFORM ${base.reference} AS build\n` +
        'ARG TARGETPLATFORM\n' +
        'RUN echo "build stage for $TARGETPLATFORM on $(uname -m)"\n' +
        `FROM ${base.reference}\n` +
        'RUN echo "final stage on $(uname -m)"\n' +
        'COPY --from=build /etc/base-platform /build-platform\n',
      inputs: { image: imageIn('octo-org/cross'), platforms: 'linux/amd64,linux/arm64', ...reachingBase() },
    });
    expect(result.exitCode, result.stdout).toBe(0);
    expect(result.stdout).toContain(
      `linux/arm64: the stage at line 1 runs on linux/amd64, so kaniko is given ${base.reference.replace(/:1$/, '')}@${base.images.amd64.digest}`,
    );
    expect(result.stdout).toMatch(/^build stage for linux\/amd64 on x86_64$/m);
    expect(result.stdout).toMatch(/^build stage for linux\/arm64 on x86_64$/m);
    expect(result.stdout).toMatch(/^final stage on aarch64$/m);
  });

  it('a base image without one of the platforms fails, naming both, before anything is built or pushed', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      dockerfile: `FROM ${base.reference}\nCOPY . /\n`,
      inputs: {
        image: imageIn('octo-org/no-riscv'),
        platforms: 'linux/amd64,linux/riscv64',
        ...reachingBase(),
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain(`::error::the base image ${base.reference} (linux/riscv64) of `);
    expect(result.stdout).toContain(`no child with platform linux/riscv64 in index ${base.reference}`);
    expect(result.summary).toContain('The build stage failed');
    expect(result.stdout).not.toContain('Build ');
    expect(result.outputs).toMatchObject({ pushed: 'false' });
    expect(await harness.registryTags('octo-org/no-riscv')).toEqual([]);
  });

  it('one platform failing its policy pushes nothing at all: no manifest, no index, no tag', async () => {
    const result = await harness.runAction({
      report: 'alpine-310.json',
      contextFiles: findingsFor('arm64', 'debian-buster.json'),
      inputs: { image: imageIn('octo-org/multi-blocked'), platforms: 'linux/amd64,linux/arm64' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.outputs).toMatchObject({ policy: 'fail', pushed: 'false', digest: '', critical: '1' });
    expect(result.stdout).toMatch(/^Blocking: linux\/arm64: CRITICAL /m);
    expect(result.stdout).not.toMatch(/^Blocking: linux\/amd64: /m);
    expect(await harness.registryTags('octo-org/multi-blocked')).toEqual([]);
    for (const digest of Object.values(platformDigests(result)))
      expect((await manifest('octo-org/multi-blocked', digest)).status).toBe(404);
  });
});

describe('the local runner', () => {
  it('takes --platforms too: each platform’s results in a folder of its own, nothing pushed', async () => {
    const workspace = mkdtempSync(join(tmpdir(), 'bsp-local-platforms-'));
    cpSync(resolve('examples', 'hello'), workspace, { recursive: true });
    await harness.runLocal(workspace, ['--platforms', 'linux/amd64,linux/arm64']);
    const out = join(workspace, 'out');
    expect(readdirSync(out)).toEqual(
      expect.arrayContaining(['linux-amd64', 'linux-arm64', 'all-platforms.sarif']),
    );
    for (const platform of ['linux-amd64', 'linux-arm64'])
      expect(readdirSync(join(out, platform))).toEqual(
        expect.arrayContaining(['trivy-report.json', 'sbom.cdx.json']),
      );
    const outputs = readFileSync(join(out, 'outputs.txt'), 'utf8');
    expect(outputs).toMatch(/^pushed<<.*\nfalse$/m);
    expect(outputs).toMatch(
      /^platform-digests<<.*\n\{"linux\/amd64":"sha256:[0-9a-f]{64}","linux\/arm64":"sha256:[0-9a-f]{64}"\}$/m,
    );
  });
});

describe('a matrix of runners, then a merge', () => {
  const buildOne = (repository: string, platform: string, inputs: Record<string, string> = {}) =>
    harness.runAction({
      report: 'alpine-310.json',
      inputs: { image: imageIn(repository), platforms: platform, 'push-by-digest': 'true', ...inputs },
    });

  it('push-by-digest jobs push their manifest only; the merge pushes the index and tags it', async () => {
    const amd64 = await buildOne('octo-org/matrix', 'linux/amd64');
    const arm64 = await buildOne('octo-org/matrix', 'linux/arm64');
    for (const job of [amd64, arm64]) {
      expect(job.exitCode, job.stdout).toBe(0);
      expect(job.outputs).toMatchObject({ pushed: 'true', tags: '' });
      expect((await manifest('octo-org/matrix', job.outputs.digest!)).status).toBe(200);
    }
    expect(await harness.registryTags('octo-org/matrix')).toEqual([]);

    const merge = await harness.runAction({
      report: 'alpine-310.json',
      inputs: {
        image: imageIn('octo-org/matrix'),
        'merge-digests': `${amd64.outputs.digest}\n${imageIn('octo-org/matrix')}@${arm64.outputs.digest}`,
      },
    });
    expect(merge.exitCode, merge.stdout).toBe(0);
    expect(merge.outputs).toMatchObject({ pushed: 'true' });
    expect(JSON.parse(merge.outputs['platform-digests']!)).toEqual({
      'linux/amd64': amd64.outputs.digest,
      'linux/arm64': arm64.outputs.digest,
    });
    expect((await harness.registryTags('octo-org/matrix')).sort()).toEqual(['main', 'sha-c0ffee0']);
    const index = (await manifest('octo-org/matrix', 'main')).body as IndexManifest;
    expect(index.manifests.map(({ digest }) => digest)).toEqual([amd64.outputs.digest, arm64.outputs.digest]);
    expect(merge.outputs.digest).toBe(merge.outputs.image!.split('@')[1]);
    expect(merge.summary).toContain('## Image index');
  });

  it('a merge of a missing digest, two of one platform, or another commit’s image fails and tags nothing', async () => {
    const first = await buildOne('octo-org/bad-merge', 'linux/amd64');
    const again = await buildOne('octo-org/bad-merge', 'linux/amd64', { 'build-args': 'AGAIN=1' });
    const stale = await buildOne('octo-org/bad-merge', 'linux/arm64', {
      labels: 'org.opencontainers.image.revision=0000000000000000000000000000000000000000',
    });
    const missing = `sha256:${'0'.repeat(64)}`;
    const merge = await harness.runAction({
      report: 'alpine-310.json',
      inputs: {
        image: imageIn('octo-org/bad-merge'),
        'merge-digests': [first, again, stale]
          .map((job) => job.outputs.digest)
          .concat(missing)
          .join('\n'),
      },
    });
    expect(merge.exitCode).toBe(1);
    expect(merge.outputs).toMatchObject({ pushed: 'false' });
    expect(merge.stdout).toContain(
      '3 digests of `merge-digests` cannot be merged, so no index or tag was pushed',
    );
    expect(merge.stdout).toContain(`is a second image for linux/amd64 (${first.outputs.digest} is one too)`);
    expect(merge.stdout).toContain(
      `was built from commit 0000000000000000000000000000000000000000, not ${SHA}`,
    );
    expect(merge.stdout).toContain(`@${missing}: `);
    expect(await harness.registryTags('octo-org/bad-merge')).toEqual([]);
  });

  it('bad platform inputs fail before any download, process or registry request', async () => {
    const requestsBefore = harness.releases.requests.length;
    const result = await harness.runAction({
      report: 'alpine-310.json',
      inputs: {
        image: imageIn('octo-org/bad-inputs'),
        platforms: 'linux/amd64,linux/amd64,linux/sparc',
        'push-by-digest': 'true',
        tags: 'v1',
      },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain('`platforms` "linux/amd64" names linux/amd64 twice');
    expect(result.stdout).toContain('`platforms` "linux/sparc" names the architecture sparc');
    expect(result.stdout).toContain('`push-by-digest`: pushes no tag, but `tags` is given');
    expect(harness.releases.requests.length).toBe(requestsBefore);
    expect(harness.proxy.requests).toEqual([]);
  });
});
