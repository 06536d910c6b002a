/**
 * A loopback HTTP server that serves files in the GitHub release layout
 * (`/<owner>/<repo>/releases/download/<tag>/<asset>`), counts requests and injects faults, plus
 * builders for Trivy and crane releases whose archives hold stand-in binaries and whose checksum
 * files are computed here from the archives' real bytes.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * What the next request of a path meets instead of the file: a 404, a 500, a connection closed
 * before any answer, a server that never answers, one that stops in the middle of the body, or
 * the file with one byte changed, or a 302 to the same file elsewhere (GitHub redirects every
 * release download to its object storage).
 */
export type Fault = 'not-found' | 'server-error' | 'reset' | 'stall' | 'stall-body' | 'corrupt' | 'redirect';

export interface ReleaseServer {
  /** `http://127.0.0.1:<port>`: pass it (or a path below it) as `tool-mirror`. */
  readonly url: string;
  /** Every request path, in order of arrival. */
  readonly requests: string[];
  put(path: string, body: Buffer | string): void;
  /** One fault per following request of `path`, in order; then the file is served normally. */
  inject(path: string, ...faults: Fault[]): void;
  stop(): Promise<void>;
}

export async function startReleaseServer(): Promise<ReleaseServer> {
  const files = new Map<string, Buffer>();
  const faults = new Map<string, Fault[]>();
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    requests.push(path);
    const body = files.get(path);
    const fault = faults.get(path)?.shift();
    if (fault === 'reset') return void request.socket.destroy();
    if (fault === 'stall') return;
    if (fault === 'redirect') return void response.writeHead(302, { location: `${path}?redirected=1` }).end();
    if (fault === 'server-error') return void response.writeHead(500).end('injected server error');
    if (fault === 'not-found' || body === undefined) return void response.writeHead(404).end('Not Found');
    if (fault === 'stall-body') {
      response.writeHead(200, { 'content-length': body.length });
      return void response.write(body.subarray(0, Math.floor(body.length / 2)));
    }
    send(response, fault === 'corrupt' ? corrupted(body) : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    put: (path, body) => void files.set(path, Buffer.from(body)),
    inject: (path, ...injected) => void faults.set(path, [...(faults.get(path) ?? []), ...injected]),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function send(response: ServerResponse, body: Buffer): void {
  response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  response.end(body);
}

function corrupted(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const middle = Math.floor(copy.length / 2);
  copy[middle] = copy[middle]! ^ 0xff;
  return copy;
}

/**
 * A script followed by `bytes` random (incompressible) bytes, so archives and binaries have a
 * real tool's size for the benchmark; the script must end in `exit` so the shell never reads them.
 */
function padded(script: string, bytes: number): string | Buffer {
  return bytes === 0 ? script : Buffer.concat([Buffer.from(script), randomBytes(bytes)]);
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A gzipped tar of `files` (name → content; executables get mode 0755), built by the system tar. */
export function tarGz(
  files: Readonly<Record<string, string | Buffer>>,
  executables: readonly string[],
): Buffer {
  const folder = mkdtempSync(join(tmpdir(), 'release-archive-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(dirname(join(folder, 'root', name)), { recursive: true });
      writeFileSync(join(folder, 'root', name), content);
      chmodSync(join(folder, 'root', name), executables.includes(name) ? 0o755 : 0o644);
    }
    execFileSync('tar', [
      '-czf',
      join(folder, 'archive.tar.gz'),
      '-C',
      join(folder, 'root'),
      ...Object.keys(files),
    ]);
    return readFileSync(join(folder, 'archive.tar.gz'));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

export interface PublishedRelease {
  /** Request path of the archive for the requested architecture. */
  readonly assetPath: string;
  readonly checksumsPath: string;
  /** SHA-256 of that archive. */
  readonly sha256: string;
}

export type ReleaseArch = 'x64' | 'arm64';

/** A stand-in for the trivy binary: a shell script that answers `--version` as trivy does. */
export function trivyStandin(version: string): string {
  return `#!/bin/sh\n# Stand-in for Trivy in the install tests; it is not Trivy. It only prints a version line.\necho "Version: ${version}"\n`;
}

/**
 * Publishes `trivy_<V>_Linux-64bit.tar.gz` and `…_Linux-ARM64.tar.gz` in release `v<V>` with a
 * `trivy_<V>_checksums.txt` listing both (and a .deb, as real ones do). `omitFromChecksums`
 * leaves the given architecture's line out; `under` publishes below a mirror's path prefix;
 * `padding` (bytes) makes the archives as large as real ones; `trivy` replaces the script.
 */
export function publishTrivy(
  server: Pick<ReleaseServer, 'put'>,
  version: string,
  {
    arch = 'x64',
    omitFromChecksums,
    under = '',
    padding = 0,
    trivy = trivyStandin(version),
  }: {
    arch?: ReleaseArch;
    omitFromChecksums?: ReleaseArch;
    under?: string;
    padding?: number;
    trivy?: string;
  } = {},
): PublishedRelease {
  const base = `${under}/aquasecurity/trivy/releases/download/v${version}`;
  const assets = { x64: `trivy_${version}_Linux-64bit.tar.gz`, arm64: `trivy_${version}_Linux-ARM64.tar.gz` };
  const lines: string[] = [`${sha256(Buffer.from('deb'))}  trivy_${version}_Linux-64bit.deb`];
  let archSha = '';
  for (const each of ['x64', 'arm64'] as const) {
    const archive = tarGz(
      {
        trivy: padded(trivy + `# ${each}\nexit 0\n`, padding),
        LICENSE: 'Apache-2.0\n',
        'README.md': 'stand-in\n',
        'contrib/html.tpl': '{{ . }}\n',
      },
      ['trivy'],
    );
    server.put(`${base}/${assets[each]}`, archive);
    if (each === arch) archSha = sha256(archive);
    if (each !== omitFromChecksums) lines.push(`${sha256(archive)}  ${assets[each]}`);
  }
  const checksumsPath = `${base}/trivy_${version}_checksums.txt`;
  server.put(checksumsPath, lines.sort().join('\n') + '\n');
  return { assetPath: `${base}/${assets[arch]}`, checksumsPath, sha256: archSha };
}

/**
 * Publishes `go-containerregistry_Linux_x86_64.tar.gz` and `…_Linux_arm64.tar.gz` in release
 * `v<V>` with `checksums.txt`. The archives hold crane (the given script), gcrane and krane.
 * `padding` (bytes) makes the archives as large as real ones; the script must then end in `exit`.
 */
export function publishCrane(
  server: Pick<ReleaseServer, 'put'>,
  version: string,
  {
    arch = 'x64',
    crane,
    under = '',
    padding = 0,
  }: { arch?: ReleaseArch; crane: string; under?: string; padding?: number },
): PublishedRelease {
  const base = `${under}/google/go-containerregistry/releases/download/v${version}`;
  const assets = {
    x64: 'go-containerregistry_Linux_x86_64.tar.gz',
    arm64: 'go-containerregistry_Linux_arm64.tar.gz',
  };
  const lines: string[] = [];
  let archSha = '';
  for (const each of ['x64', 'arm64'] as const) {
    const other = '#!/bin/sh\n# Stand-in: never run by the tests.\nexit 1\n';
    const archive = tarGz(
      { crane: padded(crane, padding), gcrane: other, krane: other, LICENSE: 'Apache-2.0\n' },
      ['crane', 'gcrane', 'krane'],
    );
    server.put(`${base}/${assets[each]}`, archive);
    if (each === arch) archSha = sha256(archive);
    lines.push(`${sha256(archive)}  ${assets[each]}`);
  }
  const checksumsPath = `${base}/checksums.txt`;
  server.put(checksumsPath, lines.join('\n') + '\n');
  return { assetPath: `${base}/${assets[arch]}`, checksumsPath, sha256: archSha };
}
