/**
 * kaniko's layer cache, kept out of the build's reach: a registry on the runner's loopback, run by
 * the action for the duration of the build, serving one repository. kaniko writes its cache
 * entries here, never to `cache-repo`, and holds no credential; reads that miss are answered from
 * the real `cache-repo`. Only after the scan and the policy passed are the entries whose layers
 * were scanned copied to `cache-repo` (exportLayerCache).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import type { Response } from 'undici';
import { digestOf, digestReference, isDigest, taggedReference } from '../reference.js';
import type { Registries } from '../registries.js';
import type { Crane } from '../tools/crane-command.js';
import { RegistryClient, unlessUnanswered } from '../registry-client.js';
import { DOCKER_MANIFEST_SCHEMA2, IMAGE_MANIFEST_TYPES } from './tarball.js';
import { reporter } from '../reporter.js';

/** The one repository the loopback registry serves. */
const REPOSITORY = 'cache';
const GZIP_LAYERS = new Set([
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.v1.tar+gzip',
]);
const TAR_LAYERS = new Set(['application/vnd.oci.image.layer.v1.tar']);
/** The distribution registry's limit for a manifest body (maxManifestBodySize). */
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** The label of kaniko's pointer entries (pkg/executor/push.go cachePointerLabel). */
export const CACHE_POINTER_LABEL = 'kaniko.cache.pointer-target';

export interface LayerCacheOptions {
  /** Folder for what kaniko writes, inside the action's private temp dir: the build never sees it. */
  readonly storeDir: string;
  /** The real cache repository (`cache-repo`): misses are read from it, entries exported to it. */
  readonly cacheRepo: string;
  /** Insecure hosts and credentials: `cache-repo` is read with its own host's credential only. */
  readonly registries: Registries;
}

export interface LayerCache {
  readonly port: number;
  /** `127.0.0.1:<port>/cache`: kaniko's `--cache-repo`. */
  readonly repository: string;
  /** The real cache repository this one stands in for. */
  readonly cacheRepo: string;
  /** The build is over: every later write is refused; reads go on for the export. */
  closeWrites(): void;
  /** The entries written, split into those whose layers were all scanned and the others. */
  review(scannedDiffIds: readonly string[]): Promise<CacheReview>;
  /** Stops the server; the stored entries stay in storeDir, which the post step deletes. */
  close(): Promise<void>;
}

export interface CacheEntry {
  /** The cache key kaniko tagged the entry with. */
  readonly tag: string;
  /** The manifest digest stored under the tag. */
  readonly digest: string;
}

export interface RefusedEntry extends CacheEntry {
  readonly reason: string;
}

export interface CacheReview {
  readonly scanned: readonly CacheEntry[];
  readonly refused: readonly RefusedEntry[];
}

interface StoredManifest {
  readonly mediaType: string;
  readonly body: Buffer;
}

