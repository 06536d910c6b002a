import type { Instruction, Stage } from '../dockerfile.js';
import { parseDockerfile } from '../dockerfile.js';
import type { ImageConfig } from '../build/tarball.js';
import type { TrivyReport } from '../scan/trivy-report.js';
import type { Finding } from '../vocabulary.js';

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
  /** The built stage and the stages it is built FROM, their instructions oldest first. */
  readonly chain?: readonly Instruction[];
  /** Every instruction of the Dockerfile: where the Dockerfile's own findings point. */
  readonly instructions?: readonly Instruction[];
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
  const { stages, instructions } = parseDockerfile(options.dockerfileText);
  const built = pickStage(stages, options.target ?? '');
  const fallback = built ? fromLine(built.from) : { line: 1, instruction: '', fromBaseImage: true };
  const diffIdByDigest = new Map<string, string>();
  for (const layer of options.report?.Metadata?.Layers ?? [])
    if (layer.Digest && layer.DiffID) diffIdByDigest.set(layer.Digest, layer.DiffID);
  const config = options.imageConfig ?? options.report?.Metadata?.ImageConfig;
  const chain = built ? stageChain(stages, built) : [];
  const byDiffId = built && config ? attributeDiffIds(chain, config) : new Map();
  const chainInstructions = chain.flatMap((stage) => [stage.from, ...stage.instructions]);
  return { fallback, byDiffId, diffIdByDigest, chain: chainInstructions, instructions };
}

/**
 * The chain of stages whose instructions end up in the image, oldest first: a stage FROM another
 * stage inherits that stage's layers.
 */
function stageChain(stages: readonly Stage[], built: Stage): Stage[] {
  const chain: Stage[] = [built];
  for (let parent = stageNamed(stages, built.base, built); parent && !chain.includes(parent);) {
    chain.unshift(parent);
    parent = stageNamed(stages, parent.base, parent);
  }
  return chain;
}

function attributeDiffIds(chain: readonly Stage[], config: ImageConfig): Map<string, LayerSource> {
  const base = fromLine(chain[0]!.from);
  const candidates = chain.flatMap((stage) =>
    stage.instructions.filter((i) => LAYER_KEYWORDS.has(i.keyword)),
  );
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layerHistory = (config.history ?? []).filter((entry) => !entry.empty_layer);
  // Some builders write fewer history entries than layers; align both lists at their ends.
  const offset = diffIds.length - layerHistory.length;
  const byDiffId = new Map<string, LayerSource>();
  // Newest first; once an entry matches no remaining instruction, it and all older ones are base.
  let next = candidates.length - 1;
  for (let index = layerHistory.length - 1; index >= 0; index -= 1) {
    const diffId = diffIds[index + offset];
    if (diffId === undefined) continue;
    const createdBy = layerHistory[index]!.created_by ?? '';
    let match = next;
    while (match >= 0 && !sameInstruction(createdBy, candidates[match]!)) match -= 1;
    next = match - 1;
    const instruction = candidates[match];
    byDiffId.set(
      diffId,
      instruction
        ? {
            line: instruction.line,
            instruction: `${instruction.keyword} ${instruction.args}`,
            fromBaseImage: false,
          }
        : base,
    );
  }
  // Layers older than the history (offset > 0) also came with the base image.
  for (let index = 0; index < offset; index += 1) byDiffId.set(diffIds[index]!, base);
  return byDiffId;
}

function fromLine(from: Instruction): LayerSource {
  return { line: from.line, instruction: `FROM ${from.args}`, fromBaseImage: true };
}

/**
 * The Dockerfile line for a finding: for the Dockerfile's own findings the line Trivy names; for
 * the image config's the instruction that wrote the value; otherwise its layer's instruction;
 * else the built stage's FROM.
 */
export function sourceOf(attribution: LayerAttribution, finding: Finding): LayerSource {
  if (finding.origin === 'dockerfile') return dockerfileSource(attribution, finding.line ?? 0);
  if (finding.origin === 'image-config')
    return configSource(attribution.chain ?? [], finding.match ?? '') ?? attribution.fallback;
  return knownSourceOf(attribution, finding) ?? attribution.fallback;
}

/** The Dockerfile line of the finding's layer; undefined when its layer is not attributed. */
export function knownSourceOf(attribution: LayerAttribution, finding: Finding): LayerSource | undefined {
  const diffId = finding.layerDiffId || attribution.diffIdByDigest.get(finding.layerDigest ?? '') || '';
  return attribution.byDiffId.get(diffId);
}

/** The instruction at a line of the Dockerfile; a check on the whole file points at line 1. */
function dockerfileSource(attribution: LayerAttribution, line: number): LayerSource {
  const instruction = [...(attribution.instructions ?? [])].reverse().find((i) => i.line <= line);
  return instruction
    ? { line: instruction.line, instruction: instruction.text, fromBaseImage: false }
    : { line: 1, instruction: 'the Dockerfile as a whole', fromBaseImage: false };
}

/**
 * The instruction that put a secret into the image config. Trivy scans the config as indented
 * JSON (pkg/fanal/analyzer/imgconf/secret) and reports the masked line: `"KEY=****"` for an ENV
 * entry, `"key": "****"` for a label, `"created_by": "RUN …****"` for history. The unmasked
 * start names the variable, the label or the instruction; the newest instruction that sets it
 * wins, as it is the one whose value the config holds. A value that came with the base image
 * matches no instruction of this Dockerfile.
 */
function configSource(chain: readonly Instruction[], match: string): LayerSource | undefined {
  const line = match.trim().replace(/,$/, '');
  const history = /^"created_by":\s*"(.*)$/.exec(line);
  const label = /^"([^"]+)":\s*"/.exec(line);
  const env = /^"([^"=]+)=/.exec(line);
  const sets = (instruction: Instruction): boolean => {
    if (history)
      return createdByStart(history[1]!) !== '' && instruction.text.startsWith(createdByStart(history[1]!));
    if (label) return instruction.keyword === 'LABEL' && definesKey(instruction.args, label[1]!);
    return env !== null && instruction.keyword === 'ENV' && definesKey(instruction.args, env[1]!);
  };
  const instruction = [...chain].reverse().find(sets);
  return instruction && { line: instruction.line, instruction: instruction.text, fromBaseImage: false };
}

/** The unmasked start of a history entry (a JSON string's text), as the instruction's text would begin. */
function createdByStart(createdBy: string): string {
  const unescaped = createdBy.replace(/\*.*$/, '').replace(/\\(["\\/])/g, '$1');
  return normalize(unescaped.replace(/^\/bin\/sh -c (?:#\(nop\)\s*)?/, ''));
}

/** Whether `KEY=value …`, `"KEY"=value` or the old `KEY value` form sets the key. */
function definesKey(args: string, key: string): boolean {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|\\s)"?${escaped}"?(?:=|\\s)`).test(args);
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
