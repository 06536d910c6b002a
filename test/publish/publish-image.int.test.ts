import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PublishOptions } from '../../src/publish/publish-image.js';
import { PublishError, login, publishImage } from '../../src/publish/publish-image.js';
import { Registries } from '../../src/registries.js';
import type { FaultyProxy } from '../helpers/faulty-proxy.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import type { ImageTarball } from '../helpers/image-tarball.js';
import { CRANE_STANDIN, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';

// publishImage and login against a real registry, through the crane stand-in and a
// proxy that injects the failures real registries produce.

let registry: RunningRegistry;
let proxy: FaultyProxy;
let work: string;
let tarball: string;
let image: ImageTarball;
/** A wrapper around the stand-in that records every argv it is given, one argument a line. */
let crane: string;
let argvLog: string;
let delays: number[];
let stdout: string[];
let repositoryCount = 0;

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'publish-'));
  tarball = join(work, 'image.tar');
  image = await writeImageTarball(tarball, { layers: [{ 'app/main': 'binary', 'etc/app.conf': 'x=1' }] });
  argvLog = join(work, 'argv.log');
  crane = join(work, 'crane');
  await writeFile(crane, `#!/bin/sh\nprintf '%s\\n' "$@" >> '${argvLog}'\nexec '${CRANE_STANDIN}' "$@"\n`);
  await chmod(crane, 0o755);
});

afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  proxy = await startFaultyProxy(registry.host);
  delays = [];
  stdout = [];
  // @actions/core writes workflow commands (masks, state, warnings) to stdout.
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
  delete process.env.GITHUB_STATE;
});

afterEach(async () => {
  vi.restoreAllMocks();
  await proxy.stop();
});

function options(overrides: Partial<PublishOptions> = {}): PublishOptions {
  return {
    crane,
    source: { tarball },
    image: `${proxy.host}/team/app-${++repositoryCount}`,
    tags: ['1.0.0', '1.0', 'latest'],
    expectedDigest: image.digest,
    registries: new Registries({ insecure: [proxy.host] }),
    retry: { attempts: 3, initialDelayMs: 100, sleep: async (ms) => void delays.push(ms) },
    ...overrides,
  };
}

/** The digest the registry itself serves for a reference, asked by skopeo, an independent client. */
async function registryDigest(reference: string): Promise<string> {
  const { stdout: digest } = await promisify(execFile)('skopeo', [
    'inspect',
    '--tls-verify=false',
    '--format',
    '{{.Digest}}',
    `docker://${reference}`,
  ]);
  return digest.trim();
}

/** The tags the registry itself holds for an image behind the proxy; none when it has no such repository. */
async function registryTags(imageBehindProxy: string): Promise<string[]> {
  const repository = imageBehindProxy.split('/').slice(1).join('/');
  const response = await fetch(`http://${registry.host}/v2/${repository}/tags/list`);
  if (response.status === 404) return [];
  const { tags } = (await response.json()) as { tags: string[] | null };
  return tags ?? [];
}

const blobUploads = (): number =>
  proxy.requests.filter((request) => request.method === 'POST' && request.path.includes('/blobs/uploads/'))
    .length;

