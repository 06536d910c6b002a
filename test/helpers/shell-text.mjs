// `node --import tsx --import ./test/helpers/shell-text.mjs …`: gives `import text from './x.sh'`
// the file's text in a child process, as esbuild's text loader does in dist/ and the plugin in
// vitest.config.ts does in the tests. Registered after tsx, so its hook runs first.
import { register } from 'node:module';

const hooks = `
import { readFile } from 'node:fs/promises';
export async function load(url, context, next) {
  if (!url.endsWith('.sh')) return next(url, context);
  const text = await readFile(new URL(url), 'utf8');
  return { format: 'module', source: 'export default ' + JSON.stringify(text) + ';', shortCircuit: true };
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
