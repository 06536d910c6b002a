import type { FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parseDockerfile } from '../dockerfile.js';
import type { TarEntry } from '../build/tarball.js';
import { listTarEntries, readEntry, resolveEntry } from '../build/tarball.js';
import { openUntrustedRegularFile } from '../untrusted-file.js';

/**
 * The file names Trivy v0.74.0's jar analyzer takes (pkg/fanal/analyzer/language/java/jar/jar.go
 * requiredExtensions, compared with strings.EqualFold): only these make it open the Java DB.
 */
const JAVA_ARCHIVE = /\.(jar|war|ear|par)$/i;

/** Base images that ship a JDK/JRE or a Java build tool, so the image almost surely holds jars. */
const JAVA_BASE =
  /(^|[/_.:-])(openjdk|jdk|jre|java|temurin|amazoncorretto|corretto|zulu|liberica|semeru|sapmachine|maven|gradle|tomcat|jetty|wildfly|sbt)([/_.:-]|\d|$)/i;

/**
 * Whether a stage of the Dockerfile starts FROM a Java image: then the Java DB is fetched while
 * kaniko builds, instead of after it.
 */
export function dockerfileSuggestsJava(dockerfileText: string): boolean {
  return parseDockerfile(dockerfileText).stages.some((stage) => JAVA_BASE.test(stage.base));
}

/** How much of a layer is read, and inflated, at a time: fewer, larger chunks inflate about twice as fast. */
const CHUNK_BYTES = 1 << 20;

/**
 * Whether any layer of the docker-archive holds a Java archive. Reads only entry names: each
 * gzip layer is streamed once, several layers at a time (zlib inflates on libuv's threads), and
 * the walk stops at the first match. A whiteout still counts, which at worst fetches a DB the
 * scan does not use.
 */
export async function imageHoldsJavaArchive(tarball: string): Promise<boolean> {
  const { handle } = await openUntrustedRegularFile(tarball);
  try {
    const entries = await listTarEntries(handle, tarball);
    const manifest = JSON.parse(
      (await readEntry(handle, resolveEntry(entries, 'manifest.json', tarball))).toString('utf8'),
    ) as { Layers?: string[] }[];
    const layers = (manifest[0]?.Layers ?? [])
      .map((layer) => resolveEntry(entries, layer, tarball))
      .filter((entry) => entry.size > 0);
    let found = false;
    let failure: { error: unknown } | undefined;
    let next = 0;
    const walks = new Set<Duplex>();
    const stopAll = (): void => walks.forEach((walk) => walk.destroy());
    const worker = async (): Promise<void> => {
      while (!found && !failure && next < layers.length) {
        // Positional reads through the one handle, which a destroyed stream leaves open.
        const walk = pipeline(
          Readable.from(layerChunks(handle, layers[next++]!, tarball)),
          createGunzip({ chunkSize: CHUNK_BYTES }),
          () => undefined,
        );
        walks.add(walk);
        try {
          if (await someEntryName(walk, (name) => JAVA_ARCHIVE.test(name))) found = true;
        } catch (error) {
          // A walk stopped because another one decided is no failure.
          if (!found && !failure) failure = { error };
        } finally {
          walks.delete(walk);
          walk.destroy();
        }
        if (found || failure) stopAll();
      }
    };
    // Every walk has ended before the handle is closed.
    await Promise.all(Array.from({ length: Math.min(layers.length, availableParallelism()) }, worker));
    if (found) return true;
    if (failure) throw failure.error;
    return false;
  } finally {
    await handle.close();
  }
}

