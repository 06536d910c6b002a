#!/usr/bin/env node
// A TEST STAND-IN for google/go-containerregistry's `crane`; it is NOT the real tool.
//
// It implements the few subcommands the action uses (version, auth login, push, tag, digest,
// config, export, copy, manifest, pull, index append) and only the flags it passes them with
// crane's argv, output and error style, in plain Node without dependencies, and speaks the real
// registry HTTP API v2 to a real registry. It is deliberately stricter than crane: it never
// retries (crane retries a few transient errors itself; the action has its own retries, which the
// tests exercise), it does not use proxies or credential helpers, and anything it does not
// implement fails loudly instead of guessing.
//
// What it mirrors, in google/go-containerregistry at tag v0.21.9 (the pinned crane):
// - argv: cmd/crane/cmd/root.go:136-139 (global flags), util.go:52-81 (--platform), pflag's
//   bool (strconv.ParseBool) and string slice (encoding/csv) values;
// - references: pkg/name/ref.go:41-49, repository.go:74-107, digest.go:102-133;
// - errors: pkg/v1/remote/transport/error.go:47-110 (`<METHOD> <url>: CODE: message; detail`);
// - push: cmd/crane/cmd/push.go:39-82, pkg/v1/remote/pusher.go:292-460 (existing manifests);
// - tag, copy: cmd/crane/cmd/tag.go, copy.go (one image; an index is refused);
// - digest: cmd/crane/cmd/digest.go:31-60, pkg/crane/digest.go:20-52;
// - config: cmd/crane/cmd/config.go, pkg/crane/config.go and get.go:25-44;
// - manifest: cmd/crane/cmd/manifest.go, pkg/crane/manifest.go:18-30 (--platform picks a child);
// - index resolution: pkg/v1/remote/descriptor.go:108-135, index.go:154-291;
// - export: cmd/crane/cmd/export.go, pkg/v1/mutate/mutate.go (Extract);
// - pull: cmd/crane/cmd/pull.go, pkg/crane/pull.go, pkg/v1/tarball/write.go;
// - index append: cmd/crane/cmd/index.go:181-334,361-498, pkg/v1/remote/fetcher.go:150-232,
//   pkg/v1/mutate/index.go:31-159, pkg/v1/remote/pusher.go:292-460, write.go:606-681; local
//   OCI layouts and copying children from another repository are refused.

import { createHash } from 'node:crypto';
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { posix } from 'node:path';
import { gunzipSync } from 'node:zlib';

const VERSION = process.env.CRANE_STANDIN_VERSION ?? '0.21.9';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const ACCEPTED_MANIFESTS = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(',');
const INDEX_TYPES = new Set([OCI_INDEX, DOCKER_LIST]);

/** Flags as cobra knows them: persistent (global) ones and those of each subcommand. */
const FLAGS = {
  insecure: { type: 'bool', scope: 'global' },
  platform: { type: 'string', scope: 'global' },
  verbose: { type: 'bool', scope: 'global', short: 'v' },
  'allow-nondistributable-artifacts': { type: 'bool', scope: 'global' },
  username: { type: 'string', scope: 'auth login', short: 'u' },
  password: { type: 'string', scope: 'auth login', short: 'p' },
  'password-stdin': { type: 'bool', scope: 'auth login' },
  // cmd/crane/cmd/pull.go (v0.21.9): --format defaults to tarball; --cache_path and --annotate-ref
  // are not implemented, so they fail as unknown flags.
  format: { type: 'string', scope: 'pull' },
  // cmd/crane/cmd/index.go:216-219 (v0.21.9): `index append`'s own flags.
  manifest: { type: 'stringSlice', scope: 'index append', short: 'm' },
  tag: { type: 'string', scope: 'index append', short: 't' },
  'docker-empty-base': { type: 'bool', scope: 'index append' },
  flatten: { type: 'bool', scope: 'index append', default: true },
};

class UsageError extends Error {}

function parseArgv(argv) {
  const flags = {};
  const positionals = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-' || !arg.startsWith('-')) {
      positionals.push(arg);
      continue;
    }
    let name;
    let value;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      value = eq < 0 ? undefined : arg.slice(eq + 1);
      if (!FLAGS[name]) throw new UsageError(`unknown flag: --${name}`);
    } else {
      const short = arg[1];
      name = Object.keys(FLAGS).find((key) => FLAGS[key].short === short);
      if (!name) throw new UsageError(`unknown shorthand flag: '${short}' in ${arg}`);
      const rest = arg.slice(2);
      value = rest === '' ? undefined : rest.startsWith('=') ? rest.slice(1) : rest;
    }
    const label = arg.startsWith('--') ? `--${name}` : `'${arg[1]}' in ${arg}`;
    const flagName = FLAGS[name].short ? `-${FLAGS[name].short}, --${name}` : `--${name}`;
    if (FLAGS[name].type === 'bool') {
      // pflag's boolValue.Set is strconv.ParseBool.
      if (value === undefined || /^(1|t|T|TRUE|true|True)$/.test(value)) flags[name] = true;
      else if (/^(0|f|F|FALSE|false|False)$/.test(value)) flags[name] = false;
      else
        throw new UsageError(
          `invalid argument ${goQuote(value)} for ${goQuote(flagName)} flag: strconv.ParseBool: parsing ${goQuote(value)}: invalid syntax`,
        );
    } else {
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: ${label}`);
        value = argv[++i];
      }
      if (FLAGS[name].type === 'stringSlice') {
        let fields;
        try {
          fields = csvRecord(value);
        } catch (error) {
          throw new UsageError(
            `invalid argument ${goQuote(value)} for ${goQuote(flagName)} flag: ${error.message}`,
          );
        }
        flags[name] = [...(flags[name] ?? []), ...fields];
      } else flags[name] = value;
    }
  }
  if (flags.platform !== undefined) parsePlatform(flags.platform);
  return { flags, positionals };
}

/**
 * pflag's StringSlice value (readAsCSV): the first record of encoding/csv's Reader over the
 * value, "" being none; quoted fields may hold commas, `""` is a quote, a quote anywhere else
 * fails with the Reader's ParseError text.
 */
function csvRecord(value) {
  if (value === '') return [];
  const fields = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length)
          throw new Error(`parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += value[i++];
      }
      // The column is the closing quote's (encoding/csv counts from 1).
      if (i < value.length && value[i] !== ',' && value[i] !== '\n' && value[i] !== '\r')
        throw new Error(`parse error on line 1, column ${i}: extraneous or missing " in quoted-field`);
    } else {
      while (i < value.length && value[i] !== ',' && value[i] !== '\n' && value[i] !== '\r') {
        if (value[i] === '"')
          throw new Error(`parse error on line 1, column ${i + 1}: bare " in non-quoted-field`);
        field += value[i++];
      }
    }
    fields.push(field);
    if (value[i] !== ',') return fields;
    i++;
  }
}

function expectArgs(args, min, max) {
  if (args.length >= min && args.length <= max) return;
  if (min === max) throw new UsageError(`accepts ${min} arg(s), received ${args.length}`);
  if (min === 0) throw new UsageError(`accepts at most ${max} arg(s), received ${args.length}`);
  throw new UsageError(`accepts between ${min} and ${max} arg(s), received ${args.length}`);
}

// ---------------------------------------------------------------------------------------------
// References, as go-containerregistry's pkg/name parses them.

