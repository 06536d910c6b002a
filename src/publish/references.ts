/** Image references as crane prints and takes them. Pure functions. */

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

/** `registry/path:tag` from a repository without tag and a bare tag. */
export function taggedReference(image: string, tag: string): string {
  return `${image}:${tag}`;
}

/** `registry/path@sha256:…`, the immutable name of what was pushed. */
export function digestReference(image: string, digest: string): string {
  return `${image}@${digest}`;
}

/**
 * The digest in `crane push`'s stdout, which ends with `registry/path@sha256:…`
 * (the line that exists "to facilitate command composition").
 */
export function pushedDigest(stdout: string): string | undefined {
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';
  const digest = lastLine.slice(lastLine.lastIndexOf('@') + 1);
  return lastLine.includes('@') && isDigest(digest) ? digest : undefined;
}

/** The digest `crane digest` printed, or undefined when its output is not one. */
export function printedDigest(stdout: string): string | undefined {
  const digest = stdout.trim();
  return isDigest(digest) ? digest : undefined;
}
