import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUT_DEFAULTS } from '../src/inputs.js';
import { OUTPUT_NAMES } from '../src/reporter.js';
// @ts-expect-error: a plain ES module script without types
import { renderReadme } from '../scripts/docs.mjs';

const actionYaml = readFileSync('action.yml', 'utf8');
const action = parse(actionYaml) as {
  runs: { using: string; main: string; post: string };
  inputs: Record<string, { description: string; default: string }>;
  outputs: Record<string, { description: string }>;
};

describe('action.yml', () => {
  it('runs on node24 with a main and a post step', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/main.js', post: 'dist/post.js' });
  });

  it('gives every input a description and a default', () => {
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description, name).toBeTruthy();
      expect(typeof input.default, name).toBe('string');
    }
  });

  it('declares the same inputs and defaults as src/inputs.ts', () => {
    const declared = Object.fromEntries(
      Object.entries(action.inputs).map(([name, input]) => [
        name,
        // `${{ github.* }}` defaults are read from the context by src/inputs.ts.
        input.default.startsWith('${{') ? '' : input.default.trim(),
      ]),
    );
    expect(declared).toEqual(INPUT_DEFAULTS);
  });

  it('declares exactly the outputs the pipeline sets (OUTPUT_NAMES)', () => {
    expect(Object.keys(action.outputs).sort()).toEqual([...OUTPUT_NAMES].sort());
    expect(OUTPUT_NAMES).toHaveLength(21);
  });
});

describe('README.md', () => {
  const readme = readFileSync('README.md', 'utf8');

  it('has the inputs and outputs tables of action.yml (run `npm run docs`)', () => {
    expect(readme).toBe(renderReadme(readme, actionYaml));
  });

  it('starts with the test command that .ci/run runs', () => {
    const firstCommand = /```sh\n(.*?)\s+#/.exec(readme)?.[1];
    expect(firstCommand).toBe('npm ci && npm test');
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm ci && npm test$/m);
  });
});
