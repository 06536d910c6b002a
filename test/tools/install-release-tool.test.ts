import * as toolCache from '@actions/tool-cache';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCrane } from '../../src/tools/install-crane.js';
import type { DownloadPolicy } from '../../src/tools/download.js';
import { parseChecksums, releaseUrl } from '../../src/tools/download.js';
import type { ReleaseToolOptions } from '../../src/tools/install-release-tool.js';
import type { PinnedRelease } from '../../src/tools/releases.js';
import { CRANE_DEFAULT, TRIVY_DEFAULT, toolArch } from '../../src/tools/releases.js';
import { installTrivy } from '../../src/tools/install-trivy.js';
import type { ReleaseServer } from '../helpers/release-server.js';
import { publishCrane, publishTrivy, startReleaseServer } from '../helpers/release-server.js';
import { startTunnelProxy, throughProxy } from '../helpers/tunnel-proxy.js';

const FAST: DownloadPolicy = { attempts: 3, backoffMs: 10, stallMs: 300 };
const VERSION = '0.75.0';
const CRANE_SCRIPT = '#!/bin/sh\n# Stand-in for crane in the install tests; it is not crane.\necho v0.22.1\n';

let server: ReleaseServer;
let folder: string;

beforeEach(async () => {
  server = await startReleaseServer();
  folder = mkdtempSync(join(tmpdir(), 'install-test-'));
  // @actions/tool-cache reads both variables on every call, so each test gets its own.
  process.env.RUNNER_TOOL_CACHE = join(folder, 'tool-cache');
  process.env.RUNNER_TEMP = join(folder, 'temp');
  execFileSync('mkdir', ['-p', process.env.RUNNER_TEMP]);
});

afterEach(async () => {
  await server.stop();
  rmSync(folder, { recursive: true, force: true });
});

function options(overrides: Partial<ReleaseToolOptions> = {}): ReleaseToolOptions {
  return {
    version: VERSION,
    arch: 'x64',
    toolMirror: server.url,
    pinned: TRIVY_DEFAULT,
    download: FAST,
    ...overrides,
  };
}

function leftoversInTemp(): string[] {
  return readdirSync(process.env.RUNNER_TEMP!);
}