const DEFAULT_REGISTRY = 'index.docker.io';
const REPOSITORY_CHARS = /^[a-z0-9_\-./]+$/;
const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;

function parseRegistry(name) {
  if (name === 'docker.io') return DEFAULT_REGISTRY;
  if (!name || /[/\s]/.test(name))
    throw new Error(`registries must be valid RFC 3986 URI authorities: ${name}`);
  return name;
}

/**
 * name.ParseReference (pkg/name/ref.go:41-49 at v0.21.9): a tag, else a digest; whatever is wrong,
 * the error is `could not parse reference: <text>`. The repository is 2 to 255 characters
 * (repository.go:74-76). `original` is what String() prints: the text as given.
 */
function parseReference(text) {
  const fail = () => new Error(`could not parse reference: ${text}`);
  const at = text.indexOf('@');
  let repositoryPart = text;
  let tag;
  let digest;
  if (at >= 0) {
    repositoryPart = text.slice(0, at);
    digest = text.slice(at + 1);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw fail();
    // name.NewDigest drops a tag written before the digest (digest.go:119-122).
    const colon = repositoryPart.lastIndexOf(':');
    if (colon > repositoryPart.lastIndexOf('/') && TAG_PATTERN.test(repositoryPart.slice(colon + 1)))
      repositoryPart = repositoryPart.slice(0, colon);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon > text.lastIndexOf('/')) {
      repositoryPart = text.slice(0, colon);
      tag = text.slice(colon + 1);
      if (!TAG_PATTERN.test(tag)) throw fail();
    } else tag = 'latest';
  }
  const slash = repositoryPart.indexOf('/');
  const first = slash < 0 ? '' : repositoryPart.slice(0, slash);
  let registry = DEFAULT_REGISTRY;
  let repository = repositoryPart;
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    try {
      registry = parseRegistry(first);
    } catch {
      throw fail();
    }
    repository = repositoryPart.slice(slash + 1);
  }
  if (repository.length < 2 || repository.length > 255 || !REPOSITORY_CHARS.test(repository)) throw fail();
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository, tag, digest, identifier: digest ?? tag, original: text };
}

/** pkg/crane/get.go:26-30,38-43 (v0.21.9): how crane.Manifest and crane.Config word a bad reference. */
function craneParseReference(text) {
  try {
    return parseReference(text);
  } catch (error) {
    throw new Error(`parsing reference ${goQuote(text)}: ${error.message}`, { cause: error });
  }
}

const repositoryName = (ref) => `${ref.registry}/${ref.repository}`;

/** go-containerregistry's name.Registry.Scheme: plain http for loopback and private addresses. */
function scheme(registry, insecure) {
  if (insecure) return 'http';
  const host = registry.replace(/:\d{1,5}$/, '');
  if (/^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(host) && /^[\d.]+$/.test(host)) return 'http';
  if (registry.startsWith('localhost:') || /\.localhost(:\d{1,5})?$/.test(registry)) return 'http';
  if (/^127\.0\.0\.1(:\d{1,5})?$/.test(registry) || /^(::1|\[::1\](:\d{1,5})?)$/.test(registry))
    return 'http';
  return 'https';
}

/**
 * The global --platform flag (cmd/crane/cmd/util.go:52-81, pkg/v1/platform.go:55-75 at v0.21.9):
 * `all` or no flag is no platform; otherwise os[/arch[/variant]][:osversion], nothing required.
 */
function parsePlatform(text) {
  if (text === undefined || text === 'all') return undefined;
  const platform = { os: '', architecture: '', variant: '', osVersion: '' };
  let parts = text.trim().split(':');
  if (parts.length === 2) platform.osVersion = parts[1];
  parts = parts[0].split('/');
  [platform.os = '', platform.architecture = '', platform.variant = ''] = parts;
  if (parts.length > 3)
    throw new UsageError(
      `invalid argument ${goQuote(text)} for "--platform" flag: too many slashes in platform spec: ${text}`,
    );
  return platform;
}

/** v1.Platform.String() (platform.go:33-52): os/arch/variant:osversion, empty parts left out. */
function platformString(platform) {
  if (!platform.os) return '';
  return (
    platform.os +
    (platform.architecture ? `/${platform.architecture}` : '') +
    (platform.variant ? `/${platform.variant}` : '') +
    (platform.osVersion ? `:${platform.osVersion}` : '')
  );
}

/** remote's matchesPlatform (pkg/v1/remote/index.go:252-291 at v0.21.9). */
function matchesPlatform(given, required) {
  if (given.architecture !== required.architecture || given.os !== required.os) return false;
  if (required.osVersion && given['os.version'] !== required.osVersion) return false;
  if (required.variant && given.variant !== required.variant) return false;
  return true;
}

/** Go's %q for a string: a double-quoted literal (JSON's escapes are close enough for ASCII). */
function goQuote(text) {
  return JSON.stringify(text);
}

// ---------------------------------------------------------------------------------------------
// HTTP, with errors worded like Go's net/http and go-containerregistry's transport.Error.

const STATUS_TEXT = http.STATUS_CODES;

function goMethod(method) {
  return method[0] + method.slice(1).toLowerCase();
}

function networkReason(error) {
  switch (error.code) {
    case 'ECONNRESET':
      return error.message === 'socket hang up' ? 'EOF' : 'read: connection reset by peer';
    case 'ECONNREFUSED':
      return `dial tcp ${error.address}:${error.port}: connect: connection refused`;
    case 'ETIMEDOUT':
      return 'dial tcp: i/o timeout';
    case 'ENOTFOUND':
      return `dial tcp: lookup ${error.hostname}: no such host`;
    default:
      return error.message;
  }
}

function send(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    const request = transport.request(target, { method, headers, agent: false }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', (error) =>
        reject(new Error(`${goMethod(method)} "${url}": ${networkReason(error)}`)),
      );
      response.on('aborted', () => reject(new Error(`${goMethod(method)} "${url}": unexpected EOF`)));
      response.on('end', () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    request.on('error', (error) =>
      reject(new Error(`${goMethod(method)} "${url}": ${networkReason(error)}`)),
    );
    request.end(body);
  });
}

function transportError(method, url, response) {
  const raw = method === 'HEAD' ? '' : response.body.toString('utf8');
  let diagnostics = [];
  try {
    diagnostics = JSON.parse(raw).errors ?? [];
  } catch {
    // Not a structured registry error: the raw body is reported instead.
  }
  // transport.Diagnostic.String (pkg/v1/remote/transport/error.go:104-110 at v0.21.9): the
  // detail is printed with %v, e.g. `map[Name:team/app Revision:sha256:…]`.
  const describe = (d) =>
    `${d.code}: ${d.message ?? ''}${d.detail !== undefined && d.detail !== null ? `; ${goValue(d.detail)}` : ''}`;
  let text;
  if (diagnostics.length === 1) text = describe(diagnostics[0]);
  else if (diagnostics.length > 1) text = `multiple errors returned: ${diagnostics.map(describe).join('; ')}`;
  else {
    text = `unexpected status code ${response.status} ${STATUS_TEXT[response.status] ?? ''}`;
    if (raw) text += `: ${raw}`;
    else if (method === 'HEAD') text += ' (HEAD responses have no body, use GET for details)';
  }
  return new Error(`${method} ${url}: ${text}`);
}

