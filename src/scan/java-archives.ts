import { createGunzip } from 'node:zlib';
import { parseDockerfile } from '../dockerfile.js';
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

/**
 * Whether any layer of the docker-archive holds a Java archive. Reads only entry names: each
 * gzip layer is streamed once and the walk stops at the first match. A whiteout still counts,
 * which at worst fetches a DB the scan does not use.
 */
export async function imageHoldsJavaArchive(tarball: string): Promise<boolean> {
  const { handle } = await openUntrustedRegularFile(tarball);
  try {
    const entries = await listTarEntries(handle, tarball);
    const manifest = JSON.parse(
      (await readEntry(handle, resolveEntry(entries, 'manifest.json', tarball))).toString('utf8'),
    ) as { Layers?: string[] }[];
    for (const layer of manifest[0]?.Layers ?? []) {
      const entry = resolveEntry(entries, layer, tarball);
      if (entry.size === 0) continue;
      const stream = handle.createReadStream({
        start: entry.offset,
        end: entry.offset + entry.size - 1,
        autoClose: false,
      });
      if (await someEntryName(stream.pipe(createGunzip()), (name) => JAVA_ARCHIVE.test(name))) return true;
    }
    return false;
  } finally {
    await handle.close();
  }
}

/** Walks a tar stream's headers (ustar prefix, GNU long names, PAX path) until `wanted` holds. */
async function someEntryName(
  tar: AsyncIterable<Buffer>,
  wanted: (name: string) => boolean,
): Promise<boolean> {
  const walker = new TarNameWalker();
  for await (const chunk of tar) if (walker.push(chunk).some(wanted)) return true;
  return false;
}

/** Incremental tar header parser: feed it chunks, it returns the entry names completed so far. */
class TarNameWalker {
  #pending = Buffer.alloc(0);
  #skip = 0;
  #metadata: { type: string; size: number } | undefined;
  #longName: string | undefined;
  #ended = false;

  push(chunk: Buffer): string[] {
    const names: string[] = [];
    this.#pending = Buffer.concat([this.#pending, chunk]);
    while (!this.#ended) {
      if (this.#skip > 0) {
        const skipped = Math.min(this.#skip, this.#pending.length);
        this.#pending = this.#pending.subarray(skipped);
        this.#skip -= skipped;
        if (this.#skip > 0) break;
      }
      const name = this.#metadata ? this.#readMetadata() : this.#readHeader();
      if (name === null) break;
      if (name !== undefined) names.push(name);
    }
    return names;
  }

  /** The data of a GNU long name or PAX header; null until it is all here. */
  #readMetadata(): undefined | null {
    const { type, size } = this.#metadata!;
    const padded = Math.ceil(size / 512) * 512;
    if (this.#pending.length < padded) return null;
    const data = this.#pending.subarray(0, size).toString('utf8');
    this.#pending = this.#pending.subarray(padded);
    this.#metadata = undefined;
    if (type === 'L') this.#longName = data.replace(/\0.*$/s, '');
    else if (type === 'x') this.#longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data)?.[1] ?? this.#longName;
    return undefined;
  }

  /** The name of the next entry; undefined for a metadata header; null until 512 bytes are here. */
  #readHeader(): string | undefined | null {
    if (this.#pending.length < 512) return null;
    const header = this.#pending.subarray(0, 512);
    this.#pending = this.#pending.subarray(512);
    if (header.every((byte) => byte === 0)) {
      this.#ended = true;
      return null;
    }
    const type = String.fromCharCode(header[156] || 0x30);
    const size = parseInt(text(header.subarray(124, 136)).trim() || '0', 8) || 0;
    if (type === 'L' || type === 'x' || type === 'K' || type === 'g') {
      this.#metadata = { type, size };
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
