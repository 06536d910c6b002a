// Writes the inputs and outputs tables of README.md from action.yml, between the
// `<!-- inputs:start -->`/`<!-- inputs:end -->` (and outputs) markers. A test fails when the README
// and action.yml disagree, so run `npm run docs` after changing action.yml.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';

const escape = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, '<br>').trim();

export function renderTables(actionYaml) {
  const action = parse(actionYaml);
  const inputs = Object.entries(action.inputs).map(
    ([name, input]) =>
      `| \`${name}\` | ${input.default === '' ? '' : `\`${escape(input.default)}\``} | ${escape(input.description)} |`,
  );
  const outputs = Object.entries(action.outputs).map(
    ([name, output]) => `| \`${name}\` | ${escape(output.description)} |`,
  );
  return {
    inputs: ['| input | default | description |', '| --- | --- | --- |', ...inputs].join('\n'),
    outputs: ['| output | description |', '| --- | --- |', ...outputs].join('\n'),
  };
}

export function renderReadme(readme, actionYaml) {
  const tables = renderTables(actionYaml);
  let result = readme;
  for (const [name, table] of Object.entries(tables)) {
    const pattern = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(\\n<!-- ${name}:end -->)`);
    if (!pattern.test(result))
      throw new Error(`README.md has no <!-- ${name}:start --> … <!-- ${name}:end --> markers`);
    result = result.replace(pattern, (_match, start, end) => `${start}${table}${end}`);
  }
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const readme = readFileSync('README.md', 'utf8');
  writeFileSync('README.md', renderReadme(readme, readFileSync('action.yml', 'utf8')));
}
