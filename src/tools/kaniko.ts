import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertSuccess, childEnv, lastLines, run } from '../exec.js';
import { toolCacheRoot } from './release-tool.js';
import type { Arch } from './releases.js';

export interface KanikoInstallOptions {
  /** `registry/repository[:tag][@sha256:…]`; a digest makes a warm install need no network. */
  readonly image: string;
  readonly arch: Arch;
  /** Resolves the crane path; called only when the registry has to be asked. */
  readonly crane: () => Promise<string>;
  /** Registries reached over plain HTTP (`crane --insecure`). */
  readonly insecureRegistries: readonly string[];
  /** Credentials folder for a private executor image; never the push credentials' contents in argv. */
  readonly dockerConfig?: string;
}

export interface InstalledKaniko {
  /** The executor's root filesystem (`<rootfs>/kaniko/executor`); read-only by contract. */
  readonly rootfs: string;
  readonly image: string;
  /** Digest of the multi-platform index, when the image is one. */
  readonly indexDigest?: string;
  /** Digest of the manifest exported for this runner's platform. */
  readonly platformDigest: string;
  /** `tool cache` or the registry it was exported from. */
  readonly source: string;
}

/** Stored beside (never inside) the cached root, so a cache hit can report both digests. */
interface CachedDigests {
  readonly indexDigest?: string;
  readonly platformDigest: string;
}

const DIGESTS_FILE = 'digests.json';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface ImageReference {
  /** Registry host as crane reaches it (`index.docker.io` for Docker Hub names). */
  readonly registry: string;
  /** The reference without tag or digest. */
  readonly name: string;
  readonly digest?: string;
}

/** Splits a reference the way the Docker reference grammar does; pure. */
export function parseImageReference(reference: string): ImageReference {
  const [withTag = '', digest] = reference.split('@');
  const slash = withTag.lastIndexOf('/');
  const colon = withTag.lastIndexOf(':');
  const name = colon > slash ? withTag.slice(0, colon) : withTag;
  const first = name.split('/', 1)[0]!;
  const registry =
    slash > 0 && (first.includes('.') || first.includes(':') || first === 'localhost')
      ? first
      : 'index.docker.io';
  return digest === undefined ? { registry, name } : { registry, name, digest };
}

export function ociPlatform(arch: Arch): string {
  return `linux/${arch === 'x64' ? 'amd64' : 'arm64'}`;
}

/**
 * The kaniko executor's root filesystem from its image, exported for the runner's platform with
 * crane into the tool cache. The cache is keyed by the digest the reference resolves to plus the
 * architecture, so a reference pinned by digest is found without any registry request.
 */