/** fmt's %v of a value encoding/json decoded into `any`: maps with sorted keys, slices, float64s. */
function goValue(value) {
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  if (typeof value === 'object')
    return `map[${Object.keys(value)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map((key) => `${key}:${goValue(value[key])}`)
      .join(' ')}]`;
  if (typeof value === 'number') return goFloat(value);
  return String(value);
}

/** fmt's %v of a float64 (%g, shortest): exponent form below 1e-4 and from 1e6, as in `1e+06`. */
function goFloat(number) {
  if (number === 0) return Object.is(number, -0) ? '-0' : '0';
  const exponent = Math.floor(Math.log10(Math.abs(number)));
  if (exponent < -4 || exponent >= 6) {
    const [mantissa, power] = number.toExponential().split('e');
    const sign = power.startsWith('-') ? '-' : '+';
    return `${mantissa}e${sign}${power.replace(/^[-+]/, '').padStart(2, '0')}`;
  }
  return String(number);
}

function parseChallenge(header) {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const kind = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const params = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g))
    params[match[1].toLowerCase()] = match[2];
  return { kind, params };
}

/** The credentials `crane auth login` (or `docker login`) stored for a registry, if any. */
function storedCredentials(registry) {
  const file = posix.join(process.env.DOCKER_CONFIG || posix.join(homedir(), '.docker'), 'config.json');
  if (!existsSync(file)) return undefined;
  const config = JSON.parse(readFileSync(file, 'utf8'));
  const key = registry === DEFAULT_REGISTRY ? 'https://index.docker.io/v1/' : registry;
  if (config.credHelpers?.[registry] || config.credsStore)
    throw new Error(`credential helpers are not supported by the crane stand-in (${file})`);
  const entry = config.auths?.[key] ?? config.auths?.[`https://${key}`] ?? config.auths?.[`http://${key}`];
  if (!entry) return undefined;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined) return { username: entry.username, password: entry.password ?? '' };
  return undefined;
}

class RegistryClient {
  constructor(registry, insecure) {
    this.registry = registry;
    this.base = `${scheme(registry, insecure)}://${registry}`;
    this.authorization = undefined;
  }

  /** Like transport.Ping: anonymous when `/v2/` answers 200, otherwise follow the challenge. */
  async authenticate(repository, actions) {
    const url = `${this.base}/v2/`;
    const response = await send('GET', url);
    if (response.status === 200) return;
    if (response.status !== 401) throw transportError('GET', url, response);
    const challenge = parseChallenge(response.headers['www-authenticate']);
    const credentials = storedCredentials(this.registry);
    const basic =
      credentials &&
      `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    if (challenge?.kind === 'basic') {
      this.authorization = basic;
      return;
    }
    if (challenge?.kind !== 'bearer' || !challenge.params.realm)
      throw new Error(`unrecognized challenge: ${response.headers['www-authenticate'] ?? '(none)'}`);
    const tokenUrl = new URL(challenge.params.realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    tokenUrl.searchParams.set('scope', `repository:${repository}:${actions}`);
    const tokenResponse = await send('GET', tokenUrl.href, {
      headers: basic ? { Authorization: basic } : {},
    });
    if (tokenResponse.status !== 200) throw transportError('GET', tokenUrl.href, tokenResponse);
    const token = JSON.parse(tokenResponse.body.toString('utf8'));
    this.authorization = `Bearer ${token.token ?? token.access_token}`;
  }

  async call(method, pathOrUrl, { headers = {}, body, expect = [200] } = {}) {
    const url = new URL(pathOrUrl, this.base).href;
    const response = await send(method, url, {
      headers: { ...headers, ...(this.authorization && { Authorization: this.authorization }) },
      body,
    });
    if (!expect.includes(response.status)) throw transportError(method, url, response);
    return response;
  }

  /** A blob, following the redirects registries use for storage backends, checked against its digest. */
  async blob(repository, digest) {
    let url = `${this.base}/v2/${repository}/blobs/${digest}`;
    for (let redirects = 0; redirects < 10; redirects++) {
      const external = !url.startsWith(this.base);
      const response = await send('GET', url, {
        headers: !external && this.authorization ? { Authorization: this.authorization } : {},
      });
      if ([301, 302, 303, 307, 308].includes(response.status)) {
        url = new URL(response.headers.location, url).href;
        continue;
      }
      if (response.status !== 200) throw transportError('GET', url, response);
      const actual = sha256(response.body);
      if (actual !== digest)
        throw new Error(`error verifying sha256 checksum after reading ${actual}; expected ${digest}`);
      return response.body;
    }
    throw new Error(`GET ${url}: stopped after 10 redirects`);
  }

  async manifest(ref) {
    const response = await this.call('GET', `/v2/${ref.repository}/manifests/${ref.identifier}`, {
      headers: { Accept: ACCEPTED_MANIFESTS },
    });
    const digest = sha256(response.body);
    if (ref.digest && digest !== ref.digest)
      throw new Error(
        `manifest digest: "${digest}" does not match requested digest: "${ref.digest}" for "${ref.registry}/${ref.repository}@${ref.digest}"`,
      );
    const mediaType = response.headers['content-type']?.split(';')[0] ?? JSON.parse(response.body).mediaType;
    return { body: response.body, mediaType, digest };
  }

  async putManifest(repository, identifier, body, mediaType) {
    await this.call('PUT', `/v2/${repository}/manifests/${identifier}`, {
      headers: { 'Content-Type': mediaType },
      body,
      expect: [201],
    });
  }

  async uploadBlob(repository, digest, content) {
    const head = await this.call('HEAD', `/v2/${repository}/blobs/${digest}`, { expect: [200, 404] });
    if (head.status === 200) {
      log(`existing blob: ${digest}`);
      return;
    }
    const started = await this.call('POST', `/v2/${repository}/blobs/uploads/`, { expect: [202] });
    const patched = await this.call('PATCH', started.headers.location, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: content,
      expect: [202, 204],
    });
    const location = new URL(patched.headers.location ?? started.headers.location, this.base);
    location.searchParams.set('digest', digest);
    await this.call('PUT', location.href, { expect: [201] });
    log(`pushed blob: ${digest}`);
  }
}

function sha256(data) {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * The image a reference names, as remote.Descriptor.Image() gives it (pkg/v1/remote/descriptor.go:
 * 108-135, index.go:154-203 at v0.21.9): an index resolves to its first child matching the
 * platform (linux/amd64 without --platform; a child without a platform counts as linux/amd64),
 * recursively; the child is fetched by digest in the same repository.
 */
async function resolveImage(client, ref, platformText) {
  const manifest = await client.manifest(ref);
  if (!INDEX_TYPES.has(manifest.mediaType)) return { ...manifest, ref };
  const platform = parsePlatform(platformText) ?? { os: 'linux', architecture: 'amd64' };
  const child = JSON.parse(manifest.body.toString('utf8')).manifests?.find((entry) =>
    matchesPlatform(entry.platform ?? { os: 'linux', architecture: 'amd64' }, platform),
  );
  if (!child) throw new Error(`no child with platform ${platformString(platform)} in index ${ref.original}`);
  if (child.data !== undefined)
    throw new Error(`a child with embedded data (${child.digest}) is not supported by the crane stand-in`);
  const childRef = {
    ...ref,
    tag: undefined,
    digest: child.digest,
    identifier: child.digest,
    original: `${repositoryName(ref)}@${child.digest}`,
  };
  return resolveImage(client, childRef, platformText);
}

// ---------------------------------------------------------------------------------------------
// Tar reading and writing (USTAR, with PAX and GNU long names on input).

function readOctal(block, offset, length) {
  if (block[offset] & 0x80) {
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + block[i];
    return value;
  }
  const text = block
    .toString('latin1', offset, offset + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  return text ? parseInt(text, 8) : 0;
}

function readString(block, offset, length) {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

function* readTar(archive) {
  let offset = 0;
  let longName;
  let longLink;
  let pax = {};
  while (offset + 512 <= archive.length) {
    const block = archive.subarray(offset, offset + 512);
    if (block.every((byte) => byte === 0)) return;
    const size = readOctal(block, 124, 12);
    const type = String.fromCharCode(block[156] || 48);
    const data = archive.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') longName = readString(data, 0, data.length);
    else if (type === 'K') longLink = readString(data, 0, data.length);
    else if (type === 'x') pax = parsePax(data);
    else if (type !== 'g') {
      const prefix = block.toString('latin1', 257, 262) === 'ustar' ? readString(block, 345, 155) : '';
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/` : '') + readString(block, 0, 100);
      yield {
        name,
        mode: readOctal(block, 100, 8),
        uid: readOctal(block, 108, 8),
        gid: readOctal(block, 116, 8),
        mtime: readOctal(block, 136, 12),
        type: type === '\0' ? '0' : type,
        linkname: pax.linkpath ?? longLink ?? readString(block, 157, 100),
        uname: readString(block, 265, 32),
        gname: readString(block, 297, 32),
        devmajor: readOctal(block, 329, 8),
        devminor: readOctal(block, 337, 8),
        data,
      };
      longName = longLink = undefined;
      pax = {};
    }
  }
}

