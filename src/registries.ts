import { registryOf } from './reference.js';
import { reporter } from './reporter.js';

/** A username and password that belong to one registry host. */
export interface RegistryCredential {
  /** The registry host, e.g. `ghcr.io` or `127.0.0.1:5000`. */
  readonly registry: string;
  readonly username: string;
  readonly password: string;
}

export interface RegistriesOptions {
  /** Hosts without valid TLS (`insecure-registries`): plain HTTP or any certificate. */
  readonly insecure?: readonly string[];
  /** At most one credential per host. */
  readonly credentials?: readonly RegistryCredential[];
  /** How a secret is hidden from the log; the reporter's unless a test listens. */
  readonly mask?: (secret: string) => void;
}

/**
 * What the action knows about registries: which hosts are insecure and which credential belongs
 * to which host. A credential is only ever handed out for its own host, never for another, and
 * every form of it is masked in the log the moment it is known.
 */
export class Registries {
  readonly #insecure: ReadonlySet<string>;
  readonly #credentials = new Map<string, RegistryCredential>();

  constructor(options: RegistriesOptions = {}) {
    const mask = options.mask ?? ((secret: string) => reporter().setSecret(secret));
    this.#insecure = new Set(options.insecure ?? []);
    for (const credential of options.credentials ?? []) {
      if (this.#credentials.has(credential.registry))
        throw new Error(`Two credentials for ${credential.registry}: give one per registry.`);
      maskCredential(credential, mask);
      this.#credentials.set(credential.registry, Object.freeze({ ...credential }));
    }
  }

  /** The hosts listed as insecure, in their given order (kaniko's `--insecure-registry`). */
  get insecureHosts(): readonly string[] {
    return [...this.#insecure];
  }

  /** The one rule: a host is insecure when it is listed, exactly as written. */
  isInsecure(host: string): boolean {
    return this.#insecure.has(host);
  }

  /** Whether the registry of an image or repository reference is insecure. */
  isInsecureReference(reference: string): boolean {
    return this.isInsecure(registryOf(reference));
  }

  /** The credential given for exactly this host, or undefined: never another host's. */
  credentialFor(host: string): RegistryCredential | undefined {
    return this.#credentials.get(host);
  }

  /** `Basic <base64 user:password>` for exactly this host, or undefined. */
  basicAuthorization(host: string): string | undefined {
    const credential = this.credentialFor(host);
    return credential && `Basic ${basicToken(credential)}`;
  }
}

/** base64 of `user:password`: the form credential files and Basic authorization carry. */
export function basicToken(credential: Pick<RegistryCredential, 'username' | 'password'>): string {
  return Buffer.from(`${credential.username}:${credential.password}`).toString('base64');
}

/** Masks the password and its base64 `user:password` form; an empty password masks nothing. */
export function maskCredential(
  credential: Pick<RegistryCredential, 'username' | 'password'>,
  mask: (secret: string) => void = (secret) => reporter().setSecret(secret),
): void {
  if (!credential.password) return;
  mask(credential.password);
  mask(basicToken(credential));
}
