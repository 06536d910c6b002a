import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SarifLog } from '../../src/report/sarif.js';
import type { UploadOptions } from '../../src/report/upload.js';
import { checkedOutCommit, resolveUploadTarget, uploadSarif } from '../../src/report/upload.js';
import type { CodeScanningScript, FakeCodeScanningApi } from '../helpers/github-api.js';
import { SARIF_ID, startCodeScanningApi } from '../helpers/github-api.js';
import { startTunnelProxy, throughProxy } from '../helpers/tunnel-proxy.js';
import { TRIVY_FIXTURES } from '../scan/trivy-fixtures.js';

const sha = '0123456789abcdef0123456789abcdef01234567';
const sarif = JSON.parse(readFileSync(join(TRIVY_FIXTURES, 'alpine-310.sarif'), 'utf8')) as SarifLog;
let api: FakeCodeScanningApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function upload(script: CodeScanningScript, overrides: Partial<UploadOptions> = {}) {
  api = await startCodeScanningApi(script);
  return uploadSarif({
    sarif,
    token: 'ghs_test',
    apiUrl: api.url,
    owner: 'octo',
    repo: 'app',
    ref: 'refs/heads/main',
    commitSha: sha,
    checkoutPath: '/home/runner/work/app/app',
    startedAt: new Date('2026-11-24T20:00:00Z'),
    pollIntervalMs: 5,
    retryDelayMs: 5,
    ...overrides,
  });
}

describe('uploadSarif against a loopback code-scanning API', () => {
  it('sends gzip + base64 SARIF with the commit, ref, checkout URI, start time and tool, then waits for processing', async () => {
    const result = await upload({ processing: ['pending', 'pending', 'complete'] });
    expect(result).toMatchObject({ status: 'complete', id: SARIF_ID });
    const [received] = api!.uploads;
    expect(received!.path).toBe('/repos/octo/app/code-scanning/sarifs');
    expect(received!.authorization).toBe('token ghs_test');
    expect(received!.body).toMatchObject({
      commit_sha: sha,
      ref: 'refs/heads/main',
      checkout_uri: 'file:///home/runner/work/app/app',
      started_at: '2026-11-24T20:00:00.000Z',
      tool_name: 'Trivy',
    });
    expect(received!.body.commit_sha).toMatch(/^[0-9a-f]{40}$/);
    expect(received!.sarif).toEqual(sarif);
    const decoded = received!.sarif as SarifLog;
    for (const result of decoded.runs[0]!.results!)
      for (const location of result.locations!)
        expect(location.physicalLocation!.artifactLocation!.uri).not.toBe('');
    expect(api!.statusRequests).toHaveLength(3);
  });

  it('goes through HTTP(S)_PROXY when one is set, like the action’s other requests (Node’s own fetch would not)', async () => {
    const proxy = await startTunnelProxy();
    try {
      const result = await throughProxy(proxy.url, () => upload({ processing: ['complete'] }));
      expect(result).toMatchObject({ status: 'complete', id: SARIF_ID });
    } finally {
      proxy.close();
    }
    expect(api!.uploads).toHaveLength(1);
    expect(proxy.tunnels.length).toBeGreaterThan(0);
    expect(proxy.tunnels.every((target) => target === new URL(api!.url).host)).toBe(true);
  });

  it('honours a GHES API URL with a path prefix', async () => {
    api = await startCodeScanningApi();
    const result = await uploadSarif({
      sarif,
      token: 't',
      apiUrl: `${api.url}/api/v3/`,
      owner: 'octo',
      repo: 'app',
      ref: 'refs/heads/main',
      commitSha: sha,
      checkoutPath: '/w',
      startedAt: new Date(),
      pollIntervalMs: 5,
    });
    expect(result.status).toBe('complete');
    expect(api.uploads[0]!.path).toBe('/api/v3/repos/octo/app/code-scanning/sarifs');
    expect(api.statusRequests[0]).toBe(`/api/v3/repos/octo/app/code-scanning/sarifs/${SARIF_ID}`);
  });

  it('surfaces processing errors', async () => {
    await expect(
      upload({
        processing: ['pending', 'failed'],
        processingErrors: ['locationFromSarifResult: expected artifact location'],
      }),
    ).rejects.toThrow(
      `code scanning could not process the SARIF upload ${SARIF_ID} for octo/app: locationFromSarifResult: expected artifact location`,
    );
  });

  it('stops waiting after the bound and says the upload is still processing', async () => {
    const result = await upload({ processing: ['pending'] }, { maxWaitMs: 30 });
    expect(result).toMatchObject({ status: 'processing', id: SARIF_ID });
  });

  it('retries 5xx answers, then succeeds', async () => {
    const result = await upload({
      uploadAnswers: [
        { status: 502, message: 'Bad Gateway' },
        { status: 503, message: 'Unavailable' },
      ],
    });
    expect(result.status).toBe('complete');
    expect(api!.uploads).toHaveLength(3);
  });

  it('gives up after the attempts and says why', async () => {
    await expect(
      upload({ uploadAnswers: Array(3).fill({ status: 500, message: 'Server Error' }) }),
    ).rejects.toThrow(/uploading SARIF to octo\/app code scanning failed: HTTP 500/);
  });

  it('a token without security-events: write is a warning naming the permission', async () => {
    const result = await upload({
      uploadAnswers: [{ status: 403, message: 'Resource not accessible by integration' }],
    });
    expect(result.status).toBe('skipped');
    expect(result.status === 'skipped' && result.warning).toMatch(/security-events: write/);
    expect(api!.uploads).toHaveLength(1);
  });

  it('the read-only token of a fork pull request is a warning that says so', async () => {
    const result = await upload(
      { uploadAnswers: [{ status: 403, message: 'Resource not accessible by integration' }] },
      { fromFork: true },
    );
    expect(result.status === 'skipped' && result.warning).toMatch(
      /pull requests from forks get a read-only GITHUB_TOKEN/,
    );
  });

  it.each([
    'Advanced Security must be enabled for this repository to use code scanning.',
    'Code Security must be enabled for this repository to use code scanning.',
    'Code scanning is not enabled for this repository. Please enable code scanning in the repository settings.',
  ])('"%s" is a warning naming the setting', async (message) => {
    const result = await upload({ uploadAnswers: [{ status: 403, message }] });
    expect(result.status).toBe('skipped');
    expect(result.status === 'skipped' && result.warning).toMatch(/Settings → Code security/);
  });

  it('other client errors are failures', async () => {
    await expect(
      upload({ uploadAnswers: [{ status: 422, message: 'commit_sha is invalid' }] }),
    ).rejects.toThrow(/HTTP 422: commit_sha is invalid/);
  });

  it('a commit that is not a 40-hex SHA is refused before sending', async () => {
    await expect(upload({}, { commitSha: 'main' })).rejects.toThrow(/"main" is not a 40-hex commit SHA/);
    expect(api!.uploads).toEqual([]);
  });

  it('no token: skipped with a warning, nothing sent', async () => {
    expect((await upload({}, { token: '' })).status).toBe('skipped');
    expect(api!.uploads).toEqual([]);
  });
});