function parsePax(data) {
  const records = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = parseInt(data.toString('latin1', offset, space), 10);
    if (!(length > 0)) break;
    const record = data.toString('utf8', space + 1, offset + length - 1);
    const eq = record.indexOf('=');
    records[record.slice(0, eq)] = record.slice(eq + 1);
    offset += length;
  }
  return records;
}

function octal(value, width) {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(entry, name, linkname, size, type) {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(entry.mode & 0o7777777, 8), 100);
  block.write(octal(entry.uid, 8), 108);
  block.write(octal(entry.gid, 8), 116);
  block.write(octal(size, 12), 124);
  block.write(octal(entry.mtime, 12), 136);
  block.write('        ', 148);
  block.write(type, 156);
  block.write(linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 'latin1');
  block.write(entry.uname, 265, 32, 'utf8');
  block.write(entry.gname, 297, 32, 'utf8');
  block.write(octal(entry.devmajor, 8), 329);
  block.write(octal(entry.devminor, 8), 337);
  let checksum = 0;
  for (const byte of block) checksum += byte;
  block.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body);
  length += String(length).length;
  if (String(length).length !== String(length - String(length).length).length) length++;
  return `${length}${body}`;
}

function padded(data) {
  return [data, Buffer.alloc((512 - (data.length % 512)) % 512)];
}

/** An entry's blocks; names that do not fit USTAR go into a PAX header, as Go's FormatPAX does. */
function writeEntry(entry) {
  const blocks = [];
  const long = (text) => Buffer.byteLength(text) > 100 || /[^\x20-\x7e]/.test(text);
  if (long(entry.name) || long(entry.linkname)) {
    const records = Buffer.from(
      (long(entry.name) ? paxRecord('path', entry.name) : '') +
        (long(entry.linkname) ? paxRecord('linkpath', entry.linkname) : ''),
    );
    const paxName = posix
      .join(posix.dirname(entry.name), 'PaxHeaders.0', posix.basename(entry.name))
      .slice(0, 99);
    blocks.push(header(entry, paxName, '', records.length, 'x'), ...padded(records));
  }
  const data = entry.type === '0' || entry.type === '7' ? entry.data : Buffer.alloc(0);
  blocks.push(header(entry, entry.name.slice(0, 100), entry.linkname.slice(0, 100), data.length, entry.type));
  blocks.push(...padded(data));
  return blocks;
}

// ---------------------------------------------------------------------------------------------
// Flattening layers, following go-containerregistry's mutate.Extract (v0.21).

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';

function cleanArchivePath(name) {
  return posix.normalize(name.replaceAll('\\', '/')).replace(/\/+$/, '') || '.';
}

function underMarkedDirectory(marks, file, hides) {
  let current = file;
  for (;;) {
    const parent = posix.dirname(current);
    if (parent === current) return false;
    if (hides(marks.get(parent))) return true;
    current = parent;
  }
}

function flattenLayers(layerTars, emit) {
  const fileMap = new Map();
  const opaqueDirs = new Map();
  for (let index = layerTars.length - 1; index >= 0; index--) {
    const layerOpaque = [];
    for (const entry of readTar(layerTars[index])) {
      const name0 = cleanArchivePath(entry.name);
      if (
        name0 === '..' ||
        name0.startsWith('../') ||
        entry.name.startsWith('\\') ||
        /^[A-Za-z]:/.test(name0)
      )
        throw new Error(`unsafe tar path "${name0}"`);
      if (entry.type === '1' || entry.type === '2') {
        const link = cleanArchivePath(entry.linkname);
        if (
          !posix.isAbsolute(link) &&
          posix.normalize(posix.join(posix.dirname(name0), link)).startsWith('..')
        )
          continue;
      }
      const dirname = posix.dirname(name0);
      let basename = posix.basename(name0);
      if (basename === OPAQUE_WHITEOUT) {
        layerOpaque.push(dirname);
        continue;
      }
      const tombstone = basename.startsWith(WHITEOUT_PREFIX);
      if (tombstone) basename = basename.slice(WHITEOUT_PREFIX.length);
      const name = entry.type === '5' ? name0 : posix.join(dirname, basename);
      if (fileMap.has(name) && !tombstone) continue;
      if (underMarkedDirectory(fileMap, name, (value) => value === true)) continue;
      if (underMarkedDirectory(opaqueDirs, name, (value) => value === true)) continue;
      fileMap.set(name, tombstone || entry.type !== '5');
      if (!tombstone) emit(writeEntry({ ...entry, name: name0 }));
    }
    for (const directory of layerOpaque) opaqueDirs.set(directory, true);
  }
  emit([Buffer.alloc(1024)]);
}

function uncompress(blob, digest) {
  if (blob[0] === 0x1f && blob[1] === 0x8b) return gunzipSync(blob);
  if (blob.readUInt32LE(0) === 0xfd2fb528)
    throw new Error(`zstd layers are not supported by the crane stand-in (${digest})`);
  return blob;
}

// ---------------------------------------------------------------------------------------------
// Loading a docker-archive tarball, as tarball.Image does.

