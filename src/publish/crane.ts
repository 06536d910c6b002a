import * as core from '@actions/core';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { recordForCleanup } from '../cleanup.js';
import type { RunResult } from '../exec.js';
import { childEnv, lastLines, run } from '../exec.js';
import { classifyCraneFailure } from './failures.js';
import { digestReference, isDigest, printedDigest, pushedDigest, taggedReference } from './references.js';
import type { RetryPolicy } from './retry.js';
import { DEFAULT_RETRY, backoffDelay } from './retry.js';

/** crane's whole environment: the runner's basics (see childEnv) and DOCKER_CONFIG. */
export function craneEnv(
  environment: Readonly<Record<string, string | undefined>>,
  dockerConfigDir: string | undefined,
): Record<string, string> {
  return childEnv(dockerConfigDir === undefined ? {} : { DOCKER_CONFIG: dockerConfigDir }, environment);
}

/** crane's argv: the global `--insecure` first, as cobra accepts it anywhere. */
export function craneArgs(insecure: boolean, args: readonly string[]): string[] {
  return insecure ? ['--insecure', ...args] : [...args];
}

export interface LoginOptions {
  /** Path of the crane binary. */
  readonly crane: string;
  /** Registry host, e.g. `ghcr.io` or `127.0.0.1:5000`. */
  readonly registry: string;
  readonly username: string;
  readonly password: string;
  /** A directory inside the caller's private temporary directory; created with mode 0700. */
  readonly dockerConfigDir: string;
}

export interface LoginResult {
  /** Pass this as `dockerConfigDir` to `publishImage`. */
  readonly dockerConfigDir: string;
  /** The credential file crane wrote (mode 0600); the post step deletes its directory. */
  readonly configFile: string;
}

/**
 * Stores registry credentials with `crane auth login --password-stdin` in a private
 * DOCKER_CONFIG. The password travels on stdin only: never in argv, the environment or the log.
 */
export async function loginRegistry(options: LoginOptions): Promise<LoginResult> {
  const { crane, registry, username, password, dockerConfigDir } = options;
  if (!username || !password)
    throw new Error(
      `Cannot log in to ${registry}: the ${username ? 'password' : 'username'} is empty. Give both \`registry-username\` and \`registry-password\`.`,
    );
  core.setSecret(password);
  core.setSecret(Buffer.from(`${username}:${password}`).toString('base64'));
  // Recorded before anything is written, so the post step removes it even if this step dies.
  recordForCleanup(dockerConfigDir);
  await mkdir(dockerConfigDir, { recursive: true, mode: 0o700 });
  await chmod(dockerConfigDir, 0o700);
  const result = await run(crane, ['auth', 'login', registry, '-u', username, '--password-stdin'], {
    env: craneEnv(process.env, dockerConfigDir),
    input: password,
    silent: true,
  });
  if (result.exitCode !== 0)
    throw new Error(
      `crane auth login ${registry} failed (exit code ${result.exitCode}):\n${failureText(result)}`,
    );
  const configFile = join(dockerConfigDir, 'config.json');
  await chmod(configFile, 0o600);
  // crane auth login only writes the file: a wrong password shows up as a 401 at push time.
  core.info(
    `Stored credentials for ${username} on ${registry} in a private DOCKER_CONFIG (checked at push).`,
  );
  return { dockerConfigDir, configFile };
}

export interface PublishOptions {
  /** Path of the crane binary. */
  readonly crane: string;
  /** The image tarball the build wrote and the scan passed. */
  readonly tarball: string;
  /** Repository without tag or digest, e.g. `ghcr.io/owner/app`. */
  readonly image: string;
  /** Bare tags; the first is uploaded, the others point at it. At least one. */
  readonly tags: readonly string[];
  /** The tarball's manifest digest, as the build computed it: what was scanned. */
  readonly expectedDigest: string;
  /** The registry has no valid TLS (listed in `insecure-registries`). */
  readonly insecure: boolean;
  /** From `loginRegistry`; without it crane uses the runner's own Docker configuration. */
  readonly dockerConfigDir?: string;
  readonly retry?: Partial<RetryPolicy>;
}

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
 * Uploads the scanned tarball once (`crane push`), adds the other tags without a second upload
 * (`crane tag`), and reads the digest of every reference back from the registry: each must be
 * the digest of what was scanned. Transient registry errors are retried with backoff.
 */