describe('publishImage', () => {
  it('uploads once, tags the rest, and every reference serves the scanned digest', async () => {
    const opts = options();
    const result = await publishImage(opts);
    expect(result).toEqual({
      digest: image.digest,
      image: `${opts.image}@${image.digest}`,
      references: [`${opts.image}:1.0.0`, `${opts.image}:1.0`, `${opts.image}:latest`],
    });
    for (const tag of opts.tags)
      expect(
        await registryDigest(`${registry.host}/${opts.image.split('/').slice(1).join('/')}:${tag}`),
      ).toBe(image.digest);
    expect(blobUploads()).toBe(image.layers.length + 1);
    expect(delays).toEqual([]);
  });

  it('sets and reads back every tag itself, PUTting the uploaded bytes: no crane after the push', async () => {
    await writeFile(argvLog, '');
    const opts = options();
    await publishImage(opts);
    const cranes = (await readFile(argvLog, 'utf8')).split('\n');
    expect(cranes.filter((arg) => ['push', 'tag', 'digest'].includes(arg))).toEqual(['push']);
    const answered = (method: string, tag: string, status: number) =>
      proxy.requests.some(
        (request) =>
          request.method === method &&
          request.path.endsWith(`/manifests/${tag}`) &&
          request.status === status,
      );
    for (const tag of opts.tags) {
      expect(answered('PUT', tag, 201)).toBe(true);
      expect(answered('GET', tag, 200)).toBe(true);
    }
  });

  it('leaves the tags to crane when the uploaded manifest cannot be read back (a 503)', async () => {
    await writeFile(argvLog, '');
    proxy.addRules({ method: 'GET', path: /\/manifests\/sha256:/, fault: { kind: 'status', status: 503 } });
    const opts = options();
    expect((await publishImage(opts)).digest).toBe(image.digest);
    const cranes = (await readFile(argvLog, 'utf8')).split('\n');
    expect(cranes.filter((arg) => arg === 'tag')).toHaveLength(opts.tags.length);
  });

  it('asks crane for a tag it could not read back itself (a 503), and compares what crane reports', async () => {
    await writeFile(argvLog, '');
    proxy.addRules({ method: 'GET', path: /\/manifests\/1\.0$/, fault: { kind: 'status', status: 503 } });
    const result = await publishImage(options());
    expect(result.digest).toBe(image.digest);
    const cranes = (await readFile(argvLog, 'utf8')).split('\n');
    expect(cranes.filter((arg) => arg === 'digest')).toHaveLength(1);
    const asked = cranes.slice(cranes.indexOf('digest')).find((arg) => arg.includes('/team/'));
    expect(asked).toMatch(/:1\.0$/);
  });

  it('tagAfter: uploads by digest at once, sets no tag before it resolves, none at all if it rejects', async () => {
    let release!: () => void;
    const opts = options({ tagAfter: new Promise<void>((resolve) => (release = resolve)) });
    const publishing = publishImage(opts);
    const manifestPut = () =>
      proxy.requests.some(
        (request) => request.method === 'PUT' && request.path.includes(`/manifests/${image.digest}`),
      );
    await vi.waitFor(() => expect(manifestPut()).toBe(true), { timeout: 20_000, interval: 20 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await registryTags(opts.image)).toEqual([]);
    release();
    expect((await publishing).references).toHaveLength(3);
    expect((await registryTags(opts.image)).sort()).toEqual(['1.0', '1.0.0', 'latest']);

    const refused = options({ tagAfter: Promise.reject(new Error('the SARIF could not be written')) });
    const error = (await publishImage(refused).catch((caught: unknown) => caught)) as PublishError;
    expect(error).toBeInstanceOf(PublishError);
    expect(error.message).toBe(
      `No tag was set: ${refused.image}@${image.digest} was pushed by digest, and nothing points at it, as what must come before any tag failed.`,
    );
    expect(error.pushed).toEqual([]);
    expect(await registryTags(refused.image)).toEqual([]);
  });

  it('retries a 503 on the manifest upload and then succeeds', async () => {
    proxy.addRules({ method: 'PUT', path: /\/manifests\/sha256:/, fault: { kind: 'status', status: 503 } });
    const result = await publishImage(options());
    expect(result.digest).toBe(image.digest);
    expect(delays).toEqual([100]);
    expect(stdout.join('')).toMatch(
      /::warning::crane push .* failed \(attempt 1 of 3\), retrying in 0\.1 s: .*503/,
    );
  });

  it('retries 429 Too Many Requests twice with growing delays', async () => {
    proxy.addRules({
      method: 'POST',
      path: /\/blobs\/uploads\//,
      times: 2,
      fault: { kind: 'status', status: 429 },
    });
    expect((await publishImage(options())).digest).toBe(image.digest);
    expect(delays).toEqual([100, 200]);
  });

  it('a tag whose PUT was reset is set by crane, and crane retries a reset too', async () => {
    await writeFile(argvLog, '');
    proxy.addRules({ method: 'PUT', path: /\/manifests\/latest$/, times: 2, fault: { kind: 'reset' } });
    expect((await publishImage(options())).references).toHaveLength(3);
    const cranes = (await readFile(argvLog, 'utf8')).split('\n');
    expect(cranes.filter((arg) => arg === 'tag')).toHaveLength(2);
    expect(delays).toEqual([100]);
  });

  it('gives up after the bounded attempts and says which references were pushed', async () => {
    proxy.addRules({
      method: 'PUT',
      path: /\/manifests\/1\.0$/,
      times: Infinity,
      fault: { kind: 'status', status: 500 },
    });
    const opts = options();
    const error = await publishImage(opts).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PublishError);
    const failure = error as PublishError;
    expect(failure.message).toMatch(/crane tag .* failed 3 times with transient registry errors/);
    expect(failure.message).toContain('unexpected status code 500');
    expect(failure.message).toContain(
      `Pushed: ${opts.image}:1.0.0. Not pushed: ${opts.image}:1.0, ${opts.image}:latest.`,
    );
    expect(failure.pushed).toEqual([`${opts.image}:1.0.0`]);
    expect(failure.notPushed).toEqual([`${opts.image}:1.0`, `${opts.image}:latest`]);
    expect(await registryTags(opts.image)).toEqual(['1.0.0']);
    expect(delays).toEqual([100, 200]);
  });

  it('a tag refused among several: the error lists exactly the tags the registry holds', async () => {
    const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    // Refused to the action's own PUT and to crane's.
    proxy.addRules({
      method: 'PUT',
      path: /\/manifests\/c$/,
      times: 2,
      fault: { kind: 'status', status: 403 },
    });
    const opts = options({ tags });
    const failure = (await publishImage(opts).catch((caught: unknown) => caught)) as PublishError;
    expect(failure).toBeInstanceOf(PublishError);
    expect(failure.message).toMatch(/crane tag .* c failed/);
    const held = await registryTags(opts.image);
    expect(failure.pushed).toEqual(
      tags.filter((tag) => held.includes(tag)).map((tag) => `${opts.image}:${tag}`),
    );
    expect(failure.notPushed).toContain(`${opts.image}:c`);
    expect([...failure.pushed, ...failure.notPushed].sort()).toEqual(
      tags.map((tag) => `${opts.image}:${tag}`),
    );
    expect(failure.message).toContain(
      `Pushed: ${failure.pushed.join(', ')}. Not pushed: ${failure.notPushed.join(', ')}.`,
    );
  });

  it('fails loudly when the registry serves another digest than the one scanned', async () => {
    for (const method of ['HEAD', 'GET'])
      proxy.addRules({
        method,
        path: /\/manifests\/1\.0\.0$/,
        times: Infinity,
        fault: { kind: 'tamper-manifest' },
      });
    const error = (await publishImage(options()).catch((caught: unknown) => caught)) as Error;
    expect(error.message).toMatch(
      /^Digest mismatch for .*:1\.0\.0: the registry reports sha256:[0-9a-f]{64} but the scanned image is/,
    );
    expect(error.message).toContain(image.digest);
    expect(error.message).toContain('Not pushed:');
    expect(delays).toEqual([]);
  });

  it('pushes by the scanned digest, so a tarball changed since the scan is refused and nothing is tagged', async () => {
    const scanned = `sha256:${'0'.repeat(64)}`;
    const opts = options({ expectedDigest: scanned });
    const error = (await publishImage(opts).catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(PublishError);
    expect(error.message).toContain(`crane push ${tarball} ${opts.image}@${scanned} failed`);
    expect(error.message).toContain('DIGEST_INVALID');
    expect(error.message).toContain('does not match its digest');
    expect(error.message).toContain('No tag was set');
    expect(await registryTags(opts.image)).toEqual([]);
    expect(delays).toEqual([]);
  });

  it('a manifest altered in transit is refused by the registry and leaves no tag at all', async () => {
    proxy.addRules({
      method: 'PUT',
      path: /\/manifests\//,
      times: Infinity,
      fault: { kind: 'tamper-request' },
    });
    const opts = options();
    const error = (await publishImage(opts).catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(PublishError);
    expect(error.message).toContain('DIGEST_INVALID');
    expect((error as PublishError).pushed).toEqual([]);
    expect(await registryTags(opts.image)).toEqual([]);
    expect(
      proxy.requests.filter(
        (request) => request.method === 'PUT' && /\/manifests\/(?!sha256:)/.test(request.path),
      ),
    ).toEqual([]);
  });

  it('fails at once on 401 with a hint, and nothing is pushed', async () => {
    await proxy.stop();
    proxy = await startFaultyProxy(registry.host, { basicAuth: { username: 'robot', password: 'right' } });
    const dockerConfigDir = join(work, 'wrong-login');
    await login({
      crane,
      registry: proxy.host,
      registries: new Registries({
        credentials: [{ registry: proxy.host, username: 'robot', password: 'wrong' }],
      }),
      dockerConfigDir,
    });
    const error = (await publishImage(options({ dockerConfigDir })).catch(
      (caught: unknown) => caught,
    )) as Error;
    expect(error).toBeInstanceOf(PublishError);
    expect(error.message).toMatch(/unexpected status code 401 Unauthorized|UNAUTHORIZED/);
    expect(error.message).toContain('registry-username');
    expect(error.message).toContain('No tag was set');
    expect(delays).toEqual([]);
  });
});

describe('login', () => {
  it('writes the private config crane auth login would, runs no process, and publishing uses it', async () => {
    const password = 'pa55-word-that-must-not-leak';
    await proxy.stop();
    proxy = await startFaultyProxy(registry.host, { basicAuth: { username: 'robot', password } });
    await writeFile(argvLog, '');
    const dockerConfigDir = join(work, 'private', 'docker-config');
    const stored = await login({
      crane,
      registry: proxy.host,
      registries: new Registries({
        credentials: [{ registry: proxy.host, username: 'robot', password }],
      }),
      dockerConfigDir,
    });

    expect(stored?.configFile).toBe(join(dockerConfigDir, 'config.json'));
    expect((await stat(dockerConfigDir)).mode & 0o777).toBe(0o700);
    expect((await stat(stored!.configFile)).mode & 0o777).toBe(0o600);
    const basic = Buffer.from(`robot:${password}`).toString('base64');
    // Byte for byte what crane v0.21.9 writes into an empty DOCKER_CONFIG (json.MarshalIndent, tabs).
    expect(await readFile(stored!.configFile, 'utf8')).toBe(
      `{\n\t"auths": {\n\t\t"${proxy.host}": {\n\t\t\t"auth": "${basic}"\n\t\t}\n\t}\n}`,
    );
    expect(await readdir(dockerConfigDir)).toEqual(['config.json']);
    // No crane ran to log in: the password was in no process's argv, environment or stdin.
    expect(await readFile(argvLog, 'utf8')).toBe('');
    const log = stdout.join('');
    expect(log).toContain(`::add-mask::${password}`);
    expect(log).toContain(`::add-mask::${basic}`);
    expect(log).toMatch(/::save-state name=cleanup-paths::.*docker-config/);
    const unmasked = log.split('\n').filter((line) => !line.startsWith('::add-mask::'));
    expect(unmasked.join('\n')).not.toContain(password);

    const result = await publishImage(options({ dockerConfigDir }));
    expect(result.digest).toBe(image.digest);
    // Every request but a first anonymous one (the ping, or a read answered 401) carries it.
    const anonymous = (request: { path: string; status: number | undefined }) =>
      request.path === '/v2/' || request.status === 401;
    expect(proxy.requests.filter((request) => !anonymous(request)).every((r) => r.hasAuthorization)).toBe(
      true,
    );
    expect(await readFile(argvLog, 'utf8')).not.toContain(password);
  });

  it('keeps what the config holds and adds the entry, keyed as crane keys Docker Hub', async () => {
    const dockerConfigDir = join(work, 'merged', 'docker-config');
    const credentials = [
      { registry: proxy.host, username: 'robot', password: 'first' },
      { registry: 'index.docker.io', username: 'hub-user', password: 'hub-token' },
    ];
    const registries = new Registries({ credentials });
    await login({ crane, registry: proxy.host, registries, dockerConfigDir });
    const stored = await login({ crane, registry: 'index.docker.io', registries, dockerConfigDir });
    expect(JSON.parse(await readFile(stored!.configFile, 'utf8'))).toEqual({
      auths: {
        [proxy.host]: { auth: Buffer.from('robot:first').toString('base64') },
        'https://index.docker.io/v1/': { auth: Buffer.from('hub-user:hub-token').toString('base64') },
      },
    });
    expect((await stat(stored!.configFile)).mode & 0o777).toBe(0o600);
    expect(await readdir(dockerConfigDir)).toEqual(['config.json']);
  });

  it('refuses an empty password before writing anything', async () => {
    await expect(
      login({
        crane,
        registry: proxy.host,
        registries: new Registries({
          credentials: [{ registry: proxy.host, username: 'robot', password: '' }],
        }),
        dockerConfigDir: join(work, 'x'),
      }),
    ).rejects.toThrow(/password is empty.*registry-password/);
  });

  it("stores only the registry's own credential: none for another host, and nothing is written", async () => {
    await writeFile(argvLog, '');
    const dockerConfigDir = join(work, 'other-host', 'docker-config');
    const registries = new Registries({
      credentials: [{ registry: 'ghcr.io', username: 'robot', password: 'for-ghcr-only' }],
    });
    expect(await login({ crane, registry: proxy.host, registries, dockerConfigDir })).toBeUndefined();
    expect(await readFile(argvLog, 'utf8')).toBe('');
    await expect(stat(dockerConfigDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