function loadTarball(path) {
  const files = new Map();
  for (const entry of readTar(readFileSync(path))) files.set(posix.normalize(entry.name), entry.data);
  const file = (name) => {
    const data = files.get(posix.normalize(name));
    if (!data) throw new Error(`loading ${path} as tarball: file ${name} not found in tar`);
    return data;
  };
  const descriptors = JSON.parse(file('manifest.json').toString('utf8'));
  if (!Array.isArray(descriptors) || descriptors.length !== 1)
    throw new Error(
      `loading ${path} as tarball: tarball must contain only a single image to be used with tarball.Image`,
    );
  const descriptor = descriptors[0];
  if (descriptor.LayerSources && Object.keys(descriptor.LayerSources).length > 0)
    throw new Error(`loading ${path} as tarball: foreign layers are not supported by the crane stand-in`);
  const config = file(descriptor.Config);
  const layers = descriptor.Layers.map((name) => file(name));
  if (layers.length === 0 || !(layers[0][0] === 0x1f && layers[0][1] === 0x8b))
    throw new Error(
      `loading ${path} as tarball: the crane stand-in only pushes gzip-compressed layers (crane would compress them itself)`,
    );
  const diffIds = JSON.parse(config.toString('utf8')).rootfs?.diff_ids ?? [];
  if (layers.length > diffIds.length)
    throw new Error(
      `tarball manifest references ${layers.length} layer(s) but config has ${diffIds.length} rootfs.diff_ids; the config may not describe a runnable image (for example, a buildkit cacheconfig)`,
    );
  // The Docker schema 2 manifest compressedImage.Manifest builds; json.Marshal keeps this key order.
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, size: config.length, digest: sha256(config) },
      layers: layers.map((layer) => ({ mediaType: DOCKER_LAYER, size: layer.length, digest: sha256(layer) })),
    }),
  );
  return { manifest, blobs: [...layers, config] };
}

// ---------------------------------------------------------------------------------------------
// Subcommands.

