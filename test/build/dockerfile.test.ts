import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/dockerfile.js';

const attributionDockerfile = readFileSync(
  join(import.meta.dirname, '..', 'fixtures', 'attribution', 'Dockerfile'),
  'utf8',
);
const lines = (text: string): string[] =>
  parseDockerfile(text).instructions.map(({ line, text: instruction }) => `${line}: ${instruction}`);

describe('parseDockerfile', () => {
  it('finds stages, FROM lines and instruction lines across continuations, comments and heredocs', () => {
    const { stages } = parseDockerfile(attributionDockerfile);
    expect(stages.map(({ name, base, from }) => [name, base, from.line])).toEqual([
      ['build', 'golang:${GO_VERSION}', 3],
      ['runtime-base', 'alpine:3.20', 12],
      ['', 'runtime-base', 19],
    ]);
    expect(stages[0]!.instructions.map(({ keyword, line }) => `${keyword}@${line}`)).toEqual([
      'WORKDIR@4',
      'COPY@5',
      'RUN@6',
      'COPY@7',
      'RUN@8',
    ]);
    expect(stages[1]!.instructions[0]).toEqual({
      keyword: 'RUN',
      args: 'apk add --no-cache ca-certificates curl',
      line: 13,
      text: 'RUN apk add --no-cache ca-certificates curl',
    });
    expect(stages[2]!.instructions.map(({ keyword, line }) => `${keyword}@${line}`)).toEqual([
      'COPY@20',
      'RUN@21',
      'USER@23',
      'ENTRYPOINT@24',
    ]);
  });

  it('lists every instruction in order, the ARG before the first FROM included', () => {
    expect(lines(attributionDockerfile).slice(0, 3)).toEqual([
      '2: ARG GO_VERSION=1.22',
      '3: FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build',
      '4: WORKDIR /src',
    ]);
  });

  it('skips blank and comment lines inside a continuation, as Docker does', () => {
    const text = [
      'FROM alpine',
      'RUN apk add \\',
      '',
      '    # a comment',
      '    curl \\',
      '   ',
      '    git',
      'COPY . /src',
    ].join('\n');
    expect(lines(text)).toEqual(['1: FROM alpine', '2: RUN apk add curl git', '8: COPY . /src']);
  });

  it('does not read heredoc bodies as instructions', () => {
    const text = [
      'FROM alpine',
      'RUN <<EOF',
      'RUN this is a shell line, not an instruction',
      'COPY neither',
      'EOF',
      'COPY <<-"FIRST" /a <<SECOND /b',
      '\t\tFROM not a stage',
      '\tFIRST',
      'USER not an instruction either',
      'SECOND',
      'RUN cat <<<"a here-string, not a heredoc"',
      'USER app',
    ].join('\n');
    expect(lines(text)).toEqual([
      '1: FROM alpine',
      '2: RUN <<EOF',
      '6: COPY <<-"FIRST" /a <<SECOND /b',
      '11: RUN cat <<<"a here-string, not a heredoc"',
      '12: USER app',
    ]);
    expect(parseDockerfile(text).stages).toHaveLength(1);
  });

  it('honours the escape directive at the top of the file only', () => {
    const { stages } = parseDockerfile(
      '# escape=`\nFROM mcr.microsoft.com/windows/servercore\nRUN dir `\n  c:\\\nCOPY a b\n',
    );
    expect(stages[0]!.instructions).toEqual([
      { keyword: 'RUN', args: 'dir c:\\', line: 3, text: 'RUN dir c:\\' },
      { keyword: 'COPY', args: 'a b', line: 5, text: 'COPY a b' },
    ]);
    // After an instruction, `# escape=` is an ordinary comment.
    expect(lines('FROM x\n# escape=`\nRUN a \\\n  b\n')).toEqual(['1: FROM x', '3: RUN a b']);
  });

  it('ends a continuation at the end of the file', () => {
    expect(lines('FROM x\nRUN a \\\n')).toEqual(['1: FROM x', '2: RUN a']);
  });
});
