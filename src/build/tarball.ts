import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { availableParallelism } from 'node:os';
import type { UntrustedFile } from '../untrusted-file.js';
import { openUntrustedRegularFile } from '../untrusted-file.js';
import { mapAtMost } from '../at-most.js';
import { digestOf } from '../reference.js';

export const DOCKER_MANIFEST_SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
export const OCI_IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** The manifests of one image (not an index), in either format registries serve. */
export const IMAGE_MANIFEST_TYPES: ReadonlySet<string> = new Set([
  DOCKER_MANIFEST_SCHEMA2,
  OCI_IMAGE_MANIFEST,
]);
/** A Docker manifest list: the index format older registries and tools write. */
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG_JSON = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** The parts of an image config the action reads; the rest is kept as parsed. */
export interface ImageConfig {
  readonly architecture?: string;
  readonly os?: string;
  readonly created?: string;
  readonly config?: {
    readonly Env?: readonly string[];
    readonly Labels?: Readonly<Record<string, string>>;
    readonly [key: string]: unknown;
  };
  readonly rootfs?: { readonly type?: string; readonly diff_ids?: readonly string[] };
  readonly history?: readonly ImageHistory[];
  readonly [key: string]: unknown;
}

export interface ImageHistory {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/** An image as Trivy names it: the digest of its config and its layers' DiffIDs. */
export interface ImageIdentity {
  readonly configDigest: string;
  readonly diffIds: readonly string[];
}

export interface Descriptor {
  readonly mediaType: string;
  readonly size: number;
  readonly digest: string;
}

export interface ImageTarball {
  /** `sha256:…` of `manifest`: the digest the registry will report after `crane push`. */
  readonly digest: string;
  /** The Docker schema 2 manifest, byte for byte as crane will upload it. */
  readonly manifest: string;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly repoTags: readonly string[];
}

export interface TarEntry {
  readonly name: string;
  readonly type: string;
  readonly linkname: string;
  readonly offset: number;
  readonly size: number;
}

interface ArchiveManifestEntry {
  readonly Config?: unknown;
  readonly RepoTags?: unknown;
  readonly Layers?: unknown;
  readonly LayerSources?: unknown;
}

/**
 * What a tarball says before its layers are hashed: enough to scan it, check its platform and
 * refuse layers crane cannot push (readImageHead); hashImageLayers then gives its digest.
 */
export interface ImageHead {
  readonly path: string;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
  readonly repoTags: readonly string[];
  /** The file read, by device and inode: hashImageLayers reads that very file or nothing. */
  readonly file: { readonly dev: number; readonly ino: number };
  readonly layerEntries: readonly TarEntry[];
}

/**
 * Reads a docker-archive tarball (as kaniko's `--tar-path` writes it) and computes the manifest
 * digest exactly as go-containerregistry's `tarball.Image` does, which is what `crane push`
 * uploads: config descriptor plus one gzip-typed descriptor per stored layer file, hashed as
 * stored, serialized like Go's json.Marshal. kaniko's own digest file is not used because it can
 * differ for OCI-typed base images (go-containerregistry#1568).
 */
export async function readImageTarball(path: string): Promise<ImageTarball> {
  const head = await readImageHead(path);
  const { config, configDescriptor, repoTags } = head;
  return { ...(await hashImageLayers(head)), config, configDescriptor, repoTags };
}

/** Opens a tarball a build wrote: a regular file, not reached through a link. */
async function openTarball(path: string): Promise<UntrustedFile> {
  return openUntrustedRegularFile(path).catch((error: unknown) => {
    throw new Error(`cannot open the image tarball ${path}: ${(error as Error).message}`, { cause: error });
  });
}

/**
 * The tarball's manifest.json and config, and the first bytes of each layer: a layer that is
 * not gzip is refused here, before anything is scanned.
 */
export async function readImageHead(path: string): Promise<ImageHead> {
  // A build wrote this file: everything is read through one handle on the regular file checked
  // here, never by path again, so a link planted in its place is refused and cannot be swapped in.
  const { handle, stat } = await openTarball(path);
  try {
    const entries = await listTarEntries(handle, path);
    const find = (name: string): TarEntry => resolveEntry(entries, name, path);

    const image = archiveImage(await readEntry(handle, find('manifest.json')), path);
    const configBytes = await readEntry(handle, find(image.Config));
    const config = parseJson<ImageConfig>(configBytes, `the image config ${image.Config} in ${path}`);
    const configDescriptor: Descriptor = {
      mediaType: DOCKER_CONFIG_JSON,
      size: configBytes.length,
      digest: digestOf(configBytes),
    };
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layerEntries = image.Layers.map(find);
    if (layerEntries.length === 0 && diffIds.length > 0)
      throw new Error(`${path}: the config lists ${diffIds.length} layer(s) but manifest.json lists none`);
    if (layerEntries.length > diffIds.length)
      throw new Error(
        `${path}: manifest.json lists ${layerEntries.length} layer(s) but the config has ${diffIds.length} rootfs.diff_ids`,
      );
    await refuseNotGzip(handle, layerEntries, image.Layers, path, config);
    return {
      path,
      config,
      configDescriptor,
      repoTags: isStringList(image.RepoTags) ? image.RepoTags : [],
      file: { dev: stat.dev, ino: stat.ino },
      layerEntries,
    };
  } finally {
    await handle.close();
  }
}

/**
 * Every layer's digest, a few at once, and the manifest they make: read from the file the head
 * was read from (same device and inode), else refused.
 */
export async function hashImageLayers(
  head: ImageHead,
): Promise<Pick<ImageTarball, 'digest' | 'manifest' | 'layers'>> {
  const { path } = head;
  const { handle, stat } = await openTarball(path);
  try {
    if (stat.dev !== head.file.dev || stat.ino !== head.file.ino)
      throw new Error(`${path} is not the file whose manifest and config were read: nothing of it is pushed`);
    // A few at once (reads at their own offsets through the one handle), not one after another.
    const digests = await mapAtMost(head.layerEntries, availableParallelism(), (entry) =>
      hashEntry(handle, entry, path),
    );
    const layers = digests.map((digest, index) => ({
      mediaType: DOCKER_LAYER,
      size: head.layerEntries[index]!.size,
      digest,
    }));
    const manifest = goJsonManifest(head.configDescriptor, layers);
    return { digest: digestOf(manifest), manifest, layers };
  } finally {
    await handle.close();
  }
}

/** The one image manifest.json describes, checked for what crane can push. */
function archiveImage(
  bytes: Buffer,
  path: string,
): ArchiveManifestEntry & { Config: string; Layers: string[] } {
  const archiveManifest = parseJson<unknown>(bytes, `manifest.json in ${path}`);
  if (!Array.isArray(archiveManifest) || archiveManifest.length !== 1)
    throw new Error(
      `${path}: manifest.json must describe exactly one image (found ${Array.isArray(archiveManifest) ? archiveManifest.length : 'no list'}); crane push accepts only a single-image tarball`,
    );
  const image = archiveManifest[0] as ArchiveManifestEntry;
  if (typeof image.Config !== 'string' || !isStringList(image.Layers))
    throw new Error(`${path}: manifest.json has no Config file name or no Layers list`);
  if (image.LayerSources !== undefined && Object.keys(image.LayerSources as object).length > 0)
    throw new Error(
      `${path}: the image has foreign layers (LayerSources); their descriptors cannot be reproduced here, so the pushed digest is unknown`,
    );
  return image as ArchiveManifestEntry & { Config: string; Layers: string[] };
}

/** Refuses, naming each one, the layers that are not gzip (by their first bytes). */
async function refuseNotGzip(
  handle: FileHandle,
  entries: readonly TarEntry[],
  files: readonly string[],
  path: string,
  config: ImageConfig,
): Promise<void> {
  const notGzip: RefusedLayer[] = [];
  for (const [index, entry] of entries.entries()) {
    const head = await readAt(handle, entry.offset, Math.min(HEAD_BYTES, entry.size));
    const format = layerFormat(head);
    if (format !== 'gzip')
      notGzip.push({
        index,
        file: files[index]!,
        digest: await hashEntry(handle, entry, path),
        format,
        head,
      });
  }
  if (notGzip.length > 0) throw new Error(describeNotGzip(path, notGzip, entries.length, config));
}

/** json.Marshal of go-containerregistry's v1.Manifest: field order and no white space. */
export function goJsonManifest(config: Descriptor, layers: readonly Descriptor[]): string {
  const descriptor = (d: Descriptor): string =>
    `{"mediaType":${JSON.stringify(d.mediaType)},"size":${d.size},"digest":${JSON.stringify(d.digest)}}`;
  return `{"schemaVersion":2,"mediaType":${JSON.stringify(DOCKER_MANIFEST_SCHEMA2)},"config":${descriptor(config)},"layers":[${layers.map(descriptor).join(',')}]}`;
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** Finds a file by name as Go's archive/tar reader would (path.Clean), following links like ggcr. */
export function resolveEntry(entries: readonly TarEntry[], name: string, tarball: string): TarEntry {
  const seen = new Set<string>();
  let wanted = posix.normalize(name);
  for (;;) {
    if (seen.has(wanted)) throw new Error(`${tarball}: link cycle at ${wanted}`);
    seen.add(wanted);
    const entry = entries.find((candidate) => posix.normalize(candidate.name) === wanted);
    if (!entry) throw new Error(`${tarball}: file ${name} is not in the tarball`);
    if (entry.type !== '1' && entry.type !== '2') return entry;
    wanted = posix.normalize(posix.join(posix.dirname(wanted), entry.linkname));
  }
}

async function readAt(handle: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, offset);
  return buffer.subarray(0, bytesRead);
}

export async function readEntry(handle: FileHandle, entry: TarEntry): Promise<Buffer> {
  return readAt(handle, entry.offset, entry.size);
}

type LayerFormat = 'gzip' | 'zstd' | 'uncompressed tar' | 'unknown';

/** gzip and zstd by their magic bytes, as ggcr's PeekCompression; a tar by its first header. */
function layerFormat(head: Buffer): LayerFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (head.length >= 512 && validChecksum(head)) return 'uncompressed tar';
  return 'unknown';
}

