import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { EventPayload, GitHubContext } from '../../src/context.js';

/** A GitHub context as the runner would give it on a push to main, with overrides. */
export function githubContext(
  overrides: Partial<GitHubContext> = {},
  payload: EventPayload = {},
): GitHubContext {
  return {
    eventName: 'push',
    sha: '0123456789abcdef0123456789abcdef01234567',
    ref: 'refs/heads/main',
    repository: 'Octo-Org/Hello-App',
    owner: 'Octo-Org',
    repoName: 'Hello-App',
    actor: 'octocat',
    serverUrl: 'https://github.com',
    apiUrl: 'https://api.github.com',
    workspace: '/nonexistent',
    runnerTemp: '/nonexistent-temp',
    runId: '42',
    payload,
    ...overrides,
  };
}

/** A fresh workspace with a Dockerfile at its root (and any extra files). */
export function makeWorkspace(files: Record<string, string> = {}): string {
  const workspace = mkdtempSync(join(tmpdir(), 'bsp-ws-'));
  for (const [path, content] of Object.entries({ Dockerfile: 'FROM scratch\n', ...files })) {
    mkdirSync(dirname(join(workspace, path)), { recursive: true });
    writeFileSync(join(workspace, path), content);
  }
  return workspace;
}