describe('resolveUploadTarget (as github/codeql-action)', () => {
  const head = 'fedcba9876543210fedcba9876543210fedcba98';
  it('a push uploads to its ref and commit', () => {
    expect(resolveUploadTarget({ ref: 'refs/heads/main', sha, checkedOutSha: sha })).toEqual({
      ref: 'refs/heads/main',
      commitSha: sha,
    });
  });
  it('a pull request built from the merge commit stays on refs/pull/N/merge', () => {
    expect(resolveUploadTarget({ ref: 'refs/pull/7/merge', sha, checkedOutSha: sha })).toEqual({
      ref: 'refs/pull/7/merge',
      commitSha: sha,
    });
    expect(resolveUploadTarget({ ref: 'refs/pull/7/merge', sha })).toEqual({
      ref: 'refs/pull/7/merge',
      commitSha: sha,
    });
  });
  it('a pull request whose head commit was checked out goes to refs/pull/N/head with that commit', () => {
    expect(resolveUploadTarget({ ref: 'refs/pull/7/merge', sha, checkedOutSha: head })).toEqual({
      ref: 'refs/pull/7/head',
      commitSha: head,
    });
  });
});

describe('checkedOutCommit', () => {
  it('reads HEAD of a git checkout and gives undefined elsewhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bsp-git-'));
    try {
      expect(await checkedOutCommit(dir)).toBeUndefined();
      const git = (...args: string[]) =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: dir });
      git('init', '-q');
      writeFileSync(join(dir, 'f'), 'x');
      git('add', 'f');
      git('commit', '-q', '-m', 'x');
      expect(await checkedOutCommit(dir)).toBe(
        execFileSync('git', ['rev-parse', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim(),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