interface RefusedLayer {
  readonly index: number;
  readonly file: string;
  readonly digest: string;
  readonly format: Exclude<LayerFormat, 'gzip'>;
  readonly head: Buffer;
}

/**
 * go-containerregistry's tarball loader, which `crane push` uses, types every docker-archive
 * layer as gzip: zstd bytes go up under the gzip media type (a broken image), and uncompressed
 * layers are compressed while pushing (a digest nobody can know before the push).
 */
const WHY_REFUSED: Readonly<Record<RefusedLayer['format'], { what: string; remedy: string }>> = {
  zstd: {
    what: 'zstd-compressed: crane would push these bytes under the gzip media type, an image no runtime can pull',
    remedy:
      "Use a base image published with gzip layers, or rebuild the base image with gzip compression: kaniko's --compression=gzip does not recompress the base layers it copies. If kaniko-args sets --compression=zstd, remove it.",
  },
  'uncompressed tar': {
    what: 'an uncompressed tar: crane would compress it while pushing, so the pushed digest cannot be known in advance',
    remedy:
      'kaniko writes gzip layers by default: remove any --compression/--compressed-caching option from kaniko-args that changes this, or use a base image whose layers are compressed.',
  },
  unknown: {
    what: 'neither gzip, zstd nor a tar',
    remedy: 'The tarball is damaged or was not written by kaniko: build it again.',
  },
};