export async function publishImage(options: PublishOptions): Promise<PublishResult> {
  const { image, tags, expectedDigest } = options;
  const [firstTag, ...otherTags] = tags;
  if (firstTag === undefined) throw new Error(`No tags to publish ${image} with: give at least one tag.`);
  if (!isDigest(expectedDigest))
    throw new Error(`The expected digest "${expectedDigest}" of ${options.tarball} is not a sha256 digest.`);
  const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const registry = image.split('/', 1)[0] ?? image;
  const references = tags.map((tag) => taggedReference(image, tag));
  const pushed: string[] = [];

  const crane = (what: string, args: readonly string[]): Promise<RunResult> =>
    runWithRetry(options, policy, registry, what, args).catch((error: unknown) => {
      throw partialFailure(error, pushed, references);
    });
  const verify = async (reference: string): Promise<void> => {
    const result = await crane(`crane digest ${reference}`, ['digest', reference]);
    const digest = printedDigest(result.stdout);
    if (digest === expectedDigest) return;
    throw partialFailure(
      new Error(
        `Digest mismatch for ${reference}: the registry reports ${digest ?? `"${result.stdout.trim()}"`} but the scanned image is ${expectedDigest}. ` +
          'What the registry serves is not what was scanned; do not use this reference.',
      ),
      pushed,
      references,
    );
  };

  const first = references[0]!;
  core.info(`Pushing ${options.tarball} to ${first}`);
  const push = await crane(`crane push ${first}`, ['push', options.tarball, first]);
  pushed.push(first);
  const uploaded = pushedDigest(push.stdout);
  if (uploaded !== expectedDigest)
    throw partialFailure(
      new Error(
        `Digest mismatch after crane push ${first}: crane uploaded ${uploaded ?? `"${push.stdout.trim()}"`} but the scanned image is ${expectedDigest}. ` +
          'The tarball was changed or rewritten between scan and push; do not use this reference.',
      ),
      pushed,
      references,
    );
  await verify(first);
  for (const [index, tag] of otherTags.entries()) {
    const reference = references[index + 1]!;
    await crane(`crane tag ${first} ${tag}`, ['tag', first, tag]);
    pushed.push(reference);
    await verify(reference);
  }
  core.info(`Published ${digestReference(image, expectedDigest)} as ${tags.join(', ')}`);
  return { digest: expectedDigest, image: digestReference(image, expectedDigest), references };
}

async function runWithRetry(
  options: PublishOptions,
  policy: RetryPolicy,
  registry: string,
  what: string,
  args: readonly string[],
): Promise<RunResult> {
  for (let attempt = 1; ; attempt++) {
    const result = await run(options.crane, craneArgs(options.insecure, args), {
      env: craneEnv(process.env, options.dockerConfigDir),
      silent: true,
    });
    if (result.exitCode === 0) return result;
    const failure = classifyCraneFailure(result.stderr, registry);
    const detail = failureText(result);
    if (!failure.transient)
      throw new Error(`${what} failed:\n${detail}${failure.hint ? `\n${failure.hint}` : ''}`);
    if (attempt >= policy.attempts)
      throw new Error(
        `${what} failed ${attempt} times with transient registry errors; the last was:\n${detail}\n` +
          `${registry} may be overloaded or down; run the job again later.`,
      );
    const delay = backoffDelay(policy, attempt);
    core.warning(
      `${what} failed (attempt ${attempt} of ${policy.attempts}), retrying in ${(delay / 1000).toFixed(1)} s: ${lastLines(detail, 1)}`,
    );
    await policy.sleep(delay);
  }
}

function failureText(result: RunResult): string {
  return lastLines(result.stderr.trim() || result.stdout.trim() || `exit code ${result.exitCode}`, 20);
}

function partialFailure(error: unknown, pushed: readonly string[], references: readonly string[]): Error {
  if (error instanceof PublishError) return error;
  const notPushed = references.filter((reference) => !pushed.includes(reference));
  const message = error instanceof Error ? error.message : String(error);
  const state =
    pushed.length === 0
      ? 'Nothing was pushed.'
      : `Pushed: ${pushed.join(', ')}. Not pushed: ${notPushed.length ? notPushed.join(', ') : 'none'}.`;
  return new PublishError(`${message}\n${state}`, pushed, notPushed);
}
