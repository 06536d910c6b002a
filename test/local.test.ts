import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localContext, localInputs, parseFlags } from '../src/local.js';
import { terminalReporter } from '../src/terminal-reporter.js';
import { HOSTILE, runnerCommands } from './helpers/runner-log.js';

describe('parseFlags', () => {
  it('maps --name value and --name=value onto inputs', () => {
    expect(
      parseFlags(['--context', 'examples/hello', '--fail-on=CRITICAL', '--out', '/tmp/results']),
    ).toEqual({
      inputs: { context: 'examples/hello', 'fail-on': 'CRITICAL' },
      out: '/tmp/results',
    });
  });

  it('refuses flags that are not inputs, and flags without a value', () => {
    expect(() => parseFlags(['--contxt', '.'])).toThrow(/--contxt is not an input/);
    expect(() => parseFlags(['--context'])).toThrow(/--context needs a value/);
    expect(() => parseFlags(['examples/hello'])).toThrow(/unexpected argument/);
  });
});

describe('localInputs', () => {
  it('does not push or upload by default and names a local image', () => {
    const inputs = localInputs(parseFlags([]), { sha: 'abc', repository: '' }, '/home/dev/My App');
    expect(inputs).toEqual({ push: 'false', 'upload-sarif': 'false', image: 'localhost/my-app' });
  });

  it('tags the image `local` outside a git checkout', () => {
    expect(localInputs(parseFlags([]), { sha: '', repository: 'o/r' }, '/w')).toMatchObject({
      tags: 'local',
    });
  });

  it('lets flags override the local defaults', () => {
    const inputs = localInputs(
      parseFlags(['--push', 'true', '--github-token', 't', '--image', 'ghcr.io/o/r']),
      { sha: 'abc', repository: 'o/r' },
      '/w',
    );
    expect(inputs).toMatchObject({ push: 'true', 'upload-sarif': 'true', image: 'ghcr.io/o/r' });
  });
});

describe('localContext', () => {
  it('is the workflow context a runner would give, from the working folder, outside any workflow', () => {
    const github = localContext({}, '/home/dev/app', '/tmp/runner-temp');
    expect(github).toMatchObject({
      workspace: '/home/dev/app',
      eventName: 'workflow_dispatch',
      runnerTemp: '/tmp/runner-temp',
      repository: '',
    });
  });
});

describe('terminalReporter', () => {
  const setup = (debug = false) => {
    const outputDir = mkdtempSync(join(tmpdir(), 'bsp-terminal-'));
    const shown: string[] = [];
    const reporter = terminalReporter({ outputDir, debug, write: (text) => shown.push(text) });
    return { outputDir, reporter, shown: () => shown.join('') };
  };

  it('shows errors, warnings and groups as a terminal should, and debug lines only when asked', () => {
    const { reporter, shown } = setup();
    reporter.error('3 invalid inputs:\n  - `push` "maybe"');
    reporter.warning('100% sure');
    reporter.startGroup('Build ghcr.io/o/r:main with kaniko');
    reporter.endGroup();
    reporter.debug('checking cache');
    reporter.info('plain');
    expect(shown()).toBe(
      'Error: 3 invalid inputs:\n  - `push` "maybe"\nWarning: 100% sure\n▶ Build ghcr.io/o/r:main with kaniko\nplain\n',
    );
    const verbose = setup(true);
    verbose.reporter.debug('checking cache');
    expect(verbose.shown()).toBe('debug: checking cache\n');
  });

  it('places an annotated error on its file and line, as a compiler would', () => {
    const { reporter, shown } = setup();
    reporter.error('curl 8.0 → 8.1: HIGH is in fail-on.', {
      file: 'Dockerfile',
      startLine: 12,
      title: 'HIGH CVE-1',
    });
    reporter.error('no line known', { title: 'HIGH CVE-2' });
    expect(shown()).toBe('Error: Dockerfile:12: curl 8.0 → 8.1: HIGH is in fail-on.\nError: no line known\n');
  });

  it('prints tool output as the plain text it is, and hides secrets everywhere', () => {
    const { reporter, shown } = setup();
    reporter.setSecret('hunter2');
    const stream = reporter.relayStream();
    stream.write(`${HOSTILE}\nthe password is hunter2\n`);
    stream.close();
    reporter.info('login with hunter2');
    expect(shown()).toBe(`${HOSTILE}\nthe password is ***\nlogin with ***\n`);
    expect(shown()).not.toMatch(/::stop-commands::[0-9a-f]{64}/);
    // Nothing here is meant for a runner: it is what a person reads.
    expect(runnerCommands(shown()).length).toBeGreaterThan(0);
  });

  it('writes the outputs in the runner’s file format and the summary as a file', async () => {
    const { outputDir, reporter } = setup();
    reporter.setOutput('tags', 'ghcr.io/o/r:1\nghcr.io/o/r:latest');
    reporter.setOutput('pushed', 'false');
    await reporter.writeSummary('## Build, scan and push');
    const outputs = readFileSync(join(outputDir, 'outputs.txt'), 'utf8');
    expect(outputs).toMatch(/^tags<<(ghadelimiter_[0-9a-f]+)\nghcr.io\/o\/r:1\nghcr.io\/o\/r:latest\n\1\n/);
    expect(outputs).toMatch(/^pushed<<.*\nfalse$/m);
    expect(readFileSync(join(outputDir, 'summary.md'), 'utf8')).toBe('## Build, scan and push\n');
  });
});
