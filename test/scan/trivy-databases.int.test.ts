import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registries } from '../../src/registries.js';
import { TrivyDatabases } from '../../src/scan/trivy-databases.js';
import type { FaultyProxy } from '../helpers/faulty-proxy.js';
import { startFaultyProxy } from '../helpers/faulty-proxy.js';
import { writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';
import { trivyStandinWith } from '../helpers/trivy-standin.js';

const USER = 'db-reader';
const PASSWORD = 'mirror-secret-7f3a';
let root: string;
let registry: RunningRegistry;
let proxy: FaultyProxy;
let javaImage: string;

/** Pushes a single-layer OCI artifact the way Trivy's DB images are built (oras push). */
async function pushArtifact(repository: string, mediaType: string, files: Record<string, string>) {
  const tree = mkdtempSync(join(root, 'artifact-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(tree, name), content);
  const layer = execFileSync('tar', ['-czf', '-', '-C', tree, ...Object.keys(files)]);
  const config = Buffer.from('{}');
  const upload = async (blob: Buffer) => {
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const started = await fetch(`http://${registry.host}/v2/${repository}/blobs/uploads/`, {
      method: 'POST',
    });
    const location = new URL(started.headers.get('location')!, `http://${registry.host}`);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', body: blob });
    expect(put.status).toBe(201);
    return { digest, size: blob.length };
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await upload(config)) },
    layers: [
      { mediaType, ...(await upload(layer)), annotations: { 'org.opencontainers.image.title': 'db.tar.gz' } },
    ],
  };
  const put = await fetch(`http://${registry.host}/v2/${repository}/manifests/1`, {
    method: 'PUT',
    headers: { 'Content-Type': manifest.mediaType },
    body: JSON.stringify(manifest),
  });
  expect(put.status).toBe(201);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bsp-db-mirror-'));
  registry = await startRegistry();
  proxy = await startFaultyProxy(registry.host, { basicAuth: { username: USER, password: PASSWORD } });
  await pushArtifact('aquasec/trivy-java-db', 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip', {
    'trivy-java.db': 'java DB from the private mirror',
    'metadata.json': '{"Version":1}',
  });
  javaImage = join(root, 'java.tar');
  await writeImageTarball(javaImage, { layers: [{ 'app/app.jar': 'PK' }] });
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('a DB mirror behind basic auth', () => {
  function prepare(credentials: { registry: string; username: string; password: string }[]) {
    const dir = mkdtempSync(join(root, 'case-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM alpine:3.20\n');
    const log = join(dir, 'calls.jsonl');
    const ready = TrivyDatabases.start({
      trivyPath: trivyStandinWith({ TRIVY_STANDIN_LOG: log }),
      cacheDir: join(dir, 'cache'),
      scanners: ['vuln'],
      repositories: {
        vulnerability: ['mirror.gcr.io/aquasec/trivy-db:2'],
        java: [`${proxy.host}/aquasec/trivy-java-db:1`],
        checks: [],
      },
      registries: new Registries({ credentials, mask: () => undefined }),
      dockerConfigDir: join(dir, 'docker-config'),
      dockerfile: join(dir, 'Dockerfile'),
      store: { available: () => false, restore: async () => undefined, save: async () => undefined },
    }).then((databases) => databases.readyFor(javaImage));
    return { dir, log, ready };
  }

  it('works with the registry credential: Trivy reads it from a private DOCKER_CONFIG, never argv', async () => {
    proxy.reset();
    const t = prepare([{ registry: proxy.host, username: USER, password: PASSWORD }]);
    await t.ready;
    expect(readFileSync(join(t.dir, 'cache', 'java-db', 'trivy-java.db'), 'utf8')).toBe(
      'java DB from the private mirror',
    );
    const served = proxy.requests.filter((request) => request.status === 200);
    expect(served.map((request) => request.path)).toEqual([
      '/v2/aquasec/trivy-java-db/manifests/1',
      expect.stringMatching(/^\/v2\/aquasec\/trivy-java-db\/blobs\/sha256:/),
    ]);
    expect(served.every((request) => request.hasAuthorization)).toBe(true);
    const calls = readFileSync(t.log, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { argv: string[]; env: string[] });
    for (const call of calls) {
      expect(call.argv.join(' ')).not.toContain(PASSWORD);
      expect(call.env).toContain('DOCKER_CONFIG');
    }
  });

  it('fails without it, naming the mirror and the 401', async () => {
    proxy.reset();
    const t = prepare([]);
    await expect(t.ready).rejects.toThrow(
      /Trivy Java DB could not be downloaded from any repository:\n {2}127\.0\.0\.1:\d+\/aquasec\/trivy-java-db:1: .*401[\s\S]*`trivy-java-db-repositories`/,
    );
    expect(proxy.requests.some((request) => request.hasAuthorization)).toBe(false);
  });
});
