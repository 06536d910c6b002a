import type { Octokit } from '@octokit/rest';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { run } from '../exec.js';
import { proxiedFetch } from '../proxied-fetch.js';
import { sleep, withRetry } from '../retry.js';
import type { SarifLog } from './sarif.js';

export interface UploadTarget {
  readonly ref: string;
  readonly commitSha: string;
}

/**
 * The ref and commit the analysis belongs to, as github/codeql-action decides them: the commit
 * checked out in the workspace; on a pull request's merge ref, when the workflow checked out the
 * head commit instead of the merge commit, the results belong to `refs/pull/N/head`.
 */
export function resolveUploadTarget(options: {
  readonly ref: string;
  readonly sha: string;
  readonly checkedOutSha?: string;
}): UploadTarget {
  const commitSha = options.checkedOutSha || options.sha;
  const pullMerge = /^refs\/pull\/(\d+)\/merge$/.exec(options.ref);
  if (pullMerge && commitSha !== options.sha) return { ref: `refs/pull/${pullMerge[1]}/head`, commitSha };
  return { ref: options.ref, commitSha };
}

/** `git rev-parse HEAD` in the workspace, or undefined where that is not a git checkout. */
export async function checkedOutCommit(workspace: string): Promise<string | undefined> {
  const result = await run('git', ['rev-parse', 'HEAD'], {
    cwd: workspace,
    env: { PATH: process.env.PATH ?? '' },
    silent: true,
  }).catch(() => undefined);
  const sha = result?.exitCode === 0 ? result.stdout.trim() : '';
  return /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
}

export interface UploadOptions {
  readonly sarif: SarifLog;
  readonly token: string;
  /** GITHUB_API_URL: https://api.github.com, or https://<host>/api/v3 on GHES. */
  readonly apiUrl: string;
  readonly owner: string;
  readonly repo: string;
  readonly ref: string;
  readonly commitSha: string;
  /** The workspace root; code scanning resolves result paths against it. */
  readonly checkoutPath: string;
  readonly startedAt: Date;
  readonly toolName?: string;
  /** A pull request from a fork: its token is read-only, so a 403 is expected, not a fault. */
  readonly fromFork?: boolean;
  readonly pollIntervalMs?: number;
  /** How long to wait for processing before giving up waiting (the upload itself stands). */
  readonly maxWaitMs?: number;
  /** Attempts for a request that gets a 5xx or no answer. */
  readonly attempts?: number;
  readonly retryDelayMs?: number;
}

export type UploadResult =
  | { readonly status: 'complete'; readonly id: string; readonly analysesUrl?: string }
  /** Still processing when the wait ended; the upload was accepted. */
  | { readonly status: 'processing'; readonly id: string; readonly warning: string }
  /** Not uploaded, for a reason that is a setting or permission of the repository, not a fault. */
  | { readonly status: 'skipped'; readonly warning: string };

/**
 * Uploads SARIF to code scanning (gzip + base64, as the REST API takes it) and waits, bounded,
 * for GitHub to process it. A missing permission or a repository without code scanning becomes a
 * warning that says what to change; processing errors and other failures throw.
 */
export async function uploadSarif(options: UploadOptions): Promise<UploadResult> {
  if (!options.token)
    return {
      status: 'skipped',
      warning: 'SARIF not uploaded: `github-token` is empty (set it or `upload-sarif: false`).',
    };
  if (!/^[0-9a-f]{40}$/.test(options.commitSha))
    throw new Error(
      `cannot upload SARIF: commit "${options.commitSha}" is not a 40-hex commit SHA (GITHUB_SHA or the checked-out HEAD).`,
    );
  // Loaded by the first upload, not at start: it is slow to load and the build does not need it.
  const [octokitModule, fetch] = await Promise.all([import('@octokit/rest'), proxiedFetch()]);
  const api: CodeScanningApi = {
    octokit: new octokitModule.Octokit({
      auth: options.token,
      baseUrl: options.apiUrl.replace(/\/+$/, ''),
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      // Through the runner's proxy, as the action's other requests (proxied-fetch.ts).
      request: { fetch: fetch as unknown as typeof globalThis.fetch },
    }),
    retrying: (request) =>
      withRetry(request, {
        attempts: options.attempts ?? 3,
        initialDelayMs: options.retryDelayMs ?? 2_000,
        isTransient: isTransientHttpError,
      }),
    repository: `${options.owner}/${options.repo}`,
  };
  const posted = await postSarif(api, options);
  return posted.status === 'skipped' ? posted : waitForProcessing(api, posted.id, options);
}

