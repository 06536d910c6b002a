// The loopback registry kaniko caches into (src/build/layer-cache.ts), spoken to by real clients:
// skopeo (containers/image), the registry HTTP API by hand, and read-through from a real
// docker-registry behind a proxy that demands Basic credentials.
import * as core from '@actions/core';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LayerCache, LayerCacheOptions } from '../../src/build/layer-cache.js';
import { CACHE_POINTER_LABEL, exportLayerCache, startLayerCache } from '../../src/build/layer-cache.js';
import { Registries } from '../../src/registries.js';
import { ToolError } from '../../src/tool-error.js';
import type { Crane } from '../../src/tools/crane-command.js';
import type { FaultyProxy } from '../helpers/faulty-proxy.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import { CRANE_STANDIN, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { freeLoopbackPort, startRegistry } from '../helpers/registry.js';

vi.mock('@actions/core', async (importOriginal) => ({
  ...(await importOriginal<typeof core>()),
  warning: vi.fn(),
  info: vi.fn(),
}));

const run = promisify(execFile);
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const USERNAME = 'octocat';
const PASSWORD = 'cache-read-secret';

let scratch: string;
const caches: LayerCache[] = [];

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'bsp-layer-cache-'));
});
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
  vi.mocked(core.warning).mockClear();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let stores = 0;
async function open(overrides: Partial<LayerCacheOptions> = {}): Promise<LayerCache> {
  const cache = await startLayerCache({
    storeDir: join(scratch, `store-${++stores}`),
    cacheRepo: '127.0.0.1:9/octo-org/app/cache',
    registries: new Registries({ insecure: ['127.0.0.1:9'] }),
    ...overrides,
  });
  caches.push(cache);
  return cache;
}

const sha256 = (bytes: Buffer | string): string =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const url = (cache: LayerCache, path: string): string => `http://127.0.0.1:${cache.port}/v2/cache/${path}`;

/** POST, PATCH, PUT ?digest=: the upload go-containerregistry's remote.Write makes (write.go:227-365). */
async function uploadBlob(cache: LayerCache, bytes: Buffer, digest = sha256(bytes)): Promise<Response> {
  const started = await fetch(url(cache, 'blobs/uploads/'), { method: 'POST' });
  expect(started.status).toBe(202);
  const patched = await fetch(new URL(started.headers.get('location')!, url(cache, '')), {
    method: 'PATCH',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(patched.status).toBe(202);
  const commit = new URL(patched.headers.get('location')!, url(cache, ''));
  commit.searchParams.set('digest', digest);
  return fetch(commit, { method: 'PUT' });
}

interface Entry {
  readonly manifest: Buffer;
  readonly layerDiffIds: string[];
}

/** A cache entry as kaniko's pushLayerToCache writes it: one layer, its config, the manifest under the key. */
async function writeEntry(
  cache: LayerCache,
  tag: string,
  layers: Array<{ tar: Buffer; claimedDiffId?: string }>,
  labels: Record<string, string> = {},
): Promise<Entry> {
  const blobs = layers.map(({ tar, claimedDiffId }) => ({
    gz: gzipSync(tar),
    diffId: claimedDiffId ?? sha256(tar),
  }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date().toISOString(),
      config: { Labels: labels },
      rootfs: { type: 'layers', diff_ids: blobs.map((blob) => blob.diffId) },
    }),
  );
  for (const blob of [config, ...blobs.map((b) => b.gz)])
    expect((await uploadBlob(cache, blob)).status).toBe(201);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, size: config.length, digest: sha256(config) },
      layers: blobs.map((blob) => ({
        mediaType: DOCKER_LAYER,
        size: blob.gz.length,
        digest: sha256(blob.gz),
      })),
    }),
  );
  const put = await fetch(url(cache, `manifests/${tag}`), {
    method: 'PUT',
    body: manifest,
    headers: { 'content-type': DOCKER_MANIFEST },
  });
  expect(put.status).toBe(201);
  expect(put.headers.get('docker-content-digest')).toBe(sha256(manifest));
  return { manifest, layerDiffIds: blobs.map((blob) => blob.diffId) };
}