async function login(args, flags) {
  expectArgs(args, 1, 1);
  const registry = parseRegistry(args[0]);
  let password = flags.password ?? '';
  if (flags['password-stdin']) password = readFileSync(0, 'utf8').replace(/\n$/, '').replace(/\r$/, '');
  const username = flags.username ?? '';
  if (!username && !password) throw new Error('username and password required');
  const directory = process.env.DOCKER_CONFIG || posix.join(homedir(), '.docker');
  const file = posix.join(directory, 'config.json');
  const config = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const key = registry === DEFAULT_REGISTRY ? 'https://index.docker.io/v1/' : registry;
  config.auths = {
    ...config.auths,
    [key]: { auth: Buffer.from(`${username}:${password}`).toString('base64') },
  };
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  // docker/cli's configfile.Save: a private temporary file renamed over the old one.
  const temporary = posix.join(directory, `.config.json.${process.pid}`);
  writeFileSync(temporary, JSON.stringify(config, null, '\t'), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  log(`logged in via ${file}`);
}

async function push(args, flags) {
  expectArgs(args, 2, 2);
  const image = loadTarball(args[0]);
  const ref = parseReference(args[1]);
  const client = new RegistryClient(ref.registry, flags.insecure);
  await client.authenticate(ref.repository, 'push,pull');
  const manifestDigest = sha256(image.manifest);
  // Like remote.Write: a tag or digest that already names this manifest needs no upload (403
  // counts as absent). Pushed to a digest it is not, the registry refuses the manifest
  // (DIGEST_INVALID), which is how a caller pins a push to the bytes it expects.
  const existing = await client.call('HEAD', `/v2/${ref.repository}/manifests/${ref.identifier}`, {
    headers: { Accept: ACCEPTED_MANIFESTS },
    expect: [200, 403, 404],
  });
  if (existing.status === 200 && existing.headers['docker-content-digest'] === manifestDigest) {
    log(`existing manifest: ${ref.tag ? `${ref.tag}@` : ''}${manifestDigest}`);
  } else {
    for (const blob of image.blobs) await client.uploadBlob(ref.repository, sha256(blob), blob);
    await client.putManifest(ref.repository, ref.identifier, image.manifest, DOCKER_MANIFEST);
    log(
      `${repositoryName(ref)}${ref.tag ? ':' : '@'}${ref.identifier}: digest: ${manifestDigest} size: ${image.manifest.length}`,
    );
  }
  const pushed = `${repositoryName(ref)}@${manifestDigest}`;
  process.stdout.write(`${pushed}\n`);
}

async function tag(args, flags) {
  expectArgs(args, 2, 2);
  const ref = parseReference(args[0]);
  if (!TAG_PATTERN.test(args[1])) throw new Error(`could not parse reference: ${args[1]}`);
  const client = new RegistryClient(ref.registry, flags.insecure);
  await client.authenticate(ref.repository, 'push,pull');
  const manifest = await client.manifest(ref);
  await client.putManifest(ref.repository, args[1], manifest.body, manifest.mediaType);
  log(`${repositoryName(ref)}:${args[1]}: digest: ${manifest.digest} size: ${manifest.body.length}`);
}

/** `crane copy SRC DST` of one image (an index fails loudly): its blobs, then its manifest. */
async function copy(args, flags) {
  expectArgs(args, 2, 2);
  const source = parseReference(args[0]);
  const target = parseReference(args[1]);
  log(`Copying from ${args[0]} to ${args[1]}`);
  const from = new RegistryClient(source.registry, flags.insecure);
  await from.authenticate(source.repository, 'pull');
  const image = await from.manifest(source);
  if (INDEX_TYPES.has(image.mediaType))
    throw new Error(`copying an index (${args[0]}) is not supported by the crane stand-in`);
  const to = new RegistryClient(target.registry, flags.insecure);
  await to.authenticate(target.repository, 'push,pull');
  const parsed = JSON.parse(image.body.toString('utf8'));
  for (const { digest } of [parsed.config, ...(parsed.layers ?? [])])
    await to.uploadBlob(target.repository, digest, await from.blob(source.repository, digest));
  await to.putManifest(target.repository, target.identifier, image.body, image.mediaType);
  log(`${repositoryName(target)}:${target.identifier}: digest: ${image.digest} size: ${image.body.length}`);
}

async function digest(args, flags) {
  expectArgs(args, 1, 1);
  let ref;
  try {
    ref = parseReference(args[0]);
  } catch (error) {
    // pkg/crane/digest.go:42-45: without a platform, the failed HEAD is logged before the GET.
    if (!parsePlatform(flags.platform)) log(`HEAD request failed, falling back on GET: ${error.message}`);
    craneParseReference(args[0]);
  }
  const client = new RegistryClient(ref.registry, flags.insecure);
  await client.authenticate(ref.repository, 'pull');
  let result;
  // pkg/crane/digest.go:20-41: `--platform all` is no platform, so a HEAD of the reference.
  if (parsePlatform(flags.platform)) result = (await resolveImage(client, ref, flags.platform)).digest;
  else {
    const url = `/v2/${ref.repository}/manifests/${ref.identifier}`;
    try {
      const head = await client.call('HEAD', url, { headers: { Accept: ACCEPTED_MANIFESTS } });
      result = head.headers['docker-content-digest'];
      if (!/^sha256:[0-9a-f]{64}$/.test(result ?? ''))
        throw new Error(`invalid Docker-Content-Digest: ${result}`);
    } catch (error) {
      log(`HEAD request failed, falling back on GET: ${error.message}`);
      result = (await client.manifest(ref)).digest;
    }
  }
  process.stdout.write(`${result}\n`);
}

/**
 * `crane config IMAGE` (cmd/crane/cmd/config.go at v0.21.9): exactly one reference; the raw config
 * blob of the image (remote.Image: an index resolves to --platform, linux/amd64 by default),
 * printed as is with no newline; failures read `fetching config: reading image "REF": …`.
 */
async function config(args, flags) {
  expectArgs(args, 1, 1);
  let ref;
  try {
    ref = craneParseReference(args[0]);
  } catch (error) {
    throw new Error(`fetching config: ${error.message}`, { cause: error });
  }
  const client = new RegistryClient(ref.registry, flags.insecure);
  try {
    await client.authenticate(ref.repository, 'pull');
    const image = await resolveImage(client, ref, flags.platform);
    const parsed = JSON.parse(image.body.toString('utf8'));
    if (parsed.schemaVersion === 1)
      throw new Error('schema 1 images are not supported by the crane stand-in');
    process.stdout.write(await client.blob(image.ref.repository, parsed.config.digest));
  } catch (error) {
    throw new Error(`fetching config: reading image "${args[0]}": ${error.message}`, { cause: error });
  }
}

/** Go's log package format, which crane's progress and warning lines use (local time). */
function log(message) {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  const date = `${now.getFullYear()}/${pad(now.getMonth() + 1)}/${pad(now.getDate())}`;
  process.stderr.write(
    `${date} ${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())} ${message}\n`,
  );
}

async function exportFilesystem(args, flags) {
  expectArgs(args, 1, 2);
  if (args[0] === '-') throw new Error('reading a tarball from stdin is not supported by the crane stand-in');
  const ref = parseReference(args[0]);
  const client = new RegistryClient(ref.registry, flags.insecure);
  let image;
  try {
    await client.authenticate(ref.repository, 'pull');
    image = await resolveImage(client, ref, flags.platform);
  } catch (error) {
    throw new Error(`pulling ${args[0]}: ${error.message}`, { cause: error });
  }
  const parsed = JSON.parse(image.body.toString('utf8'));
  if (parsed.schemaVersion === 1) throw new Error('schema 1 images are not supported by the crane stand-in');
  const layerTars = [];
  for (const layer of parsed.layers ?? [])
    layerTars.push(uncompress(await client.blob(image.ref.repository, layer.digest), layer.digest));
  const destination = args[1] ?? '-';
  const output = destination === '-' ? process.stdout : createWriteStream(destination);
  flattenLayers(layerTars, (blocks) => {
    for (const block of blocks) output.write(block);
  });
  if (output !== process.stdout)
    await new Promise((resolve, reject) => {
      output.on('error', reject);
      output.end(resolve);
    });
}

/**
 * `crane manifest IMAGE` (cmd/crane/cmd/manifest.go, pkg/crane/manifest.go, v0.21.9): the
 * manifest as the registry serves it, byte for byte, with no newline (with --platform, an index's
 * matching child instead); a failure is wrapped as `fetching manifest <src>`.
 */
async function manifest(args, flags) {
  expectArgs(args, 1, 1);
  try {
    const ref = craneParseReference(args[0]);
    const client = new RegistryClient(ref.registry, flags.insecure);
    await client.authenticate(ref.repository, 'pull');
    // pkg/crane/manifest.go:18-30: with --platform, an index resolves to the matching child.
    const platform = parsePlatform(flags.platform);
    process.stdout.write(
      platform ? (await resolveImage(client, ref, flags.platform)).body : (await client.manifest(ref)).body,
    );
  } catch (error) {
    throw new Error(`fetching manifest ${args[0]}: ${error.message}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------
// `crane index append`, as cmd/crane/cmd/index.go (v0.21.9) has it, against registries only.

const IMAGE_TYPES = new Set([OCI_MANIFEST, DOCKER_MANIFEST]);

/**
 * `crane index append [BASE] [-m REF]... [-t REF] [--docker-empty-base] [--flatten=false]`
 * (index.go:181-334): each `-m` (then each positional after BASE) is fetched with remote.Get
 * and becomes one descriptor (collectAddendums, index.go:420-485); BASE (an index) or, with `-t`
 * and no BASE, an empty OCI index (a Docker manifest list with --docker-empty-base) gets them
 * appended (mutate.AppendManifests); remote.WriteIndex then pushes it to `-t`, or to BASE
 * (BASE's repository at the new digest when BASE is a digest). Prints `<repo>@<digest>`.
 * Local OCI layouts (a BASE or `-m` that exists on disk, or a BASE starting with `.` or `/`) are
 * refused; so is a child that is not already in the target repository (crane would copy it).
 */
async function indexAppend(args, flags) {
  let baseRef = '';
  const newManifests = [...(flags.manifest ?? [])];
  if (args.length > 0) {
    baseRef = args[0];
    newManifests.push(...args.slice(1));
  }
  const flatten = flags.flatten ?? FLAGS.flatten.default;
  const adds = [];
  for (const text of newManifests) adds.push(...(await collectAddendum(text, flags, flatten)));
  // isLocalReference (index.go:493-498): an existing path, or one starting with `.` or `/`.
  if (baseRef !== '' && (existsSync(baseRef) || /^[./]/.test(baseRef)))
    throw new Error(`appending to a local OCI layout (${baseRef}) is not supported by the crane stand-in`);
  const newTag = flags.tag ?? '';

  // appendRemote (index.go:271-334).
  let base;
  let mediaType;
  if (baseRef === '') {
    if (newTag === '') throw new Error('at least one of --base or --tag must be specified');
    log('base unspecified, using empty index');
    // empty.Index (pkg/v1/empty/index.go:59-64); mutate.IndexMediaType for --docker-empty-base.
    mediaType = flags['docker-empty-base'] ? DOCKER_LIST : OCI_INDEX;
    base = { schemaVersion: 2, mediaType, manifests: [] };
  } else {
    const ref = parseReference(baseRef);
    const client = new RegistryClient(ref.registry, flags.insecure);
    let fetched;
    try {
      await client.authenticate(ref.repository, 'pull');
      fetched = await client.manifest(ref);
    } catch (error) {
      throw new Error(`pulling ${baseRef}: ${error.message}`, { cause: error });
    }
    if (!INDEX_TYPES.has(fetched.mediaType))
      throw new Error(`expected ${baseRef} to be an index, got ${goQuote(fetched.mediaType)}`);
    base = goIndexManifest(JSON.parse(fetched.body.toString('utf8')));
    // remoteIndex.MediaType (pkg/v1/remote/index.go:56-61): the Content-Type it was served with.
    mediaType = fetched.mediaType;
  }
  const index = { ...base, manifests: [...base.manifests, ...adds] };
  const body = Buffer.from(goIndexJson(index));
  const digest = sha256(body);

  let target;
  if (newTag !== '') {
    try {
      target = parseReference(newTag);
    } catch (error) {
      throw new Error(`parsing reference ${newTag}: ${error.message}`, { cause: error });
    }
  } else {
    target = parseReference(baseRef);
    // ref.Context().Digest(digest): the base's repository at the new digest.
    if (target.digest)
      target = { ...target, digest, identifier: digest, original: `${repositoryName(target)}@${digest}` };
  }
  try {
    await writeIndex(target, index, body, digest, mediaType, flags);
  } catch (error) {
    throw new Error(`pushing image ${target.original}: ${error.message}`, { cause: error });
  }
  process.stdout.write(`${repositoryName(target)}@${digest}\n`);
}

/** One `-m` reference as descriptors to append (resolveManifest and collectAddendums). */
async function collectAddendum(text, flags, flatten) {
  // resolveManifest tries a local tarball or OCI layout first (index.go:365, push.go:90-102).
  if (existsSync(text))
    throw new Error(`appending a local image (${text}) is not supported by the crane stand-in`);
  const ref = parseReference(text);
  const client = new RegistryClient(ref.registry, flags.insecure);
  await client.authenticate(ref.repository, 'pull');
  const fetched = await client.manifest(ref);
  const parsed = JSON.parse(fetched.body.toString('utf8'));
  // fetchManifest's descriptor (pkg/v1/remote/fetcher.go:197-229): the manifest's annotations and
  // artifactType, else its config's media type ("" for an index, which has no config).
  const descriptor = {
    mediaType: fetched.mediaType,
    size: fetched.body.length,
    digest: fetched.digest,
    annotations: parsed.annotations,
    artifactType: parsed.artifactType || parsed.config?.mediaType || '',
  };
  if (IMAGE_TYPES.has(fetched.mediaType)) {
    // The platform comes from the config: ConfigFile.Platform() (pkg/v1/config.go:46-57).
    const config = JSON.parse((await client.blob(ref.repository, parsed.config.digest)).toString('utf8'));
    return [goDescriptor({ ...descriptor, platform: configPlatform(config) })];
  }
  if (!INDEX_TYPES.has(fetched.mediaType)) throw new Error(`unknown media type: ${fetched.mediaType}`);
  if (!flatten) return [goDescriptor(descriptor)];
  const adds = [];
  for (const child of goIndexManifest(parsed).manifests) {
    if (child.data !== undefined)
      throw new Error(`a child with embedded data (${child.digest}) is not supported by the crane stand-in`);
    if (!IMAGE_TYPES.has(child.mediaType) && !INDEX_TYPES.has(child.mediaType))
      throw new Error(`unexpected child media type: ${child.mediaType}`);
    // idx.Image / idx.ImageIndex fetch the child (remote/index.go:206-245); an image child's
    // descriptor takes the child manifest's artifactType, else its config's media type.
    const childRef = { ...ref, tag: undefined, digest: child.digest, identifier: child.digest };
    const childManifest = JSON.parse((await client.manifest(childRef)).body.toString('utf8'));
    if (IMAGE_TYPES.has(child.mediaType))
      adds.push({
        ...child,
        artifactType: childManifest.artifactType || childManifest.config?.mediaType || '',
      });
    else adds.push(child);
  }
  return adds;
}

/** ConfigFile.Platform(): none when os, architecture, os.version, variant and os.features are empty. */
function configPlatform(config) {
  const platform = {
    architecture: config.architecture ?? '',
    os: config.os ?? '',
    'os.version': config['os.version'] ?? '',
    'os.features': config['os.features'] ?? [],
    variant: config.variant ?? '',
  };
  const empty = !platform.os && !platform.architecture && !platform['os.version'] && !platform.variant;
  return empty && platform['os.features'].length === 0 ? undefined : platform;
}

/**
 * remote.WriteIndex (pkg/v1/remote/pusher.go:292-460 at v0.21.9): HEAD the target (a tag first,
 * outside the per-digest work; a digest inside it); if it already is this index, done. Otherwise
 * HEAD each child once (a digest the target HEAD answered with counts as seen); one that is
 * missing would be copied by crane, which the stand-in refuses. Then PUT the index with its media
 * type as Content-Type. crane runs the child checks concurrently; the stand-in in order.
 */
async function writeIndex(target, index, body, digest, mediaType, flags) {
  const client = new RegistryClient(target.registry, flags.insecure);
  await client.authenticate(target.repository, 'push,pull');
  const seen = new Set([digest]);
  const exists = async (ref, want) => {
    const head = await client.call('HEAD', `/v2/${ref.repository}/manifests/${ref.identifier}`, {
      headers: { Accept: ACCEPTED_MANIFESTS },
      expect: [200, 403, 404],
    });
    if (head.status !== 200) return false;
    // fetcher.headManifest (pkg/v1/remote/fetcher.go:256-281) insists on these headers.
    const url = `${client.base}/v2/${ref.repository}/manifests/${ref.identifier}`;
    if (!head.headers['content-type'])
      throw new Error(`HEAD ${url}: response did not include Content-Type header`);
    if (!head.headers['docker-content-digest'])
      throw new Error(`HEAD ${url}: response did not include Docker-Content-Digest header`);
    const got = head.headers['docker-content-digest'];
    if (got !== want) {
      seen.add(got);
      return false;
    }
    log(ref.tag ? `existing manifest: ${ref.tag}@${got}` : `existing manifest: ${got}`);
    return true;
  };
  if (await exists(target, digest)) return;
  for (const child of index.manifests) {
    if (seen.has(child.digest)) continue;
    seen.add(child.digest);
    if (!IMAGE_TYPES.has(child.mediaType) && !INDEX_TYPES.has(child.mediaType))
      throw new Error(
        `writing a ${child.mediaType} child (${child.digest}) is not supported by the crane stand-in`,
      );
    const childRef = { ...target, tag: undefined, digest: child.digest, identifier: child.digest };
    if (!(await exists(childRef, child.digest)))
      throw new Error(
        `${repositoryName(target)}@${child.digest} is not in the repository: copying it there is not supported by the crane stand-in`,
      );
  }
  await client.call('PUT', `/v2/${target.repository}/manifests/${target.identifier}`, {
    headers: { 'Content-Type': mediaType },
    body,
    expect: [200, 201, 202],
  });
  log(`${target.original}: digest: ${digest} size: ${body.length}`);
}

// json.Marshal of v1.IndexManifest, v1.Descriptor and v1.Platform (pkg/v1/manifest.go:36-55,
// platform.go:24-31): declared field order, omitempty fields left out when empty. Decoding into
// those structs drops unknown keys and matches keys case-insensitively; rather than mimic that,
// the stand-in refuses anything but the exact keys it re-encodes.

const INDEX_KEYS = ['schemaVersion', 'mediaType', 'manifests', 'annotations', 'artifactType'];
const DESCRIPTOR_KEYS = ['mediaType', 'size', 'digest', 'urls', 'annotations', 'platform', 'artifactType'];
const PLATFORM_KEYS = ['architecture', 'os', 'os.version', 'os.features', 'variant', 'features'];

function onlyKeys(object, keys, what) {
  if (object === null || typeof object !== 'object' || Array.isArray(object))
    throw new Error(`${what} is not a JSON object`);
  const extra = Object.keys(object).filter((key) => !keys.includes(key));
  if (extra.length > 0)
    throw new Error(`${what} has fields the crane stand-in does not re-encode: ${extra.join(', ')}`);
  return object;
}

function goIndexManifest(parsed) {
  onlyKeys(parsed, INDEX_KEYS, 'the index');
  return { ...parsed, manifests: (parsed.manifests ?? []).map((child) => goDescriptor(child)) };
}

function goDescriptor(descriptor) {
  const copy = Object.fromEntries(Object.entries(descriptor).filter(([, value]) => value !== undefined));
  onlyKeys(copy, DESCRIPTOR_KEYS, 'a descriptor');
  if (copy.platform) onlyKeys(copy.platform, PLATFORM_KEYS, 'a platform');
  return copy;
}

function goIndexJson(index) {
  const parts = [`"schemaVersion":${index.schemaVersion ?? 0}`];
  if (index.mediaType) parts.push(`"mediaType":${goString(index.mediaType)}`);
  parts.push(`"manifests":[${index.manifests.map(goDescriptorJson).join(',')}]`);
  if (index.annotations && Object.keys(index.annotations).length > 0)
    parts.push(`"annotations":${goMapJson(index.annotations)}`);
  if (index.artifactType) parts.push(`"artifactType":${goString(index.artifactType)}`);
  return `{${parts.join(',')}}`;
}

function goDescriptorJson(descriptor) {
  const parts = [
    `"mediaType":${goString(descriptor.mediaType ?? '')}`,
    `"size":${descriptor.size ?? 0}`,
    `"digest":${goString(descriptor.digest)}`,
  ];
  if (descriptor.urls?.length) parts.push(`"urls":[${descriptor.urls.map(goString).join(',')}]`);
  if (descriptor.annotations && Object.keys(descriptor.annotations).length > 0)
    parts.push(`"annotations":${goMapJson(descriptor.annotations)}`);
  if (descriptor.platform) {
    const p = descriptor.platform;
    const fields = [`"architecture":${goString(p.architecture ?? '')}`, `"os":${goString(p.os ?? '')}`];
    if (p['os.version']) fields.push(`"os.version":${goString(p['os.version'])}`);
    if (p['os.features']?.length) fields.push(`"os.features":[${p['os.features'].map(goString).join(',')}]`);
    if (p.variant) fields.push(`"variant":${goString(p.variant)}`);
    if (p.features?.length) fields.push(`"features":[${p.features.map(goString).join(',')}]`);
    parts.push(`"platform":{${fields.join(',')}}`);
  }
  if (descriptor.artifactType) parts.push(`"artifactType":${goString(descriptor.artifactType)}`);
  return `{${parts.join(',')}}`;
}

/** A map[string]string: keys sorted bytewise. */
function goMapJson(map) {
  const keys = Object.keys(map).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((key) => `${goString(key)}:${goString(map[key])}`).join(',')}}`;
}

/** encoding/json's string: <, >, &, U+2028, U+2029 and controls escaped (Go 1.22+), the rest UTF-8. */
function goString(text) {
  if (typeof text !== 'string') throw new Error(`expected a JSON string, got ${JSON.stringify(text)}`);
  const short = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0);
    if (short[char]) out += short[char];
    else if (code < 0x20 || '<>&'.includes(char) || code === 0x2028 || code === 0x2029)
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += '\ufffd';
    else out += char;
  }
  return `${out}"`;
}

const LAYER_EXTENSIONS = {
  'application/vnd.oci.image.layer.v1.tar+zstd': '.tar.zst',
  'application/vnd.oci.image.layer.v1.tar': '.tar',
  'application/vnd.docker.image.rootfs.diff.tar': '.tar',
};

/**
 * `crane pull [--format tarball] IMAGE TARBALL` (cmd/crane/cmd/pull.go and pkg/crane/pull.go
 * MultiSave, pkg/v1/tarball/write.go, v0.21.9): the image (an index's child for --platform,
 * linux/amd64 by default, as remote.Image picks it) as a docker-archive: the config as
 * `sha256:<hex>`, each distinct layer blob as stored (`<hex>.tar.gz`), then manifest.json, whose
 * RepoTags is the tag pulled, or `<repo>:i-was-a-digest` for a digest. Entries are mode 0644.
 * One image per call; legacy and oci formats are not implemented.
 */
async function pull(args, flags) {
  if (args.length < 2) throw new UsageError(`requires at least 2 arg(s), only received ${args.length}`);
  if (args.length > 2)
    throw new Error('pulling several images in one call is not supported by the crane stand-in');
  const format = flags.format ?? 'tarball';
  if (format === 'legacy' || format === 'oci')
    throw new Error(`--format ${format} is not supported by the crane stand-in`);
  if (format !== 'tarball')
    throw new Error(`unexpected --format: "${format}" (valid values are: tarball, legacy, and oci)`);
  const ref = parseReference(args[0]);
  const client = new RegistryClient(ref.registry, flags.insecure);
  await client.authenticate(ref.repository, 'pull');
  const image = await resolveImage(client, ref, flags.platform);
  const parsed = JSON.parse(image.body.toString('utf8'));
  if (parsed.schemaVersion === 1) throw new Error('schema 1 images are not supported by the crane stand-in');
  const entry = (name, data) => writeEntry({ ...PULLED_FILE, name, data });
  const config = await client.blob(ref.repository, parsed.config.digest);
  const blocks = [...entry(parsed.config.digest, config)];
  const layerFiles = [];
  for (const layer of parsed.layers ?? []) {
    const name = `${layer.digest.slice('sha256:'.length)}${LAYER_EXTENSIONS[layer.mediaType] ?? '.tar.gz'}`;
    if (!layerFiles.includes(name))
      blocks.push(...entry(name, await client.blob(ref.repository, layer.digest)));
    layerFiles.push(name);
  }
  const repoTag = `${repositoryName(ref)}:${ref.tag ?? 'i-was-a-digest'}`;
  const archive = [{ Config: parsed.config.digest, RepoTags: [repoTag], Layers: layerFiles }];
  blocks.push(...entry('manifest.json', Buffer.from(JSON.stringify(archive))), Buffer.alloc(1024));
  try {
    writeFileSync(args[1], Buffer.concat(blocks));
  } catch (error) {
    throw new Error(`saving tarball ${args[1]}: ${error.message}`, { cause: error });
  }
}

/** Go's tar.Header{Mode: 0644, Typeflag: TypeReg}: everything else zero. */
const PULLED_FILE = {
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  type: '0',
  linkname: '',
  uname: '',
  gname: '',
  devmajor: 0,
  devminor: 0,
};

async function main(argv) {
  const { flags, positionals } = parseArgv(argv);
  const [command, ...rest] = positionals;
  const scoped = command === 'auth' || command === 'index' ? `${command} ${rest[0] ?? ''}` : command;
  for (const name of Object.keys(flags))
    if (FLAGS[name].scope !== 'global' && FLAGS[name].scope !== scoped) {
      const given = argv.find(
        (arg) => arg === `-${FLAGS[name].short}` || arg.startsWith(`-${FLAGS[name].short}`),
      );
      throw new UsageError(
        FLAGS[name].short && given && !given.startsWith('--')
          ? `unknown shorthand flag: '${FLAGS[name].short}' in ${given}`
          : `unknown flag: --${name}`,
      );
    }
  switch (scoped) {
    case 'version':
      expectArgs(rest, 0, 0);
      process.stdout.write(`${VERSION}\n`);
      return;
    case 'auth login':
      return login(rest.slice(1), flags);
    case 'push':
      return push(rest, flags);
    case 'tag':
      return tag(rest, flags);
    case 'digest':
      return digest(rest, flags);
    case 'config':
      return config(rest, flags);
    case 'export':
      return exportFilesystem(rest, flags);
    case 'copy':
      return copy(rest, flags);
    case 'manifest':
      return manifest(rest, flags);
    case 'pull':
      return pull(rest, flags);
    case 'index append':
      return indexAppend(rest.slice(1), flags);
    default:
      throw new UsageError(
        `unknown command "${positionals.join(' ')}" for "crane" (the stand-in implements version, auth login, push, tag, digest, config, export, copy, manifest, pull, index append)`,
      );
  }
}

// exitCode rather than exit(): stdout may still hold an exported filesystem being written.
main(process.argv.slice(2)).then(
  () => (process.exitCode = 0),
  (error) => {
    process.stderr.write(`Error: ${error.message}\n`);
    process.exitCode = 1;
  },
);