/** A registry error as the distribution spec words it; `status` is the HTTP answer. */
class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Starts the loopback registry on 127.0.0.1 and a random port. */
export async function startLayerCache(options: LayerCacheOptions): Promise<LayerCache> {
  const store = new Store(options.storeDir);
  await store.prepare();
  const upstream = new Upstream(options);
  let writable = true;
  const server = createServer((request, response) => {
    serve(request, response, { store, upstream, writable }).catch((error: unknown) => {
      const failure =
        error instanceof RegistryError ? error : new RegistryError(500, 'UNKNOWN', String(error));
      if (response.headersSent) response.destroy();
      else sendError(response, failure);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    repository: `127.0.0.1:${port}/${REPOSITORY}`,
    cacheRepo: options.cacheRepo,
    closeWrites() {
      writable = false;
    },
    review: (scannedDiffIds) => store.review(new Set(scannedDiffIds)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Context {
  readonly store: Store;
  readonly upstream: Upstream;
  readonly writable: boolean;
}

const UPLOADS = `/v2/${REPOSITORY}/blobs/uploads/`;

async function serve(request: IncomingMessage, response: ServerResponse, context: Context): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://loopback');
  const method = request.method ?? 'GET';
  const { pathname: path, searchParams: query } = url;
  response.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  if (path === '/v2/' || path === '/v2') return sendJson(response, 200, {}, method);
  if (path.startsWith(UPLOADS))
    return serveUpload(request, response, context, path.slice(UPLOADS.length), query);
  const match = new RegExp(`^/v2/${REPOSITORY}/(manifests|blobs)/([^/]+)$`).exec(path);
  if (!match) throw new RegistryError(404, 'NAME_UNKNOWN', `this registry serves only /v2/${REPOSITORY}/`);
  const [, kind, reference] = match as unknown as [string, 'manifests' | 'blobs', string];
  if (kind === 'manifests') return serveManifest(request, response, context, reference);
  if (!isDigest(reference)) throw new RegistryError(400, 'DIGEST_INVALID', `"${reference}" is not a digest`);
  if (method !== 'GET' && method !== 'HEAD')
    throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported on a blob`);
  return serveBlob(response, context, reference, method);
}

function assertWritable(context: Context): void {
  if (!context.writable)
    throw new RegistryError(403, 'DENIED', 'the build is over: the layer cache takes no more writes');
}

/** POST to start an upload (or a one-request upload), PATCH a chunk, PUT the last, DELETE to cancel. */
async function serveUpload(
  request: IncomingMessage,
  response: ServerResponse,
  context: Context,
  id: string,
  query: URLSearchParams,
): Promise<void> {
  const method = request.method ?? 'GET';
  if (id === '' && method === 'POST') {
    assertWritable(context);
    const started = await context.store.startUpload();
    // A cross-repository mount (`?mount=&from=`) is answered as a plain upload: nothing is
    // mounted from anywhere, the client uploads the bytes (go-containerregistry write.go:266-277).
    const digest = query.get('digest');
    if (digest === null) return sendUploadState(response, started, 0);
    await context.store.append(started, request, undefined);
    return sendBlobCreated(response, await context.store.finishUpload(started, digest));
  }
  if (method === 'DELETE') {
    await context.store.cancelUpload(id);
    response.writeHead(204).end();
    return;
  }
  assertWritable(context);
  if (method === 'PATCH') {
    const size = await context.store.append(id, request, request.headers['content-range']);
    return sendUploadState(response, id, size);
  }
  if (method === 'PUT') {
    await context.store.append(id, request, undefined);
    return sendBlobCreated(response, await context.store.finishUpload(id, query.get('digest') ?? ''));
  }
  throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported on an upload`);
}

async function serveManifest(
  request: IncomingMessage,
  response: ServerResponse,
  context: Context,
  reference: string,
): Promise<void> {
  const method = request.method ?? 'GET';
  if (!isDigest(reference) && !TAG.test(reference))
    throw new RegistryError(400, 'MANIFEST_INVALID', `"${reference}" is neither a tag nor a digest`);
  if (method === 'PUT') {
    assertWritable(context);
    const digest = await context.store.putManifest(
      reference,
      request.headers['content-type'] ?? '',
      await readBody(request, MANIFEST_LIMIT),
    );
    response
      .writeHead(201, {
        Location: `/v2/${REPOSITORY}/manifests/${digest}`,
        'Docker-Content-Digest': digest,
        'Content-Length': 0,
      })
      .end();
    return;
  }
  if (method !== 'GET' && method !== 'HEAD')
    throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported on a manifest`);
  const stored = (await context.store.manifest(reference)) ?? (await context.upstream.manifest(reference));
  if (!stored) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `no manifest ${reference}`);
  response.writeHead(200, {
    'Content-Type': stored.mediaType,
    'Content-Length': stored.body.length,
    'Docker-Content-Digest': digestOf(stored.body),
  });
  response.end(method === 'HEAD' ? undefined : stored.body);
}

async function serveBlob(
  response: ServerResponse,
  context: Context,
  digest: string,
  method: 'GET' | 'HEAD',
): Promise<void> {
  const local = await context.store.blobSize(digest);
  if (local !== undefined) {
    response.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': local,
      'Docker-Content-Digest': digest,
    });
    if (method === 'HEAD') response.end();
    else await pipeline(createReadStream(context.store.blobPath(digest)), response);
    return;
  }
  // HEAD answers for the local store only: a writer that finds a blob missing uploads it here
  // (go-containerregistry write.go checkExistingBlob), so every layer of an entry is local, where
  // the export can check it was scanned.
  const remote = method === 'GET' ? await context.upstream.blob(digest) : undefined;
  if (!remote?.body) throw new RegistryError(404, 'BLOB_UNKNOWN', `no blob ${digest}`);
  const length = remote.headers.get('content-length');
  response.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ...(length ? { 'Content-Length': length } : {}),
  });
  await pipeline(Readable.fromWeb(remote.body as WebReadableStream<Uint8Array>), response);
}

function sendUploadState(response: ServerResponse, id: string, size: number): void {
  response
    .writeHead(202, {
      Location: `${UPLOADS}${id}`,
      Range: `0-${Math.max(size - 1, 0)}`,
      'Docker-Upload-UUID': id,
      'Content-Length': 0,
    })
    .end();
}

function sendBlobCreated(response: ServerResponse, digest: string): void {
  response
    .writeHead(201, {
      Location: `/v2/${REPOSITORY}/blobs/${digest}`,
      'Docker-Content-Digest': digest,
      'Content-Length': 0,
    })
    .end();
}

function sendJson(response: ServerResponse, status: number, body: unknown, method: string): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(method === 'HEAD' ? undefined : text);
}

function sendError(response: ServerResponse, error: RegistryError): void {
  sendJson(response, error.status, { errors: [{ code: error.code, message: error.message }] }, 'GET');
}

async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RegistryError(413, 'SIZE_INVALID', `the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function sha256OfStream(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Blobs, manifests and uploads on disk under storeDir (a manifest is stored as the blob of its
 * digest, as the distribution registry does); media types and tags in memory.
 */
class Store {
  private readonly manifestTypes = new Map<string, string>();
  private readonly tags = new Map<string, string>();
  private readonly uploads = new Map<string, number>();

  constructor(private readonly dir: string) {}

  async prepare(): Promise<void> {
    for (const folder of ['blobs', 'uploads'])
      await mkdir(join(this.dir, folder), { recursive: true, mode: 0o700 });
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', digest.slice('sha256:'.length));
  }

  async blobSize(digest: string): Promise<number | undefined> {
    return (await stat(this.blobPath(digest)).catch(() => undefined))?.size;
  }

  private uploadPath(id: string): string {
    return join(this.dir, 'uploads', id);
  }

  private uploadSize(id: string): number {
    const size = this.uploads.get(id);
    if (size === undefined) throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `no upload ${id}`);
    return size;
  }

  async startUpload(): Promise<string> {
    const id = randomUUID();
    await writeFile(this.uploadPath(id), '', { mode: 0o600 });
    this.uploads.set(id, 0);
    return id;
  }

  /** Appends a chunk; a Content-Range must start where the upload stands (OCI distribution spec). */
  async append(id: string, body: IncomingMessage, contentRange: string | undefined): Promise<number> {
    const size = this.uploadSize(id);
    if (contentRange !== undefined) {
      const start = /^(?:bytes[ =])?(\d+)-\d+$/.exec(contentRange.trim())?.[1];
      if (start === undefined || Number(start) !== size)
        throw new RegistryError(
          416,
          'BLOB_UPLOAD_INVALID',
          `Content-Range ${contentRange} does not continue the upload at byte ${size}`,
        );
    }
    let added = 0;
    body.on('data', (chunk: Buffer) => (added += chunk.length));
    await pipeline(body, createWriteStream(this.uploadPath(id), { flags: 'a', mode: 0o600 }));
    this.uploads.set(id, size + added);
    return size + added;
  }

  async finishUpload(id: string, digest: string): Promise<string> {
    this.uploadSize(id);
    const path = this.uploadPath(id);
    this.uploads.delete(id);
    if (!isDigest(digest)) {
      await rm(path, { force: true });
      throw new RegistryError(400, 'DIGEST_INVALID', `"${digest}" is not a sha256 digest`);
    }
    const actual = await sha256OfStream(createReadStream(path));
    if (actual !== digest) {
      await rm(path, { force: true });
      throw new RegistryError(400, 'DIGEST_INVALID', `the uploaded bytes are ${actual}, not ${digest}`);
    }
    await rename(path, this.blobPath(digest));
    return digest;
  }

  async cancelUpload(id: string): Promise<void> {
    this.uploadSize(id);
    this.uploads.delete(id);
    await rm(this.uploadPath(id), { force: true });
  }

  async putManifest(reference: string, contentType: string, body: Buffer): Promise<string> {
    const mediaType = contentType.split(';', 1)[0]!.trim();
    // kaniko caches single images (push.go pushLayerToCache, pushCachePointer): no index is stored.
    if (!IMAGE_MANIFEST_TYPES.has(mediaType))
      throw new RegistryError(
        400,
        'MANIFEST_INVALID',
        `"${contentType}" is not an image manifest type; the layer cache stores images only`,
      );
    const parsed = parseJson(body) as { schemaVersion?: unknown } | undefined;
    if (parsed?.schemaVersion !== 2)
      throw new RegistryError(400, 'MANIFEST_INVALID', 'the manifest is not JSON with schemaVersion 2');
    const digest = digestOf(body);
    if (isDigest(reference) && reference !== digest)
      throw new RegistryError(400, 'DIGEST_INVALID', `the manifest is ${digest}, not ${reference}`);
    await writeFile(this.blobPath(digest), body, { mode: 0o600 });
    this.manifestTypes.set(digest, mediaType);
    if (!isDigest(reference)) this.tags.set(reference, digest);
    return digest;
  }

  async manifest(reference: string): Promise<StoredManifest | undefined> {
    const digest = isDigest(reference) ? reference : this.tags.get(reference);
    const mediaType = digest && this.manifestTypes.get(digest);
    return mediaType ? { mediaType, body: await readFile(this.blobPath(digest)) } : undefined;
  }

  async review(scanned: ReadonlySet<string>): Promise<CacheReview> {
    const review = { scanned: [] as CacheEntry[], refused: [] as RefusedEntry[] };
    for (const [tag, digest] of this.tags) {
      const reason = await this.unscannedReason((await this.manifest(digest))!, scanned);
      if (reason) review.refused.push({ tag, digest, reason });
      else review.scanned.push({ tag, digest });
    }
    return review;
  }

  /** Why an entry may not leave the runner, or undefined when each of its layers was scanned. */
  private async unscannedReason(
    stored: StoredManifest,
    scanned: ReadonlySet<string>,
  ): Promise<string | undefined> {
    const manifest = parseJson(stored.body) as {
      config?: { digest?: unknown };
      layers?: Array<{ digest?: unknown; mediaType?: unknown }>;
    };
    const configDigest = String(manifest?.config?.digest ?? '');
    if (!isDigest(configDigest) || (await this.blobSize(configDigest)) === undefined)
      return 'its config was not written to the layer cache';
    const config = parseJson(await readFile(this.blobPath(configDigest))) as {
      config?: { Labels?: Record<string, unknown> };
      rootfs?: { diff_ids?: unknown[] };
    };
    const diffIds = (config?.rootfs?.diff_ids ?? []).map(String);
    const layers = manifest.layers ?? [];
    if (layers.length !== diffIds.length)
      return `its manifest has ${layers.length} layers but its config ${diffIds.length} DiffIDs`;
    if (layers.length === 0)
      return config?.config?.Labels?.[CACHE_POINTER_LABEL] === undefined
        ? 'it has no layer and is not a kaniko cache pointer'
        : undefined;
    for (const [index, layer] of layers.entries()) {
      const diffId = diffIds[index]!;
      if (!scanned.has(diffId)) return `layer ${diffId} is not in the scanned image`;
      const layerDigest = String(layer.digest ?? '');
      if (!isDigest(layerDigest) || (await this.blobSize(layerDigest)) === undefined)
        return `layer ${layerDigest} was not written to the layer cache`;
      // The config's DiffIDs are only a claim: the bytes that would be exported must unpack to them.
      const unpacked = await this.diffIdOf(layerDigest, String(layer.mediaType ?? ''));
      if (unpacked !== diffId) return `layer ${layerDigest} unpacks to ${unpacked}, not to ${diffId}`;
    }
    return undefined;
  }

  private diffIdOf(digest: string, mediaType: string): Promise<string> {
    const raw = createReadStream(this.blobPath(digest));
    if (TAR_LAYERS.has(mediaType)) return sha256OfStream(raw);
    if (GZIP_LAYERS.has(mediaType)) return sha256OfStream(raw.pipe(createGunzip()));
    raw.destroy();
    return Promise.resolve(`an unknown DiffID (media type "${mediaType}")`);
  }
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Read-only access to the real `cache-repo` (RegistryClient): a read that fails is a miss, and
 * the first failure is said once.
 */
class Upstream {
  private readonly client: RegistryClient;
  private warned = false;

  constructor(private readonly options: LayerCacheOptions) {
    this.client = new RegistryClient(options.cacheRepo, options.registries);
  }

  /** Always a GET, also for a HEAD: the answer's digest and size are those of the bytes read. */
  async manifest(reference: string): Promise<StoredManifest | undefined> {
    const served = await this.missOnFailure(() => this.client.manifest(reference, [...IMAGE_MANIFEST_TYPES]));
    if (!served) return undefined;
    if (isDigest(reference) && digestOf(served.body) !== reference) {
      this.warnOnce(`its manifest ${reference} has another digest, ${digestOf(served.body)}`);
      return undefined;
    }
    return { mediaType: served.mediaType || DOCKER_MANIFEST_SCHEMA2, body: served.body };
  }

  blob(digest: string): Promise<Response | undefined> {
    return this.missOnFailure(() => this.client.blob(digest));
  }

  private missOnFailure<T>(read: () => Promise<T | undefined>): Promise<T | undefined> {
    return unlessUnanswered(read, (reason) => this.warnOnce(reason));
  }

  private warnOnce(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    reporter().warning(
      `Reading the layer cache from ${this.options.cacheRepo} failed (${reason}): the build goes on as on a cache miss, ` +
        'rebuilding those layers. Later read failures are not reported.',
    );
  }
}

export interface ExportOptions {
  readonly cache: LayerCache;
  /** crane with the private DOCKER_CONFIG of loginRegistry, which keys credentials by host. */
  readonly crane: Crane;
  /** The scanned image's DiffIDs (BuildResult.identity.diffIds). */
  readonly scannedDiffIds: readonly string[];
}

/**
 * Copies the entries whose layers were all scanned to `cache-repo` (`crane copy`, by digest, so
 * what is copied is what was checked). A failure is a warning: the image is out, and the cache is
 * only an optimisation.
 */
export async function exportLayerCache(options: ExportOptions): Promise<void> {
  const { cache, crane } = options;
  const { scanned, refused } = await cache.review(options.scannedDiffIds);
  if (refused.length > 0)
    reporter().warning(
      `${refused.length} layer cache ${refused.length === 1 ? 'entry holds' : 'entries hold'} layers that were not scanned, ` +
        `so ${refused.length === 1 ? 'it is' : 'they are'} not written to ${cache.cacheRepo}: ` +
        `${refused.map((entry) => `${entry.tag} (${entry.reason})`).join('; ')}. ` +
        'kaniko caches the layers of every stage, also those not in the image; later builds rebuild them.',
    );
  let copied = 0;
  try {
    for (const entry of scanned) {
      await crane.run([
        'copy',
        digestReference(cache.repository, entry.digest),
        taggedReference(cache.cacheRepo, entry.tag),
      ]);
      copied++;
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    reporter().warning(
      `Writing the layer cache to ${cache.cacheRepo} failed after ${copied} of ${scanned.length} entries: ${reason}\n` +
        'The image was pushed and the run does not fail for this: the cache is only an optimisation. ' +
        'Check that `registry-password` may push to the cache repository (a `cache-repo` on another host than the image gets no credential).',
    );
    return;
  }
  reporter().info(
    `Wrote ${copied} scanned layer cache ${copied === 1 ? 'entry' : 'entries'} to ${cache.cacheRepo}.`,
  );
}