/** Names each refused layer by position, file, digest and the history step that made it. */
function describeNotGzip(
  tarball: string,
  refused: readonly RefusedLayer[],
  layerCount: number,
  config: ImageConfig,
): string {
  const history = (config.history ?? []).filter((step) => !step.empty_layer);
  const lines = refused.map(({ index, file, digest, format, head }) => {
    const step = history[index]?.created_by;
    const madeBy = step
      ? `, made by ${JSON.stringify(step.length > 120 ? `${step.slice(0, 120)}…` : step)}`
      : '';
    const firstBytes = format === 'unknown' ? ` (first bytes ${head.subarray(0, 4).toString('hex')})` : '';
    return `  - layer ${index + 1} of ${layerCount} (${file}, ${digest}${madeBy}) is ${WHY_REFUSED[format].what}${firstBytes}`;
  });
  const remedies = [...new Set(refused.map(({ format }) => WHY_REFUSED[format].remedy))];
  return [
    `${tarball}: the image has layers that are not gzip, and crane pushes every layer of a docker-archive as gzip:`,
    ...lines,
    ...remedies,
  ].join('\n');
}

const HASH_CHUNK = 1 << 20;
/** A tar header's length: enough of a layer's start to tell gzip, zstd and tar apart. */
const HEAD_BYTES = 512;

