import { describe, expect, it } from 'vitest';
import { localEnvironment, parseFlags, renderStdoutWrite, renderWorkflowCommand } from '../src/local.js';
import { FencedLog } from '../src/log-fence.js';

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

describe('localEnvironment', () => {
  it('does not push or upload by default and names a local image', () => {
    const env = localEnvironment(parseFlags([]), {}, '/home/dev/My App', '/home/dev/My App/out');
    expect(env).toMatchObject({
      INPUT_PUSH: 'false',
      'INPUT_UPLOAD-SARIF': 'false',
      INPUT_IMAGE: 'localhost/my-app',
      GITHUB_WORKSPACE: '/home/dev/My App',
      GITHUB_OUTPUT: '/home/dev/My App/out/outputs.txt',
      GITHUB_STEP_SUMMARY: '/home/dev/My App/out/summary.md',
    });
  });

  it('lets flags override the local defaults', () => {
    const env = localEnvironment(
      parseFlags(['--push', 'true', '--github-token', 't', '--image', 'ghcr.io/o/r']),
      { GITHUB_REPOSITORY: 'o/r' },
      '/w',
      '/w/out',
    );
    expect(env).toMatchObject({
      INPUT_PUSH: 'true',
      'INPUT_UPLOAD-SARIF': 'true',
      INPUT_IMAGE: 'ghcr.io/o/r',
    });
  });
});

describe('renderWorkflowCommand', () => {
  it('shows errors, warnings and groups as a terminal should, and hides debug lines and masks', () => {
    expect(renderWorkflowCommand('::error::3 invalid inputs:%0A  - `push` "maybe"')).toBe(
      'Error: 3 invalid inputs:\n  - `push` "maybe"',
    );
    expect(renderWorkflowCommand('::warning::100%25 sure')).toBe('Warning: 100% sure');
    expect(renderWorkflowCommand('::group::Build ghcr.io/o/r:main with kaniko')).toBe(
      '▶ Build ghcr.io/o/r:main with kaniko',
    );
    expect(renderWorkflowCommand('::endgroup::')).toBeUndefined();
    expect(renderWorkflowCommand('::add-mask::hunter2')).toBeUndefined();
    expect(renderWorkflowCommand('::debug::checking cache')).toBeUndefined();
    expect(renderWorkflowCommand('::debug::checking cache', true)).toBe('debug: checking cache');
    expect(renderWorkflowCommand('::error file=Dockerfile,line=3::bad')).toBe('Error: bad');
    expect(renderWorkflowCommand('plain tool output')).toBe('plain tool output');
  });
});

describe('renderStdoutWrite', () => {
  it('prints fenced tool output as the plain text it is, without the fence markers', () => {
    const batches: string[] = [];
    const log = new FencedLog((text) => batches.push(text.toString('utf8')));
    log.write('::error::spoofed by the build\n::add-mask::verdict\nplain');
    log.close();
    expect(batches.map((batch) => renderStdoutWrite(batch)).join('')).toBe(
      '::error::spoofed by the build\n::add-mask::verdict\nplain\n',
    );
  });

  it("renders the action's own commands and passes other output through", () => {
    expect(renderStdoutWrite('::error::bad%0Ainput\n')).toBe('Error: bad\ninput\n');
    expect(renderStdoutWrite('::add-mask::hunter2\n')).toBe('');
    expect(renderStdoutWrite('Pushing image\n')).toBe('Pushing image\n');
  });
});
