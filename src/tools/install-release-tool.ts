import * as toolCache from '@actions/tool-cache';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSuccess, run } from '../exec.js';
import type { DownloadPolicy, Downloaded } from './download.js';
import {
  DEFAULT_DOWNLOAD_POLICY,
  HttpStatusError,
  downloadFile,
  parseChecksums,
  releaseUrl,
} from './download.js';
import type { Arch, PinnedRelease } from './releases.js';
import type { TimeLimit } from '../timeout-settings.js';

/** Where a single-binary tool lives in GitHub releases and how its archive is named. */
export interface ReleaseToolSpec {
  /** Tool cache name and the binary's name inside the archive. */
  readonly name: string;
  readonly owner: string;
  readonly repo: string;
  readonly asset: (version: string, arch: Arch) => string;
  readonly checksumsAsset: (version: string) => string;
}

export interface ReleaseToolOptions {
  /** Plain x.y.z; the release tag is `v<version>`. */
  readonly version: string;
  readonly arch: Arch;
  /** Replaces `https://github.com` in release URLs. */
  readonly toolMirror: string;
  /** The default version with its pinned SHA-256: that version skips the checksums file. */
  readonly pinned: PinnedRelease;
  readonly download?: DownloadPolicy;
  /** The stage's limit on each tool process (see exec.run). */
  readonly timeLimit?: TimeLimit;
}

export interface InstalledTool {
  /** Absolute path of the executable. */
  readonly path: string;
  readonly version: string;
  /** `tool cache` or the URL it was downloaded from. */
  readonly source: string;
}

/**
 * Installs one binary from a GitHub release: a tool cache hit (name, version, architecture) makes
 * no request at all; otherwise the archive is downloaded, its SHA-256 checked (against the pin
 * for the default version, against the release's checksums file for any other) BEFORE anything
 * is extracted, and only the binary is extracted and cached.
 */
export async function installReleaseTool(
  spec: ReleaseToolSpec,
  options: ReleaseToolOptions,
): Promise<InstalledTool> {
  const { version, arch } = options;
  toolCacheRoot(); // fails with a clear message where tool-cache would only assert
  const cached = toolCache.find(spec.name, version, arch);
  if (cached && existsSync(join(cached, spec.name)))
    return { path: join(cached, spec.name), version, source: 'tool cache' };

  const policy = options.download ?? DEFAULT_DOWNLOAD_POLICY;
  const asset = spec.asset(version, arch);
  const url = releaseUrl(options.toolMirror, spec.owner, spec.repo, `v${version}`, asset);
  const work = await mkdtemp(join(process.env.RUNNER_TEMP || tmpdir(), `bsp-${spec.name}-`));
  try {
    const archive = join(work, asset);
    const notFound = (assetName: string, assetUrl: string): string =>
      `${spec.name} version ${version} has no asset ${assetName} at ${assetUrl}: check \`${spec.name}-version\` and \`tool-mirror\`.`;
    // The small checksums file first: a release without the asset's line fails before the archive is fetched.
    const expected = await expectedSha256(spec, options, asset, work, policy, notFound);
    const downloaded = await fetchAsset(url, archive, policy, () => notFound(asset, url));
    if (downloaded.sha256 !== expected) {
      await rm(archive, { force: true });
      throw new Error(
        `checksum mismatch for ${asset}: expected ${expected}, got ${downloaded.sha256}. The download from ${url} was deleted; the mirror may be serving a corrupted or tampered file.`,
      );
    }
    const binaryFolder = join(work, 'bin');
    await mkdir(binaryFolder);
    const tarArgv = ['-xzf', archive, '-C', binaryFolder, '--no-same-owner', '--', spec.name];
    assertSuccess(
      await run('tar', tarArgv, { silent: true, ...(options.timeLimit && { timeLimit: options.timeLimit }) }),
      `extracting ${spec.name} from ${asset}`,
      `The archive passed its checksum but has no "${spec.name}" at its top level.`,
      { tool: 'tar', argv: tarArgv },
    );
    const folder = await toolCache.cacheDir(binaryFolder, spec.name, version, arch);
    return { path: join(folder, spec.name), version, source: url };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** RUNNER_TOOL_CACHE, which @actions/tool-cache reads on every call; a clear error when unset. */
export function toolCacheRoot(): string {
  const root = process.env.RUNNER_TOOL_CACHE;
  if (!root)
    throw new Error(
      'RUNNER_TOOL_CACHE is not set: the tools are installed into the tool cache. A runner sets it; for a local run, point it at a writable folder.',
    );
  return root;
}

async function fetchAsset(
  url: string,
  destination: string,
  policy: DownloadPolicy,
  notFound: () => string,
): Promise<Downloaded> {
  try {
    return await downloadFile(url, destination, policy);
  } catch (error) {
    if (error instanceof HttpStatusError && error.status === 404)
      throw new Error(notFound(), { cause: error });
    throw error;
  }
}

async function expectedSha256(
  spec: ReleaseToolSpec,
  options: ReleaseToolOptions,
  asset: string,
  work: string,
  policy: DownloadPolicy,
  notFound: (assetName: string, assetUrl: string) => string,
): Promise<string> {
  if (options.version === options.pinned.version) return options.pinned.sha256[options.arch];
  const checksumsAsset = spec.checksumsAsset(options.version);
  const url = releaseUrl(options.toolMirror, spec.owner, spec.repo, `v${options.version}`, checksumsAsset);
  const file = join(work, checksumsAsset);
  await fetchAsset(url, file, policy, () => notFound(checksumsAsset, url));
  const expected = parseChecksums(await readFile(file, 'utf8')).get(asset);
  if (!expected)
    throw new Error(
      `the checksums file ${url} has no line for ${asset}, so the download cannot be verified; the release or the mirror is incomplete.`,
    );
  return expected;
}
