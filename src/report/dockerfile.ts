import type { Finding, ImageConfig, TrivyReport } from '../scan/report.js';

/** One Dockerfile instruction with its continuation lines joined. */
export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined with single spaces. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  /** The image or stage name after FROM (`--platform` and `AS` removed). */
  readonly base: string;
  readonly from: Instruction;
  readonly instructions: readonly Instruction[];
}

/**
 * Splits a Dockerfile into stages. It honours line continuations (and the `# escape=` parser
 * directive), comments and heredocs, which is all line attribution needs; it does not evaluate
 * ARG substitution.
 */
export function parseDockerfile(text: string): Stage[] {
  const lines = text.split(/\r?\n/);
  const escape = /^#\s*escape\s*=\s*`/i.test(lines.find((line) => line.trim() !== '') ?? '') ? '`' : '\\';
  const stages: { name: string; base: string; from: Instruction; instructions: Instruction[] }[] = [];
  let index = 0;
  while (index < lines.length) {
    const startLine = index + 1;
    const first = lines[index]!.trim();
    index += 1;
    if (first === '' || first.startsWith('#')) continue;
    const parts = [first];
    while (parts.at(-1)!.endsWith(escape) && index < lines.length) {
      parts[parts.length - 1] = parts.at(-1)!.slice(0, -1).trim();
      const next = lines[index]!.trim();
      index += 1;
      // Comment lines inside a continued instruction are dropped, as Docker's parser does.
      if (!next.startsWith('#')) parts.push(next);
      else parts.push(escape);
    }
    const joined = parts
      .filter((part) => part !== escape)
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    const space = joined.search(/\s/);
    const keyword = (space < 0 ? joined : joined.slice(0, space)).toUpperCase();
    const args = space < 0 ? '' : joined.slice(space + 1);
    for (const heredoc of args.matchAll(/<<-?\s*["']?([A-Za-z_][A-Za-z0-9_]*)["']?/g)) {
      while (index < lines.length && lines[index]!.trim() !== heredoc[1]) index += 1;
      index += 1;
    }
    const instruction: Instruction = { keyword, args, line: startLine };
    if (keyword === 'FROM') {
      const words = args.split(' ').filter((word) => !word.startsWith('--'));
      const asIndex = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({
        name: asIndex >= 0 ? (words[asIndex + 1] ?? '').toLowerCase() : '',
        base: words[0] ?? '',
        from: instruction,
        instructions: [],
      });
    } else stages.at(-1)?.instructions.push(instruction);
  }
  return stages;
}

/** Where a layer (or a finding in it) comes from in the Dockerfile. */
export interface LayerSource {
  readonly line: number;
  /** The instruction as written, e.g. `RUN apk add curl` or `FROM alpine:3.20`. */
  readonly instruction: string;
  /** true when the layer came with the base image rather than an instruction of this Dockerfile. */
  readonly fromBaseImage: boolean;
}

export interface LayerAttribution {
  /** The final (or target) stage's FROM line: where findings without a known layer point. */
  readonly fallback: LayerSource;
  /** By uncompressed layer digest (DiffID). */
  readonly byDiffId: ReadonlyMap<string, LayerSource>;
  /** Compressed layer digest → DiffID, from Trivy's layer list. */
  readonly diffIdByDigest: ReadonlyMap<string, string>;
}

export interface AttributionOptions {
  readonly dockerfileText: string;
  /** Stage that was built (`target` input); empty means the last stage. */
  readonly target?: string;
  /** The built image's config; defaults to the one Trivy copied into its report. */
  readonly imageConfig?: ImageConfig;
  readonly report?: TrivyReport;
}

const LAYER_KEYWORDS = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

/**
 * Maps each layer of the built image to the Dockerfile line that made it. The config's history
 * (without `empty_layer` entries) lines up with `rootfs.diff_ids`; its `created_by` texts are
 * matched, newest first, against the layer-making instructions of the built stage and the
 * stages it is built FROM, newest first. The first history entry that matches no remaining
 * instruction marks the end of this Dockerfile's layers: it and all older ones came with the
 * base image and point at the FROM line that named it.
 */
export function attributeLayers(options: AttributionOptions): LayerAttribution {
  const stages = parseDockerfile(options.dockerfileText);
  const built = pickStage(stages, options.target ?? '');
  const fallback = built
    ? { line: built.from.line, instruction: `FROM ${built.from.args}`, fromBaseImage: true }
    : { line: 1, instruction: '', fromBaseImage: true };
  const diffIdByDigest = new Map<string, string>();
  for (const layer of options.report?.Metadata?.Layers ?? [])
    if (layer.Digest && layer.DiffID) diffIdByDigest.set(layer.Digest, layer.DiffID);
  const byDiffId = new Map<string, LayerSource>();
  const config = options.imageConfig ?? options.report?.Metadata?.ImageConfig;
  if (!built || !config) return { fallback, byDiffId, diffIdByDigest };

  // The chain of stages whose instructions end up in the image: a stage FROM another stage
  // inherits that stage's layers.
  const chain: Stage[] = [built];
  for (let parent = stageNamed(stages, built.base, built); parent && !chain.includes(parent);) {
    chain.unshift(parent);
    parent = stageNamed(stages, parent.base, parent);
  }
  const baseFrom = chain[0]!.from;
  const candidates = chain.flatMap((stage) =>
    stage.instructions.filter((i) => LAYER_KEYWORDS.has(i.keyword)),
  );
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layerHistory = (config.history ?? []).filter((entry) => !entry.empty_layer);
  // Some builders write fewer history entries than layers; align both lists at their ends.
  const offset = diffIds.length - layerHistory.length;

  let next = candidates.length - 1;
  let inBaseImage = false;
  for (let index = layerHistory.length - 1; index >= 0; index -= 1) {
    const diffId = diffIds[index + offset];
    if (diffId === undefined) continue;
    let match = -1;
    if (!inBaseImage)
      for (let candidate = next; candidate >= 0; candidate -= 1)
        if (sameInstruction(layerHistory[index]!.created_by ?? '', candidates[candidate]!)) {
          match = candidate;
          break;
        }
    if (match < 0) {
      inBaseImage = true;
      byDiffId.set(diffId, {
        line: baseFrom.line,
        instruction: `FROM ${baseFrom.args}`,
        fromBaseImage: true,
      });
      continue;
    }
    const instruction = candidates[match]!;
    byDiffId.set(diffId, {
      line: instruction.line,
      instruction: `${instruction.keyword} ${instruction.args}`,
      fromBaseImage: false,
    });
    next = match - 1;
  }
  // Layers older than the history (offset > 0) also came with the base image.
  for (let index = 0; index < offset; index += 1)
    byDiffId.set(diffIds[index]!, {
      line: baseFrom.line,
      instruction: `FROM ${baseFrom.args}`,
      fromBaseImage: true,
    });
  return { fallback, byDiffId, diffIdByDigest };
}

/** The Dockerfile line for a finding: its layer's instruction, else the built stage's FROM. */
export function sourceOf(attribution: LayerAttribution, finding: Finding): LayerSource {
  const diffId = finding.layerDiffId || attribution.diffIdByDigest.get(finding.layerDigest ?? '') || '';
  return attribution.byDiffId.get(diffId) ?? attribution.fallback;
}

function pickStage(stages: readonly Stage[], target: string): Stage | undefined {
  if (!target) return stages.at(-1);
  const stage = stages.find((candidate) => candidate.name === target.toLowerCase());
  if (!stage) throw new Error(`the Dockerfile has no stage named "${target}" (the \`target\` input).`);
  return stage;
}

/** A stage named `name` defined before `before`, as FROM can only name earlier stages. */
function stageNamed(stages: readonly Stage[], name: string, before: Stage): Stage | undefined {
  const end = stages.indexOf(before);
  return stages.slice(0, end).find((stage) => stage.name !== '' && stage.name === name.toLowerCase());
}

/**
 * Whether a history `created_by` was written for this instruction. kaniko and BuildKit write the
 * instruction itself (`RUN apk add x`, `RUN /bin/sh -c apk add x # buildkit`); the classic builder
 * writes `/bin/sh -c apk add x` for RUN and `/bin/sh -c #(nop) COPY file:<hash> in /dest` for
 * COPY/ADD, so those compare by keyword and destination.
 */
function sameInstruction(createdBy: string, instruction: Instruction): boolean {
  const history = normalize(createdBy);
  const args = normalize(instruction.args);
  if (instruction.keyword === 'RUN') {
    const command = withoutFlags(args);
    const written = withoutFlags(history.replace(/^RUN\s+/i, ''))
      .replace(/^\|\d+(?:\s+\S+=\S*)*\s+/, '')
      .replace(/^\/bin\/sh -c\s+/, '');
    // A heredoc's body is not part of the instruction line but is part of `created_by`.
    const heredoc = command.includes('<<') && written.startsWith(`${command} `);
    return written === command || written.endsWith(` ${command}`) || history === `RUN ${args}` || heredoc;
  }
  const keyword = instruction.keyword;
  const withoutShell = history.replace(/^\/bin\/sh -c #\(nop\)\s+/, '');
  if (!withoutShell.toUpperCase().startsWith(`${keyword} `)) return false;
  // BuildKit leaves out flags such as --from and --chown; compare without them.
  const written = withoutFlags(withoutShell.slice(keyword.length + 1));
  if (written === withoutFlags(args)) return true;
  // Classic builder: `COPY file:<hash> in /dest` (or dir:, multi:); compare the destination.
  const classic = /^(?:file|dir|multi):\S+ in (\S+)/.exec(written);
  const destination = args.split(' ').at(-1) ?? '';
  return classic !== null && (classic[1] === destination || classic[1] === `${destination}/`);
}

function withoutFlags(text: string): string {
  return normalize(text).replace(/^(?:--\S+\s+)*/, '');
}

function normalize(text: string): string {
  return text
    .replace(/\s+#\s*buildkit$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}
