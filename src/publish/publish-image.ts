import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordForCleanup } from '../cleanup.js';
import type { RunResult } from '../exec.js';
import { mapAtMost } from '../at-most.js';
import { ToolError, lastLines } from '../exec.js';
import {
  DEFAULT_REGISTRY,
  digestOf,
  digestReference,
  isDigest,
  registryOf,
  taggedReference,
} from '../reference.js';
import type { Registries } from '../registries.js';
import { basicToken } from '../registries.js';
import type { RetryOptions } from '../retry.js';
import type { TimeLimit } from '../timeout-settings.js';
import { withRetry } from '../retry.js';
import type { Crane } from '../tools/crane-command.js';
import { craneCommand, printedDigest, pushedDigest } from '../tools/crane-command.js';
import { classifyCraneFailure } from './failures.js';
import { OCI_IMAGE_INDEX } from './image-index.js';
import { DOCKER_MANIFEST_LIST, IMAGE_MANIFEST_TYPES } from '../build/tarball.js';
import type { ServedManifest } from '../registry-client.js';
import { RegistryClient, unlessUnanswered } from '../registry-client.js';
import { reporter } from '../reporter.js';

/** How hard publishing tries a registry request that failed transiently. */
export type PublishRetry = Pick<RetryOptions, 'attempts' | 'initialDelayMs' | 'maxDelayMs' | 'sleep'>;

const DEFAULT_PUBLISH_RETRY: PublishRetry = { attempts: 4, initialDelayMs: 2_000, maxDelayMs: 30_000 };

export interface LoginOptions {
  /** Path of the crane binary; login itself runs no crane (see `login`). */
  readonly crane: string;
  /** Registry host, e.g. `ghcr.io` or `127.0.0.1:5000`: its own credential is stored, no other. */
  readonly registry: string;
  readonly registries: Registries;
  /** A directory inside the caller's private temporary directory; created with mode 0700. */
  readonly dockerConfigDir: string;
  /** The push stage's limit on each crane process (see exec.run); login starts none. */
  readonly timeLimit?: TimeLimit;
}

export interface LoginResult {
  /** Pass this as `dockerConfigDir` to `publishImage`. */
  readonly dockerConfigDir: string;
  /** The credential file (mode 0600); the post step deletes its directory. */
  readonly configFile: string;
}

/**
 * Stores the registry's own credential (Registries.credentialFor) in a private DOCKER_CONFIG;
 * undefined when there is none for it. The file is the one `crane auth login --password-stdin`
 * writes (go-containerregistry v0.21.9 cmd/crane/cmd/auth.go, docker/cli's configfile.Save):
 * `{"auths": {host: {"auth": base64(user:password)}}}`, tab-indented, Docker Hub keyed
 * `https://index.docker.io/v1/`, created 0600 under a temporary name and renamed into place in
 * a 0700 folder. It is written here rather than by a crane process that would only write it: the
 * password is never in any process's argv, environment or stdin, nor in the log (Registries
 * masked it).
 */
export async function login(options: LoginOptions): Promise<LoginResult | undefined> {
  const { registry, dockerConfigDir } = options;
  const credential = options.registries.credentialFor(registry);
  if (!credential) return undefined;
  if (!credential.username || !credential.password)
    throw new Error(
      `Cannot log in to ${registry}: the ${credential.username ? 'password' : 'username'} is empty. Give both \`registry-username\` and \`registry-password\`.`,
    );
  // Recorded before anything is written, so the post step removes it even if this step dies.
  recordForCleanup(dockerConfigDir);
  await mkdir(dockerConfigDir, { recursive: true, mode: 0o700 });
  await chmod(dockerConfigDir, 0o700);
  const configFile = join(dockerConfigDir, 'config.json');
  await storeCredential(configFile, credentialKey(registry), basicToken(credential));
  // Nothing reaches the registry here: a wrong password shows up as a 401 at push time.
  reporter().info(
    `Stored credentials for ${credential.username} on ${registry} in a private DOCKER_CONFIG (checked at push).`,
  );
  return { dockerConfigDir, configFile };
}

