import type { StageInputs } from '../input-parser.js';
import { TAG_PATTERN } from '../metadata.js';
import { digestReference, isDigest, taggedReference } from '../reference.js';

export const RESCAN_INPUTS = {
  rescan: 'false',
  'rescan-ref': '',
} as const;
type RescanInput = keyof typeof RESCAN_INPUTS;

/** Whether this run rescans what is published instead of building, and which references. */
export interface RescanSettings {
  readonly enabled: boolean;
  /** `image:tag` or `image@digest`, each pulled and scanned; empty when `enabled` is false. */
  readonly references: readonly string[];
}

/** The inputs a rescan would ignore: given with `rescan: true`, each is a mistake worth saying. */
export interface IgnoredByRescan {
  readonly tags: boolean;
  readonly buildArgs: boolean;
}

/**
 * A rescan pulls `image` at `rescan-ref` (a bare tag or a digest), else at its tags (given or
 * computed). Inputs it would silently ignore are problems, as is `rescan-ref` without `rescan`.
 */
export function parseRescanSettings(
  inputs: StageInputs<RescanInput>,
  publish: { readonly image: string; readonly tags: readonly string[] },
  ignored: IgnoredByRescan,
): RescanSettings {
  const enabled = inputs.bool('rescan');
  const ref = inputs.given('rescan-ref');
  if (ref && !TAG_PATTERN.test(ref) && !isDigest(ref))
    inputs.problem(
      'rescan-ref',
      ref,
      'is neither a tag nor a sha256:<64 hex> digest: give only the tag or digest, the repository comes from `image`',
    );
  if (!enabled) {
    if (ref) inputs.problemText('rescan-ref', 'is read only with `rescan: true`: set `rescan` or remove it');
    return { enabled, references: [] };
  }
  if (ignored.buildArgs)
    inputs.problemText('rescan', '`build-args` is given, but a rescan builds nothing: remove `build-args`');
  if (ignored.tags && ref)
    inputs.problemText(
      'rescan',
      '`tags` is given, but `rescan-ref` names what is rescanned: remove one of them',
    );
  const at = (reference: string): string =>
    isDigest(reference)
      ? digestReference(publish.image, reference)
      : taggedReference(publish.image, reference);
  return { enabled, references: ref ? [at(ref)] : publish.tags.map(at) };
}
