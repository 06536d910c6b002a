import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

/**
 * Writes image tarballs the way kaniko's `--tar-path` does (go-containerregistry's `tarball.Write`),
 * so tests can push, scan and export images without kaniko or a Docker daemon.
 */

export const DOCKER_MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json';
/** kaniko's `--reproducible` time; a fixed time keeps every digest in the tests stable. */
const EPOCH = '1970-01-01T00:00:00Z';

/** File path inside the image → content. A path ending in `/` is an (empty) directory. */
export type LayerFiles = Record<string, string | Buffer>;

export interface ImageConfigOptions {
  readonly architecture?: string;
  readonly os?: string;
  readonly variant?: string;
  readonly env?: readonly string[];
  readonly cmd?: readonly string[];
  readonly entrypoint?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly workingDir?: string;
  readonly user?: string;
}

export interface ImageTarballOptions {
  /**
   * Layers from the bottom up; at least one (kaniko writes an uncompressed image otherwise).
   * A Buffer is an uncompressed layer tar made elsewhere (e.g. by `tar` from a root filesystem,
   * keeping modes and symlinks).
   */
  readonly layers: readonly (LayerFiles | Buffer)[];
  readonly config?: ImageConfigOptions;
  /** `RepoTags` entry of manifest.json, as kaniko writes its first `--destination`. */
  readonly repoTag?: string;
}

export interface LayerDescriptor {
  /** sha256 of the gzip-compressed layer: the blob digest in the registry. */
  readonly digest: string;
  /** sha256 of the uncompressed layer tar: the `rootfs.diff_ids` entry. */
  readonly diffId: string;
  readonly size: number;
}

export interface ImageTarball {
  /** Digest of the Docker schema 2 manifest go-containerregistry derives from the tarball. */
  readonly digest: string;
  readonly configDigest: string;
  /** The manifest bytes a push uploads; their sha256 is `digest`. */
  readonly manifest: string;
  readonly layers: readonly LayerDescriptor[];
}

export async function writeImageTarball(path: string, options: ImageTarballOptions): Promise<ImageTarball> {
  if (options.layers.length === 0) throw new Error('writeImageTarball needs at least one layer');
  const blobs = options.layers.map((files) => {
    const uncompressed = Buffer.isBuffer(files) ? files : layerTar(files);
    const compressed = gzipSync(uncompressed);
    return { compressed, diffId: sha256(uncompressed), digest: sha256(compressed) };
  });
  const config = Buffer.from(
    JSON.stringify(
      configFile(
        options.config ?? {},
        blobs.map((blob) => blob.diffId),
      ),
    ),
  );
  const configDigest = sha256(config);
  const layers = blobs.map((blob) => ({
    digest: blob.digest,
    diffId: blob.diffId,
    size: blob.compressed.length,
  }));
  // Key order follows go-containerregistry's v1.Manifest and v1.Descriptor, which json.Marshal keeps.
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST_TYPE,
    config: { mediaType: DOCKER_CONFIG_TYPE, size: config.length, digest: configDigest },
    layers: layers.map((layer) => ({ mediaType: DOCKER_LAYER_TYPE, size: layer.size, digest: layer.digest })),
  });
  const layerFileNames = blobs.map((blob) => `${hex(blob.digest)}.tar.gz`);
  const tarballManifest = JSON.stringify([
    { Config: configDigest, RepoTags: options.repoTag ? [options.repoTag] : [], Layers: layerFileNames },
  ]);
  const entries: TarEntry[] = [{ name: configDigest, content: config }];
  const written = new Set<string>();
  blobs.forEach((blob, index) => {
    const name = layerFileNames[index]!;
    if (written.has(name)) return;
    written.add(name);
    entries.push({ name, content: blob.compressed });
  });
  entries.push({ name: 'manifest.json', content: Buffer.from(tarballManifest) });
  await writeFile(path, tar(entries));
  return { digest: sha256(Buffer.from(manifest)), configDigest, manifest, layers };
}