/** A layer's bytes, read CHUNK_BYTES at a time at their place in the tarball. */
async function* layerChunks(handle: FileHandle, entry: TarEntry, tarball: string): AsyncGenerator<Buffer> {
  for (let done = 0; done < entry.size;) {
    const length = Math.min(CHUNK_BYTES, entry.size - done);
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(length), 0, length, entry.offset + done);
    if (bytesRead === 0)
      throw new Error(`${tarball} ends inside the layer ${entry.name}: the file is cut short`);
    done += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Walks a tar stream's headers (ustar prefix, GNU long names, PAX path) until `wanted` holds. */
export async function someEntryName(
  tar: AsyncIterable<Buffer>,
  wanted: (name: string) => boolean,
): Promise<boolean> {
  const walker = new TarNameWalker();
  for await (const chunk of tar) if (walker.push(chunk).some(wanted)) return true;
  return false;
}

/** A GNU long name or PAX header larger than this holds no real path (PATH_MAX is 4 KiB): skipped. */
const METADATA_MAX_BYTES = 1 << 20;

/**
 * Incremental tar header parser: feed it chunks, it returns the entry names completed so far.
 * File data is skipped where it lies in the chunk; only a header or metadata block cut by a chunk
 * boundary is copied, so a layer's bytes are not copied again on the way.
 */
class TarNameWalker {
  /** The start of a block cut by the previous chunk's end, and how long that block is. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #skip = 0;
  #metadata: { type: string; size: number } | undefined;
  #longName: string | undefined;
  #ended = false;

  push(chunk: Buffer): string[] {
    const names: string[] = [];
    let offset = 0;
    while (!this.#ended) {
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, chunk.length - offset);
        offset += skipped;
        this.#skip -= skipped;
        if (this.#skip > 0) break;
      }
      const needed = this.#blockBytes();
      if (this.#partialBytes > 0 || chunk.length - offset < needed) {
        const taken = chunk.subarray(offset, offset + needed - this.#partialBytes);
        this.#partial.push(Buffer.from(taken));
        this.#partialBytes += taken.length;
        offset += taken.length;
        if (this.#partialBytes < needed) break;
        const block = Buffer.concat(this.#partial);
        this.#partial = [];
        this.#partialBytes = 0;
        const name = this.#read(block);
        if (name !== undefined) names.push(name);
        continue;
      }
      const name = this.#read(chunk.subarray(offset, offset + needed));
      offset += needed;
      if (name !== undefined) names.push(name);
    }
    return names;
  }

  /** How many bytes the next block takes: a header, or a metadata entry's data padded to blocks. */
  #blockBytes(): number {
    return this.#metadata ? Math.ceil(this.#metadata.size / 512) * 512 : 512;
  }

  #read(block: Buffer): string | undefined {
    return this.#metadata ? this.#readMetadata(block) : this.#readHeader(block);
  }

  /** The data of a GNU long name or PAX header. */
  #readMetadata(block: Buffer): undefined {
    const { type, size } = this.#metadata!;
    const data = block.subarray(0, size).toString('utf8');
    this.#metadata = undefined;
    if (type === 'L') this.#longName = data.replace(/\0.*$/s, '');
    else if (type === 'x') this.#longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data)?.[1] ?? this.#longName;
    return undefined;
  }

  /** The name of the next entry; undefined for a metadata header or the end of the archive. */
  #readHeader(header: Buffer): string | undefined {
    if (header.every((byte) => byte === 0)) {
      this.#ended = true;
      return undefined;
    }
    const type = String.fromCharCode(header[156] || 0x30);
    const size = parseInt(text(header.subarray(124, 136)).trim() || '0', 8) || 0;
    if (type === 'L' || type === 'x' || type === 'K' || type === 'g') {
      if (size > METADATA_MAX_BYTES) this.#skip = Math.ceil(size / 512) * 512;
      else this.#metadata = { type, size };
      return undefined;
    }
    const prefix = text(header.subarray(345, 500));
    const short = text(header.subarray(0, 100));
    const name = this.#longName ?? (prefix ? `${prefix}/${short}` : short);
    this.#longName = undefined;
    this.#skip = Math.ceil(size / 512) * 512;
    return name;
  }
}

function text(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}
