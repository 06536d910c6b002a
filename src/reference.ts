/**
 * Image references (`registry/path[:tag][@sha256:…]`), split the way the Docker reference grammar
 * and crane split them. Pure functions; validation of the parts is the inputs' job.
 */
import { createHash } from 'node:crypto';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Docker Hub, where a name without a registry host lives (crane's name for it). */
export const DEFAULT_REGISTRY = 'index.docker.io';

export interface ImageReference {
  /** Registry host as crane reaches it: the first path component when it looks like a host. */
  readonly registry: string;
  /** The name without tag or digest, as written (registry included when one was written). */
  readonly name: string;
  /** The path inside the registry, e.g. `owner/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** The `sha256:` digest of these bytes (a string as UTF-8), as registries name content. */
export function digestOf(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A whole `sha256:<64 lower-case hex>` digest. */
export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

export function parseReference(reference: string): ImageReference {
  const at = reference.indexOf('@');
  const withTag = at < 0 ? reference : reference.slice(0, at);
  const digest = at < 0 ? undefined : reference.slice(at + 1);
  const slash = withTag.lastIndexOf('/');
  const colon = withTag.lastIndexOf(':');
  const name = colon > slash ? withTag.slice(0, colon) : withTag;
  const tag = colon > slash ? withTag.slice(colon + 1) : undefined;
  const firstSlash = name.indexOf('/');
  const first = firstSlash < 0 ? '' : name.slice(0, firstSlash);
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost';
  return {
    registry: hasHost ? first : DEFAULT_REGISTRY,
    name,
    repository: hasHost ? name.slice(firstSlash + 1) : name,
    ...(tag !== undefined && { tag }),
    ...(digest !== undefined && { digest }),
  };
}

/** The registry host of an image or reference, e.g. `ghcr.io` or `127.0.0.1:5000`. */
export function registryOf(image: string): string {
  return parseReference(image).registry;
}

/** `name:tag` from a name without tag or digest and a bare tag. */
export function taggedReference(name: string, tag: string): string {
  return `${name}:${tag}`;
}

/** `name@sha256:…`, the immutable name of one manifest. */
export function digestReference(name: string, digest: string): string {
  return `${name}@${digest}`;
}
