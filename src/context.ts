import { readFileSync } from 'node:fs';

/** What the action needs from the workflow run: the GITHUB_* variables and the event payload. */
export interface GitHubContext {
  readonly eventName: string;
  readonly sha: string;
  /** Full ref, e.g. `refs/heads/main`, `refs/tags/v1.2.3`, `refs/pull/7/merge`. */
  readonly ref: string;
  /** `owner/name` as GitHub spells it (may contain upper case). */
  readonly repository: string;
  readonly owner: string;
  readonly repoName: string;
  readonly actor: string;
  readonly serverUrl: string;
  readonly apiUrl: string;
  readonly workspace: string;
  readonly runnerTemp: string;
  readonly runId: string;
  readonly payload: EventPayload;
}

/** The parts of the webhook payload that the action reads; everything is optional. */
export interface EventPayload {
  readonly repository?: {
    readonly name?: string;
    readonly html_url?: string;
    readonly description?: string | null;
    readonly default_branch?: string;
    readonly license?: { readonly spdx_id?: string | null } | null;
  };
  readonly pull_request?: {
    readonly number?: number;
    readonly head?: {
      readonly sha?: string;
      readonly ref?: string;
      readonly repo?: { readonly full_name?: string };
    };
    readonly base?: { readonly ref?: string };
  };
  readonly head_commit?: { readonly timestamp?: string } | null;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the run's context from the environment the runner sets. Locally, where most of these
 * variables are absent, the values fall back to harmless defaults so that a dry run still works.
 */
export function readGitHubContext(env: Env = process.env): GitHubContext {
  const repository = env.GITHUB_REPOSITORY ?? '';
  const [owner = '', repoName = ''] = repository.split('/');
  const serverUrl = (env.GITHUB_SERVER_URL ?? 'https://github.com').replace(/\/+$/, '');
  return Object.freeze({
    eventName: env.GITHUB_EVENT_NAME ?? '',
    sha: env.GITHUB_SHA ?? '',
    ref: env.GITHUB_REF ?? '',
    repository,
    owner: env.GITHUB_REPOSITORY_OWNER || owner,
    repoName,
    actor: env.GITHUB_ACTOR ?? '',
    serverUrl,
    apiUrl: (env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, ''),
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    runnerTemp: env.RUNNER_TEMP || '',
    runId: env.GITHUB_RUN_ID ?? '',
    payload: readPayload(env.GITHUB_EVENT_PATH),
  });
}

function readPayload(path: string | undefined): EventPayload {
  if (!path) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as EventPayload;
  } catch (error) {
    throw new Error(
      `cannot read the event payload at GITHUB_EVENT_PATH=${path}: ${(error as Error).message}. ` +
        'The runner writes this file; when running locally, unset GITHUB_EVENT_PATH or point it at a JSON file.',
      { cause: error },
    );
  }
}

/** Pull-request events, on which `push: auto` does not push. */
export function isPullRequestEvent(eventName: string): boolean {
  return eventName === 'pull_request' || eventName === 'pull_request_target';
}
