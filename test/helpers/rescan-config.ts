import { join } from 'node:path';
import type { Config, InputName } from '../../src/inputs.js';
import { buildConfig } from '../../src/inputs.js';
import { githubContext, makeWorkspace } from './github-context.js';

/** The Config for these inputs on a push to main, in a fresh workspace with a Dockerfile. */
export function configFrom(inputs: Partial<Record<InputName, string>>): Config {
  const workspace = makeWorkspace();
  const folders = { outputDir: join(workspace, 'out'), tempDir: join(workspace, 'tmp') };
  const read = (name: InputName): string => inputs[name] ?? '';
  return buildConfig({ ...folders, read, github: githubContext({ workspace }), now: new Date() });
}