/** The key crane stores a registry's credential under (name.NewRegistry, then authn.DefaultAuthKey). */
function credentialKey(registry: string): string {
  return registry === 'docker.io' || registry === DEFAULT_REGISTRY ? 'https://index.docker.io/v1/' : registry;
}

/**
 * Adds one `auths` entry to the config file (keeping what it holds, as crane does), written 0600
 * under a temporary name in the same folder, then renamed over the old file.
 */
async function storeCredential(configFile: string, key: string, auth: string): Promise<void> {
  let config: { auths?: Record<string, unknown> } = {};
  try {
    config = JSON.parse(await readFile(configFile, 'utf8')) as typeof config;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read the private Docker config ${configFile}: ${(error as Error).message}`, {
        cause: error,
      });
  }
  const text = JSON.stringify({ ...config, auths: { ...config.auths, [key]: { auth } } }, null, '\t');
  const temporary = `${configFile}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
    await chmod(temporary, 0o600);
    await rename(temporary, configFile);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export interface PublishOptions {
  /** Path of the crane binary. */
  readonly crane: string;
  /** What is uploaded under `expectedDigest`. */
  readonly source: PublishSource;
  /** Repository without tag or digest, e.g. `ghcr.io/owner/app`. */
  readonly image: string;
  /** Bare tags, each pointed at the pushed digest once it is verified; none for a push by digest only. */
  readonly tags: readonly string[];
  /** The manifest digest as the action computed it: what was scanned, or the index of what was. */
  readonly expectedDigest: string;
  /** Decides `--insecure` for the image's registry. */
  readonly registries: Registries;
  /** From `login`; without it crane uses the runner's own Docker configuration. */
  readonly dockerConfigDir?: string;
  readonly retry?: Partial<PublishRetry>;
  /** The push stage's limit on each crane process (see exec.run). */
  readonly timeLimit?: TimeLimit;
  /**
   * No tag is set before this resolves (the upload by digest does not wait for it): what must be
   * done before anything points at the image, e.g. the scan's SARIF, SBOM and predicate. Should it
   * reject, publishImage fails with its error and sets no tag; the uploaded manifest stays
   * untagged, which nothing points at.
   */
  readonly tagAfter?: Promise<unknown>;
}

/**
 * The scanned tarball (`crane push`), or an index of manifests already in `image`
 * (`crane index append`, whose bytes the action predicted: see image-index.ts).
 */
export type PublishSource =
  { readonly tarball: string } | { readonly craneArgs: readonly string[]; readonly description: string };

export interface PublishResult {
  /** The digest the registry reports for every pushed reference; equals `expectedDigest`. */
  readonly digest: string;
  /** `image@digest`. */
  readonly image: string;
  /** `image:tag` for every tag, in the order of `tags`. */
  readonly references: readonly string[];
}

/** A publish that stopped part-way; it knows which references exist in the registry. */
export class PublishError extends Error {
  constructor(
    message: string,
    readonly pushed: readonly string[],
    readonly notPushed: readonly string[],
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

/**
 * Uploads the scanned tarball once, by digest (`crane push <tarball> image@<expectedDigest>`): the
 * registry refuses a manifest whose content does not match the digest in its URL, so nothing is
 * stored under a name unless it is exactly what was scanned, and no tag exists yet. Only then
 * (and once `tagAfter` has resolved) does each tag point at that digest, and then all are read
 * back from the registry, a few at once: both by the action itself (setTag, readBack), or by
 * `crane tag` and `crane digest` when the registry does not answer it. Transient registry errors
 * are retried with backoff.
 */
export async function publishImage(options: PublishOptions): Promise<PublishResult> {
  // Observed at once: it may reject while the upload is still under way.
  const mayTag = options.tagAfter?.then(() => true).catch(() => false);
  const { image, tags, expectedDigest } = options;
  if (!isDigest(expectedDigest))
    throw new Error(
      `The expected digest "${expectedDigest}" of ${sourceName(options.source)} is not a sha256 digest.`,
    );
  const retry: PublishRetry = { ...DEFAULT_PUBLISH_RETRY, ...options.retry };
  const registry = registryOf(image);
  const pinned = digestReference(image, expectedDigest);
  const references = tags.map((tag) => taggedReference(image, tag));
  const pushed: string[] = [];
  const runner = craneCommand({
    path: options.crane,
    registry,
    registries: options.registries,
    ...(options.dockerConfigDir !== undefined && { dockerConfigDir: options.dockerConfigDir }),
    ...(options.timeLimit && { timeLimit: options.timeLimit }),
  });

  const crane = (args: readonly string[]): Promise<RunResult> => runWithRetry(runner, retry, registry, args);
  // Made before the upload: what it reads with loads meanwhile.
  const client = new RegistryClient(image, options.registries, 'pull,push');
  await uploadByDigest(crane, options.source, pinned, expectedDigest).catch((error: unknown) => {
    throw partialFailure(error, pushed, references);
  });
  if ((await mayTag) === false)
    throw new PublishError(
      `No tag was set: ${pinned} was pushed by digest, and nothing points at it, as what must come before any tag failed.`,
      [],
      references,
    );
  const uploaded = tags.length > 0 ? await uploadedManifest(client, expectedDigest) : undefined;
  for (const [index, tag] of tags.entries()) {
    await setTag(client, uploaded, crane, pinned, tag).catch((error: unknown) => {
      throw partialFailure(error, pushed, references);
    });
    pushed.push(references[index]!);
  }
  // Read back together, once every tag is set: two writes of one manifest at once race in some
  // registries (distribution's filesystem storage answered UNKNOWN to a concurrent `crane tag`).
  const verify = (tag: string) => verifyTag(client, crane, taggedReference(image, tag), tag, expectedDigest);
  await mapAtMost(tags, READ_BACK_CONCURRENCY, verify).catch((error: unknown) => {
    throw partialFailure(error, pushed, references);
  });
  reporter().info(
    tags.length > 0 ? `Published ${pinned} as ${tags.join(', ')}` : `Pushed ${pinned} (no tag)`,
  );
  return { digest: expectedDigest, image: pinned, references };
}

/** What a read back accepts: every manifest type a tag can name (crane digest accepts the same). */
const READ_BACK_TYPES = [...IMAGE_MANIFEST_TYPES, OCI_IMAGE_INDEX, DOCKER_MANIFEST_LIST];

/**
 * The manifest just uploaded, read back by its digest and checked against it: what each tag is
 * given, as `crane tag` gives it. Undefined when it cannot be read (then crane sets the tags).
 */
async function uploadedManifest(client: RegistryClient, digest: string): Promise<ServedManifest | undefined> {
  const served = await unlessUnanswered(
    () => client.manifest(digest, READ_BACK_TYPES),
    (reason) => reporter().debug(`${digest}: not read back (${reason}); crane sets the tags`),
  );
  return served && digestOf(served.body) === digest ? served : undefined;
}

/**
 * Points `tag` at the uploaded manifest: a PUT of its very bytes by the action, or `crane tag`
 * (retried) when the action has no bytes or the registry did not take its PUT.
 */
async function setTag(
  client: RegistryClient,
  uploaded: ServedManifest | undefined,
  crane: (args: readonly string[]) => Promise<RunResult>,
  pinned: string,
  tag: string,
): Promise<void> {
  const set =
    uploaded &&
    (await unlessUnanswered(
      () => client.putManifest(tag, uploaded).then(() => true),
      (reason) => reporter().debug(`${tag}: not set by the action (${reason}); asking crane`),
    ));
  if (!set) await crane(['tag', pinned, tag]);
}

/** Fails unless the registry serves the scanned digest for `tag` (readBack). */
async function verifyTag(
  client: RegistryClient,
  crane: (args: readonly string[]) => Promise<RunResult>,
  reference: string,
  tag: string,
  expectedDigest: string,
): Promise<void> {
  const digest = await readBack(client, reference, tag, async () => {
    const { stdout } = await crane(['digest', reference]);
    return printedDigest(stdout) ?? `"${stdout.trim()}"`;
  });
  if (digest === expectedDigest) return;
  throw new Error(
    `Digest mismatch for ${reference}: the registry reports ${digest} but the scanned image is ${expectedDigest}. ` +
      'What the registry serves is not what was scanned; do not use this reference.',
  );
}

/**
 * The digest of the manifest the registry serves for `tag`: read in-process (a GET, hashed as
 * read), and with `crane digest` (`withCrane`, retried) when that read gets no answer.
 */
async function readBack(
  client: RegistryClient,
  reference: string,
  tag: string,
  withCrane: () => Promise<string>,
): Promise<string> {
  let reason = 'the registry has no manifest for it';
  const served = await unlessUnanswered(
    () => client.manifest(tag, READ_BACK_TYPES),
    (why) => (reason = why),
  );
  if (served) return digestOf(served.body);
  reporter().debug(`${reference}: not read back by the action (${reason}), asking crane`);
  return withCrane();
}

function sourceName(source: PublishSource): string {
  return 'tarball' in source ? source.tarball : source.description;
}

/**
 * Uploads `source` under `pinned` (its digest): the registry refuses bytes that do not hash to it,
 * and crane must report that very digest, else no tag is set.
 */
async function uploadByDigest(
  crane: (args: readonly string[]) => Promise<RunResult>,
  source: PublishSource,
  pinned: string,
  expectedDigest: string,
): Promise<void> {
  reporter().info(`Pushing ${sourceName(source)} to ${pinned}`);
  const push = await crane(uploadArgs(source, pinned));
  const uploaded = pushedDigest(push.stdout);
  if (uploaded !== expectedDigest)
    throw new Error(
      `Digest mismatch after crane push ${pinned}: crane uploaded ${uploaded ?? `"${push.stdout.trim()}"`} but the scanned image is ${expectedDigest}. ` +
        ('tarball' in source
          ? 'The tarball was changed or rewritten between scan and push; no tag was set.'
          : 'The index crane wrote is not the one the action computed; no tag was set.'),
    );
}

/** crane's upload: the tarball by digest, or the index as planned (image-index.ts). */
function uploadArgs(source: PublishSource, pinned: string): readonly string[] {
  return 'tarball' in source ? ['push', source.tarball, pinned] : source.craneArgs;
}

/** How many tags are read back at once: a few requests in flight, not one per tag. */
const READ_BACK_CONCURRENCY = 4;

/** One crane command with publishing's retries; the final error carries crane's output and a hint. */
async function runWithRetry(
  runner: Crane,
  retry: PublishRetry,
  registry: string,
  args: readonly string[],
): Promise<RunResult> {
  const what = `crane ${args.join(' ')}`;
  const transient = (error: unknown): boolean =>
    error instanceof ToolError && classifyCraneFailure(error.stderr, registry).transient;
  try {
    return await withRetry(() => runner.run(args), {
      ...retry,
      isTransient: transient,
      onRetry: (error, attempt, delay) =>
        reporter().warning(
          `${what} failed (attempt ${attempt} of ${retry.attempts}), retrying in ${(delay / 1000).toFixed(1)} s: ${lastLines(failureText(error), 1)}`,
        ),
    });
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    const detail = failureText(error);
    if (transient(error))
      throw new Error(
        `${what} failed ${retry.attempts} times with transient registry errors; the last was:\n${detail}\n` +
          `${registry} may be overloaded or down; run the job again later.`,
        { cause: error },
      );
    const { hint } = classifyCraneFailure(error.stderr, registry);
    throw new Error(`${what} failed:\n${detail}${hint ? `\n${hint}` : ''}`, { cause: error });
  }
}

/** crane's own last lines; the ToolError message also names the command, which callers say once. */
function failureText(error: unknown): string {
  if (!(error instanceof ToolError)) return String(error);
  return lastLines(error.stderr.trim() || error.message, 20);
}

function partialFailure(error: unknown, pushed: readonly string[], references: readonly string[]): Error {
  if (error instanceof PublishError) return error;
  const notPushed = references.filter((reference) => !pushed.includes(reference));
  const message = error instanceof Error ? error.message : String(error);
  const state =
    pushed.length === 0
      ? 'No tag was set (an upload that finished leaves only an untagged manifest, which nothing points at).'
      : `Pushed: ${pushed.join(', ')}. Not pushed: ${notPushed.length ? notPushed.join(', ') : 'none'}.`;
  return new PublishError(`${message}\n${state}`, pushed, notPushed);
}
