import { describe, expect, it } from 'vitest';
import { computeLabels, computeTags, sanitizeTag } from '../src/metadata.js';
import { githubContext } from './helpers/github-context.js';

const sha = '0123456789abcdef0123456789abcdef01234567';

describe('computeTags', () => {
  it('a push to the default branch gives the branch and sha-<7>', () => {
    expect(computeTags(githubContext()).tags).toEqual(['main', 'sha-0123456']);
  });

  it('a branch with a slash becomes a valid tag', () => {
    expect(computeTags(githubContext({ ref: 'refs/heads/feature/Login_2' })).tags).toEqual([
      'feature-Login_2',
      'sha-0123456',
    ]);
  });

  it('a v1.2.3 tag gives 1.2.3, 1.2, 1 and latest, most specific first', () => {
    const metadata = computeTags(githubContext({ ref: 'refs/tags/v1.2.3' }));
    expect(metadata.tags).toEqual(['1.2.3', '1.2', '1', 'latest', 'sha-0123456']);
    expect(metadata.version).toBe('1.2.3');
  });

  it('a pre-release tag gives only itself, never latest', () => {
    expect(computeTags(githubContext({ ref: 'refs/tags/v1.2.3-rc.1' })).tags).toEqual([
      '1.2.3-rc.1',
      'sha-0123456',
    ]);
  });

  it('a 0.x release gets no bare 0 tag', () => {
    expect(computeTags(githubContext({ ref: 'refs/tags/v0.4.1' })).tags).toEqual([
      '0.4.1',
      '0.4',
      'latest',
      'sha-0123456',
    ]);
  });

  it('a tag that is not semver is used as it is, made tag-safe', () => {
    expect(computeTags(githubContext({ ref: 'refs/tags/release/2026-11' })).tags).toEqual([
      'release-2026-11',
      'sha-0123456',
    ]);
  });

  it('a pull request gives pr-<n> from the payload', () => {
    const context = githubContext(
      { eventName: 'pull_request', ref: 'refs/pull/17/merge' },
      { pull_request: { number: 17 } },
    );
    expect(computeTags(context).tags).toEqual(['pr-17', 'sha-0123456']);
  });

  it('a pull request without payload falls back to the ref', () => {
    expect(computeTags(githubContext({ eventName: 'pull_request', ref: 'refs/pull/9/merge' })).tags).toEqual([
      'pr-9',
      'sha-0123456',
    ]);
  });

  it('a schedule gives nightly', () => {
    expect(computeTags(githubContext({ eventName: 'schedule' })).tags).toEqual(['nightly', 'sha-0123456']);
  });

  it('workflow_dispatch on a branch gives the branch', () => {
    expect(
      computeTags(githubContext({ eventName: 'workflow_dispatch', ref: 'refs/heads/release/1.x' })).tags,
    ).toEqual(['release-1.x', 'sha-0123456']);
  });

  it('an empty context cannot be tagged and says which input to set', () => {
    expect(() => computeTags(githubContext({ sha: '', ref: '' }))).toThrow(/Set the `tags` input/);
  });
});

describe('sanitizeTag', () => {
  it('drops leading dots and dashes and caps the length at 128', () => {
    expect(sanitizeTag('-.x')).toBe('x');
    expect(sanitizeTag('a'.repeat(200))).toHaveLength(128);
    expect(sanitizeTag('dependabot/npm_and_yarn/vite-5.0')).toBe('dependabot-npm_and_yarn-vite-5.0');
  });
});

describe('computeLabels', () => {
  const payload = {
    repository: {
      name: 'Hello-App',
      html_url: 'https://github.com/Octo-Org/Hello-App',
      description: 'A tiny app',
      license: { spdx_id: 'Apache-2.0' },
    },
  };

  it('links the package to its repository with the OCI labels', () => {
    const labels = computeLabels({
      context: githubContext({}, payload),
      version: '1.2.3',
      created: '2026-11-24T10:00:00.000Z',
      userLabels: {},
    });
    expect(labels).toEqual({
      'org.opencontainers.image.title': 'Hello-App',
      'org.opencontainers.image.description': 'A tiny app',
      'org.opencontainers.image.url': 'https://github.com/Octo-Org/Hello-App',
      'org.opencontainers.image.source': 'https://github.com/Octo-Org/Hello-App',
      'org.opencontainers.image.version': '1.2.3',
      'org.opencontainers.image.created': '2026-11-24T10:00:00.000Z',
      'org.opencontainers.image.revision': sha,
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
  });

  it('lets user labels override computed ones and omits what is unknown', () => {
    const labels = computeLabels({
      context: githubContext({}, { repository: { license: { spdx_id: 'NOASSERTION' } } }),
      version: 'main',
      created: '2026-01-01T00:00:00.000Z',
      userLabels: { 'org.opencontainers.image.title': 'custom', team: 'platform' },
    });
    expect(labels['org.opencontainers.image.title']).toBe('custom');
    expect(labels.team).toBe('platform');
    expect(labels['org.opencontainers.image.source']).toBe('https://github.com/Octo-Org/Hello-App');
    expect(labels).not.toHaveProperty('org.opencontainers.image.licenses');
    expect(labels).not.toHaveProperty('org.opencontainers.image.description');
  });
});