describe('the loopback layer cache registry', () => {
  it('takes an image from skopeo and gives the same image back, by tag and by digest', async () => {
    const cache = await open();
    const tarball = join(scratch, 'skopeo-in.tar');
    const image = await writeImageTarball(tarball, {
      layers: [{ 'app.txt': 'hello\n' }, { 'more.txt': 'more\n' }],
    });
    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `docker-archive:${tarball}`,
      `docker://${cache.repository}:key-1`,
    ]);
    const layout = join(scratch, 'skopeo-out');
    await run('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${cache.repository}:key-1`,
      `oci:${layout}:out`,
    ]);
    const blob = (digest: string): Buffer => readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)));
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string }>;
    };
    const pulled = JSON.parse(blob(index.manifests[0]!.digest).toString()) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    const config = JSON.parse(blob(pulled.config.digest).toString()) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual(image.layers.map((layer) => layer.diffId));

    const stored = await fetch(url(cache, 'manifests/key-1'), { headers: { accept: DOCKER_MANIFEST } });
    expect(stored.status).toBe(200);
    const digest = stored.headers.get('docker-content-digest')!;
    const body = Buffer.from(await stored.arrayBuffer());
    expect(sha256(body)).toBe(digest);
    const layers = (JSON.parse(body.toString()) as typeof pulled).layers.map((layer) => layer.digest);
    expect(pulled.layers.map((layer) => layer.digest)).toEqual(layers);
    const byDigest = await fetch(url(cache, `manifests/${digest}`), { method: 'HEAD' });
    expect(byDigest.status).toBe(200);
    expect(byDigest.headers.get('content-type')).toBe(stored.headers.get('content-type'));
    const { stdout } = await run('skopeo', [
      'inspect',
      '--no-tags',
      '--tls-verify=false',
      `docker://${cache.repository}@${digest}`,
    ]);
    expect((JSON.parse(stdout) as { Layers: string[] }).Layers).toEqual(layers);
  });

  it('refuses an upload whose bytes do not match its digest, and keeps nothing of it', async () => {
    const cache = await open();
    const bytes = Buffer.from('layer bytes');
    const claimed = sha256('other bytes');
    const put = await uploadBlob(cache, bytes, claimed);
    expect(put.status).toBe(400);
    expect(JSON.stringify(await put.json())).toContain('DIGEST_INVALID');
    for (const digest of [claimed, sha256(bytes)])
      expect((await fetch(url(cache, `blobs/${digest}`), { method: 'HEAD' })).status).toBe(404);
  });

  it('stores a monolithic POST ?digest= and answers a mount request with a plain upload', async () => {
    const cache = await open();
    const bytes = Buffer.from('monolithic');
    const monolithic = await fetch(url(cache, `blobs/uploads/?digest=${sha256(bytes)}`), {
      method: 'POST',
      body: bytes,
    });
    expect(monolithic.status).toBe(201);
    expect(monolithic.headers.get('docker-content-digest')).toBe(sha256(bytes));
    const blob = await fetch(url(cache, `blobs/${sha256(bytes)}`));
    expect(Buffer.from(await blob.arrayBuffer()).toString()).toBe('monolithic');

    const elsewhere = sha256('in another repository');
    const mount = await fetch(url(cache, `blobs/uploads/?mount=${elsewhere}&from=octo-org/other`), {
      method: 'POST',
    });
    expect(mount.status).toBe(202);
    expect(mount.headers.get('location')).toMatch(/^\/v2\/cache\/blobs\/uploads\/[0-9a-f-]+$/);
    expect((await fetch(url(cache, `blobs/${elsewhere}`), { method: 'HEAD' })).status).toBe(404);
  });

  it('refuses a chunk whose Content-Range does not continue the upload', async () => {
    const cache = await open();
    const started = await fetch(url(cache, 'blobs/uploads/'), { method: 'POST' });
    const location = new URL(started.headers.get('location')!, url(cache, ''));
    const first = await fetch(location, {
      method: 'PATCH',
      body: 'abc',
      headers: { 'content-range': '0-2' },
    });
    expect(first.headers.get('range')).toBe('0-2');
    const gap = await fetch(location, { method: 'PATCH', body: 'def', headers: { 'content-range': '5-7' } });
    expect(gap.status).toBe(416);
    const next = await fetch(location, { method: 'PATCH', body: 'def', headers: { 'content-range': '3-5' } });
    expect(next.status).toBe(202);
    location.searchParams.set('digest', sha256('abcdef'));
    expect((await fetch(location, { method: 'PUT' })).status).toBe(201);
  });

  it('takes no writes once the build is over, but still serves what it holds', async () => {
    const cache = await open();
    const { manifest } = await writeEntry(cache, 'key-1', [{ tar: Buffer.from('layer') }]);
    cache.closeWrites();
    expect((await fetch(url(cache, 'blobs/uploads/'), { method: 'POST' })).status).toBe(403);
    const put = await fetch(url(cache, 'manifests/key-2'), {
      method: 'PUT',
      body: manifest,
      headers: { 'content-type': DOCKER_MANIFEST },
    });
    expect(put.status).toBe(403);
    expect((await fetch(url(cache, 'manifests/key-1'))).status).toBe(200);
    expect((await fetch(url(cache, 'manifests/key-2'))).status).toBe(404);
  });

  it('serves one repository only and refuses manifests that are not images', async () => {
    const cache = await open();
    expect((await fetch(`http://127.0.0.1:${cache.port}/v2/`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${cache.port}/v2/other/manifests/latest`)).status).toBe(404);
    const index = await fetch(url(cache, 'manifests/key'), {
      method: 'PUT',
      body: JSON.stringify({ schemaVersion: 2, manifests: [] }),
      headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' },
    });
    expect(index.status).toBe(400);
  });
});

describe('which entries may leave the runner', () => {
  it('passes entries whose layers were all scanned and pointer entries, and names every other', async () => {
    const cache = await open();
    const scannedTar = Buffer.from('scanned layer');
    const scanned = await writeEntry(cache, 'scanned', [{ tar: scannedTar }]);
    await writeEntry(cache, 'pointer', [], { [CACHE_POINTER_LABEL]: 'scanned' });
    await writeEntry(cache, 'builder-stage', [{ tar: Buffer.from('layer of a stage not in the image') }]);
    await writeEntry(cache, 'empty', []);
    // A hostile build may claim a scanned DiffID for other bytes: the bytes decide.
    await writeEntry(cache, 'lying', [{ tar: Buffer.from('secret'), claimedDiffId: sha256(scannedTar) }]);
    cache.closeWrites();

    const review = await cache.review(scanned.layerDiffIds);
    expect(review.scanned.map((entry) => entry.tag).sort()).toEqual(['pointer', 'scanned']);
    expect(review.scanned.find((entry) => entry.tag === 'scanned')!.digest).toBe(sha256(scanned.manifest));
    const reasons = Object.fromEntries(review.refused.map((entry) => [entry.tag, entry.reason]));
    expect(reasons['builder-stage']).toMatch(/is not in the scanned image/);
    expect(reasons.empty).toMatch(/no layer and is not a kaniko cache pointer/);
    expect(reasons.lying).toMatch(/unpacks to sha256:[0-9a-f]{64}, not to/);
  });

  it('exports with crane copy by digest, warns about what it leaves, and warns instead of failing', async () => {
    const cache = await open({ cacheRepo: 'registry.example/octo-org/app/cache' });
    const scanned = await writeEntry(cache, 'scanned', [{ tar: Buffer.from('scanned layer') }]);
    await writeEntry(cache, 'builder-stage', [{ tar: Buffer.from('unscanned') }]);
    cache.closeWrites();
    const calls: string[][] = [];
    const crane = (fail: boolean): Crane =>
      ({
        run: (args: readonly string[]) => {
          calls.push([...args]);
          return fail
            ? Promise.reject(
                new ToolError({ tool: 'crane', argv: ['copy'], exitCode: 1, stderr: 'UNAUTHORIZED' }),
              )
            : Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
        },
      }) as Crane;

    await exportLayerCache({ cache, crane: crane(false), scannedDiffIds: scanned.layerDiffIds });
    expect(calls).toEqual([
      [
        'copy',
        `${cache.repository}@${sha256(scanned.manifest)}`,
        'registry.example/octo-org/app/cache:scanned',
      ],
    ]);
    expect(vi.mocked(core.warning)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(core.warning).mock.calls[0]![0]).toMatch(/builder-stage .*not in the scanned image/);

    vi.mocked(core.warning).mockClear();
    await exportLayerCache({ cache, crane: crane(true), scannedDiffIds: scanned.layerDiffIds });
    const warnings = vi.mocked(core.warning).mock.calls.map(([message]) => String(message));
    expect(warnings.at(-1)).toMatch(
      /registry.example\/octo-org\/app\/cache failed[\s\S]*UNAUTHORIZED[\s\S]*only an optimisation/,
    );
  });
});

describe('reads that miss are answered from cache-repo', () => {
  let registry: RunningRegistry;
  let imageHost: FaultyProxy;
  let otherHost: FaultyProxy;
  let cachedDigest: string;

  beforeAll(async () => {
    registry = await startRegistry();
    const basicAuth = { username: USERNAME, password: PASSWORD };
    imageHost = await startFaultyProxy(registry.host, { basicAuth });
    otherHost = await startFaultyProxy(registry.host, { basicAuth });
    const tarball = join(scratch, 'upstream.tar');
    const image = await writeImageTarball(tarball, { layers: [{ 'cached.txt': 'cached\n' }] });
    cachedDigest = image.digest;
    await run(process.execPath, [
      CRANE_STANDIN,
      'push',
      '--insecure',
      tarball,
      `${registry.host}/octo-org/app/cache:key-1`,
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([imageHost?.stop(), otherHost?.stop(), registry?.stop()]);
  });

  const readThrough = (host: string): Promise<LayerCache> =>
    open({
      cacheRepo: `${host}/octo-org/app/cache`,
      registries: new Registries({
        insecure: [imageHost.host, otherHost.host],
        credentials: [{ registry: imageHost.host, username: USERNAME, password: PASSWORD }],
      }),
    });

  it("sends the image's credential to cache-repo when it is on the image's registry", async () => {
    imageHost.reset();
    const cache = await readThrough(imageHost.host);
    const manifest = await fetch(url(cache, 'manifests/key-1'));
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(cachedDigest);
    const { layers } = (await manifest.json()) as { layers: Array<{ digest: string; size: number }> };
    const blob = await fetch(url(cache, `blobs/${layers[0]!.digest}`));
    expect(blob.status).toBe(200);
    expect(sha256(Buffer.from(await blob.arrayBuffer()))).toBe(layers[0]!.digest);
    expect(imageHost.requests.some((request) => request.hasAuthorization && request.status === 200)).toBe(
      true,
    );
    // Nothing was stored: a read-through is not a write.
    const review = await cache.review([]);
    expect([...review.scanned, ...review.refused]).toEqual([]);
  });

  it('reads a cache-repo on another host anonymously: its 401 is a miss with one warning', async () => {
    otherHost.reset();
    const cache = await readThrough(otherHost.host);
    expect((await fetch(url(cache, 'manifests/key-1'))).status).toBe(404);
    expect((await fetch(url(cache, 'manifests/key-2'))).status).toBe(404);
    expect(otherHost.requests.length).toBeGreaterThan(0);
    expect(otherHost.requests.filter((request) => request.hasAuthorization)).toEqual([]);
    expect(vi.mocked(core.warning)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(core.warning).mock.calls[0]![0]).toMatch(/HTTP 401.*another host.*anonymously/);
  });

  it('answers an unreachable or failing cache-repo as a miss with one warning', async () => {
    const dead = `127.0.0.1:${await freeLoopbackPort()}`;
    const cache = await open({
      cacheRepo: `${dead}/octo-org/app/cache`,
      registries: new Registries({ insecure: [dead] }),
    });
    expect((await fetch(url(cache, 'manifests/key-1'))).status).toBe(404);
    expect((await fetch(url(cache, `blobs/${cachedDigest}`))).status).toBe(404);
    expect(vi.mocked(core.warning)).toHaveBeenCalledTimes(1);
    expect(vi.mocked(core.warning).mock.calls[0]![0]).toMatch(/ECONNREFUSED.*cache miss/);

    vi.mocked(core.warning).mockClear();
    imageHost.reset();
    imageHost.addRules({ path: /\/manifests\//, times: 5, fault: { kind: 'status', status: 503 } });
    const failing = await readThrough(imageHost.host);
    expect((await fetch(url(failing, 'manifests/key-1'))).status).toBe(404);
    expect(vi.mocked(core.warning).mock.calls[0]![0]).toMatch(/HTTP 503/);
  });
});
