import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { EnvHttpProxyAgent, fetch } from 'undici';
import type { Response } from 'undici';
import { withRetry } from '../retry.js';

/** How hard a download tries: the defaults suit a runner; tests shrink them. */
export interface DownloadPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Wait before the second attempt; it doubles for each further one. */
  readonly backoffMs: number;
  /** A response that sends no headers or no bytes for this long is abandoned (and retried). */
  readonly stallMs: number;
}

export const DEFAULT_DOWNLOAD_POLICY: DownloadPolicy = { attempts: 4, backoffMs: 1000, stallMs: 30_000 };

/** The server answered with a status that retrying will not fix (404, 403, …). */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
  ) {
    super(`GET ${url} answered HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

/** A transient failure: worth another attempt. */
class TransientError extends Error {}

export interface Downloaded {
  readonly sha256: string;
  readonly bytes: number;
}

/**
 * `<mirror>/<owner>/<repo>/releases/download/<tag>/<asset>`: the GitHub release layout, which
 * `tool-mirror` keeps so that GHES and air-gapped mirrors only replace `https://github.com`.
 */
export function releaseUrl(mirror: string, owner: string, repo: string, tag: string, asset: string): string {
  return `${mirror.replace(/\/+$/, '')}/${owner}/${repo}/releases/download/${tag}/${asset}`;
}

/**
 * Downloads `url` into `destination` and returns the SHA-256 of the bytes written. Retries with
 * exponential backoff on 5xx, 408, 429, connection errors and stalls; any other status fails at
 * once with an HttpStatusError. A failed attempt leaves no partial file behind.
 */
export async function downloadFile(
  url: string,
  destination: string,
  policy: DownloadPolicy = DEFAULT_DOWNLOAD_POLICY,
): Promise<Downloaded> {
  try {
    return await withRetry(
      async () => {
        try {
          return await downloadOnce(url, destination, policy.stallMs);
        } catch (error) {
          await rm(destination, { force: true });
          throw error;
        }
      },
      {
        attempts: policy.attempts,
        initialDelayMs: policy.backoffMs,
        isTransient: (error) => error instanceof TransientError,
      },
    );
  } catch (error) {
    if (!(error instanceof TransientError)) throw error;
    throw new Error(
      `download of ${url} failed after ${policy.attempts} attempts: ${error.message}. Check the network, or point \`tool-mirror\` at a reachable mirror.`,
      { cause: error },
    );
  }
}

async function downloadOnce(url: string, destination: string, stallMs: number): Promise<Downloaded> {
  const controller = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      controller.abort();
    }, stallMs);
  };
  const transient = (error: unknown): Error =>
    stalled
      ? new TransientError(`the server sent nothing for ${stallMs / 1000} s`)
      : new TransientError(describeNetworkError(error), { cause: error });

  watch();
  try {
    let response: Response;
    try {
      // undici's fetch with EnvHttpProxyAgent honours HTTP(S)_PROXY and NO_PROXY, as a
      // self-hosted runner behind a proxy needs; Node's global fetch ignores them.
      response = await fetch(url, {
        signal: controller.signal,
        redirect: 'follow',
        ...(proxyConfigured() ? { dispatcher: new EnvHttpProxyAgent() } : {}),
      });
    } catch (error) {
      throw transient(error);
    }
    watch();
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 500 || response.status === 408 || response.status === 429)
        throw new TransientError(`HTTP ${response.status}`);
      throw new HttpStatusError(url, response.status);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        watch();
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        meter,
        createWriteStream(destination),
      );
    } catch (error) {
      throw transient(error);
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    clearTimeout(timer);
  }
}

/** Only then is the proxy agent made: undici warns on every process that creates one. */
export function proxyConfigured(): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) =>
    Boolean(process.env[name]),
  );
}

/** fetch reports every network failure as "fetch failed"; the useful part is in the cause. */
export function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const message = (error as Error).message;
  return cause?.code ?? cause?.message ?? message;
}

/** `<sha256>  <file>` lines (sha256sum and goreleaser format) → file name → lower-case hash. */
export function parseChecksums(text: string): Map<string, string> {
  const checksums = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([a-fA-F0-9]{64})\s+\*?(\S+)\s*$/.exec(line.trim());
    if (match) checksums.set(match[2]!, match[1]!.toLowerCase());
  }
  return checksums;
}
