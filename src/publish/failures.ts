/**
 * What a failed crane run means, read from its stderr. Pure functions.
 *
 * crane (go-containerregistry) words registry errors as `METHOD URL: CODE: message` for
 * structured registry errors and `unexpected status code N Text` otherwise; network errors come
 * from Go's net/http (`Put "URL": EOF`, `connection reset by peer`, `i/o timeout`).
 */

export interface CraneFailure {
  /** Worth another attempt: the same request may well succeed a little later. */
  readonly transient: boolean;
  /** What the user can do about it; empty when nothing specific is known. */
  readonly hint: string;
}

const PERMANENT: ReadonlyArray<{ readonly pattern: RegExp; readonly hint: (registry: string) => string }> = [
  {
    pattern: /status code 401\b|\bUNAUTHORIZED\b/,
    hint: (registry) =>
      registry === 'ghcr.io'
        ? 'ghcr.io did not accept the credentials: check `registry-username`/`registry-password` (by default the workflow token is used, which needs `permissions: packages: write`).'
        : `${registry} did not accept the credentials: check \`registry-username\` and \`registry-password\`.`,
  },
  {
    pattern: /status code 403\b|\bDENIED\b/,
    hint: (registry) =>
      registry === 'ghcr.io'
        ? 'ghcr.io refused the push: the workflow needs `permissions: packages: write`, and a package that already exists must grant this repository write access (package settings → Manage Actions access) or be linked to it.'
        : `${registry} refused the push: the credentials lack write access to this repository.`,
  },
  {
    pattern: /status code 404\b|\bNAME_UNKNOWN\b/,
    hint: (registry) =>
      `${registry} has no such repository and does not create repositories on push: create it first (some registries, e.g. Amazon ECR, require that).`,
  },
  {
    pattern: /\bMANIFEST_UNKNOWN\b/,
    hint: (registry) => `${registry} has no manifest under that reference.`,
  },
  {
    pattern: /\bDIGEST_INVALID\b/,
    hint: (registry) =>
      `${registry} refused content that does not match its digest: the image was pushed under the scanned digest, so the tarball changed after the scan or something altered the upload in transit. No tag was set.`,
  },
  {
    pattern: /MANIFEST_INVALID|MANIFEST_BLOB_UNKNOWN|BLOB_UNKNOWN|SIZE_INVALID|TAG_INVALID/,
    hint: (registry) =>
      `${registry} rejected the image manifest or one of its blobs; the tarball may be damaged.`,
  },
];

const TRANSIENT = [
  /unexpected status code (408|429|5\d\d)\b/,
  /\b(TOOMANYREQUESTS|UNAVAILABLE|BLOB_UPLOAD_INVALID)\b/,
  /connection reset by peer/,
  /connection refused/,
  /broken pipe/,
  /: (unexpected )?EOF\s*$/m,
  /i\/o timeout|TLS handshake timeout|timeout awaiting response headers|context deadline exceeded/,
];

/**
 * Checked after the transient patterns: for loopback and private registries crane tries https and
 * http and reports both failures in one line, e.g. "server gave HTTP response to HTTPS client;
 * GET http://…: unexpected status code 502", where the 502 is what matters.
 */
const TLS_PROBLEM = /server gave HTTP response to HTTPS client|x509:|certificate/;

/**
 * Classifies by crane's final `Error: …` line when there is one: earlier lines are warnings about
 * steps crane recovered from (e.g. a HEAD request it retried as GET). Unknown errors are not
 * transient: failing at once is safer than repeating something that cannot work.
 */
export function classifyCraneFailure(stderr: string, registry: string): CraneFailure {
  const lines = stderr.split('\n');
  const errorLine = lines.findLastIndex((line) => line.startsWith('Error: '));
  const error = errorLine >= 0 ? lines.slice(errorLine).join('\n') : stderr;
  const permanent = PERMANENT.find(({ pattern }) => pattern.test(error));
  if (permanent) return { transient: false, hint: permanent.hint(registry) };
  if (TRANSIENT.some((pattern) => pattern.test(error))) return { transient: true, hint: '' };
  if (TLS_PROBLEM.test(error))
    return {
      transient: false,
      hint: `TLS with ${registry} failed: a registry without valid TLS must be listed in \`insecure-registries\`.`,
    };
  return { transient: false, hint: '' };
}
