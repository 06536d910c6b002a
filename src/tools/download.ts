import { createHash } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type * as Undici from 'undici';
import { withRetry } from '../retry.js';
import { loadUndici, proxyConfigured } from '../proxied-fetch.js';

/** How hard a download tries: the defaults suit a runner; tests shrink them. */
export interface DownloadPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  /** Wait before the second attempt; it doubles for each further one. */
  readonly backoffMs: number;
  /** A response that sends no headers or no bytes for this long is abandoned (and retried). */
  readonly stallMs: number;
}

/** GitHub answers every release download with one redirect to its object storage. */
const MAX_REDIRECTIONS = 5;

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

/**
 * One GET through undici's dispatcher API rather than fetch: fetch holds undici's HTTP/1 parser
 * paused whenever its body buffer is full (16 KiB on Node 20), and undici 6 then crashes the process
 * (`AssertionError: assert(!this.paused)` from the socket's 'end' handler, nodejs/undici#5360)
 * when the server closes the connection after the last byte, as HTTP/1.0 mirrors do. This handler
 * never pauses the parser: every chunk is hashed and handed to the file as it arrives, so at most
 * one file's worth waits in memory when the disk is slower than the network.
 */
async function downloadOnce(url: string, destination: string, stallMs: number): Promise<Downloaded> {
  // Loaded by the first download, not at start: a warm tool cache downloads nothing.
  const undici = await loadUndici();
  return new Promise((resolve, reject) =>
    new DownloadAttempt(url, destination, stallMs, resolve, reject).start(undici),
  );
}

/**
 * One GET through undici's dispatcher: each chunk is hashed and written as it arrives, and the
 * handler never pauses the parser (a paused parser is what crashed on mirrors that close the
 * connection). A stall aborts the request; a failure waits for the file to close.
 */
class DownloadAttempt {
  readonly #hash = createHash('sha256');
  #bytes = 0;
  #file: WriteStream | undefined;
  #abortRequest: ((error: Error) => void) | undefined;
  #settled = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #stall: TransientError;

  constructor(
    private readonly url: string,
    private readonly destination: string,
    private readonly stallMs: number,
    private readonly resolve: (downloaded: Downloaded) => void,
    private readonly reject: (error: Error) => void,
  ) {
    this.#stall = new TransientError(`the server sent nothing for ${stallMs / 1000} s`);
  }

  start({ EnvHttpProxyAgent, getGlobalDispatcher, interceptors }: typeof Undici): void {
    const { origin, pathname, search } = new URL(this.url);
    // EnvHttpProxyAgent honours HTTP(S)_PROXY and NO_PROXY, as a self-hosted runner behind a
    // proxy needs; the redirect interceptor follows GitHub's redirect to its object storage.
    const dispatcher = (proxyConfigured() ? new EnvHttpProxyAgent() : getGlobalDispatcher()).compose(
      interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS }),
    );
    this.#watch();
    dispatcher.dispatch(
      { origin, path: pathname + search, method: 'GET', headers: { 'user-agent': 'build-scan-push' } },
      {
        onConnect: (abort) => this.#onConnect(abort),
        onHeaders: (status) => this.#onHeaders(status),
        onData: (chunk) => this.#onData(chunk),
        onComplete: () => this.#onComplete(),
        onError: (error) => this.#fail(new TransientError(describeNetworkError(error), { cause: error })),
      },
    );
  }

  #watch(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#fail(this.#stall), this.stallMs);
  }

  /** Failing waits for the file to be closed, so that the caller's removal cannot race its open. */
  #fail(error: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#abortRequest?.(error);
    if (!this.#file) return this.reject(error);
    this.#file.once('close', () => this.reject(error));
    this.#file.destroy();
  }

  #onConnect(abort: (error: Error) => void): void {
    this.#abortRequest = abort;
    if (this.#settled) abort(this.#stall);
  }

  #onHeaders(status: number): boolean {
    // 1xx are informational: the final answer follows on the same request.
    if (this.#settled || status < 200) return true;
    this.#watch();
    if (status > 299) {
      const retryable = status >= 500 || status === 408 || status === 429;
      this.#fail(retryable ? new TransientError(`HTTP ${status}`) : new HttpStatusError(this.url, status));
      return true;
    }
    this.#file = createWriteStream(this.destination);
    this.#file.on('error', (error) =>
      this.#fail(
        new Error(`writing the download of ${this.url} to ${this.destination} failed: ${error.message}`),
      ),
    );
    return true;
  }

  #onData(chunk: Buffer): boolean {
    if (this.#settled || !this.#file) return true;
    this.#watch();
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    this.#file.write(chunk);
    return true; // never false: a paused parser is what crashed
  }

  #onComplete(): void {
    if (this.#settled || !this.#file) return;
    clearTimeout(this.#timer);
    this.#file.end(() => {
      if (this.#settled) return;
      this.#settled = true;
      this.resolve({ sha256: this.#hash.digest('hex'), bytes: this.#bytes });
    });
  }
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