export async function installKaniko(options: KanikoInstallOptions): Promise<InstalledKaniko> {
  const reference = parseImageReference(options.image);
  const platform = ociPlatform(options.arch);
  const cached = reference.digest ? await readCache(reference.digest, options) : undefined;
  if (cached) return cached;

  const crane = new Crane(await options.crane(), options);
  const topDigest = reference.digest ?? (await crane.digest(options.image));
  const pinned = `${reference.name}@${topDigest}`;
  if (!reference.digest) {
    const cachedByTag = await readCache(topDigest, options);
    if (cachedByTag) return cachedByTag;
  }
  const platformDigest = await crane.digest(pinned, platform);
  const digests: CachedDigests = {
    ...(platformDigest !== topDigest && { indexDigest: topDigest }),
    platformDigest,
  };

  const folder = cacheFolder(topDigest, options.arch);
  await mkdir(dirname(folder), { recursive: true });
  const partial = await mkdtemp(`${folder}.partial-`);
  try {
    await mkdir(join(partial, 'rootfs'));
    await crane.exportTo(pinned, platform, join(partial, 'rootfs'));
    if (!existsSync(join(partial, 'rootfs', 'kaniko', 'executor')))
      throw new Error(
        `the image ${options.image} (${platform} ${platformDigest}) has no /kaniko/executor: \`kaniko-image\` must name a kaniko executor image such as ghcr.io/osscontainertools/kaniko.`,
      );
    await writeFile(join(partial, DIGESTS_FILE), JSON.stringify(digests));
    // A job sharing this tool cache may have completed the same digest meanwhile and be building
    // on it: keep that copy (same digest, same content) and drop ours.
    if (!existsSync(completeMarker(folder))) {
      await rm(folder, { recursive: true, force: true });
      await rename(partial, folder);
      await writeFile(completeMarker(folder), '');
    }
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { rootfs: join(folder, 'rootfs'), image: options.image, ...digests, source: reference.registry };
}

/** Same layout as @actions/tool-cache (`<cache>/<tool>/<version>/<arch>` plus `.complete`). */
function cacheFolder(digest: string, arch: Arch): string {
  return join(toolCacheRoot(), 'kaniko', digest.replace(':', '-'), arch);
}

function completeMarker(folder: string): string {
  return `${folder}.complete`;
}

async function readCache(
  digest: string,
  options: KanikoInstallOptions,
): Promise<InstalledKaniko | undefined> {
  if (!DIGEST.test(digest)) return undefined;
  const folder = cacheFolder(digest, options.arch);
  if (!existsSync(completeMarker(folder)) || !existsSync(join(folder, 'rootfs', 'kaniko', 'executor')))
    return undefined;
  const digests = JSON.parse(await readFile(join(folder, DIGESTS_FILE), 'utf8')) as CachedDigests;
  return { rootfs: join(folder, 'rootfs'), image: options.image, ...digests, source: 'tool cache' };
}

/** crane with a minimal environment: no GITHUB_TOKEN, no INPUT_*, nothing else of the runner's. */
class Crane {
  private readonly env: Record<string, string>;
  private readonly insecure: boolean;

  constructor(
    private readonly path: string,
    options: KanikoInstallOptions,
  ) {
    this.env = childEnv(options.dockerConfig ? { DOCKER_CONFIG: options.dockerConfig } : {});
    this.insecure = options.insecureRegistries.includes(parseImageReference(options.image).registry);
  }

  private flags(platform?: string): string[] {
    return [...(this.insecure ? ['--insecure'] : []), ...(platform ? ['--platform', platform] : [])];
  }

  async digest(reference: string, platform?: string): Promise<string> {
    const result = assertSuccess(
      await run(this.path, ['digest', ...this.flags(platform), reference], { env: this.env, silent: true }),
      `crane digest ${platform ? `--platform ${platform} ` : ''}${reference}`,
      'Check `kaniko-image`, the registry credentials, and `insecure-registries` for a plain-HTTP registry.',
    );
    const digest = result.stdout.trim();
    if (!DIGEST.test(digest))
      throw new Error(`crane digest ${reference} printed "${digest}", not a sha256 digest`);
    return digest;
  }

  /** `crane export … -` piped straight into `tar -x`: the flattened root never touches disk as a tarball. */
  async exportTo(reference: string, platform: string, folder: string): Promise<void> {
    const exporter = spawn(this.path, ['export', ...this.flags(platform), reference, '-'], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const extractor = spawn(
      'tar',
      ['-x', '-f', '-', '-C', folder, '--numeric-owner', '--preserve-permissions'],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    exporter.stdout.pipe(extractor.stdin);
    // tar may exit early on bad input; crane then sees EPIPE, which its own exit code reports.
    extractor.stdin.on('error', () => undefined);
    const [exported, extracted] = await Promise.all([finished(exporter), finished(extractor)]);
    if (exported.code !== 0)
      throw new Error(
        `crane export --platform ${platform} ${reference} failed with ${exported.how}:\n${exported.stderr}\nCheck \`kaniko-image\` and \`insecure-registries\`.`,
      );
    if (extracted.code !== 0)
      throw new Error(
        `tar could not extract the root filesystem of ${reference} (${extracted.how}):\n${extracted.stderr}`,
      );
  }
}

interface Finished {
  readonly code: number | null;
  readonly how: string;
  readonly stderr: string;
}

function finished(child: ReturnType<typeof spawn>): Promise<Finished> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({
        code,
        how: signal ? `signal ${signal}` : `exit code ${code}`,
        stderr: lastLines(stderr.trim(), 20),
      }),
    );
  });
}
