import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageIndexPlan, PushedPlatformManifest } from '../../src/publish/image-index.js';
import { planImageIndex } from '../../src/publish/image-index.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import type { ImageConfigOptions, ImageTarball } from '../helpers/image-tarball.js';
import { CRANE_STANDIN, DOCKER_MANIFEST_TYPE, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';

// Pushing a multi-platform index by digest, as the action does it: each platform's image by
// digest, then `crane index append -m …@A -m …@B -t …@<predicted index digest>`. The stand-in's
// `index append` was compared with a real crane v0.21.9 against the same registry: same exit
// codes, stdout, stderr (timestamps and the order of crane's concurrent child checks aside) and
// index bytes. Run with a real crane v0.21.9 in place of the stand-in, every assertion here
// passes but the two about the stand-in's own refusals (crane copies a child from another
// repository, and reads local paths).

const DOCKER_CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json';
const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
const DOCKER_LIST_TYPE = 'application/vnd.docker.distribution.manifest.list.v2+json';

interface CraneRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function crane(args: readonly string[], cwd?: string): Promise<CraneRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CRANE_STANDIN, ...args],
      { encoding: 'utf8', maxBuffer: 64 << 20, ...(cwd && { cwd }) },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Platform {
  readonly tarball: string;
  readonly image: ImageTarball;
  readonly config: ImageConfigOptions;
}

/** What the action knows about a pushed platform image, in planImageIndex's terms. */
function pushed({ image, config }: Platform): PushedPlatformManifest {
  return {
    mediaType: DOCKER_MANIFEST_TYPE,
    size: Buffer.byteLength(image.manifest),
    digest: image.digest,
    configMediaType: DOCKER_CONFIG_TYPE,
    config: { os: config.os, architecture: config.architecture, variant: config.variant },
  };
}

let registry: RunningRegistry;
let work: string;
let amd64: Platform;
let armV7: Platform;

async function pushPlatforms(repository: string): Promise<void> {
  for (const { tarball, image } of [amd64, armV7]) {
    const result = await crane(['push', tarball, `${registry.host}/${repository}@${image.digest}`]);
    expect(result.code, result.stderr).toBe(0);
  }
}

async function getManifest(
  repository: string,
  reference: string,
): Promise<{ status: number; type: string | null; body: string }> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/manifests/${reference}`, {
    headers: { Accept: [OCI_INDEX_TYPE, DOCKER_LIST_TYPE, DOCKER_MANIFEST_TYPE].join(',') },
  });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

async function tags(repository: string): Promise<string[]> {
  const response = await fetch(`http://${registry.host}/v2/${repository}/tags/list`);
  if (response.status === 404) return [];
  return ((await response.json()) as { tags: string[] | null }).tags ?? [];
}

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'crane-index-append-'));
  const make = async (name: string, config: ImageConfigOptions): Promise<Platform> => {
    const tarball = join(work, `${name}.tar`);
    const image = await writeImageTarball(tarball, { layers: [{ 'etc/platform': `${name}\n` }], config });
    return { tarball, image, config };
  };
  amd64 = await make('amd64', { os: 'linux', architecture: 'amd64' });
  armV7 = await make('arm-v7', { os: 'linux', architecture: 'arm', variant: 'v7' });
});

afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('crane index append, pushed by digest', () => {
  it('the registry serves the predicted index at the predicted digest; crane manifest, config and digest read it', async () => {
    await pushPlatforms('team/multi');
    const name = `${registry.host}/team/multi`;
    const plan: ImageIndexPlan = planImageIndex(name, [pushed(amd64), pushed(armV7)]);

    const proxy = await startFaultyProxy(registry.host);
    try {
      const viaProxy = planImageIndex(`${proxy.host}/team/multi`, [pushed(amd64), pushed(armV7)]);
      expect(viaProxy.digest).toBe(plan.digest);
      const result = await crane(viaProxy.craneArgs);
      expect(result).toMatchObject({ code: 0, stdout: `${proxy.host}/team/multi@${plan.digest}\n` });
      expect(result.stderr).toContain('base unspecified, using empty index');
      expect(result.stderr).toContain(`existing manifest: ${amd64.image.digest}`);
      expect(result.stderr).toContain(`existing manifest: ${armV7.image.digest}`);
      expect(result.stderr).toContain(
        `${proxy.host}/team/multi@${plan.digest}: digest: ${plan.digest} size: ${plan.size}`,
      );
      // resolveManifest per -m (GET manifest, GET config), then remote.WriteIndex: HEAD the
      // target, HEAD each child (never rewritten), PUT the index under the digest.
      const config = (image: ImageTarball): string => `GET /v2/team/multi/blobs/${image.configDigest}`;
      expect(proxy.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
        'GET /v2/',
        `GET /v2/team/multi/manifests/${amd64.image.digest}`,
        config(amd64.image),
        'GET /v2/',
        `GET /v2/team/multi/manifests/${armV7.image.digest}`,
        config(armV7.image),
        'GET /v2/',
        `HEAD /v2/team/multi/manifests/${plan.digest}`,
        `HEAD /v2/team/multi/manifests/${amd64.image.digest}`,
        `HEAD /v2/team/multi/manifests/${armV7.image.digest}`,
        `PUT /v2/team/multi/manifests/${plan.digest}`,
      ]);
    } finally {
      await proxy.stop();
    }

    const served = await getManifest('team/multi', plan.digest);
    expect(served).toEqual({ status: 200, type: OCI_INDEX_TYPE, body: plan.manifest });
    expect(await tags('team/multi')).toEqual([]);

    const reference = `${name}@${plan.digest}`;
    const manifest = await crane(['manifest', reference]);
    expect(manifest).toMatchObject({ code: 0, stdout: plan.manifest });
    const index = JSON.parse(manifest.stdout) as {
      manifests: { digest: string; platform: object; artifactType: string }[];
    };
    expect(index.manifests).toEqual([
      expect.objectContaining({
        digest: amd64.image.digest,
        platform: { architecture: 'amd64', os: 'linux' },
        artifactType: DOCKER_CONFIG_TYPE,
      }),
      expect.objectContaining({
        digest: armV7.image.digest,
        platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
        artifactType: DOCKER_CONFIG_TYPE,
      }),
    ]);

    // What a later step reads back: the index and each platform, by the index or by the child.
    expect((await crane(['digest', reference])).stdout).toBe(`${plan.digest}\n`);
    expect((await crane(['digest', '--platform', 'linux/arm/v7', reference])).stdout).toBe(
      `${armV7.image.digest}\n`,
    );
    expect((await crane(['digest', '--platform', 'linux/amd64', reference])).stdout).toBe(
      `${amd64.image.digest}\n`,
    );
    expect((await crane(['manifest', '--platform', 'linux/arm/v7', reference])).stdout).toBe(
      armV7.image.manifest,
    );
    expect(JSON.parse((await crane(['config', reference])).stdout)).toMatchObject({ architecture: 'amd64' });
    expect(JSON.parse((await crane(['config', '--platform', 'linux/arm', reference])).stdout)).toMatchObject({
      architecture: 'arm',
      variant: 'v7',
    });
    const child = `${name}@${armV7.image.digest}`;
    expect((await crane(['manifest', child])).stdout).toBe(armV7.image.manifest);
    expect((await crane(['digest', child])).stdout).toBe(`${armV7.image.digest}\n`);
    expect(JSON.parse((await crane(['config', child])).stdout)).toMatchObject({ variant: 'v7' });
    const missing = await crane(['config', '--platform', 'linux/arm64', reference]);
    expect(missing).toMatchObject({
      code: 1,
      stderr: `Error: fetching config: reading image "${reference}": no child with platform linux/arm64 in index ${reference}\n`,
    });

    // Once there, the same command finds it and writes nothing.
    const again = await crane(plan.craneArgs);
    expect(again).toMatchObject({ code: 0, stdout: `${reference}\n` });
    expect(again.stderr).toContain(`existing manifest: ${plan.digest}`);
    expect(again.stderr).not.toContain('size:');
  });

  it('a wrong prediction is refused by the registry: crane exits 1 with its error and nothing is stored', async () => {
    await pushPlatforms('team/wrong');
    const name = `${registry.host}/team/wrong`;
    const right = planImageIndex(name, [pushed(amd64), pushed(armV7)]);
    // The argv for the other order predicts the other order's digest; pinned to the first
    // order's, the bytes crane sends do not hash to it.
    const swapped = planImageIndex(name, [pushed(armV7), pushed(amd64)]);
    const args = [...swapped.craneArgs.slice(0, -1), `${name}@${right.digest}`];
    const refused = await crane(args);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(
      `Error: pushing image ${name}@${right.digest}: PUT http://${registry.host}/v2/team/wrong/manifests/${right.digest}: DIGEST_INVALID: provided digest did not match uploaded content\n`,
    );
    expect((await getManifest('team/wrong', right.digest)).status).toBe(404);
    expect((await getManifest('team/wrong', swapped.digest)).status).toBe(404);

    // Predicting a digest the repository already holds (a child's) fails the same way.
    const child = await crane([...right.craneArgs.slice(0, -1), `${name}@${amd64.image.digest}`]);
    expect(child.code).toBe(1);
    expect(child.stderr).toContain(
      `Error: pushing image ${name}@${amd64.image.digest}: PUT http://${registry.host}/v2/team/wrong/manifests/${amd64.image.digest}: DIGEST_INVALID: provided digest did not match uploaded content\n`,
    );
    expect(await tags('team/wrong')).toEqual([]);
  });

  it('a missing child fails before anything is written, with the registry error as crane prints it', async () => {
    await pushPlatforms('team/missing');
    const name = `${registry.host}/team/missing`;
    const absent = `sha256:${'1'.repeat(64)}`;
    const plan = planImageIndex(name, [pushed(amd64), pushed(armV7)]);
    const result = await crane([
      'index',
      'append',
      '-m',
      `${name}@${amd64.image.digest}`,
      '-m',
      `${name}@${absent}`,
      '-t',
      `${name}@${plan.digest}`,
    ]);
    expect(result).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `Error: GET http://${registry.host}/v2/team/missing/manifests/${absent}: MANIFEST_UNKNOWN: manifest unknown; map[Name:team/missing Revision:${absent}]\n`,
    });
    // A child the index lists but the target repository lacks: crane would copy it over from
    // where -m found it; the stand-in refuses rather than pretend.
    const elsewhere = await crane([
      'index',
      'append',
      '-m',
      `${name}@${amd64.image.digest}`,
      '-t',
      `${registry.host}/team/empty@${plan.digest}`,
    ]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain(
      'is not in the repository: copying it there is not supported by the crane stand-in',
    );
    expect(await tags('team/missing')).toEqual([]);
  });

  it('reads its flags as crane does: -m repeated or comma-separated, --docker-empty-base, --flatten, a base index', async () => {
    await pushPlatforms('team/flags');
    const name = `${registry.host}/team/flags`;
    const plan = planImageIndex(name, [pushed(amd64), pushed(armV7)]);
    const a = `${name}@${amd64.image.digest}`;
    const b = `${name}@${armV7.image.digest}`;

    const commas = await crane(['index', 'append', `--manifest=${a},${b}`, '-t', `${name}:both`]);
    expect(commas).toMatchObject({ code: 0, stdout: `${name}@${plan.digest}\n` });

    const docker = await crane([
      'index',
      'append',
      '--docker-empty-base',
      '-m',
      a,
      '-m',
      b,
      '-t',
      `${name}:docker`,
    ]);
    expect(docker.code).toBe(0);
    const list = await getManifest('team/flags', 'docker');
    expect(list.type).toBe(DOCKER_LIST_TYPE);
    expect(list.body).toBe(plan.manifest.replace(OCI_INDEX_TYPE, DOCKER_LIST_TYPE));

    // An index given with -m is flattened into its children; --flatten=false appends it whole.
    const flat = await crane(['index', 'append', '-m', `${name}:both`, '-t', `${name}:flat`]);
    expect(flat.stdout).toBe(`${name}@${plan.digest}\n`);
    const nested = await crane([
      'index',
      'append',
      '--flatten=false',
      '-m',
      `${name}:both`,
      '-t',
      `${name}:nested`,
    ]);
    expect(nested.code).toBe(0);
    const nestedIndex = JSON.parse((await getManifest('team/flags', 'nested')).body) as {
      manifests: object[];
    };
    expect(nestedIndex.manifests).toEqual([
      { mediaType: OCI_INDEX_TYPE, size: plan.size, digest: plan.digest },
    ]);

    // A base index, and no -t: pushed back to the base's tag.
    const base = await crane(['index', 'append', `${name}:flat`, '-m', a]);
    expect(base.code).toBe(0);
    const grown = JSON.parse((await getManifest('team/flags', 'flat')).body) as {
      manifests: { digest: string }[];
    };
    expect(grown.manifests.map((m) => m.digest)).toEqual([
      amd64.image.digest,
      armV7.image.digest,
      amd64.image.digest,
    ]);

    const errors: [string[], string][] = [
      [['-m', a], 'Error: at least one of --base or --tag must be specified\n'],
      [
        ['-m', 'a"b', '-t', `${name}:x`],
        'Error: invalid argument "a\\"b" for "-m, --manifest" flag: parse error on line 1, column 2: bare " in non-quoted-field\n',
      ],
      [
        ['--flatten=maybe', '-t', `${name}:x`],
        'Error: invalid argument "maybe" for "--flatten" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n',
      ],
      [['-m', a, '-t'], "Error: flag needs an argument: 't' in -t\n"],
      [
        ['-m', a, '-t', `${registry.host}/x:y`],
        `Error: parsing reference ${registry.host}/x:y: could not parse reference: ${registry.host}/x:y\n`,
      ],
      [
        [`${name}@${amd64.image.digest}`, '-m', b],
        `Error: expected ${name}@${amd64.image.digest} to be an index, got "${DOCKER_MANIFEST_TYPE}"\n`,
      ],
    ];
    for (const [args, stderr] of errors) {
      const result = await crane(['index', 'append', ...args]);
      expect(result.stderr.replace(/^.*base unspecified.*\n/m, ''), args.join(' ')).toBe(stderr);
      expect(result.code).toBe(1);
    }
  });

  it('refuses what crane would read from disk: a -m that names an existing path, a local base', async () => {
    // crane tries each -m as a local tarball or OCI layout before the registry (index.go:365):
    // a file in its working directory named like the reference would be used instead.
    await pushPlatforms('team/local');
    const name = `${registry.host}/team/local`;
    const local = await crane(['index', 'append', '-m', amd64.tarball, '-t', `${name}:x`]);
    expect(local).toMatchObject({
      code: 1,
      stderr: `Error: appending a local image (${amd64.tarball}) is not supported by the crane stand-in\n`,
    });
    const base = await crane(['index', 'append', './layout', '-m', `${name}@${amd64.image.digest}`], work);
    expect(base.code).toBe(1);
    expect(base.stderr).toContain(
      'appending to a local OCI layout (./layout) is not supported by the crane stand-in',
    );
  });
});