/** The layer's digest, as stored. */
async function hashEntry(handle: FileHandle, entry: TarEntry, tarball: string): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(Math.min(HASH_CHUNK, entry.size));
  for (let done = 0; done < entry.size;) {
    const { bytesRead } = await handle.read(
      buffer,
      0,
      Math.min(buffer.length, entry.size - done),
      entry.offset + done,
    );
    if (bytesRead === 0)
      throw new Error(`${tarball} ends inside the layer ${entry.name}: the file is cut short`);
    hash.update(buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
  return `sha256:${hash.digest('hex')}`;
}

/** Lists the entries of a tar file (ustar, GNU long names, PAX path/size) without reading contents. */
export async function listTarEntries(handle: FileHandle, path: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const { size: fileSize } = await handle.stat();
  let offset = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (offset + 512 <= fileSize) {
    const header = await readAt(handle, offset, 512);
    if (header.every((byte) => byte === 0)) break;
    if (!validChecksum(header))
      throw new Error(`${path} is not a tar file (bad header checksum at byte ${offset})`);
    const type = String.fromCharCode(header[156] ?? 0x30).replace('\0', '0');
    const size = pax.size !== undefined ? Number(pax.size) : parseNumber(header.subarray(124, 136));
    const dataOffset = offset + 512;
    const next = dataOffset + Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      const data = (await readAt(handle, dataOffset, size)).toString('utf8');
      if (type === 'L') longName = data.replace(/\0.*$/s, '');
      else if (type === 'K') longLink = data.replace(/\0.*$/s, '');
      else if (type === 'x') pax = parsePax(data);
      offset = next;
      continue;
    }
    const prefix = cString(header.subarray(345, 500));
    const shortName = cString(header.subarray(0, 100));
    entries.push({
      name: pax.path ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName),
      type,
      linkname: pax.linkpath ?? longLink ?? cString(header.subarray(157, 257)),
      offset: dataOffset,
      size: type === '1' || type === '2' || type === '5' ? 0 : size,
    });
    longName = longLink = undefined;
    pax = {};
    offset = next;
  }
  return entries;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

function parseNumber(field: Buffer): number {
  // GNU base-256 for sizes of 8 GiB and more.
  if ((field[0] ?? 0) & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function validChecksum(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  return sum === parseNumber(header.subarray(148, 156));
}

function parsePax(data: string): Record<string, string> {
  const records: Record<string, string> = {};
  let rest = Buffer.from(data, 'utf8');
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    const length = parseInt(rest.subarray(0, space).toString('utf8'), 10);
    if (space < 0 || !Number.isFinite(length) || length <= 0) break;
    const record = rest.subarray(space + 1, length - 1).toString('utf8');
    const equals = record.indexOf('=');
    records[record.slice(0, equals)] = record.slice(equals + 1);
    rest = rest.subarray(length);
  }
  return records;
}
