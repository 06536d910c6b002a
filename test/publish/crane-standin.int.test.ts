import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultyProxy } from '../helpers/faulty-proxy.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import type { ImageTarball } from '../helpers/image-tarball.js';
import { CRANE_STANDIN, pushImageIndex, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';

// The stand-in must behave like crane where the action depends on it: these tests pin that down
// against a real registry.

interface CraneRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function crane(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<CraneRun> {
  return new Promise((resolve) => {
    const child = execFile(
      CRANE_STANDIN,
      [...args],
      { env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}

function tarListing(archive: string): Promise<string[]> {
  return new Promise((resolve, reject) =>
    execFile('tar', ['-tf', archive], (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim().split('\n')),
    ),
  );
}

let registry: RunningRegistry;
let work: string;
let image: ImageTarball;
let tarball: string;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'crane-standin-'));
  tarball = join(work, 'image.tar');
  image = await writeImageTarball(tarball, {
    layers: [
      {
        'etc/os-release': 'ID=test\n',
        'etc/hosts': '127.0.0.1 localhost\n',
        'var/lib/data/a': 'a',
        'bin/tool': 'x',
      },
      { 'etc/.wh.hosts': '', 'var/lib/data/.wh..wh..opq': '', 'var/lib/data/b': 'b', 'usr/share/new': 'new' },
    ],
    repoTag: 'example.com/app:build',
  });
});

afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('crane stand-in', () => {
  it('push to a digest reference: stored untagged, skipped when present, refused by the registry when the digest is another', async () => {
    const name = `${registry.host}/team/pinned`;
    const first = await crane(['push', tarball, `${name}@${image.digest}`]);
    expect(first).toMatchObject({ code: 0, stdout: `${name}@${image.digest}\n` });
    expect(first.stderr).toContain(`${name}@${image.digest}: digest: ${image.digest} size:`);
    const again = await crane(['push', tarball, `${name}@${image.digest}`]);
    expect(again.stderr).toContain(`existing manifest: ${image.digest}`);
    expect(again.stderr).not.toContain('pushed blob');

    const other = `sha256:${'0'.repeat(64)}`;
    const refused = await crane(['push', tarball, `${registry.host}/team/refused@${other}`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(`Error: PUT http://${registry.host}/v2/team/refused/manifests/${other}: DIGEST_INVALID`),
    );
    const tags = await fetch(`http://${registry.host}/v2/team/pinned/tags/list`);
    expect(((await tags.json()) as { tags: string[] | null }).tags ?? []).toEqual([]);
  });

  it('push prints repo@digest, and the digest is the one writeImageTarball computed', async () => {
    const result = await crane(['push', tarball, `${registry.host}/team/app:v1`]);
    expect(result).toMatchObject({ code: 0, stdout: `${registry.host}/team/app@${image.digest}\n` });
    const head = await fetch(`http://${registry.host}/v2/team/app/manifests/v1`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(head.headers.get('docker-content-digest')).toBe(image.digest);
  });

  it('a second push of the same image to the same tag uploads nothing, like remote.Write', async () => {
    const proxy = await startFaultyProxy(registry.host);
    try {
      const first = await crane(['push', tarball, `${proxy.host}/team/again:v1`]);
      expect(first.stderr).toMatch(/pushed blob: sha256:.*\n.*pushed blob: sha256:/);
      expect(first.stderr).toContain(
        `${proxy.host}/team/again:v1: digest: ${image.digest} size: ${image.manifest.length}`,
      );
      proxy.reset();
      const second = await crane(['push', tarball, `${proxy.host}/team/again:v1`]);
      expect(second).toMatchObject({ code: 0, stdout: `${proxy.host}/team/again@${image.digest}\n` });
      expect(second.stderr).toMatch(/existing manifest: v1@sha256:/);
      expect(proxy.requests.map((request) => `${request.method} ${request.path}`)).toEqual([
        'GET /v2/',
        'HEAD /v2/team/again/manifests/v1',
      ]);
    } finally {
      await proxy.stop();
    }
  });

  it('tag and digest read back what push wrote', async () => {
    await crane(['push', tarball, `${registry.host}/team/tagged:one`]);
    expect((await crane(['tag', `${registry.host}/team/tagged:one`, 'two'])).code).toBe(0);
    expect((await crane(['digest', `${registry.host}/team/tagged:two`])).stdout).toBe(`${image.digest}\n`);
  });

  it('export flattens the layers, honouring whiteouts and opaque directories', async () => {
    await crane(['push', tarball, `${registry.host}/team/export:v1`]);
    const output = join(work, 'rootfs.tar');
    expect((await crane(['export', `${registry.host}/team/export:v1`, output])).code).toBe(0);
    const listing = await tarListing(output);
    expect(listing).toEqual(
      expect.arrayContaining(['etc/os-release', 'var/lib/data/b', 'bin/tool', 'usr/share/new']),
    );
    expect(listing).not.toContain('etc/hosts');
    expect(listing).not.toContain('var/lib/data/a');
    expect(listing.filter((name) => name.includes('.wh.'))).toEqual([]);
  });

  it('resolves a platform from an index for digest --platform and export --platform', async () => {
    const armTarball = join(work, 'arm.tar');
    const arm = await writeImageTarball(armTarball, {
      layers: [{ 'kaniko/executor': 'arm64 executor' }],
      config: { architecture: 'arm64' },
    });
    const indexDigest = await pushImageIndex({
      registry: registry.host,
      repository: 'tools/kaniko',
      tag: 'v1',
      images: [
        { tarball, image, platform: { os: 'linux', architecture: 'amd64' } },
        { tarball: armTarball, image: arm, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    const reference = `${registry.host}/tools/kaniko:v1`;
    expect((await crane(['digest', reference])).stdout).toBe(`${indexDigest}\n`);
    expect((await crane(['--platform', 'linux/arm64', 'digest', reference])).stdout).toBe(`${arm.digest}\n`);
    expect((await crane(['digest', reference, '--platform=linux/amd64'])).stdout).toBe(`${image.digest}\n`);
    const output = join(work, 'arm-rootfs.tar');
    expect(
      (
        await crane([
          'export',
          '--platform',
          'linux/arm64',
          `${reference.split(':v1')[0]}@${indexDigest}`,
          output,
        ])
      ).code,
    ).toBe(0);
    expect(await tarListing(output)).toEqual(['kaniko', 'kaniko/executor']);
    const missing = await crane(['digest', '--platform', 'linux/s390x', reference]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error: no child with platform linux\/s390x in index/m);
  });

  it('auth login writes a private config.json like crane and later requests answer a Basic challenge', async () => {
    const dockerConfig = join(work, 'docker-config');
    const env = { PATH: process.env.PATH, DOCKER_CONFIG: dockerConfig };
    const login = await crane(['auth', 'login', '127.0.0.1:1', '-u', 'robot', '--password-stdin'], {
      env,
      input: 's3cret\n',
    });
    expect(login.code).toBe(0);
    expect(login.stderr).toMatch(/logged in via .*config\.json/);
    const file = join(dockerConfig, 'config.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const auth = Buffer.from('robot:s3cret').toString('base64');
    expect(await readFile(file, 'utf8')).toBe(
      `{\n\t"auths": {\n\t\t"127.0.0.1:1": {\n\t\t\t"auth": "${auth}"\n\t\t}\n\t}\n}`,
    );

    const proxy = await startFaultyProxy(registry.host, {
      basicAuth: { username: 'robot', password: 's3cret' },
    });
    try {
      await crane(['auth', 'login', proxy.host, '-u', 'robot', '--password-stdin'], { env, input: 's3cret' });
      const push = await crane(['push', tarball, `${proxy.host}/private/app:v1`], { env });
      expect(push.code).toBe(0);
      const [ping, ...rest] = proxy.requests;
      expect(ping).toMatchObject({ path: '/v2/', hasAuthorization: false, status: 401 });
      expect(rest.every((request) => request.hasAuthorization && request.status !== 401)).toBe(true);
    } finally {
      await proxy.stop();
    }
  });

  describe('registry errors fail the command at once, in crane style', () => {
    let proxy: FaultyProxy;
    beforeAll(async () => {
      proxy = await startFaultyProxy(registry.host);
    });
    afterAll(() => proxy.stop());

    it('a 5xx names the status and is not retried', async () => {
      proxy.reset();
      proxy.addRules({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'status', status: 503 } });
      const result = await crane(['push', tarball, `${proxy.host}/team/failing:v1`]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^Error: PUT http:\/\/127\.0\.0\.1:\d+\/v2\/team\/failing\/manifests\/v1: unexpected status code 503 Service Unavailable/m,
      );
      expect(
        proxy.requests.filter((request) => request.method === 'PUT' && request.path.includes('/manifests/')),
      ).toHaveLength(1);
    });

    it('a reset connection is reported as Go reports it', async () => {
      proxy.reset();
      proxy.addRules({ method: 'HEAD', path: /\/manifests\//, fault: { kind: 'reset' } });
      const result = await crane(['digest', `${proxy.host}/team/app:v1`]);
      // crane falls back on GET after a failed HEAD, as the real one does.
      expect(result).toMatchObject({ code: 0, stdout: `${image.digest}\n` });
      expect(result.stderr).toMatch(/HEAD request failed, falling back on GET: Head "http:.*": EOF/);
    });

    it('bad arguments fail with cobra messages', async () => {
      expect((await crane(['push', tarball])).stderr).toBe('Error: accepts 2 arg(s), received 1\n');
      expect((await crane(['push', '--bogus', tarball, 'x'])).stderr).toBe('Error: unknown flag: --bogus\n');
      expect((await crane(['version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    });
  });
});
