// RegistryClient against a loopback registry that answers as ghcr.io does: 401 with a Bearer
// challenge, a token service that takes the credential as Basic, then the manifest for the token.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { RegistryRequestError, RegistryClient } from '../src/registry-client.js';
import { Registries } from '../src/registries.js';

const MANIFEST = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}';
const TOKEN = 'pull-token-for-octo-org-app';
const PASSWORD = 'ghp_readerTestPassword0123456789';

interface Seen {
  readonly path: string;
  readonly authorization: string | undefined;
  readonly accept: string | undefined;
}

let server: Server;
let host: string;
let seen: Seen[];
let challenge: (origin: string) => string;
let stored: { type: string | undefined; body: string }[];

function answer(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', `http://${host}`);
  seen.push({
    path: url.pathname + url.search,
    authorization: request.headers.authorization,
    accept: request.headers.accept,
  });
  if (url.pathname === '/token') {
    const basic = `Basic ${Buffer.from(`octocat:${PASSWORD}`).toString('base64')}`;
    if (request.headers.authorization !== basic) return void response.writeHead(401).end();
    return void response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token: TOKEN }));
  }
  const authorized =
    request.headers.authorization === `Bearer ${TOKEN}` ||
    request.headers.authorization === `Basic ${Buffer.from(`octocat:${PASSWORD}`).toString('base64')}`;
  if (!authorized)
    return void response.writeHead(401, { 'www-authenticate': challenge(`http://${host}`) }).end();
  if (url.pathname === '/v2/octo-org/app/manifests/main')
    return void response
      .writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' })
      .end(MANIFEST);
  if (url.pathname === '/v2/octo-org/app/manifests/broken') return void response.writeHead(500).end();
  if (request.method === 'PUT' && url.pathname === '/v2/octo-org/app/manifests/release') {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      stored.push({ type: request.headers['content-type'], body: Buffer.concat(chunks).toString() });
      response.writeHead(201).end();
    });
    return;
  }
  response.writeHead(404).end();
}

beforeAll(async () => {
  server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  vi.stubEnv('HTTP_PROXY', 'http://127.0.0.1:9');
  vi.stubEnv('HTTPS_PROXY', 'http://127.0.0.1:9');
  vi.stubEnv('NO_PROXY', '127.0.0.1');
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen = [];
  stored = [];
  challenge = (origin) =>
    `Bearer realm="${origin}/token",service="registry.test",scope="repository:octo-org/app:pull"`;
});

const reader = (credential = true, access: 'pull' | 'pull,push' = 'pull') =>
  new RegistryClient(
    `${host}/octo-org/app`,
    new Registries({
      insecure: [host],
      credentials: credential ? [{ registry: host, username: 'octocat', password: PASSWORD }] : [],
      mask: () => undefined,
    }),
    access,
  );

describe('RegistryClient', () => {
  it('answers a Bearer challenge with a pull token asked for with the credential, then reads the manifest', async () => {
    const served = await reader().manifest('main', ['application/vnd.oci.image.index.v1+json']);
    expect(served).toEqual({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      body: Buffer.from(MANIFEST),
    });
    expect(seen.map(({ path }) => path)).toEqual([
      '/v2/octo-org/app/manifests/main',
      '/token?service=registry.test&scope=repository%3Aocto-org%2Fapp%3Apull',
      '/v2/octo-org/app/manifests/main',
    ]);
    expect(seen[0]!.authorization).toBeUndefined();
    expect(seen[2]).toMatchObject({
      authorization: `Bearer ${TOKEN}`,
      accept: 'application/vnd.oci.image.index.v1+json',
    });
  });

  it('stores a manifest under a tag with a push token, its media type as sent', async () => {
    const mediaType = 'application/vnd.oci.image.index.v1+json';
    await reader(true, 'pull,push').putManifest('release', { mediaType, body: Buffer.from(MANIFEST) });
    expect(stored).toEqual([{ type: mediaType, body: MANIFEST }]);
    expect(seen.find(({ path }) => path.startsWith('/token'))?.path).toBe(
      '/token?service=registry.test&scope=repository%3Aocto-org%2Fapp%3Apull%2Cpush',
    );
    await expect(reader().putManifest('release', { mediaType, body: Buffer.from(MANIFEST) })).rejects.toThrow(
      'putManifest needs a client made with push access',
    );
  });

  it('keeps the token for the next read', async () => {
    const once = reader();
    await once.manifest('main', []);
    await once.manifest('main', []);
    expect(seen.filter(({ path }) => path.startsWith('/token'))).toHaveLength(1);
  });

  it('answers a Basic challenge with the credential', async () => {
    challenge = () => 'Basic realm="registry"';
    expect(await reader().manifest('main', [])).toBeDefined();
    expect(seen.at(-1)!.authorization).toBe(`Basic ${Buffer.from(`octocat:${PASSWORD}`).toString('base64')}`);
  });

  it('is undefined for a manifest the registry does not have, and fails on any other answer', async () => {
    expect(await reader().manifest('missing', [])).toBeUndefined();
    await expect(reader().manifest('broken', [])).rejects.toThrow(new RegistryRequestError('HTTP 500'));
  });

  it('says that no credential was given when the registry refuses an anonymous read', async () => {
    await expect(reader(false).manifest('main', [])).rejects.toThrow(
      `its token service http://${host} answered HTTP 401`,
    );
    challenge = () => 'Basic realm="registry"';
    await expect(reader(false).manifest('main', [])).rejects.toThrow(
      `HTTP 401; no credential is given for ${host} and one is never sent to another host, so it is read anonymously`,
    );
  });
});
