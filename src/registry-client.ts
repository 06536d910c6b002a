/**
 * One repository of a registry over its HTTP API, the registry way: anonymous first, then what
 * the 401's WWW-Authenticate asks for (Basic, or a token from its realm: pull, or pull and push
 * for a client made to push), with the credential of the repository's own host only. Used where
 * a request needs no crane process: the layer cache's misses, and the tags set and read back
 * after a push.
 */
import type { Response } from 'undici';
import type { ProxiedFetch } from './proxied-fetch.js';
import { proxiedFetch } from './proxied-fetch.js';
import { parseReference } from './reference.js';
import type { Registries } from './registries.js';
import { describeNetworkError } from './tools/download.js';

const HEADERS_TIMEOUT_MS = 30_000;

/** What a request sends: redirects are followed by `send`, never by undici. */
interface Request {
  readonly method: 'GET' | 'PUT';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}
const REDIRECT_LIMIT = 5;

/** A manifest as the registry served it. */
export interface ServedManifest {
  readonly mediaType: string;
  readonly body: Buffer;
}

/** A request the registry did not answer as asked: its reason says why. */
export class RegistryRequestError extends Error {}

/**
 * `request`'s answer, or undefined when the registry gave none as asked (RegistryRequestError),
 * once `unanswered` has been told why; any other error is thrown.
 */
export async function unlessUnanswered<T>(
  request: () => Promise<T | undefined>,
  unanswered: (reason: string) => void,
): Promise<T | undefined> {
  try {
    return await request();
  } catch (error) {
    if (!(error instanceof RegistryRequestError)) throw error;
    unanswered(error.message);
    return undefined;
  }
}

export class RegistryClient {
  readonly registry: string;
  private readonly repository: string;
  private readonly origin: string;
  private readonly insecure: boolean;
  /** Only the credential of the repository's own host (Registries.credentialFor): never another's. */
  private readonly basic: string | undefined;
  private authorization: string | undefined;
  readonly #fetch: Promise<ProxiedFetch>;

  /**
   * `repository`: a reference without tag or digest, e.g. `ghcr.io/owner/app`. A client that
   * may `putManifest` asks for push access; any other, for pull access only.
   */
  constructor(
    repository: string,
    registries: Registries,
    private readonly access: 'pull' | 'pull,push' = 'pull',
  ) {
    const parsed = parseReference(repository);
    this.registry = parsed.registry;
    this.repository = parsed.repository;
    this.insecure = registries.isInsecure(parsed.registry);
    this.origin = `${this.insecure ? 'http' : 'https'}://${parsed.registry}`;
    this.basic = registries.basicAuthorization(parsed.registry);
    // Loading starts now, so that a reader made ahead of its first read finds it loaded.
    this.#fetch = proxiedFetch();
    // A failure here (a proxy variable undici refuses) is the first read's to report, not unhandled.
    this.#fetch.catch(() => undefined);
  }

  /**
   * The manifest `reference` (a tag or a digest) names, by GET: its digest is that of the bytes
   * read. Undefined when the registry has none (404); RegistryRequestError for any other answer.
   */
  async manifest(reference: string, accept: readonly string[]): Promise<ServedManifest | undefined> {
    const response = await this.read('manifests', reference, accept.join(','));
    if (!response) return undefined;
    const body = Buffer.from(await response.arrayBuffer());
    return { mediaType: response.headers.get('content-type') ?? '', body };
  }

  /** A blob's bytes as a response to stream; undefined on 404, RegistryRequestError otherwise. */
  blob(digest: string): Promise<Response | undefined> {
    return this.read('blobs', digest, undefined);
  }

  /** Stores `manifest` under `tag`, as a push does; RegistryRequestError unless the registry took it. */
  async putManifest(tag: string, manifest: ServedManifest): Promise<void> {
    if (this.access !== 'pull,push') throw new Error('putManifest needs a client made with push access');
    const response = await this.request(`${this.origin}/v2/${this.repository}/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': manifest.mediaType },
      body: manifest.body,
    });
    await response.body?.cancel();
    if (response.status !== 201) throw new RegistryRequestError(this.statusReason(response.status));
  }

  private async read(
    kind: 'manifests' | 'blobs',
    reference: string,
    accept: string | undefined,
  ): Promise<Response | undefined> {
    const url = `${this.origin}/v2/${this.repository}/${kind}/${reference}`;
    const response = await this.request(url, { method: 'GET', headers: accept ? { accept } : {} });
    if (response.ok) return response;
    await response.body?.cancel();
    if (response.status === 404) return undefined;
    throw new RegistryRequestError(this.statusReason(response.status));
  }

  /** One request, authorized as the registry's challenge asks; any failure to get an answer is a RegistryRequestError. */
  private async request(url: string, init: Request): Promise<Response> {
    try {
      let response = await this.send(url, init);
      if (response.status === 401) {
        await response.body?.cancel();
        this.authorization = await this.authorize(response.headers.get('www-authenticate') ?? '');
        response = await this.send(url, init);
      }
      return response;
    } catch (error) {
      if (error instanceof RegistryRequestError) throw error;
      throw new RegistryRequestError(describeNetworkError(error), { cause: error });
    }
  }

  private statusReason(status: number): string {
    if ((status === 401 || status === 403) && this.basic === undefined)
      return `HTTP ${status}; no credential is given for ${this.registry} and one is never sent to another host, so it is read anonymously`;
    return `HTTP ${status}`;
  }

  /** Follows redirects itself: the Authorization header goes to the registry's own origin only. */
  private async send(url: string, init: Request): Promise<Response> {
    let target = url;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { ...init.headers };
      if (this.authorization && new URL(target).origin === this.origin)
        headers.authorization = this.authorization;
      const response = await this.fetchWithTimeout(target, { ...init, headers });
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location || hop >= REDIRECT_LIMIT)
        return response;
      await response.body?.cancel();
      target = new URL(location, target).toString();
    }
  }

  /** Gives up when no headers arrive in time; a body that is flowing is never cut. */
  private async fetchWithTimeout(url: string, init: Request): Promise<Response> {
    const fetch = await this.#fetch;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), HEADERS_TIMEOUT_MS);
    try {
      return await fetch(url, {
        ...init,
        redirect: 'manual',
        signal: controller.signal,
      });
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
    if (!params.realm) throw new RegistryRequestError(`its Bearer challenge names no realm: ${challenge}`);
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set('service', params.service);
    // Pull access only, unless the client was made to push.
    realm.searchParams.set('scope', `repository:${this.repository}:${this.access}`);
    const withCredential = this.basic && (realm.protocol === 'https:' || this.insecure);
    const response = await this.fetchWithTimeout(realm.toString(), {
      method: 'GET',
      headers: withCredential ? { authorization: this.basic! } : {},
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new RegistryRequestError(`its token service ${realm.origin} answered HTTP ${response.status}`);
    }
    const body = (await response.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryRequestError(`its token service ${realm.origin} sent no token`);
    return `Bearer ${token}`;
  }
}
