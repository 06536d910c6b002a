/**
 * Reads one repository of a registry over its HTTP API, the registry way: anonymous first, then
 * what the 401's WWW-Authenticate asks for (Basic, or a pull token from its realm), with the
 * credential of the repository's own host only. Used where a read needs no crane process: the
 * layer cache's misses, and the tags read back after a push.
 */
import type * as Undici from 'undici';
import type { Dispatcher, Response } from 'undici';
import { parseReference } from './reference.js';
import type { Registries } from './registries.js';
import { describeNetworkError, proxyConfigured } from './tools/download.js';

const HEADERS_TIMEOUT_MS = 30_000;
const REDIRECT_LIMIT = 5;

/** A manifest as the registry served it. */
export interface ServedManifest {
  readonly mediaType: string;
  readonly body: Buffer;
}

/** A read that did not get an answer from the registry: its reason says why. */
export class RegistryReadError extends Error {}

export class RegistryReader {
  readonly registry: string;
  private readonly repository: string;
  private readonly origin: string;
  private readonly insecure: boolean;
  /** Only the credential of the repository's own host (Registries.credentialFor): never another's. */
  private readonly basic: string | undefined;
  private authorization: string | undefined;
  readonly #undici: Promise<{ fetch: typeof Undici.fetch; dispatcher?: Dispatcher }>;

  /** `repository`: a reference without tag or digest, e.g. `ghcr.io/owner/app`. */
  constructor(repository: string, registries: Registries) {
    const parsed = parseReference(repository);
    this.registry = parsed.registry;
    this.repository = parsed.repository;
    this.insecure = registries.isInsecure(parsed.registry);
    this.origin = `${this.insecure ? 'http' : 'https'}://${parsed.registry}`;
    this.basic = registries.basicAuthorization(parsed.registry);
    // Loading starts now, so that a reader made ahead of its first read finds it loaded.
    this.#undici = import('undici').then(({ fetch, EnvHttpProxyAgent }) => ({
      fetch,
      ...(proxyConfigured() ? { dispatcher: new EnvHttpProxyAgent() } : {}),
    }));
    // A failure here (a proxy variable undici refuses) is the first read's to report, not unhandled.
    this.#undici.catch(() => undefined);
  }

  /**
   * The manifest `reference` (a tag or a digest) names, by GET: its digest is that of the bytes
   * read. Undefined when the registry has none (404); RegistryReadError for any other answer.
   */
  async manifest(reference: string, accept: readonly string[]): Promise<ServedManifest | undefined> {
    const response = await this.read('manifests', reference, accept.join(','));
    if (!response) return undefined;
    const body = Buffer.from(await response.arrayBuffer());
    return { mediaType: response.headers.get('content-type') ?? '', body };
  }

  /** A blob's bytes as a response to stream; undefined on 404, RegistryReadError otherwise. */
  blob(digest: string): Promise<Response | undefined> {
    return this.read('blobs', digest, undefined);
  }

  private async read(
    kind: 'manifests' | 'blobs',
    reference: string,
    accept: string | undefined,
  ): Promise<Response | undefined> {
    const url = `${this.origin}/v2/${this.repository}/${kind}/${reference}`;
    let response: Response;
    try {
      response = await this.send(url, accept);
      if (response.status === 401) {
        await response.body?.cancel();
        this.authorization = await this.authorize(response.headers.get('www-authenticate') ?? '');
        response = await this.send(url, accept);
      }
    } catch (error) {
      if (error instanceof RegistryReadError) throw error;
      throw new RegistryReadError(describeNetworkError(error), { cause: error });
    }
    if (response.ok) return response;
    await response.body?.cancel();
    if (response.status === 404) return undefined;
    throw new RegistryReadError(this.statusReason(response.status));
  }

  private statusReason(status: number): string {
    if ((status === 401 || status === 403) && this.basic === undefined)
      return `HTTP ${status}; no credential is given for ${this.registry} and one is never sent to another host, so it is read anonymously`;
    return `HTTP ${status}`;
  }

  /** Follows redirects itself: the Authorization header goes to the registry's own origin only. */
  private async send(url: string, accept: string | undefined): Promise<Response> {
    let target = url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = accept ? { accept } : {};
      if (this.authorization && new URL(target).origin === this.origin)
        headers.authorization = this.authorization;
      const response = await this.fetchWithTimeout(target, { method: 'GET', headers, redirect: 'manual' });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location || hop >= REDIRECT_LIMIT)
        return response;
      await response.body?.cancel();
      target = new URL(location, target).toString();
    }
  }

  /** Gives up when no headers arrive in time; a body that is flowing is never cut. */
  private async fetchWithTimeout(
    url: string,
    init: { method: string; headers: Record<string, string>; redirect: 'manual' },
  ): Promise<Response> {
    const { fetch, dispatcher } = await this.#undici;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), HEADERS_TIMEOUT_MS);
    try {
      return await fetch(url, { ...init, signal: controller.signal, ...(dispatcher ? { dispatcher } : {}) });
    } finally {
      clearTimeout(timer);
    }
  }

  private async authorize(challenge: string): Promise<string | undefined> {
    const scheme = challenge.trim().split(/\s+/, 1)[0]?.toLowerCase();
    if (scheme === 'basic') return this.basic;
    if (scheme !== 'bearer') return undefined;
    const params = Object.fromEntries(
      [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key!.toLowerCase(), value!]),
    );
    if (!params.realm) throw new RegistryReadError(`its Bearer challenge names no realm: ${challenge}`);
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    // Only ever a pull token: nothing is written through here.
    realm.searchParams.set('scope', `repository:${this.repository}:pull`);
    const withCredential = this.basic && (realm.protocol === 'https:' || this.insecure);
    const response = await this.fetchWithTimeout(realm.toString(), {
      method: 'GET',
      headers: withCredential ? { authorization: this.basic! } : {},
      redirect: 'manual',
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new RegistryReadError(`its token service ${realm.origin} answered HTTP ${response.status}`);
    }
    const body = (await response.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryReadError(`its token service ${realm.origin} sent no token`);
    return `Bearer ${token}`;
  }
}
