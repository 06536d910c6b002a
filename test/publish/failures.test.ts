import { describe, expect, it } from 'vitest';
import { classifyCraneFailure } from '../../src/publish/failures.js';

const url = 'https://ghcr.io/v2/owner/app/manifests/1.0';

describe('classifyCraneFailure', () => {
  it.each([
    `Error: PUT ${url}: unexpected status code 503 Service Unavailable`,
    `Error: POST https://r.example/v2/a/blobs/uploads/: unexpected status code 500 Internal Server Error: oops`,
    `Error: PUT ${url}: unexpected status code 429 Too Many Requests`,
    `Error: PUT ${url}: TOOMANYREQUESTS: slow down`,
    `Error: HEAD ${url}: UNAVAILABLE: service unavailable`,
    `Error: Put "${url}": EOF`,
    `Error: Patch "https://r.example/v2/a/blobs/uploads/x": read tcp 10.0.0.1:1234->1.2.3.4:443: read: connection reset by peer`,
    `Error: Get "https://r.example/v2/": dial tcp 1.2.3.4:443: connect: connection refused`,
    `Error: Get "https://r.example/v2/": net/http: TLS handshake timeout`,
    `Error: Put "${url}": unexpected EOF`,
    // Real crane 0.20.2 against a plain-http loopback registry answering 502 (https tried first).
    'Error: Get "https://127.0.0.1:33339/v2/": http: server gave HTTP response to HTTPS client; GET http://127.0.0.1:33339/v2/: unexpected status code 502 Bad Gateway',
  ])('retries %s', (stderr) => {
    expect(classifyCraneFailure(stderr, 'ghcr.io')).toEqual({ transient: true, hint: '' });
  });

  it('fails at once on 401 with a hint about the credentials', () => {
    const failure = classifyCraneFailure(
      `Error: HEAD ${url}: unexpected status code 401 Unauthorized`,
      'r.example',
    );
    expect(failure.transient).toBe(false);
    expect(failure.hint).toMatch(/registry-username.*registry-password/);
  });

  it('explains a 403 from ghcr.io with the packages permission', () => {
    const failure = classifyCraneFailure(
      `Error: POST https://ghcr.io/v2/owner/app/blobs/uploads/: DENIED: installation not allowed to Write organization package`,
      'ghcr.io',
    );
    expect(failure.transient).toBe(false);
    expect(failure.hint).toContain('permissions: packages: write');
    expect(failure.hint).toMatch(/linked|Manage Actions access/);
  });

  it.each([
    [`Error: PUT ${url}: MANIFEST_INVALID: manifest invalid`, /rejected the image manifest/],
    [
      `Error: PUT https://ghcr.io/v2/owner/app/manifests/sha256:${'0'.repeat(64)}: DIGEST_INVALID: provided digest did not match uploaded content`,
      /does not match its digest.*changed after the scan.*No tag was set/,
    ],
    [`Error: HEAD ${url}: unexpected status code 404 Not Found`, /create it first/],
    [
      `Error: Get "https://r.example/v2/": http: server gave HTTP response to HTTPS client`,
      /insecure-registries/,
    ],
    ['Error: something nobody has seen before', /^$/],
  ])('does not retry %s', (stderr, hint) => {
    const failure = classifyCraneFailure(stderr, 'r.example');
    expect(failure.transient).toBe(false);
    expect(failure.hint).toMatch(hint);
  });

  it("judges crane's final error, not the warnings before it", () => {
    const stderr =
      '2026/11/24 20:00:00 HEAD request failed, falling back on GET: HEAD x: unexpected status code 404 Not Found\n' +
      `Error: GET ${url}: unexpected status code 502 Bad Gateway`;
    expect(classifyCraneFailure(stderr, 'ghcr.io').transient).toBe(true);
  });
});
