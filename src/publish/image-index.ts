import { digestOf } from '../reference.js';

// The image index `crane index append` (go-containerregistry v0.21.9) pushes, computed ahead of
// the push so the index can be pushed by digest: the registry then refuses the upload unless the
// bytes crane sends hash to the digest predicted here, and a wrong prediction fails closed.
//
// What crane does, step by step (files at tag v0.21.9):
// - cmd/crane/cmd/index.go:271-281: with no base index and a `-t`, it starts from `empty.Index`,
//   whose manifest is {schemaVersion: 2, mediaType: OCI index, manifests: []}
//   (pkg/v1/empty/index.go:59-64); `--docker-empty-base` (not used here) would make it a Docker
//   manifest list instead.
// - index.go:363-418 (resolveManifest): each `-m` reference is fetched with remote.Get, and for an
//   image the platform is read from its config: ConfigFile.Platform() (pkg/v1/config.go:46-57).
// - pkg/v1/remote/fetcher.go:197-229: the descriptor remote.Get returns carries the manifest's
//   `artifactType`, or else its config's `mediaType`, and the manifest's `annotations`. Since
//   v0.21.6 (commit d8112ef0) this happens for every image, so a Docker image's index entry
//   gets `"artifactType":"application/vnd.docker.container.image.v1+json"`.
// - pkg/v1/mutate/index.go:31-61,122-140: AppendManifests adds one descriptor per `-m`, in order,
//   nothing else (no annotations on the index, no subject).
// - index.go:329 and pkg/v1/remote/pusher.go:292-363: remote.WriteIndex HEADs the target, HEADs
//   each child (never rewrites one that is there), then PUTs json.Marshal of the index
//   (mutate/index.go:211) to `/v2/<repo>/manifests/<-t identifier>` with the index media type as
//   Content-Type (pkg/v1/remote/write.go:606-646).
// json.Marshal writes struct fields in declaration order and drops `omitempty` fields that are
// empty: v1.IndexManifest, v1.Descriptor (pkg/v1/manifest.go:36-55) and v1.Platform
// (pkg/v1/platform.go:24-31) give the key order below.
//
// The bytes depend on crane's version: v0.20.x to v0.21.5 wrote no `artifactType` for a Docker or
// OCI image config (fetcher.go checked `!IsConfig()`), so they push another index with another
// digest. With another crane the push is refused (it fails closed); the golden values in
// test/publish/image-index.test.ts, taken from a real v0.21.9, are what to check again when the
// pinned crane (src/tools/releases.ts) changes.

/** `types.OCIImageIndex`: the media type of `empty.Index`, which crane appends to. */
export const OCI_IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';

/**
 * The platform fields of an image config, under their JSON names, as go-containerregistry's
 * v1.ConfigFile reads them (pkg/v1/config.go:29-43). Other config keys are ignored.
 */
export interface ConfigPlatformFields {
  readonly architecture?: unknown;
  readonly os?: unknown;
  readonly variant?: unknown;
  readonly 'os.version'?: unknown;
  readonly 'os.features'?: unknown;
}

/** v1.Platform as ConfigFile.Platform() fills it (it never sets `features`). */
export interface ImagePlatform {
  readonly os: string;
  readonly architecture: string;
  readonly osVersion?: string;
  readonly osFeatures?: readonly string[];
  readonly variant?: string;
}

/** One platform's image, already pushed to the repository by digest. */
export interface PushedPlatformManifest {
  /**
   * The Content-Type the registry serves the manifest with, which remote.Get takes as the media
   * type (fetcher.go:182): its `mediaType` field, Docker schema 2 for `crane push` of a tarball.
   */
  readonly mediaType: string;
  /** Length in bytes of the manifest. */
  readonly size: number;
  /** `sha256:<hex>` of the manifest. */
  readonly digest: string;
  /** The manifest's `config.mediaType`; becomes the entry's `artifactType` (fetcher.go:206-210). */
  readonly configMediaType: string;
  /** The manifest's own `artifactType`, if it has one: it wins over `configMediaType`. */
  readonly artifactType?: string;
  /** The manifest's own `annotations`, copied to the entry (fetcher.go:211); none from a tarball. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** The image config (only its platform fields are read). */
  readonly config: ConfigPlatformFields;
}

export interface ImageIndexPlan {
  readonly mediaType: typeof OCI_IMAGE_INDEX;
  /** The index exactly as crane will PUT it (ASCII unless a value is not). */
  readonly manifest: string;
  /** `sha256:<hex>` of `manifest`. */
  readonly digest: string;
  /** Length in bytes of `manifest`. */
  readonly size: number;
  /**
   * crane's arguments after the binary (global flags such as `--insecure` go before them):
   * `index append -m <repo>@<child> … -t <repo>@<digest>`. Run crane in an empty private
   * working directory: it tries each `-m` as a local tarball or OCI layout path first
   * (index.go:365, push.go:90-102), so a file there named like the reference would replace the
   * registry's image (the digest pin then makes the push fail, after crane has uploaded that
   * file's image into the repository untagged). The children must already be in `repository`,
   * as they are after `crane push … <repository>@<digest>`: crane HEADs each and PUTs only the
   * index.
   */
  readonly craneArgs: readonly string[];
}

/**
 * The index `crane index append -m <repository>@<child>… -t <repository>@<digest>` pushes for
 * these children, in this order, and the arguments that make crane push it by digest.
 * `repository` is the image name without tag or digest, e.g. `ghcr.io/owner/app`.
 */