describe('installTrivy from a release mirror', () => {
  it('downloads, verifies against the checksums file, extracts only trivy and caches it', async () => {
    const release = publishTrivy(server, VERSION);
    const trivy = await installTrivy(options());
    expect(trivy.version).toBe(VERSION);
    expect(trivy.source).toBe(`${server.url}${release.assetPath}`);
    expect(server.requests).toEqual([release.checksumsPath, release.assetPath]);
    expect(trivy.path).toBe(join(process.env.RUNNER_TOOL_CACHE!, 'trivy', VERSION, 'x64', 'trivy'));
    expect(execFileSync(trivy.path, ['--version'], { encoding: 'utf8' })).toContain(`Version: ${VERSION}`);
    expect(readdirSync(dirname(trivy.path))).toEqual(['trivy']);
    expect(leftoversInTemp()).toEqual([]);
  });

  it('a second install comes from the tool cache with zero requests', async () => {
    publishTrivy(server, VERSION);
    const first = await installTrivy(options());
    server.requests.length = 0;
    const second = await installTrivy(options());
    expect(second).toEqual({ path: first.path, version: VERSION, source: 'tool cache' });
    expect(server.requests).toEqual([]);
  });

  it('installs a pre-release from its own tag, verified and cached apart from the release', async () => {
    const release = publishTrivy(server, '0.75.0-rc.1');
    const trivy = await installTrivy(options({ version: '0.75.0-rc.1' }));
    expect(server.requests).toEqual([
      '/aquasecurity/trivy/releases/download/v0.75.0-rc.1/trivy_0.75.0-rc.1_checksums.txt',
      '/aquasecurity/trivy/releases/download/v0.75.0-rc.1/trivy_0.75.0-rc.1_Linux-64bit.tar.gz',
    ]);
    expect(release.assetPath).toBe(server.requests[1]);
    expect(trivy.path).toBe(join(process.env.RUNNER_TOOL_CACHE!, 'trivy', '0.75.0-rc.1', 'x64', 'trivy'));
    expect(execFileSync(trivy.path, ['--version'], { encoding: 'utf8' })).toContain('Version: 0.75.0-rc.1');
  });

  it('refuses a pre-release of a compromised Trivy even when the inputs were bypassed', async () => {
    await expect(installTrivy(options({ version: '0.69.4-rc.1' }))).rejects.toThrow(
      /^Trivy 0\.69\.4-rc\.1 is refused: v0\.69\.4 was a malicious release/,
    );
    expect(server.requests).toEqual([]);
  });

  it('uses the arm64 asset on arm64', async () => {
    const release = publishTrivy(server, VERSION, { arch: 'arm64' });
    const trivy = await installTrivy(options({ arch: 'arm64' }));
    expect(release.assetPath).toMatch(/trivy_0\.75\.0_Linux-ARM64\.tar\.gz$/);
    expect(server.requests).toContain(release.assetPath);
    expect(trivy.path).toContain(join('trivy', VERSION, 'arm64'));
  });

  it('a corrupted archive fails with the checksum mismatch, deletes the download and caches nothing', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.assetPath, 'corrupt');
    await expect(installTrivy(options())).rejects.toThrow(
      new RegExp(
        `^checksum mismatch for trivy_${VERSION}_Linux-64bit\\.tar\\.gz: expected ${release.sha256}, got [a-f0-9]{64}\\.`,
      ),
    );
    expect(leftoversInTemp()).toEqual([]);
    expect(toolCache.find('trivy', VERSION, 'x64')).toBe('');
  });

  it('a checksums file without the asset line fails before the archive is downloaded', async () => {
    const release = publishTrivy(server, VERSION, { omitFromChecksums: 'x64' });
    await expect(installTrivy(options())).rejects.toThrow(
      `the checksums file ${server.url}${release.checksumsPath} has no line for trivy_${VERSION}_Linux-64bit.tar.gz`,
    );
    expect(server.requests).toEqual([release.checksumsPath]);
  });

  it('a missing asset says which version has no such asset at which URL, without retrying', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.assetPath, 'not-found');
    await expect(installTrivy(options())).rejects.toThrow(
      `trivy version ${VERSION} has no asset trivy_${VERSION}_Linux-64bit.tar.gz at ${server.url}${release.assetPath}`,
    );
    expect(server.requests.filter((path) => path === release.assetPath)).toHaveLength(1);
  });

  it('a missing checksums file (an unknown version) is reported the same way', async () => {
    await expect(installTrivy(options({ version: '0.99.0' }))).rejects.toThrow(
      `trivy version 0.99.0 has no asset trivy_0.99.0_checksums.txt at ${server.url}/aquasecurity/trivy/releases/download/v0.99.0/trivy_0.99.0_checksums.txt`,
    );
  });

  it('follows redirects, as GitHub answers every release download', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.checksumsPath, 'redirect');
    server.inject(release.assetPath, 'redirect');
    await installTrivy(options());
    expect(server.requests).toEqual([
      release.checksumsPath,
      release.checksumsPath,
      release.assetPath,
      release.assetPath,
    ]);
  });

  it('goes through HTTP(S)_PROXY when one is set, as a runner behind a proxy needs', async () => {
    const release = publishTrivy(server, VERSION);
    const proxy = await startTunnelProxy();
    const { tunnels } = proxy;
    try {
      await throughProxy(proxy.url, () => installTrivy(options()));
    } finally {
      proxy.close();
    }
    expect(tunnels.length).toBeGreaterThan(0);
    expect(tunnels.every((target) => target === new URL(server.url).host)).toBe(true);
    expect(server.requests).toEqual([release.checksumsPath, release.assetPath]);
  });

  it('without RUNNER_TOOL_CACHE says what to set', async () => {
    delete process.env.RUNNER_TOOL_CACHE;
    await expect(installTrivy(options())).rejects.toThrow(/^RUNNER_TOOL_CACHE is not set/);
  });

  it('retries a 500 and succeeds', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.assetPath, 'server-error');
    await installTrivy(options());
    expect(server.requests.filter((path) => path === release.assetPath)).toHaveLength(2);
  });

  it('retries a connection reset and a body that stops half-way, then succeeds', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.checksumsPath, 'reset');
    server.inject(release.assetPath, 'stall-body');
    const trivy = await installTrivy(options());
    expect(existsSync(trivy.path)).toBe(true);
    expect(server.requests.filter((path) => path === release.assetPath)).toHaveLength(2);
    expect(server.requests.filter((path) => path === release.checksumsPath)).toHaveLength(2);
  });

  it('gives up on a server that never answers within a bounded time, with a clear error', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.checksumsPath, 'stall', 'stall', 'stall');
    const started = Date.now();
    await expect(installTrivy(options())).rejects.toThrow(
      `download of ${server.url}${release.checksumsPath} failed after 3 attempts: the server sent nothing for 0.3 s`,
    );
    // 3 stalls of 0.3 s plus backoffs of 10 and 20 ms.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('keeps failing 500s bounded by the attempt count', async () => {
    const release = publishTrivy(server, VERSION);
    server.inject(release.assetPath, 'server-error', 'server-error', 'server-error');
    await expect(installTrivy(options())).rejects.toThrow(/failed after 3 attempts: HTTP 500/);
  });

  it.each(['0.69.1', '0.50.0', '0.27.0', '0.69.4', '0.69.5', '0.69.6'])(
    'refuses Trivy %s with its reason and makes no request',
    async (version) => {
      await expect(installTrivy(options({ version }))).rejects.toThrow(
        new RegExp(`^Trivy ${version.replace(/\./g, '\\.')} is refused: .*(deleted|malicious)`),
      );
      expect(server.requests).toEqual([]);
    },
  );

  it.each(['0.69.2', '0.69.3'])('accepts Trivy %s, the safe releases of the incident', async (version) => {
    publishTrivy(server, version);
    await expect(installTrivy(options({ version }))).resolves.toMatchObject({ version });
  });
});