interface CodeScanningApi {
  readonly octokit: Octokit;
  readonly retrying: <T>(request: () => Promise<T>) => Promise<T>;
  /** `owner/repo`, for messages. */
  readonly repository: string;
}

async function postSarif(
  { octokit, retrying, repository }: CodeScanningApi,
  options: UploadOptions,
): Promise<
  { readonly status: 'posted'; readonly id: string } | Extract<UploadResult, { status: 'skipped' }>
> {
  let id: string;
  try {
    const response = await retrying(() =>
      octokit.rest.codeScanning.uploadSarif({
        owner: options.owner,
        repo: options.repo,
        commit_sha: options.commitSha,
        ref: options.ref,
        sarif: gzipSync(JSON.stringify(options.sarif)).toString('base64'),
        checkout_uri: pathToFileURL(options.checkoutPath).href,
        started_at: options.startedAt.toISOString(),
        tool_name: options.toolName ?? 'Trivy',
      }),
    );
    id = String(response.data.id ?? '');
  } catch (error) {
    const warning = permissionWarning(error, repository, options.fromFork ?? false);
    if (warning) return { status: 'skipped', warning };
    throw new Error(`uploading SARIF to ${repository} code scanning failed: ${describe(error)}`, {
      cause: error,
    });
  }
  if (!id) throw new Error(`code scanning accepted the SARIF for ${repository} but returned no upload id.`);
  return { status: 'posted', id };
}

/** Polls the upload until code scanning has processed it or the wait is over. */
async function waitForProcessing(
  { octokit, retrying, repository }: CodeScanningApi,
  id: string,
  options: UploadOptions,
): Promise<UploadResult> {
  const deadline = Date.now() + (options.maxWaitMs ?? 120_000);
  for (;;) {
    const { data } = await retrying(() =>
      octokit.rest.codeScanning.getSarif({ owner: options.owner, repo: options.repo, sarif_id: id }),
    ).catch((error: unknown) => {
      // Right after the upload the id may not be known yet.
      if (statusOf(error) === 404) return { data: { processing_status: 'pending' as const } };
      throw error;
    });
    if (data.processing_status === 'complete')
      return { status: 'complete', id, ...(data.analyses_url ? { analysesUrl: data.analyses_url } : {}) };
    if (data.processing_status === 'failed')
      throw new Error(
        `code scanning could not process the SARIF upload ${id} for ${repository}: ${(data.errors ?? []).join('; ') || 'no reason given'}`,
      );
    if (Date.now() >= deadline)
      return {
        status: 'processing',
        id,
        warning: `code scanning is still processing SARIF upload ${id}; results will appear in the Security tab when it finishes.`,
      };
    await sleep(options.pollIntervalMs ?? 5_000);
  }
}

/** A warning naming the permission or setting to change, or undefined when the error is a fault. */
function permissionWarning(error: unknown, repository: string, fromFork: boolean): string | undefined {
  const status = statusOf(error);
  const message = describe(error);
  if (status === 403 && /Resource not accessible by integration/i.test(message))
    return fromFork
      ? `SARIF not uploaded: pull requests from forks get a read-only GITHUB_TOKEN, which cannot write code-scanning results to ${repository}. The findings are in the job summary and the report file.`
      : `SARIF not uploaded: the token lacks the security-events: write permission for ${repository}. Add \`permissions: { security-events: write, contents: read }\` to the job.`;
  if (
    (status === 403 || status === 404) &&
    /advanced security|code security|code scanning is not enabled|not enabled/i.test(message)
  )
    return `SARIF not uploaded: code scanning is not enabled for ${repository} (${message}). Enable GitHub Code Security or Advanced Security in the repository's Settings → Code security, or set \`upload-sarif: false\`.`;
  return undefined;
}

/** 5xx answers and requests that got no answer are worth another try; 4xx answers are final. */
function isTransientHttpError(error: unknown): boolean {
  const status = statusOf(error);
  return status === undefined || status >= 500;
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown })?.status;
  return typeof status === 'number' ? status : undefined;
}

function describe(error: unknown): string {
  const status = statusOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}