/** Key order of go-containerregistry's v1.ConfigFile and v1.Config. */
function configFile(options: ImageConfigOptions, diffIds: readonly string[]): object {
  return {
    architecture: options.architecture ?? 'amd64',
    created: EPOCH,
    history: diffIds.map((_, index) => ({ created: EPOCH, created_by: `test layer ${index + 1}` })),
    os: options.os ?? 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
    config: {
      ...(options.cmd && { Cmd: options.cmd }),
      ...(options.entrypoint && { Entrypoint: options.entrypoint }),
      Env: options.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(options.labels && { Labels: options.labels }),
      ...(options.user && { User: options.user }),
      ...(options.workingDir && { WorkingDir: options.workingDir }),
    },
    ...(options.variant && { variant: options.variant }),
  };
}

/** A layer as kaniko snapshots it: parent directories first, then each file. */
function layerTar(files: LayerFiles): Buffer {
  const entries: TarEntry[] = [];
  const directories = new Set<string>();
  const addDirectory = (directory: string): void => {
    if (directories.has(directory)) return;
    const parent = directory.slice(0, directory.lastIndexOf('/', directory.length - 2) + 1);
    if (parent) addDirectory(parent);
    directories.add(directory);
    entries.push({ name: directory, content: Buffer.alloc(0), mode: 0o755, type: 'directory' });
  };
  for (const [rawPath, content] of Object.entries(files)) {
    const path = rawPath.replace(/^\/+/, '');
    const slash = path.lastIndexOf('/', path.length - 2);
    if (slash >= 0) addDirectory(path.slice(0, slash + 1));
    if (path.endsWith('/')) addDirectory(path);
    else entries.push({ name: path, content: Buffer.from(content) });
  }
  return tar(entries);
}

interface TarEntry {
  readonly name: string;
  readonly content: Buffer;
  readonly mode?: number;
  readonly type?: 'file' | 'directory';
}

/** A USTAR archive with fixed owner and time, so equal inputs give equal bytes. */
function tar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const header = Buffer.alloc(512);
    if (Buffer.byteLength(entry.name) > 100) throw new Error(`tar name longer than 100 bytes: ${entry.name}`);
    header.write(entry.name, 0, 100, 'utf8');
    header.write(octal(entry.mode ?? 0o644, 8), 100);
    header.write(octal(0, 8), 108);
    header.write(octal(0, 8), 116);
    header.write(octal(entry.content.length, 12), 124);
    header.write(octal(0, 12), 136);
    header.write('        ', 148);
    header.write(entry.type === 'directory' ? '5' : '0', 156);
    header.write('ustar\u000000', 257, 'binary');
    let checksum = 0;
    for (const byte of header) checksum += byte;
    header.write(`${checksum.toString(8).padStart(6, '0')}\u0000 `, 148, 'binary');
    parts.push(header, entry.content, Buffer.alloc((512 - (entry.content.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\u0000`;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function hex(digest: string): string {
  return digest.slice('sha256:'.length);
}

export interface IndexPlatform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export const CRANE_STANDIN = fileURLToPath(new URL('../standins/crane-standin.mjs', import.meta.url));

export interface IndexEntry {
  /** A tarball written by `writeImageTarball` and what it returned. */
  readonly tarball: string;
  readonly image: ImageTarball;
  readonly platform: IndexPlatform;
}

/**
 * Puts a multi-platform OCI image index into a registry (plain http): each tarball is pushed by
 * digest with the crane stand-in, then the index is uploaded under `tag`. Returns the index digest.
 */
export async function pushImageIndex(options: {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly images: readonly IndexEntry[];
}): Promise<string> {
  for (const { tarball, image } of options.images) {
    const reference = `${options.registry}/${options.repository}@${image.digest}`;
    await promisify(execFile)(process.execPath, [CRANE_STANDIN, 'push', '--insecure', tarball, reference]);
  }
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX_TYPE,
    manifests: options.images.map(({ image, platform }) => ({
      mediaType: DOCKER_MANIFEST_TYPE,
      size: Buffer.byteLength(image.manifest),
      digest: image.digest,
      platform: {
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant && { variant: platform.variant }),
      },
    })),
  });
  const url = `http://${options.registry}/v2/${options.repository}/manifests/${options.tag}`;
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'Content-Type': OCI_INDEX_TYPE },
    body: index,
  });
  if (response.status !== 201) throw new Error(`PUT ${url}: ${response.status} ${await response.text()}`);
  return sha256(Buffer.from(index));
}