describe('pinned default versions', () => {
  it('the pinned version is checked against its pin and never fetches the checksums file', async () => {
    const release = publishTrivy(server, VERSION);
    const pinned: PinnedRelease = {
      version: VERSION,
      sha256: { x64: release.sha256, arm64: '0'.repeat(64) },
    };
    await installTrivy(options({ pinned }));
    expect(server.requests).toEqual([release.assetPath]);
  });

  it('an archive that does not match the pin fails even when the checksums file agrees with it', async () => {
    const release = publishTrivy(server, VERSION);
    const pin = 'a'.repeat(64);
    const pinned: PinnedRelease = { version: VERSION, sha256: { x64: pin, arm64: pin } };
    await expect(installTrivy(options({ pinned }))).rejects.toThrow(
      `checksum mismatch for trivy_${VERSION}_Linux-64bit.tar.gz: expected ${pin}, got ${release.sha256}`,
    );
    expect(toolCache.find('trivy', VERSION, 'x64')).toBe('');
  });

  it('the real pins are SHA-256 values for both architectures', () => {
    for (const pinned of [TRIVY_DEFAULT, CRANE_DEFAULT])
      for (const arch of ['x64', 'arm64'] as const) expect(pinned.sha256[arch]).toMatch(/^[a-f0-9]{64}$/);
  });
});

describe('installCrane', () => {
  it('downloads the go-containerregistry archive, extracts only crane, then serves it from cache', async () => {
    const release = publishCrane(server, '0.22.1', { crane: CRANE_SCRIPT });
    const crane = await installCrane(options({ version: '0.22.1', pinned: CRANE_DEFAULT }));
    expect(server.requests).toEqual([
      '/google/go-containerregistry/releases/download/v0.22.1/checksums.txt',
      '/google/go-containerregistry/releases/download/v0.22.1/go-containerregistry_Linux_x86_64.tar.gz',
    ]);
    expect(release.assetPath).toBe(server.requests[1]);
    expect(readdirSync(dirname(crane.path))).toEqual(['crane']);
    server.requests.length = 0;
    expect((await installCrane(options({ version: '0.22.1', pinned: CRANE_DEFAULT }))).source).toBe(
      'tool cache',
    );
    expect(server.requests).toEqual([]);
  });

  it('uses the arm64 asset on arm64', async () => {
    const release = publishCrane(server, '0.22.1', { arch: 'arm64', crane: CRANE_SCRIPT });
    await installCrane(options({ version: '0.22.1', arch: 'arm64', pinned: CRANE_DEFAULT }));
    expect(release.assetPath).toMatch(/go-containerregistry_Linux_arm64\.tar\.gz$/);
    expect(server.requests).toContain(release.assetPath);
  });
});

describe('tool-mirror and release URLs', () => {
  it('keeps the GitHub release layout under the mirror, including a path prefix', async () => {
    const release = publishTrivy(server, VERSION, { under: '/mirror/github' });
    const trivy = await installTrivy(options({ toolMirror: `${server.url}/mirror/github/` }));
    expect(release.assetPath).toBe(
      `/mirror/github/aquasecurity/trivy/releases/download/v${VERSION}/trivy_${VERSION}_Linux-64bit.tar.gz`,
    );
    expect(trivy.source).toBe(`${server.url}${release.assetPath}`);
    expect(server.requests).toEqual([release.checksumsPath, release.assetPath]);
  });

  it('replaces only https://github.com', () => {
    expect(
      releaseUrl('https://github.com', 'aquasecurity', 'trivy', 'v0.74.0', 'trivy_0.74.0_Linux-64bit.tar.gz'),
    ).toBe('https://github.com/aquasecurity/trivy/releases/download/v0.74.0/trivy_0.74.0_Linux-64bit.tar.gz');
    expect(
      releaseUrl(
        'https://ghes.example.com/mirror/',
        'google',
        'go-containerregistry',
        'v1.0.0',
        'checksums.txt',
      ),
    ).toBe(
      'https://ghes.example.com/mirror/google/go-containerregistry/releases/download/v1.0.0/checksums.txt',
    );
  });
});

describe('parseChecksums and toolArch', () => {
  it('reads sha256sum lines, with or without the binary marker, and ignores the rest', () => {
    const a = 'A'.repeat(64);
    const b = 'b'.repeat(64);
    expect(parseChecksums(`${a}  one.tar.gz\n${b} *two.tar.gz\n\nnot a line\n`)).toEqual(
      new Map([
        ['one.tar.gz', 'a'.repeat(64)],
        ['two.tar.gz', b],
      ]),
    );
  });

  it('refuses an unsupported architecture with what is supported', () => {
    expect(toolArch('x64')).toBe('x64');
    expect(toolArch('arm64')).toBe('arm64');
    expect(() => toolArch('ia32')).toThrow(/unsupported runner architecture "ia32".*x64 and arm64/);
  });
});
