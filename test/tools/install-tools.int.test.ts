import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DownloadPolicy } from '../../src/tools/download.js';
import type { InstallOptions } from '../../src/tools/install-tools.js';
import { installTools } from '../../src/tools/install-tools.js';
import { CRANE_STANDIN, pushImageIndex, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';
import type { ReleaseServer } from '../helpers/release-server.js';
import { publishCrane, publishTrivy, startReleaseServer } from '../helpers/release-server.js';
import { Registries } from '../../src/registries.js';

const FAST: DownloadPolicy = { attempts: 2, backoffMs: 10, stallMs: 500 };
/** The release's crane: a wrapper that runs the crane stand-in with this Node. */
const CRANE_WRAPPER = `#!/bin/sh\n# Runs the crane stand-in (test/standins), not crane.\nexec '${process.execPath}' '${CRANE_STANDIN}' "$@"\n`;

let registry: RunningRegistry;
let server: ReleaseServer;
let folder: string;
let indexDigest: string;
let platformDigest: string;

// Each test gets its own registry: the warm-install test stops it to prove no request is made.
beforeEach(async () => {
  registry = await startRegistry();
  const images = mkdtempSync(join(tmpdir(), 'install-images-'));
  try {
    const entries = await Promise.all(
      (['amd64', 'arm64'] as const).map(async (architecture) => {
        const tarball = join(images, `${architecture}.tar`);
        const image = await writeImageTarball(tarball, {
          layers: [{ 'kaniko/executor': `#!/bin/sh\n# Stand-in executor (${architecture}); not kaniko.\n` }],
          config: { architecture },
        });
        return { tarball, image, platform: { os: 'linux', architecture } };
      }),
    );
    platformDigest = entries[0]!.image.digest;
    indexDigest = await pushImageIndex({
      registry: registry.host,
      repository: 'osscontainertools/kaniko',
      tag: 'v1.28.2',
      images: entries,
    });
  } finally {
    rmSync(images, { recursive: true, force: true });
  }
});

beforeEach(async () => {
  server = await startReleaseServer();
  folder = mkdtempSync(join(tmpdir(), 'install-tools-'));
  process.env.RUNNER_TOOL_CACHE = join(folder, 'tool-cache');
  process.env.RUNNER_TEMP = join(folder, 'temp');
  mkdirSync(process.env.RUNNER_TEMP);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await registry.stop();
  await server.stop();
  rmSync(folder, { recursive: true, force: true });
});

function options(overrides: Partial<InstallOptions> = {}): InstallOptions {
  return {
    trivyVersion: '0.75.0',
    craneVersion: '0.22.1',
    kanikoImage: `${registry.host}/osscontainertools/kaniko:v1.28.2@${indexDigest}`,
    toolMirror: server.url,
    registries: new Registries({ insecure: [registry.host] }),
    arch: 'x64',
    download: FAST,
    ...overrides,
  };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function captureLog(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    const text = chunk.toString();
    if (!text.startsWith('::debug::')) lines.push(text.trim());
    return true;
  });
  return lines;
}

describe('installTools', () => {
  it('installs all three from the mirror and the registry, then from the tool cache with no network at all', async () => {
    const trivyRelease = publishTrivy(server, '0.75.0');
    const craneRelease = publishCrane(server, '0.22.1', { crane: CRANE_WRAPPER });
    const coldLog = captureLog();
    const cold = await installTools(options());
    vi.restoreAllMocks();

    expect(cold.trivy).toMatchObject({ version: '0.75.0', source: `${server.url}${trivyRelease.assetPath}` });
    expect(cold.crane).toMatchObject({ version: '0.22.1', source: `${server.url}${craneRelease.assetPath}` });
    expect(cold.kaniko).toMatchObject({ indexDigest, platformDigest, source: registry.host });
    expect(readdirSync(join(cold.kaniko.rootfs, 'kaniko'))).toEqual(['executor']);
    const kanikoLine = `kaniko ${options().kanikoImage} (index ${indexDigest}, linux/amd64 ${platformDigest}) from ${registry.host} in `;
    expect(coldLog.sort()).toEqual([
      expect.stringMatching(new RegExp(`^crane 0\\.22\\.1 from ${server.url}/google/.* in \\d+\\.\\d\\d s$`)),
      expect.stringMatching(new RegExp(`^${escape(kanikoLine)}\\d+\\.\\d\\d s$`)),
      expect.stringMatching(
        new RegExp(`^trivy 0\\.75\\.0 from ${server.url}/aquasecurity/.* in \\d+\\.\\d\\d s$`),
      ),
    ]);

    // Nothing may be asked of the network now: the registry is gone and the mirror counts requests.
    await registry.stop();
    server.requests.length = 0;
    const warmLog = captureLog();
    const warm = await installTools(options());
    expect(server.requests).toEqual([]);
    expect(warm.trivy).toEqual({ ...cold.trivy, source: 'tool cache' });
    expect(warm.crane).toEqual({ ...cold.crane, source: 'tool cache' });
    expect(warm.kaniko).toEqual({ ...cold.kaniko, source: 'tool cache' });
    expect(warmLog.every((line) => line.includes('from tool cache'))).toBe(true);
    expect(warmLog).toHaveLength(3);
  });

  it('refuses an unsupported architecture before any request', async () => {
    await expect(installTools(options({ arch: 'ia32' }))).rejects.toThrow(
      /unsupported runner architecture "ia32"/,
    );
    expect(server.requests).toEqual([]);
  });

  it('refuses a compromised Trivy version even when the inputs were bypassed', async () => {
    publishCrane(server, '0.22.1', { crane: CRANE_WRAPPER });
    await expect(installTools(options({ trivyVersion: '0.69.4' }))).rejects.toThrow(
      /Trivy 0\.69\.4 is refused: v0\.69\.4 was a malicious release/,
    );
    expect(server.requests.filter((path) => path.includes('trivy'))).toEqual([]);
  });

  it('checks a default version against the injected pin, not the checksums file', async () => {
    publishTrivy(server, '0.75.0');
    publishCrane(server, '0.22.1', { crane: CRANE_WRAPPER });
    const pin = 'b'.repeat(64);
    const pins = {
      trivy: { version: '0.75.0', sha256: { x64: pin, arm64: pin } },
      crane: { version: '0.21.9', sha256: { x64: pin, arm64: pin } },
    };
    await expect(installTools(options({ pins }))).rejects.toThrow(
      new RegExp(
        `^checksum mismatch for trivy_0\\.75\\.0_Linux-64bit\\.tar\\.gz: expected ${pin}, got [a-f0-9]{64}`,
      ),
    );
    expect(server.requests).not.toContain(
      '/aquasecurity/trivy/releases/download/v0.75.0/trivy_0.75.0_checksums.txt',
    );
  });

  it('reports every distinct failure once when several installs fail', async () => {
    const failure = installTools(options({ trivyVersion: '0.98.0', craneVersion: '0.98.0' }));
    await expect(failure).rejects.toThrow(AggregateError);
    const message = ((await failure.catch((error: unknown) => error)) as Error).message;
    expect(message.split('\n')).toEqual([
      'installing the tools failed:',
      expect.stringContaining('  - trivy version 0.98.0 has no asset trivy_0.98.0_checksums.txt'),
      expect.stringContaining('  - crane version 0.98.0 has no asset checksums.txt'),
    ]);
  });
});
