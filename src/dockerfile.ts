/** One Dockerfile instruction with its continuation lines joined. */
export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined, runs of white space made one space. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
  /** `KEYWORD args`: the instruction as kaniko logs it, up to white space. */
  readonly text: string;
}

export interface Stage {
  /** The `AS` name, lower-case; empty when the stage has none. */
  readonly name: string;
  /** The image or stage name after FROM (`--platform` and `AS` removed). */
  readonly base: string;
  readonly from: Instruction;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** Every instruction in order, FROM lines and ARGs before the first FROM included. */
  readonly instructions: readonly Instruction[];
  readonly stages: readonly Stage[];
}

/** Instructions whose arguments may open heredocs (`RUN <<EOF`, `COPY <<EOF /dest`). */
const HEREDOC_KEYWORDS = new Set(['RUN', 'COPY', 'ADD']);
const HEREDOC = /<<(-?)\s*(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/**
 * The escape character set by a `# escape=` parser directive. Directives are only read from the
 * top of the file, before any comment, blank line or instruction.
 */
function escapeCharacter(lines: readonly string[]): string {
  for (const line of lines) {
    const directive = /^#\s*([A-Za-z][A-Za-z0-9]*)\s*=\s*(\S+)\s*$/.exec(line);
    if (!directive) break;
    if (directive[1]!.toLowerCase() === 'escape' && (directive[2] === '`' || directive[2] === '\\'))
      return directive[2];
  }
  return '\\';
}

/**
 * Splits a Dockerfile into instructions and stages the way Docker's parser does for what line
 * attribution needs: line continuations (blank and comment lines inside them are skipped), comment
 * lines, the `# escape=` directive and heredoc bodies (which are not instructions). It does not
 * evaluate ARG substitution.
 */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split(/\r?\n/);
  const escape = escapeCharacter(lines);
  const instructions: Instruction[] = [];
  const stages: MutableStage[] = [];
  let index = 0;
  while (index < lines.length) {
    if (isSkipped(lines[index]!)) {
      index += 1;
      continue;
    }
    const read = readInstruction(lines, index, escape);
    const instruction = read.instruction;
    instructions.push(instruction);
    index = skipHeredocs(lines, read.next, instruction);
    if (instruction.keyword === 'FROM') stages.push(stageFrom(instruction));
    else stages.at(-1)?.instructions.push(instruction);
  }
  return { instructions, stages };
}

type MutableStage = { name: string; base: string; from: Instruction; instructions: Instruction[] };

const isSkipped = (line: string): boolean => line.trim() === '' || line.trimStart().startsWith('#');

/** The instruction that starts at `start`, its continuation lines joined; `next` is the line after it. */
function readInstruction(
  lines: readonly string[],
  start: number,
  escape: string,
): { readonly instruction: Instruction; readonly next: number } {
  const continues = (line: string): boolean => line.trimEnd().endsWith(escape);
  const parts: string[] = [];
  let index = start;
  let current = lines[index]!;
  index += 1;
  while (continues(current)) {
    parts.push(current.trimEnd().slice(0, -1));
    while (index < lines.length && isSkipped(lines[index]!)) index += 1;
    if (index >= lines.length) {
      current = '';
      break;
    }
    current = lines[index]!;
    index += 1;
  }
  parts.push(current);
  const joined = parts.join(' ').replace(/\s+/g, ' ').trim();
  const space = joined.indexOf(' ');
  const keyword = (space < 0 ? joined : joined.slice(0, space)).toUpperCase();
  const args = space < 0 ? '' : joined.slice(space + 1);
  const text = args ? `${keyword} ${args}` : keyword;
  return { instruction: { keyword, args, line: start + 1, text }, next: index };
}

/** The line after the bodies of the heredocs `instruction` opens (`index` itself when none). */
function skipHeredocs(lines: readonly string[], index: number, instruction: Instruction): number {
  if (!HEREDOC_KEYWORDS.has(instruction.keyword)) return index;
  let next = index;
  for (const [, dash, , word] of instruction.args.matchAll(HEREDOC)) {
    const ends = (line: string): boolean => (dash ? line.replace(/^\t+/, '') : line) === word;
    while (next < lines.length && !ends(lines[next]!)) next += 1;
    next += 1;
  }
  return next;
}

/** The stage a FROM line opens: its base and its `AS` name (lower-cased, '' when unnamed). */
function stageFrom(from: Instruction): MutableStage {
  const words = from.args.split(' ').filter((word) => !word.startsWith('--'));
  const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
  return {
    name: asIndex >= 0 ? (words[asIndex + 1] ?? '').toLowerCase() : '',
    base: words[0] ?? '',
    from,
    instructions: [],
  };
}
