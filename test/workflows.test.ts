import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Scalar } from 'yaml';
import { isScalar, parse, parseDocument, visit } from 'yaml';

/** Every workflow file of this repository and of its examples. */
function workflowFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.ya?ml$/.test(entry.name)) files.push(path);
    }
  };
  walk('.github/workflows');
  walk('examples');
  return files.sort();
}

interface Uses {
  file: string;
  ref: string;
  comment: string | undefined;
}

/** Every `uses:` value with its line comment (`# v5.1.0` gives ` v5.1.0`). */
function usesOf(file: string): Uses[] {
  const text = readFileSync(file, 'utf8');
  const found: Uses[] = [];
  visit(parseDocument(text), {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === 'uses') {
        const value = pair.value as Scalar;
        found.push({ file, ref: String(value.value), comment: value.comment ?? undefined });
      }
    },
  });
  // The same count as a plain look at the lines: no `uses:` hides in a form the walk above misses.
  expect(found.length, file).toBe(text.match(/^\s*(-\s+)?uses:/gm)?.length ?? 0);
  return found;
}

// owner/repo[/path]@<full commit SHA>, the release it is in a comment after it.
const PINNED = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(\/[^@\s]+)?@[0-9a-f]{40}$/;
const RELEASE_COMMENT = /^ v\d+(\.\d+)*\S*$/;

// This action itself, in the examples that show users how to call it. It has had no release yet,
// so there is no commit to pin: once the first release exists, pin these to its SHA and delete
// this exception. Only this exact reference is let through.
const SELF_BEFORE_FIRST_RELEASE = 'build-scan-push/build-scan-push@v1';

describe('workflows: every action is pinned', () => {
  const all = workflowFiles().flatMap(usesOf);

  it('finds the workflows and their actions', () => {
    expect(workflowFiles()).toEqual(
      expect.arrayContaining([
        '.github/workflows/ci.yml',
        '.github/workflows/release.yml',
        'examples/workflows/release.yml',
      ]),
    );
    expect(all.length).toBeGreaterThan(5);
  });

  it.each(all.map((uses) => [`${uses.file}: ${uses.ref}`, uses] as const))(
    '%s is a local path or owner/repo@<40 hex> # v…',
    (_, { file, ref, comment }) => {
      if (ref.startsWith('./')) return;
      if (file.startsWith('examples/') && ref === SELF_BEFORE_FIRST_RELEASE) return;
      expect(ref).toMatch(PINNED);
      expect(comment, `${ref} needs its release in a comment: # v1.2.3`).toMatch(RELEASE_COMMENT);
    },
  );

  it('pins one action to one commit everywhere (one release per action across the files)', () => {
    const byAction = new Map<string, Set<string>>();
    for (const { ref, comment } of all) {
      if (!PINNED.test(ref)) continue;
      const [action, sha] = ref.split('@') as [string, string];
      const pins = byAction.get(action) ?? new Set<string>();
      pins.add(`${sha}${comment ?? ''}`);
      byAction.set(action, pins);
    }
    for (const [action, pins] of byAction) expect([...pins], action).toHaveLength(1);
  });
});

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: { push?: { tags?: string[] } } & Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

/** A small glob: `**` any path, `*` any name within one folder. */
function globToRegExp(glob: string): RegExp {
  const source = glob
    .split(/(\*\*|\*)/)
    .map((part) =>
      part === '**' ? '.*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`);
}

describe('.github/workflows/release.yml', () => {
  const release = parse(readFileSync('.github/workflows/release.yml', 'utf8')) as Workflow;
  const jobs = Object.entries(release.jobs);
  const jobWith = (predicate: (step: Step) => boolean): [string, Job] => {
    const found = jobs.find(([, job]) => job.steps.some(predicate));
    expect(found, 'no job has the step').toBeDefined();
    return found as [string, Job];
  };
  const isDistCheck = (step: Step): boolean =>
    /node scripts\/build\.mjs --check|npm run check-dist/.test(step.run ?? '');
  const isAttest = (step: Step): boolean =>
    /^actions\/(attest|attest-build-provenance)@/.test(step.uses ?? '');

  it('runs on a pushed v* tag, with no permission unless a job asks for it', () => {
    expect(release.on.push?.tags).toEqual(['v*']);
    expect(release.permissions).toEqual({});
  });

  it('checks dist/ after npm ci, and runs .ci/run as root, in a job with a read-only token', () => {
    const [, verify] = jobWith(isDistCheck);
    const runs = verify.steps.map((step) => step.run ?? '');
    const install = runs.findIndex((run) => /^npm ci$/m.test(run));
    const check = verify.steps.findIndex(isDistCheck);
    expect(install).toBeGreaterThanOrEqual(0);
    expect(check).toBeGreaterThan(install);
    expect(runs.some((run) => /^sudo -E env "PATH=\$PATH" bash \.ci\/run$/m.test(run))).toBe(true);
    expect(verify.permissions).toEqual({ contents: 'read' });
  });

  it('attests every file of dist/, after the job that checked it, with the permissions that needs', () => {
    const [verifyName] = jobWith(isDistCheck);
    const [, releaseJob] = jobWith(isAttest);
    expect([releaseJob.needs].flat()).toContain(verifyName);

    const attest = releaseJob.steps.find(isAttest) as Step;
    const patterns = (attest.with?.['subject-path'] ?? '')
      .split(/[\n,]/)
      .map((pattern) => pattern.trim())
      .filter(Boolean)
      .map(globToRegExp);
    const dist = readdirSync('dist').map((name) => `dist/${name}`);
    expect(dist).toContain('dist/main.js');
    for (const file of dist)
      expect(
        patterns.some((pattern) => pattern.test(file)),
        file,
      ).toBe(true);

    expect(releaseJob.permissions).toEqual({
      contents: 'write',
      'id-token': 'write',
      attestations: 'write',
    });
  });

  it('attests the commit that was verified, installs nothing where the write tokens are, then releases', () => {
    const [, releaseJob] = jobWith(isAttest);
    const runs = releaseJob.steps.map((step) => step.run ?? '');
    expect(runs.join('\n')).not.toMatch(/\bnpm\b/);
    const guard = releaseJob.steps.findIndex(
      (step) => step.env?.VERIFIED === '${{ needs.verify.outputs.commit }}',
    );
    const attest = releaseJob.steps.findIndex(isAttest);
    const create = runs.findIndex((run) => run.includes('gh release create "$TAG"'));
    expect(guard).toBeGreaterThanOrEqual(0);
    expect(attest).toBeGreaterThan(guard);
    expect(create).toBeGreaterThan(attest);
  });
});
