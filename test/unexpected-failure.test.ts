import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { failUnexpectedly } from '../src/unexpected-failure.js';
import { HOSTILE, runnerCommands } from './helpers/runner-log.js';

const CHILD = join(import.meta.dirname, 'helpers', 'unexpected-failure-child.mts');

let folder: string;
let summaryFile: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'unexpected-failure-'));
  summaryFile = join(folder, 'summary.md');
  writeFileSync(summaryFile, '');
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  process.exitCode = undefined;
  rmSync(folder, { recursive: true, force: true });
});

it('failUnexpectedly annotates the step and writes a summary naming the stage', async () => {
  vi.stubEnv('GITHUB_STEP_SUMMARY', summaryFile);
  const written: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => written.push(String(chunk)) > 0);
  await failUnexpectedly(new Error('assert(!this.paused)'), 'installing the tools');
  const expected =
    'build-scan-push stopped unexpectedly while installing the tools: Error: assert(!this.paused). This is a fault in the action';
  expect(written.join('')).toContain(`::error::${expected}`);
  expect(readFileSync(summaryFile, 'utf8')).toContain('## Build, scan and push: failed');
  expect(readFileSync(summaryFile, 'utf8')).toContain(expected);
  expect(process.exitCode).toBe(1);
});

it('relays the stack, which may hold a tool’s last lines, without letting it issue commands', async () => {
  const written: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => written.push(String(chunk)) > 0);
  await failUnexpectedly(new Error(`trivy failed:\n${HOSTILE}`), 'scanning');
  const log = written.join('');
  expect(log).toContain('::add-mask::policy failed');
  const obeyed = runnerCommands(log);
  expect(obeyed).toHaveLength(1);
  expect(obeyed[0]).toMatch(/^::error::build-scan-push stopped unexpectedly while scanning/);
});

it.each([
  ['error-event', 'an error event nobody listens to'],
  ['rejection', 'a rejection nobody awaits'],
])(
  'a process failing outside the awaited chain (%s) ends annotated, summarized and non-zero',
  (kind, error) => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, kind], {
      encoding: 'utf8',
      env: { ...process.env, GITHUB_STEP_SUMMARY: summaryFile },
    });
    const expected = `build-scan-push stopped unexpectedly while installing the tools: Error: ${error}.`;
    expect(child.stdout).toContain(`::error::${expected}`);
    expect(readFileSync(summaryFile, 'utf8')).toContain(expected);
    expect(child.status).toBe(1);
  },
);