export function planImageIndex(
  repository: string,
  manifests: readonly PushedPlatformManifest[],
): ImageIndexPlan {
  checkRepository(repository);
  if (manifests.length === 0) throw new Error('An image index needs at least one platform manifest.');
  const entries = manifests.map((manifest) => descriptorJson(manifest));
  // v1.IndexManifest: schemaVersion, mediaType, manifests; annotations, subject and artifactType
  // are empty (omitempty) for an index appended to empty.Index.
  const manifest = `{"schemaVersion":2,"mediaType":${goString(OCI_IMAGE_INDEX)},"manifests":[${entries.join(',')}]}`;
  const digest = digestOf(manifest);
  const craneArgs = ['index', 'append'];
  for (const { digest: child } of manifests) craneArgs.push('-m', `${repository}@${child}`);
  craneArgs.push('-t', `${repository}@${digest}`);
  return {
    mediaType: OCI_IMAGE_INDEX,
    manifest,
    digest,
    size: Buffer.byteLength(manifest, 'utf8'),
    craneArgs,
  };
}

/**
 * ConfigFile.Platform() (pkg/v1/config.go:46-57): undefined when os, architecture, os.version,
 * variant and os.features are all empty, so the entry has no `platform` at all.
 */
export function configPlatform(config: ConfigPlatformFields): ImagePlatform | undefined {
  const os = configString(config, 'os');
  const architecture = configString(config, 'architecture');
  const osVersion = configString(config, 'os.version');
  const variant = configString(config, 'variant');
  const osFeatures = configStrings(config, 'os.features');
  if (!os && !architecture && !osVersion && !variant && osFeatures.length === 0) return undefined;
  return {
    os,
    architecture,
    ...(osVersion && { osVersion }),
    ...(osFeatures.length > 0 && { osFeatures }),
    ...(variant && { variant }),
  };
}

/** v1.Descriptor in field order: mediaType, size, digest, (data, urls), annotations, platform, artifactType. */
function descriptorJson(manifest: PushedPlatformManifest): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(manifest.digest))
    throw new Error(`Not a sha256 digest: ${JSON.stringify(manifest.digest)}`);
  if (!Number.isSafeInteger(manifest.size) || manifest.size <= 0)
    throw new Error(`Not a manifest size: ${manifest.size}`);
  const parts = [
    `"mediaType":${goString(manifest.mediaType)}`,
    `"size":${manifest.size}`,
    `"digest":${goString(manifest.digest)}`,
  ];
  const annotations = Object.entries(manifest.annotations ?? {});
  if (annotations.length > 0) {
    // encoding/json writes map keys sorted bytewise.
    annotations.sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
    parts.push(
      `"annotations":{${annotations.map(([key, value]) => `${goString(key)}:${goString(value)}`).join(',')}}`,
    );
  }
  const platform = configPlatform(manifest.config);
  if (platform) parts.push(`"platform":${platformJson(platform)}`);
  // fetcher.go:206-210: the manifest's artifactType, else its config's mediaType; empty is omitted.
  const artifactType = manifest.artifactType || manifest.configMediaType;
  if (artifactType) parts.push(`"artifactType":${goString(artifactType)}`);
  return `{${parts.join(',')}}`;
}

/** v1.Platform: architecture and os always, the rest omitempty, in declaration order. */
function platformJson(platform: ImagePlatform): string {
  const parts = [`"architecture":${goString(platform.architecture)}`, `"os":${goString(platform.os)}`];
  if (platform.osVersion) parts.push(`"os.version":${goString(platform.osVersion)}`);
  if (platform.osFeatures?.length)
    parts.push(`"os.features":[${platform.osFeatures.map((feature) => goString(feature)).join(',')}]`);
  if (platform.variant) parts.push(`"variant":${goString(platform.variant)}`);
  return `{${parts.join(',')}}`;
}

/** A string field of the config; absent or null is "" as encoding/json leaves it, anything else fails as it does. */
function configString(config: ConfigPlatformFields, key: keyof ConfigPlatformFields): string {
  const value = config[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new Error(`The image config's "${key}" is not a string.`);
  return value;
}

function configStrings(config: ConfigPlatformFields, key: 'os.features'): string[] {
  const value = config[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new Error(`The image config's "${key}" is not a list of strings.`);
  return value as string[];
}

/**
 * crane reads each `-m` as a string slice (pflag splits it as CSV) and tries it as a local path
 * first (index.go:363-366), so the name must be one field that is not a path.
 */
function checkRepository(repository: string): void {
  if (
    !/^[^\s,"@]+$/.test(repository) ||
    /^[./\\]/.test(repository) ||
    /:[\w][\w.-]*$/.test(lastPart(repository))
  )
    throw new Error(`Not a repository name without tag or digest: ${JSON.stringify(repository)}`);
}

function lastPart(repository: string): string {
  return repository.slice(repository.lastIndexOf('/') + 1);
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * A JSON string as encoding/json writes it (Go 1.22 and later, which crane v0.21.9 is built
 * with): HTML-sensitive characters and U+2028/U+2029 escaped as \u00XX/\u20XX, other control
 * characters as short or \u00xx escapes, everything else as UTF-8. A lone surrogate cannot come
 * from valid UTF-8; Go would have decoded it to U+FFFD, which is what is written.
 */
function goString(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (SHORT_ESCAPES[char]) out += SHORT_ESCAPES[char];
    else if (
      code < 0x20 ||
      char === '<' ||
      char === '>' ||
      char === '&' ||
      code === 0x2028 ||
      code === 0x2029
    )
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += '\ufffd';
    else out += char;
  }
  return `${out}"`;
}
